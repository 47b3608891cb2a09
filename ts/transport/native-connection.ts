// One native HTTP/2 connection as its subchannel sees it: its state, and the
// calls running on it (so that a released connection closes only once they
// are done). Calls wait for readiness in the picker wrapper, not here.
import { X509Certificate } from 'node:crypto';
import type { ConnectConfig } from '../native/binding';
import { nativeTransport, type ConnectionHandler } from './native-transport';

const ENHANCE_YOUR_CALM = 0xb;
const TOO_MANY_PINGS = Buffer.from('too_many_pings');

export type NativeConnectionState = 'connecting' | 'ready' | 'draining' | 'closed';

export interface NativeConnectionEvents {
  onStateChange(conn: NativeConnection, state: NativeConnectionState, reason?: string): void;
}

export class NativeConnection implements ConnectionHandler {
  readonly id: number;
  state: NativeConnectionState = 'connecting';
  private activeCalls = 0;
  private releaseWhenIdle = false;
  /** Why JS failed this attempt itself (`checkServerIdentity`); wins over native's close reason. */
  private failure: string | null = null;
  /** The server sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings". */
  tooManyPings = false;
  /** READY arrived in the batch being dispatched; reported once it is over. */
  private readyPending = false;

  constructor(
    readonly address: string,
    readonly config: ConnectConfig,
    private readonly events: NativeConnectionEvents,
  ) {
    this.id = nativeTransport().connect(address, config, this);
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

  /**
   * Runs the user's `checkServerIdentity` (grpc-js `verifyOptions`) on the
   * server's certificate before the connection may become ready; an Error
   * fails the attempt with its message, as a TLS error would.
   */
  onPeerCertificate(der: Buffer): void {
    const check = this.config.checkServerIdentity;
    if (check === undefined || this.state !== 'connecting') return;
    let error: unknown;
    try {
      error = check(this.config.serverName ?? '', new X509Certificate(der).toLegacyObject());
    } catch (e) {
      error = e;
    }
    if (error === undefined || error === null) return;
    this.failure = error instanceof Error ? error.message : String(error);
    this.close();
  }

  onReady(): void {
    if (this.state !== 'connecting' || this.failure !== null || this.readyPending) return;
    // A server that refuses connections can send its GOAWAY with the SETTINGS
    // that make a connection ready; the native side then reports both in one
    // batch. Readiness counts once that batch is dispatched (microtasks run
    // after it), so that such a connection is a failed attempt, not READY.
    this.readyPending = true;
    queueMicrotask(() => {
      if (!this.readyPending) return;
      this.readyPending = false;
      this.state = 'ready';
      this.events.onStateChange(this, 'ready');
    });
  }

  onGoAway(code: number, _lastStreamId: number, debug: Buffer): void {
    // gRFC A8: the server's ping policy rejected our keepalive rate.
    if (code === ENHANCE_YOUR_CALM && debug.equals(TOO_MANY_PINGS)) this.tooManyPings = true;
    if (this.state === 'connecting') {
      // Before READY: the attempt failed (the subchannel backs off, as grpc-go
      // and grpc-js do when no SETTINGS come first), instead of a connection
      // that "worked" and is redialed at once. The close reports it.
      this.readyPending = false;
      this.failure ??= `Server sent GOAWAY (code ${code}) before the connection was ready`;
      this.close();
      return;
    }
    // The server will take no new streams here; calls in flight may finish.
    if (this.state === 'ready') {
      this.state = 'draining';
      this.events.onStateChange(this, 'draining');
    }
  }

  onClosed(reason: string): void {
    this.readyPending = false;
    this.state = 'closed';
    this.events.onStateChange(this, 'closed', this.failure ?? reason);
  }
}
