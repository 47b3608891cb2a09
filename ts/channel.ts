// A channel over one address, for now: it owns at most one usable native
// connection, queues calls while it connects, and replaces it after GOAWAY
// or loss. Calls only talk to it through `CallHost`, so the resolver,
// balancer and picker machinery (issue 5) can replace this without touching
// the call path.
import { TransportCall, type CallHost } from './call/transport-call';
import type { Call, Deadline } from './call/call-interface';
import type { ChannelInterface } from './channel-interface';
import {
  ConnectivityState,
  DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
  DEFAULT_MAX_SEND_MESSAGE_LENGTH,
} from './constants';
import type { ChannelCredentials } from './credentials';
import type { ConnectConfig } from './native/binding';
import {
  NativeConnection,
  type NativeConnectionEvents,
  type NativeConnectionState,
} from './transport/native-connection';
import { parseSimpleTarget, type SimpleTarget } from './target';

/** Channel options, by their grpc-js names (unknown options are ignored, as in grpc-js). */
export type ChannelOptions = Record<string, string | number | undefined>;

const VERSION: string = (require('../package.json') as { version: string }).version;

interface StateWatcher {
  current: ConnectivityState;
  callback: (error?: Error) => void;
  timer: NodeJS.Timeout | null;
}

/**
 * A connection to a gRPC server, shared by every client created on it.
 * Same constructor and methods as `@grpc/grpc-js`'s `Channel`.
 */
export class Channel implements ChannelInterface, CallHost, NativeConnectionEvents {
  private readonly target: SimpleTarget;
  private readonly config: ConnectConfig;
  private readonly maxReceive: number;
  private readonly maxSend: number;
  private conn: NativeConnection | null = null;
  private state = ConnectivityState.IDLE;
  private watchers: StateWatcher[] = [];
  private activeCalls = 0;
  private closed = false;

  /**
   * @param target `host:port`, `dns:[//authority/]host[:port]`, `ipv4:addr:port`,
   *   `ipv6:[addr]:port` or `unix:path`.
   * @param credentials Only insecure credentials are supported so far.
   * @param options grpc-js channel options.
   */
  constructor(
    private readonly targetString: string,
    credentials: ChannelCredentials,
    options: ChannelOptions = {},
  ) {
    if (credentials._isSecure()) {
      throw new Error(
        'h2grpc: secure channels are not available yet; use credentials.createInsecure()',
      );
    }
    this.target = parseSimpleTarget(targetString);
    const maxReceive = numberOption(options['grpc.max_receive_message_length']);
    this.maxReceive = maxReceive ?? DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH;
    this.maxSend =
      numberOption(options['grpc.max_send_message_length']) ?? DEFAULT_MAX_SEND_MESSAGE_LENGTH;
    const userAgent = [
      options['grpc.primary_user_agent'],
      `h2grpc/${VERSION}`,
      options['grpc.secondary_user_agent'],
    ]
      .filter((s) => typeof s === 'string' && s.length > 0)
      .join(' ');
    this.config = {
      authority: stringOption(options['grpc.default_authority']) ?? this.target.authority,
      secure: false,
      userAgent,
      maxReceiveMessageLength: this.maxReceive,
      connectTimeoutMs: numberOption(options['grpc.min_connect_timeout_ms']) ?? 20_000,
      maxFrameSize: numberOption(options['grpc.http2.max_frame_size']),
      maxHeaderListSize: numberOption(options['grpc.max_metadata_size']),
      initialStreamWindow: numberOption(options['h2grpc.initial_window_size']),
      initialConnWindow: numberOption(options['h2grpc.initial_connection_window_size']),
      bdpProbe: numberOption(options['grpc.http2.bdp_probe']) !== 0,
    };
  }

  /** The target string this channel was created with. */
  getTarget(): string {
    return this.targetString;
  }

  /** Current connectivity state; with `tryToConnect`, an IDLE channel starts connecting. */
  getConnectivityState(tryToConnect: boolean): ConnectivityState {
    if (tryToConnect && this.state === ConnectivityState.IDLE && !this.closed) this.connection();
    return this.state;
  }

  /** Calls `callback` once the state is no longer `currentState`, or with an error at `deadline`. */
  watchConnectivityState(
    currentState: ConnectivityState,
    deadline: Deadline,
    callback: (error?: Error) => void,
  ): void {
    if (this.state !== currentState) {
      process.nextTick(callback);
      return;
    }
    const watcher: StateWatcher = { current: currentState, callback, timer: null };
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    if (at !== Infinity) {
      watcher.timer = setTimeout(
        () => {
          this.watchers = this.watchers.filter((w) => w !== watcher);
          callback(new Error('Deadline passed without connectivity state change'));
        },
        Math.max(0, at - Date.now()),
      );
    }
    this.watchers.push(watcher);
  }

  /** Creates a call; it connects (or waits for the connection) when started. */
  createCall(
    method: string,
    deadline: Deadline,
    host: string | null | undefined,
    _parentCall: unknown,
    _propagateFlags: number | null | undefined,
  ): Call {
    return new TransportCall(this, method, deadline, host ?? null, this.maxReceive, this.maxSend);
  }

  /** Closes the channel: new calls fail, the connection closes when calls in flight end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.setState(ConnectivityState.SHUTDOWN);
    if (this.activeCalls === 0) this.conn?.close();
  }

  // CallHost

  /** @internal */
  dispatch(call: TransportCall): void {
    this.activeCalls++;
    if (this.closed) {
      call.onConnectionFailed('Channel has been shut down');
      return;
    }
    const conn = this.connection();
    if (conn.state !== 'ready') call.armDeadlineWhileWaiting();
    conn.whenReady(call);
  }

  /** @internal */
  abandon(call: TransportCall): void {
    this.conn?.removeWaiter(call);
  }

  /** @internal */
  callEnded(_call: TransportCall): void {
    this.activeCalls--;
    if (this.closed && this.activeCalls === 0) this.conn?.close();
  }

  // NativeConnectionEvents

  /** @internal */
  onStateChange(conn: NativeConnection, state: NativeConnectionState, reason?: string): void {
    if (conn !== this.conn) return;
    switch (state) {
      case 'ready':
        this.setState(ConnectivityState.READY);
        break;
      case 'draining':
        // New calls go to a fresh connection; this one finishes its streams.
        this.conn = null;
        this.setState(ConnectivityState.IDLE);
        break;
      case 'closed':
        this.conn = null;
        this.setState(
          reason !== undefined && this.state === ConnectivityState.CONNECTING
            ? ConnectivityState.TRANSIENT_FAILURE
            : ConnectivityState.IDLE,
        );
        break;
    }
  }

  private connection(): NativeConnection {
    if (this.conn === null || this.conn.state === 'closed' || this.conn.state === 'draining') {
      this.setState(ConnectivityState.CONNECTING);
      this.conn = new NativeConnection(this.target.address, this.config, this);
    }
    return this.conn;
  }

  private setState(state: ConnectivityState): void {
    if (this.state === state || this.state === ConnectivityState.SHUTDOWN) return;
    this.state = state;
    const ready = this.watchers.filter((w) => w.current !== state);
    this.watchers = this.watchers.filter((w) => w.current === state);
    for (const w of ready) {
      if (w.timer !== null) clearTimeout(w.timer);
      process.nextTick(w.callback);
    }
  }
}

function numberOption(v: string | number | undefined): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return undefined;
}

function stringOption(v: string | number | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
