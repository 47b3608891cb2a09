// A subchannel is grpc-go's addrConn: one address, at most one live native
// connection, and the connectivity state machine of gRPC's
// connectivity-semantics doc:
//
//   IDLE --startConnecting--> CONNECTING --ready--> READY
//   CONNECTING --fails--> TRANSIENT_FAILURE --backoff over--> IDLE (or CONNECTING
//                                             if a connect was asked for meanwhile)
//   READY --GOAWAY or connection lost--> IDLE
//
// A GOAWAY before READY (or with the SETTINGS that made it ready) is a failed
// attempt, like a refused connection: NativeConnection reports it as closed.
//
// `resetTransport` / `tryAllAddrs` / `createTransport` of the seed collapse
// into `connect()` here, because a subchannel has one address (the balancer
// iterates addresses, as in grpc-go since pick_first moved addresses out).
import { ConnectivityState, LogVerbosity } from '../constants';
import { isTracerEnabled, trace } from '../logging';
import { LongTimer } from '../long-timer';
import type { ConnectConfig } from '../native/binding';
import {
  NativeConnection,
  type NativeConnectionEvents,
  type NativeConnectionState,
} from '../transport/native-connection';
import { ConnectionBackoff, type BackoffOptions } from './backoff';
import type {
  ConnectivityStateListener,
  HealthListener,
  SubchannelInterface,
  SubchannelRef,
} from './subchannel-interface';

let nextSubchannelId = 1;

export class Subchannel implements SubchannelInterface, NativeConnectionEvents {
  private state = ConnectivityState.IDLE;
  private conn: NativeConnection | null = null;
  private readonly listeners = new Set<ConnectivityStateListener>();
  private readonly backoff: ConnectionBackoff;
  private backoffTimer: LongTimer | null = null;
  /** A connect was requested while backing off: connect when it ends. */
  private connectAfterBackoff = false;
  private refcount = 0;
  private readonly ref_: SubchannelRef;
  private lastError = '';
  /**
   * The keepalive time of this subchannel's connections (gRFC A8): the
   * config's, raised after a GOAWAY too_many_pings. Kept here, not written
   * into the config, whose contents are the pool key this subchannel is
   * shared under.
   */
  private keepaliveTimeMs: number | undefined;

  /**
   * @param address Dialable form: `host:port`, `[v6]:port` or `unix:/path`.
   * @param config Connection settings shared by every attempt.
   * @param onUnused Called when the last reference is dropped (the pool forgets it).
   */
  constructor(
    private readonly address: string,
    private readonly config: ConnectConfig,
    backoff: BackoffOptions,
    private readonly onUnused: (subchannel: Subchannel) => void,
  ) {
    this.backoff = new ConnectionBackoff(backoff);
    this.keepaliveTimeMs = config.keepaliveTimeMs;
    this.ref_ = { kind: 'subchannel', id: nextSubchannelId++, name: address };
  }

  getConnectivityState(): ConnectivityState {
    return this.state;
  }

  addConnectivityStateListener(listener: ConnectivityStateListener): void {
    this.listeners.add(listener);
  }

  removeConnectivityStateListener(listener: ConnectivityStateListener): void {
    this.listeners.delete(listener);
  }

  startConnecting(): void {
    switch (this.state) {
      case ConnectivityState.IDLE:
        this.connect();
        break;
      case ConnectivityState.TRANSIENT_FAILURE:
        // The backoff must run out first; then connect at once.
        this.connectAfterBackoff = true;
        break;
      default:
        break;
    }
  }

  getAddress(): string {
    return this.address;
  }

  throttleKeepalive(newKeepaliveTime: number): void {
    // As grpc-js: only ever lengthens, and only a keepalive that is on;
    // later connections use it.
    const current = this.keepaliveTimeMs;
    if (current !== undefined && current > 0 && newKeepaliveTime > current) {
      this.keepaliveTimeMs = newKeepaliveTime;
    }
  }

  ref(): void {
    this.refcount++;
  }

  unref(): void {
    this.refcount--;
    if (this.refcount <= 0) {
      this.refcount = 0;
      this.shutdown();
      this.onUnused(this);
    }
  }

  getChannelzRef(): SubchannelRef {
    return this.ref_;
  }

  isHealthy(): boolean {
    return true;
  }

  addHealthStateWatcher(_listener: HealthListener): void {}

  removeHealthStateWatcher(_listener: HealthListener): void {}

  getRealSubchannel(): SubchannelInterface {
    return this;
  }

  realSubchannelEquals(other: SubchannelInterface): boolean {
    return other.getRealSubchannel() === this;
  }

  /** The ready connection calls start on, or null unless READY. */
  getConnection(): NativeConnection | null {
    return this.state === ConnectivityState.READY ? this.conn : null;
  }

  /** The error of the last failed attempt, for status messages. */
  getLastError(): string {
    return this.lastError;
  }

  /** Ends backoff early (channel `resetBackoff` or a fresh resolver update). */
  resetBackoff(): void {
    this.backoff.reset();
    if (this.backoffTimer !== null) {
      this.clearBackoffTimer();
      this.endBackoff();
    }
  }

  // NativeConnectionEvents

  /** @internal */
  onStateChange(conn: NativeConnection, state: NativeConnectionState, reason?: string): void {
    if (conn !== this.conn) return;
    const keepalive = this.keepaliveTimeMs;
    if (conn.tooManyPings && keepalive !== undefined && keepalive > 0) {
      // gRFC A8: the client doubles its keepalive time for later connections.
      // State listeners receive it, so the channel passes it on to its other
      // subchannels (BalancerWrapper), as grpc-js's channel does.
      this.throttleKeepalive(keepalive * 2);
      conn.tooManyPings = false;
    }
    switch (state) {
      case 'ready':
        this.backoff.reset();
        this.transition(ConnectivityState.READY);
        break;
      case 'draining':
        // GOAWAY: calls in flight finish on the old connection; new ones need a new one.
        this.conn = null;
        this.transition(ConnectivityState.IDLE);
        break;
      case 'closed':
        this.conn = null;
        if (this.state === ConnectivityState.CONNECTING) {
          this.lastError = reason ?? 'connection failed';
          this.transition(ConnectivityState.TRANSIENT_FAILURE, this.lastError);
        } else if (this.state === ConnectivityState.READY) {
          this.transition(ConnectivityState.IDLE, reason);
        }
        break;
    }
  }

  private connect(): void {
    const { delayMs, connectTimeoutMs } = this.backoff.nextAttempt();
    this.connectAfterBackoff = false;
    this.transition(ConnectivityState.CONNECTING);
    // The next attempt may start no earlier than `delayMs` after this one
    // started, however quickly this one fails.
    this.clearBackoffTimer();
    // A LongTimer: a user's backoff past 2^31-1 ms must not fire after 1 ms.
    this.backoffTimer = new LongTimer(() => {
      this.backoffTimer = null;
      if (this.state === ConnectivityState.TRANSIENT_FAILURE) this.endBackoff();
    }, delayMs).unref();
    try {
      this.conn = new NativeConnection(
        this.address,
        { ...this.config, connectTimeoutMs, keepaliveTimeMs: this.keepaliveTimeMs },
        this,
      );
    } catch (e) {
      // An address the native dialer rejects (a resolver's bad port or empty
      // host): a failed attempt like a refused one, reported asynchronously
      // as that would be, never an exception into the balancer or resolver.
      const reason = e instanceof Error ? e.message : String(e);
      process.nextTick(() => {
        if (this.state !== ConnectivityState.CONNECTING || this.conn !== null) return;
        this.lastError = reason;
        this.transition(ConnectivityState.TRANSIENT_FAILURE, reason);
      });
    }
  }

  private endBackoff(): void {
    if (this.state !== ConnectivityState.TRANSIENT_FAILURE) return;
    if (this.connectAfterBackoff) this.connect();
    else this.transition(ConnectivityState.IDLE);
  }

  /** The failure handler runs when the attempt ends; if the backoff window already passed, move on now. */
  private transition(next: ConnectivityState, errorMessage?: string): void {
    const prev = this.state;
    if (prev === next) return;
    this.state = next;
    if (isTracerEnabled('subchannel')) {
      trace(
        LogVerbosity.DEBUG,
        'subchannel',
        `(${this.ref_.id}) ${this.address} ${ConnectivityState[prev]} -> ${ConnectivityState[next]}` +
          (errorMessage === undefined ? '' : ` with error "${errorMessage}"`),
      );
    }
    if (next === ConnectivityState.TRANSIENT_FAILURE && this.backoffTimer === null) {
      // The attempt took longer than the backoff delay: no further wait.
      queueMicrotask(() => this.endBackoff());
    }
    for (const listener of [...this.listeners]) {
      listener(this, prev, next, this.keepaliveTimeMs ?? -1, errorMessage);
    }
  }

  private clearBackoffTimer(): void {
    if (this.backoffTimer !== null) {
      this.backoffTimer.clear();
      this.backoffTimer = null;
    }
  }

  private shutdown(): void {
    this.clearBackoffTimer();
    // Calls already running on the connection finish; nothing new starts.
    this.conn?.release();
    this.conn = null;
    this.listeners.clear();
    this.state = ConnectivityState.IDLE;
  }
}
