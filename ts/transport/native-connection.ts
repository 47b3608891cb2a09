// One native HTTP/2 connection as the channel sees it: its state, and the
// calls waiting for it to become ready. (Issue 5 puts a subchannel with
// connect/backoff state machine above this; the connection itself stays.)
import type { ConnectConfig } from '../native/binding';
import { nativeTransport, type ConnectionHandler } from './native-transport';

/** Something that starts once the connection is ready, or fails with it. */
export interface ConnectionWaiter {
  onConnectionReady(conn: NativeConnection): void;
  onConnectionFailed(reason: string): void;
}

export type NativeConnectionState = 'connecting' | 'ready' | 'draining' | 'closed';

export interface NativeConnectionEvents {
  onStateChange(conn: NativeConnection, state: NativeConnectionState, reason?: string): void;
}

export class NativeConnection implements ConnectionHandler {
  readonly id: number;
  state: NativeConnectionState = 'connecting';
  private waiters: ConnectionWaiter[] = [];
  private activeCalls = 0;
  private releaseWhenIdle = false;

  constructor(
    readonly address: string,
    readonly config: ConnectConfig,
    private readonly events: NativeConnectionEvents,
  ) {
    this.id = nativeTransport().connect(address, config, this);
  }

  /** Runs `waiter` now if ready, or once the connection is ready or has failed. */
  whenReady(waiter: ConnectionWaiter): void {
    if (this.state === 'ready') waiter.onConnectionReady(this);
    else this.waiters.push(waiter);
  }

  removeWaiter(waiter: ConnectionWaiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i !== -1) this.waiters.splice(i, 1);
  }

  close(): void {
    if (this.state !== 'closed') nativeTransport().closeConnection(this.id);
  }

  /** Closes once the calls running on this connection have ended. */
  release(): void {
    this.releaseWhenIdle = true;
    if (this.activeCalls === 0) this.close();
  }

  /** @internal A call started a stream here. */
  callStarted(): void {
    this.activeCalls++;
  }

  /** @internal A call on this connection ended. */
  callEnded(): void {
    this.activeCalls--;
    if (this.activeCalls === 0 && this.releaseWhenIdle) this.close();
  }

  onReady(): void {
    if (this.state !== 'connecting') return;
    this.state = 'ready';
    this.events.onStateChange(this, 'ready');
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.onConnectionReady(this);
  }

  onGoAway(): void {
    // The server will take no new streams here; calls in flight may finish.
    if (this.state === 'ready' || this.state === 'connecting') {
      this.state = 'draining';
      this.events.onStateChange(this, 'draining');
    }
  }

  onClosed(reason: string): void {
    this.state = 'closed';
    this.events.onStateChange(this, 'closed', reason);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.onConnectionFailed(reason);
  }
}
