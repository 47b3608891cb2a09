// The channel: grpc-go's ClientConn. Created IDLE; the first call (or
// `getConnectivityState(true)`) builds the resolver and the balancer:
//
//   target --parseUri/mapUriDefaultScheme--> resolver (ResolverWrapper)
//     --addresses + service config--> balancer (BalancerWrapper: pick_first,
//     round_robin or a user policy) --subchannels (pool)--> native connections
//   balancer --state + picker--> ConnectivityStateManager + PickerWrapper
//   calls --PickerWrapper--> a READY subchannel's connection
//
// After `grpc.client_idle_timeout_ms` with no calls it drops the resolver and
// balancer and goes back to IDLE; the next call starts over.
import { BalancerWrapper, type BalancerEvents } from './balancer/balancer-wrapper';
import './balancer/index';
import { QueuePicker, type Picker } from './balancer/picker';
import { deadlineToMs, type Call, type Deadline } from './call/call-interface';
import { TransportCall, type CallHost, type CallSettings } from './call/transport-call';
import {
  DEFAULT_MAX_ATTEMPTS_LIMIT,
  makeRetryConfig,
  RetryingCall,
  type RetryConfig,
  type RetryHost,
} from './call/retrying-call';
import {
  getRetryThrottler,
  MessageBufferTracker,
  updateRetryThrottler,
} from './call/retry-throttler';
import type { ChannelInterface } from './channel-interface';
import { ConnectivityStateManager } from './connectivity-state';
import {
  ConnectivityState,
  DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
  DEFAULT_MAX_SEND_MESSAGE_LENGTH,
  Propagate,
  Status,
} from './constants';
import { ChannelCredentials } from './credentials';
import { mapProxyName } from './http-proxy';
import type { ConnectConfig } from './native/binding';
import { PickerWrapper } from './picker-wrapper';
import './resolver/index';
import { getDefaultAuthority, mapUriDefaultScheme } from './resolver/resolver';
import { ResolverWrapper, type ResolverUpdate } from './resolver/resolver-wrapper';
import { parseUri, splitHostPort, type GrpcUri } from './resolver/uri-parser';
import { getMethodConfig, validateServiceConfig, type ServiceConfig } from './service-config';
import { durationToMs } from './duration';
import { MAX_TIMER_DELAY_MS } from './long-timer';
import { backoffFromOptions, type BackoffOptions } from './subchannel/backoff';
import { VERSION } from './version';

/** Channel options, by their grpc-js names (unknown options are ignored, as in grpc-js). */
export type ChannelOptions = Record<string, string | number | undefined>;

/** grpc-js's defaults for the replay buffers of retried calls. */
const DEFAULT_RETRY_BUFFER_SIZE_BYTES = 16 * 1024 * 1024;
const DEFAULT_PER_RPC_RETRY_BUFFER_SIZE_BYTES = 1024 * 1024;

/** A method's settings, plus its retry or hedging policy when retries apply. */
interface MethodSettings extends CallSettings {
  retry?: RetryConfig;
}

/** grpc-go's default idle timeout: 30 minutes. */
const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60 * 1000;
/** grpc-js's floor: a smaller value would close the connection after every call. */
const MIN_IDLE_TIMEOUT_MS = 1000;

/**
 * A connection to a gRPC service, shared by every client created on it.
 * Same constructor and methods as `@grpc/grpc-js`'s `Channel`.
 */
export class Channel implements ChannelInterface, CallHost, RetryHost, BalancerEvents {
  private readonly target: GrpcUri;
  private readonly connectConfig: ConnectConfig;
  private readonly backoff: BackoffOptions;
  private readonly maxReceive: number;
  private readonly maxSend: number;
  private readonly defaultServiceConfig: ServiceConfig | null;
  private readonly idleTimeoutMs: number;
  private readonly csMgr: ConnectivityStateManager;
  private readonly channelzRef: ChannelRef;
  private readonly pickerWrapper: PickerWrapper;
  private resolver: ResolverWrapper | null = null;
  private balancer: BalancerWrapper | null = null;
  private serviceConfig: ServiceConfig | null = null;
  /** The resolver was (re)built and has not reported yet: calls wait for its config. */
  private awaitingResolution = false;
  private readonly callSettings = new Map<string, MethodSettings>();
  /** `grpc.enable_retries` is not 0: retry policies and transparent retry apply. */
  private readonly retriesEnabled: boolean;
  private readonly maxAttemptsLimit: number;
  /** @internal */
  readonly retryBuffer: MessageBufferTracker;
  private activeCalls = 0;
  private lastActivity = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;

  /**
   * @param targetString A target per gRPC's naming doc: `host:port`,
   *   `dns:[//authority/]host[:port]`, `ipv4:addr:port[,addr:port]`,
   *   `ipv6:[addr]:port[,...]`, `unix:path`, `unix:///abs`, `unix-abstract:name`,
   *   or any scheme registered with `experimental.registerResolver`.
   * @param credentials `credentials.createInsecure()` or TLS credentials
   *   (`credentials.createSsl`, optionally composed with call credentials).
   * @param options grpc-js channel options.
   */
  constructor(
    private readonly targetString: string,
    credentials: ChannelCredentials,
    private readonly options: ChannelOptions = {},
  ) {
    this.csMgr = new ConnectivityStateManager(targetString);
    this.channelzRef = { kind: 'channel', id: nextChannelId++, name: targetString };
    if (!(credentials instanceof ChannelCredentials)) {
      throw new TypeError('Channel credentials must be a ChannelCredentials object');
    }
    const parsed = parseUri(targetString);
    if (parsed === null) throw new Error(`Could not parse target name "${targetString}"`);
    const target = mapUriDefaultScheme(parsed);
    if (target === null) {
      throw new Error(`Could not find a default scheme for target name "${targetString}"`);
    }
    const proxied = mapProxyName(target, options);
    this.target = proxied.target;

    const serviceConfigJson = stringOption(options['grpc.service_config']);
    this.defaultServiceConfig =
      serviceConfigJson === undefined ? null : validateServiceConfig(JSON.parse(serviceConfigJson));
    this.serviceConfig = this.defaultServiceConfig;
    this.retriesEnabled = options['grpc.enable_retries'] !== 0;
    this.maxAttemptsLimit =
      numberOption(options['grpc-node.retry_max_attempts_limit']) ?? DEFAULT_MAX_ATTEMPTS_LIMIT;
    this.retryBuffer = new MessageBufferTracker(
      numberOption(options['grpc.retry_buffer_size']) ?? DEFAULT_RETRY_BUFFER_SIZE_BYTES,
      numberOption(options['grpc.per_rpc_retry_buffer_size']) ??
        DEFAULT_PER_RPC_RETRY_BUFFER_SIZE_BYTES,
    );
    updateRetryThrottler(targetString, this.serviceConfig?.retryThrottling);

    this.maxReceive =
      numberOption(options['grpc.max_receive_message_length']) ??
      DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH;
    this.maxSend =
      numberOption(options['grpc.max_send_message_length']) ?? DEFAULT_MAX_SEND_MESSAGE_LENGTH;
    this.idleTimeoutMs = idleTimeoutOption(options['grpc.client_idle_timeout_ms']);
    this.backoff = backoffFromOptions(options);
    const userAgent = [
      options['grpc.primary_user_agent'],
      `h2grpc/${VERSION}`,
      options['grpc.secondary_user_agent'],
    ]
      .filter((s) => typeof s === 'string' && s.length > 0)
      .join(' ');
    const targetAuthority = getDefaultAuthority(target);
    this.connectConfig = {
      authority:
        stringOption(options['grpc.default_authority']) ??
        stringOption(options['grpc.ssl_target_name_override']) ??
        targetAuthority,
      // Through a proxy, TLS verifies the server the tunnel reaches.
      ...securityConfig(credentials, proxied.proxy?.target ?? targetAuthority, options),
      proxy: proxied.proxy,
      userAgent,
      maxReceiveMessageLength: this.maxReceive,
      maxFrameSize: numberOption(options['grpc.http2.max_frame_size']),
      maxHeaderListSize: numberOption(options['grpc.max_metadata_size']),
      ...flowControlConfig(options),
      // Compression and keepalive run natively; like grpc-js, an unknown
      // algorithm number is ignored.
      compressionAlgorithm: numberOption(options['grpc.default_compression_algorithm']),
      compressionLevel: numberOption(options['grpc.default_compression_level']),
      keepaliveTimeMs: numberOption(options['grpc.keepalive_time_ms']),
      keepaliveTimeoutMs: numberOption(options['grpc.keepalive_timeout_ms']),
      keepalivePermitWithoutCalls: options['grpc.keepalive_permit_without_calls'] === 1,
    };
    this.pickerWrapper = new PickerWrapper(new QueuePicker(this));
  }

  /** The target string this channel was created with. */
  getTarget(): string {
    return this.targetString;
  }

  /**
   * The channel's channelz reference, as grpc-js returns it. h2grpc has no
   * channelz service; the reference only names the channel.
   */
  getChannelzRef(): ChannelRef {
    return this.channelzRef;
  }

  /** Current connectivity state; with `tryToConnect`, an IDLE channel starts connecting. */
  getConnectivityState(tryToConnect: boolean): ConnectivityState {
    const state = this.csMgr.getState();
    if (tryToConnect && state === ConnectivityState.IDLE) this.exitIdle();
    return this.csMgr.getState();
  }

  /** Calls `callback` once the state is no longer `currentState`, or with an error at `deadline`. */
  watchConnectivityState(
    currentState: ConnectivityState,
    deadline: Deadline,
    callback: (error?: Error) => void,
  ): void {
    if (this.closed) throw new Error('Channel has been shut down');
    this.csMgr.watch(currentState, deadlineToMs(deadline), callback);
  }

  /** Creates a call; it is routed to a connection when started. */
  createCall(
    method: string,
    deadline: Deadline,
    host: string | null | undefined,
    parentCall: unknown,
    propagateFlags: number | null | undefined,
  ): Call {
    // grpc-js's check: anything else could only mean "no deadline" by accident.
    if (!(typeof deadline === 'number' || deadline instanceof Date)) {
      throw new TypeError('Channel#createCall: deadline must be a number or Date');
    }
    const parent = asParentCall(parentCall);
    const flags = propagateFlags ?? Propagate.DEFAULTS;
    if (parent !== null && (flags & Propagate.DEADLINE) !== 0) {
      deadline = minDeadline(deadline, parent.getDeadline());
    }
    const call = this.createCallWithDeadline(method, deadline, host);
    if (parent !== null && (flags & Propagate.CANCELLATION) !== 0) {
      parent.on('cancelled', () =>
        call.cancelWithStatus(Status.CANCELLED, 'Cancelled by parent call'),
      );
    }
    return call;
  }

  private createCallWithDeadline(
    method: string,
    deadline: Deadline,
    host: string | null | undefined,
  ): Call {
    const settings = this.settingsFor(method);
    // Only methods with a retry or hedging policy pay for retries.
    if (settings.retry === undefined) {
      return new TransportCall(this, method, deadline, host ?? null, settings);
    }
    return new RetryingCall(
      this,
      method,
      deadline,
      host ?? null,
      settings.retry,
      getRetryThrottler(this.targetString),
    );
  }

  /** @internal One attempt of a RetryingCall. */
  createAttempt(
    method: string,
    deadline: number,
    host: string | null,
    settings: CallSettings,
  ): Call {
    return new TransportCall(this, method, deadline, host, settings);
  }

  /** Closes the channel: queued and new calls fail; calls in flight finish. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.csMgr.updateState(ConnectivityState.SHUTDOWN);
    this.pickerWrapper.failAll(Status.UNAVAILABLE, 'Channel has been shut down');
    this.teardown();
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
  }

  /** Ends any connection backoff now and retries (grpc-go `ResetConnectBackoff`). */
  resetBackoff(): void {
    this.resolver?.resetReresolutionBackoff();
    this.balancer?.resetBackoff();
  }

  // CallHost

  /** @internal */
  dispatch(call: TransportCall): void {
    this.activeCalls++;
    if (this.closed) {
      call.onPickFailed(Status.UNAVAILABLE, 'Channel has been shut down');
      return;
    }
    if (this.resolver === null) this.exitIdle();
    this.pickerWrapper.pick(call);
    call.armDeadlineWhileWaiting();
  }

  /** @internal */
  repick(call: TransportCall): void {
    if (this.closed) {
      call.onPickFailed(Status.UNAVAILABLE, 'Channel has been shut down');
      return;
    }
    this.pickerWrapper.pick(call);
  }

  /** @internal */
  abandon(call: TransportCall): void {
    this.pickerWrapper.remove(call);
  }

  /** @internal */
  callEnded(_call: TransportCall): void {
    this.activeCalls--;
    if (this.activeCalls === 0) {
      this.lastActivity = Date.now();
      this.armIdleTimer();
    }
  }

  // BalancerEvents

  /** @internal */
  updateState(state: ConnectivityState, picker: Picker, _errorMessage: string | null): void {
    if (this.closed) return;
    if (state === ConnectivityState.READY) this.resolver?.resetReresolutionBackoff();
    this.csMgr.updateState(state);
    this.pickerWrapper.updatePicker(picker);
  }

  /** @internal */
  requestReresolution(): void {
    this.resolver?.resolveNow();
  }

  /** Builds the resolver and balancer (grpc-go `exitIdleMode`). */
  exitIdle(): void {
    if (this.closed) return;
    if (this.resolver !== null) {
      this.balancer?.exitIdle();
      return;
    }
    this.csMgr.updateState(ConnectivityState.CONNECTING);
    this.awaitingResolution = true;
    this.balancer = new BalancerWrapper(this.connectConfig, this.backoff, this);
    this.resolver = new ResolverWrapper(
      this.target,
      this.options,
      this.defaultServiceConfig,
      (update) => this.onResolverUpdate(update),
    );
    this.lastActivity = Date.now();
    this.armIdleTimer();
  }

  private onResolverUpdate(update: ResolverUpdate): boolean {
    if (this.balancer === null) return true;
    if (update.serviceConfig !== this.serviceConfig) {
      this.serviceConfig = update.serviceConfig;
      this.callSettings.clear();
      // A new bucket (keeping the old one's fill) only when the config changes.
      updateRetryThrottler(this.targetString, update.serviceConfig?.retryThrottling);
    }
    if (this.awaitingResolution) {
      this.awaitingResolution = false;
      // Calls made before the resolver's first report are still queued (no
      // picker could serve them yet); they take the method config it brought
      // before the balancer's first picker sees them.
      for (const call of this.pickerWrapper.queuedCalls()) {
        call.updateSettings(this.settingsFor(call.method));
      }
    }
    return this.balancer.updateClientConnState(
      update.endpoints,
      update.serviceConfig,
      { ...this.options, ...(update.attributes as ChannelOptions) },
      update.resolutionNote,
    );
  }

  private settingsFor(method: string): MethodSettings {
    let settings = this.callSettings.get(method);
    if (settings === undefined) {
      const mc =
        this.serviceConfig === null ? undefined : getMethodConfig(this.serviceConfig, method);
      // The smaller of the channel's limit and the method's, as grpc-go does.
      const limit = (channel: number, method: number | undefined): number =>
        method === undefined ? channel : channel < 0 ? method : Math.min(channel, method);
      settings = {
        maxReceive: limit(this.maxReceive, mc?.maxResponseMessageBytes),
        maxSend: limit(this.maxSend, mc?.maxRequestMessageBytes),
        waitForReady: mc?.waitForReady,
        timeoutMs: mc?.timeout === undefined ? undefined : durationToMs(mc.timeout),
        transparentRetry: this.retriesEnabled,
      };
      if (this.retriesEnabled) {
        settings.retry = makeRetryConfig(
          mc?.retryPolicy,
          mc?.hedgingPolicy,
          settings,
          this.maxAttemptsLimit,
        );
      }
      this.callSettings.set(method, settings);
    }
    return settings;
  }

  // One timer for the channel's life, re-armed for the remaining time when it
  // fires too early: cheaper than a timer per call at high call rates.
  private armIdleTimer(): void {
    if (this.idleTimer !== null || this.closed || this.resolver === null) return;
    const wait = Math.max(0, this.lastActivity + this.idleTimeoutMs - Date.now());
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.activeCalls > 0 || this.resolver === null) return;
      if (Date.now() - this.lastActivity >= this.idleTimeoutMs) this.enterIdle();
      else this.armIdleTimer();
    }, wait);
    this.idleTimer.unref();
  }

  private enterIdle(): void {
    this.teardown();
    this.csMgr.updateState(ConnectivityState.IDLE);
    this.pickerWrapper.updatePicker(new QueuePicker(this));
  }

  private teardown(): void {
    this.resolver?.close();
    this.resolver = null;
    this.balancer?.close();
    this.balancer = null;
  }
}

/**
 * The TLS and call-credential part of a connection's settings. Like grpc-js,
 * the TLS name is `grpc.ssl_target_name_override` or the host of
 * `targetAuthority`: the target's authority, or through a proxy the server
 * the tunnel reaches (not `grpc.default_authority`).
 */
function securityConfig(
  credentials: ChannelCredentials,
  targetAuthority: string,
  options: ChannelOptions,
): Partial<ConnectConfig> {
  const callCredentials = credentials._getCallCredentials() ?? undefined;
  const tls = credentials._getTlsSettings();
  if (tls === null) return { secure: false, callCredentials };
  const check = tls.rejectUnauthorized === false ? undefined : tls.checkServerIdentity;
  return {
    secure: true,
    rootCerts: tls.rootCerts,
    privateKey: tls.privateKey,
    certChain: tls.certChain,
    rejectUnauthorized: tls.rejectUnauthorized,
    serverName:
      stringOption(options['grpc.ssl_target_name_override']) ??
      splitHostPort(targetAuthority)?.host ??
      targetAuthority,
    // With rejectUnauthorized: false, Node (and so grpc-js) lets the
    // connection through whatever checkServerIdentity says; there is nothing
    // for it to decide then.
    wantPeerCertificate: check !== undefined,
    checkServerIdentity: check,
    callCredentials,
  };
}

let nextChannelId = 1;

/** Names a channel, in the shape of grpc-js's channelz `ChannelRef`. */
export interface ChannelRef {
  /** Always `'channel'`. */
  kind: 'channel';
  /** Unique per channel in this process. */
  id: number;
  /** The target string. */
  name: string;
}

/** The native side's default connection window (crates/h2core connection.rs). */
const DEFAULT_CONN_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Flow-control windows from the options. grpc-js's `grpc-node.flow_control_window`
 * sets the initial windows; as in grpc-go, a window the user chose turns off
 * BDP growth. `grpc-node.max_session_memory` (MiB) is Node's cap on what an
 * HTTP/2 session may buffer; natively, the nearest bound is the connection
 * window (what the server may send before the client grants more), so it
 * caps that window and BDP growth with it.
 */
function flowControlConfig(
  options: ChannelOptions,
): Pick<ConnectConfig, 'initialStreamWindow' | 'initialConnWindow' | 'bdpProbe'> {
  const chosen = numberOption(options['grpc-node.flow_control_window']);
  // HTTP/2 windows are 31-bit.
  const window = chosen === undefined ? undefined : Math.min(chosen, 0x7fffffff);
  let streamWindow = numberOption(options['h2grpc.initial_window_size']) ?? window;
  let connWindow = numberOption(options['h2grpc.initial_connection_window_size']) ?? window;
  let bdpProbe = numberOption(options['grpc.http2.bdp_probe']) !== 0 && window === undefined;
  const sessionMiB = numberOption(options['grpc-node.max_session_memory']);
  if (sessionMiB !== undefined && sessionMiB > 0) {
    const cap = Math.max(65535, Math.floor(sessionMiB * 1024 * 1024));
    connWindow = Math.min(connWindow ?? DEFAULT_CONN_WINDOW_BYTES, cap);
    if (streamWindow !== undefined) streamWindow = Math.min(streamWindow, connWindow);
    bdpProbe = false;
  }
  return { initialStreamWindow: streamWindow, initialConnWindow: connWindow, bdpProbe };
}

/**
 * What grpc-js reads of a parent call (a grpc-js server call, since servers
 * are grpc-js's): its deadline, and its 'cancelled' event.
 */
interface ParentCall {
  getDeadline(): Deadline;
  on(event: 'cancelled', listener: () => void): unknown;
}

function asParentCall(call: unknown): ParentCall | null {
  if (call === null || typeof call !== 'object') return null;
  const c = call as Partial<ParentCall>;
  return typeof c.getDeadline === 'function' && typeof c.on === 'function'
    ? (c as ParentCall)
    : null;
}

function minDeadline(a: Deadline, b: Deadline): number {
  return Math.min(deadlineToMs(a), deadlineToMs(b));
}

/**
 * `grpc.client_idle_timeout_ms`, at least 1 s as in grpc-js. Anything longer
 * than Node's longest timer (Infinity included) is that timer, about 24.8
 * days: grpc-js hands such values to setTimeout, and its idle timer then
 * fires every 1 ms without ever idling. Not a number: the default.
 */
function idleTimeoutOption(v: string | number | undefined): number {
  if (typeof v !== 'number' || Number.isNaN(v)) return DEFAULT_IDLE_TIMEOUT_MS;
  return Math.min(Math.max(v, MIN_IDLE_TIMEOUT_MS), MAX_TIMER_DELAY_MS);
}

function numberOption(v: string | number | undefined): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return undefined;
}

function stringOption(v: string | number | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
