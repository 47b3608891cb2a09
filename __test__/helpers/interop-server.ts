// A real gRPC peer for the integration tests: grpc.testing.TestService from the
// interop protos, served by @grpc/grpc-js. Behaviour follows the interop test
// descriptions (as far as the proto comments tell), plus a few test-only
// switches carried in request metadata:
//
//   x-h2grpc-sleep-ms: N          wait N ms before answering (notices cancellation)
//   x-h2grpc-echo-all-metadata: 1 echo every request metadata entry back as
//                                 response headers, and as trailers with a `t-` prefix
//   x-h2grpc-tag: TAG             name the call in cancellation events / log lines
//
// UnaryCall honours `fill_server_id` (SimpleResponse.server_id = this server's id, by
// default its listen address, e.g. `127.0.0.1:43123`; `hostname` = the machine's host
// name) and `fill_username` (SimpleResponse.username = the server id too), so tests
// with several backends can tell which one answered.
//
// Cancellations observed by a handler (client RST_STREAM, deadline, connection
// loss) before it finished are counted in `stats.cancelled` and emitted as
// `cancelled` events; the child-process main prints them as `CANCELLED ...` lines.
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The part of every grpc-js server call object used here (grpc-js does not export its type). */
interface ServerSurfaceCall {
  cancelled: boolean;
  readonly metadata: grpc.Metadata;
  sendMetadata(responseMetadata: grpc.Metadata): void;
  on(event: 'cancelled', listener: () => void): unknown;
}

export const PROTO_INCLUDE_DIR = '/usr/share/grpc-proto';
export const TEST_PROTO = 'grpc/testing/test.proto';

/** Loader options shared by the server and the clients under test (keepCase: proto field names). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_INCLUDE_DIR],
};

export const MiB = 1024 * 1024;

export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_send_message_length': 16 * MiB,
  'grpc.max_receive_message_length': 16 * MiB,
};

export const ECHO_INITIAL_KEY = 'x-grpc-test-echo-initial';
export const ECHO_TRAILING_KEY = 'x-grpc-test-echo-trailing-bin';
export const SLEEP_KEY = 'x-h2grpc-sleep-ms';
export const ECHO_ALL_KEY = 'x-h2grpc-echo-all-metadata';
export const TAG_KEY = 'x-h2grpc-tag';

/** Request metadata keys that are transport-level, never echoed by x-h2grpc-echo-all-metadata. */
const NOT_ECHOED = new Set(['user-agent', 'host', 'te', 'content-type', 'content-length']);

export interface Payload {
  type?: string;
  body?: Buffer;
}

export interface EchoStatus {
  code: number;
  message?: string;
}

export interface ResponseParameters {
  size: number;
  interval_us?: number;
}

export interface SimpleRequest {
  response_size?: number;
  payload?: Payload | null;
  response_status?: EchoStatus | null;
  /** Ask for SimpleResponse.username (filled with the server id). */
  fill_username?: boolean;
  /** Ask for SimpleResponse.server_id and SimpleResponse.hostname. */
  fill_server_id?: boolean;
}

export interface SimpleResponse {
  payload: Payload | null;
  username?: string;
  server_id?: string;
  hostname?: string;
}

export interface StreamingInputCallRequest {
  payload?: Payload | null;
}

export interface StreamingInputCallResponse {
  aggregated_payload_size: number;
}

export interface StreamingOutputCallRequest {
  response_parameters?: ResponseParameters[];
  payload?: Payload | null;
  response_status?: EchoStatus | null;
}

export interface StreamingOutputCallResponse {
  payload: Payload | null;
}

export interface CancelledEvent {
  method: string;
  tag: string;
}

export interface ServerStats {
  /** Calls started, by method name (e.g. `UnaryCall`). */
  started: Record<string, number>;
  /** Calls whose handler saw the call cancelled before it answered, by method name. */
  cancelled: Record<string, number>;
}

export function loadTestProto(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(TEST_PROTO, LOADER_OPTIONS);
}

/**
 * A payload of `size` zero bytes. `type` (COMPRESSABLE, the proto3 default) is left out
 * so the encoded size is predictable: a SimpleResponse with an n-byte body (2^21 <= n <
 * 2^28) encodes to exactly n + 10 bytes.
 */
function payloadOfSize(size: number): Payload {
  return { body: Buffer.alloc(size) };
}

function firstString(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : v.toString();
}

/** Per-call bookkeeping shared by all handlers. */
class CallState {
  finished = false;
  cancelled = false;
  private waiters = new Set<() => void>();

  constructor(
    readonly method: string,
    readonly call: ServerSurfaceCall,
    private readonly server: InteropService,
  ) {
    server.stats.started[method] = (server.stats.started[method] ?? 0) + 1;
    call.on('cancelled', () => this.onCancelled());
    // Rare race: the call may already be flagged cancelled before we listened.
    if (call.cancelled) this.onCancelled();
  }

  get md(): grpc.Metadata {
    return this.call.metadata;
  }

  get tag(): string {
    return firstString(this.md, TAG_KEY) ?? '-';
  }

  private onCancelled(): void {
    // grpc-js also emits 'cancelled' after a call ended normally; only count real ones.
    if (this.finished || this.cancelled) return;
    this.cancelled = true;
    this.server.stats.cancelled[this.method] = (this.server.stats.cancelled[this.method] ?? 0) + 1;
    this.server.recordCancelled({ method: this.method, tag: this.tag });
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Resolves true after `ms`, or false as soon as the call is cancelled. */
  sleep(ms: number): Promise<boolean> {
    if (this.cancelled) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve(!this.cancelled);
      }, ms);
      this.waiters.add(done);
    });
  }

  /** Waits for 'drain' (write backpressure) unless the call gets cancelled first. */
  waitDrain(stream: NodeJS.EventEmitter): Promise<boolean> {
    if (this.cancelled) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onCancel = () => {
        stream.removeListener('drain', onDrain);
        resolve(false);
      };
      const onDrain = () => {
        this.waiters.delete(onCancel);
        resolve(!this.cancelled);
      };
      stream.once('drain', onDrain);
      this.waiters.add(onCancel);
    });
  }

  /** Applies x-h2grpc-sleep-ms. Returns false if the call was cancelled meanwhile. */
  async preamble(): Promise<boolean> {
    const sleepMs = Number(firstString(this.md, SLEEP_KEY) ?? 0);
    if (Number.isFinite(sleepMs) && sleepMs > 0) return this.sleep(sleepMs);
    return !this.cancelled;
  }

  /** Response headers for the echo switches; sent up front when non-empty. */
  sendEchoHeaders(): void {
    const out = new grpc.Metadata();
    let any = false;
    for (const v of this.md.get(ECHO_INITIAL_KEY)) {
      out.add(ECHO_INITIAL_KEY, v);
      any = true;
    }
    if (this.echoAll) {
      for (const [key, value] of this.allEntries()) {
        out.add(key, value);
        any = true;
      }
    }
    if (any) this.call.sendMetadata(out);
  }

  /** Trailing metadata for the echo switches. */
  echoTrailers(): grpc.Metadata {
    const out = new grpc.Metadata();
    for (const v of this.md.get(ECHO_TRAILING_KEY)) out.add(ECHO_TRAILING_KEY, v);
    if (this.echoAll) {
      for (const [key, value] of this.allEntries()) out.add(`t-${key}`, value);
    }
    return out;
  }

  private get echoAll(): boolean {
    return firstString(this.md, ECHO_ALL_KEY) === '1';
  }

  private allEntries(): Array<[string, grpc.MetadataValue]> {
    const entries: Array<[string, grpc.MetadataValue]> = [];
    const json = this.md.toJSON();
    for (const key of Object.keys(json)) {
      if (NOT_ECHOED.has(key) || key.startsWith('grpc-') || key.startsWith(':')) continue;
      for (const value of json[key]) entries.push([key, value]);
    }
    return entries;
  }

  finish(): void {
    this.finished = true;
  }
}

function statusError(status: EchoStatus, trailers: grpc.Metadata): grpc.ServerErrorResponse {
  const details = status.message ?? '';
  return Object.assign(new Error(details), {
    code: status.code,
    details,
    metadata: trailers,
  });
}

function hasErrorStatus(s: EchoStatus | null | undefined): s is EchoStatus {
  return s != null && s.code !== 0;
}

/**
 * Iterates the request messages of a server call without destroying the call at the
 * end (a plain `for await` over a Duplex would destroy it, making responses impossible).
 * Ends quietly when the call is closed/cancelled; pauses the stream while 16+ are queued.
 */
async function* requestsOf<T>(stream: NodeJS.ReadableStream): AsyncGenerator<T> {
  const queue: T[] = [];
  let done = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (m: T) => {
    queue.push(m);
    if (queue.length >= 16) stream.pause();
    notify();
  };
  const onDone = () => {
    done = true;
    notify();
  };
  // Node's http2 ends the readable side of a stream reset by the client (RST_STREAM)
  // before closing it, so grpc-js reports a half-close first and the cancellation
  // later. Deferring a little lets the cancellation win when it follows closely; it
  // is not a guarantee (under load the gap can be several ms), so tests that need to
  // see a bidi cancellation cancel while the handler is busy writing.
  const onEnd = () => setImmediate(onDone);
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onDone);
  stream.on('error', onDone);
  try {
    for (;;) {
      if (queue.length > 0) {
        const m = queue.shift() as T;
        if (queue.length < 4 && stream.isPaused()) stream.resume();
        yield m;
        continue;
      }
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
    stream.removeListener('close', onDone);
    stream.removeListener('error', onDone);
  }
}

type Writable<T> = grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>;

/** Streams the responses asked for by one StreamingOutputCallRequest. False if cancelled. */
async function writeResponses(
  state: CallState,
  call: Writable<StreamingOutputCallResponse>,
  req: StreamingOutputCallRequest,
): Promise<boolean> {
  for (const p of req.response_parameters ?? []) {
    const intervalUs = Number(p.interval_us ?? 0);
    if (intervalUs > 0 && !(await state.sleep(intervalUs / 1000))) return false;
    if (state.cancelled) return false;
    const ok = call.write({ payload: payloadOfSize(Number(p.size)) });
    if (!ok && !(await state.waitDrain(call))) return false;
  }
  return !state.cancelled;
}

function endStream(
  state: CallState,
  call: Writable<StreamingOutputCallResponse>,
  status?: EchoStatus | null,
): void {
  if (state.cancelled) return;
  state.finish();
  const trailers = state.echoTrailers();
  if (hasErrorStatus(status)) {
    call.emit('error', statusError(status, trailers));
  } else {
    call.end(trailers);
  }
}

/** The TestService implementation plus its observable counters. */
export class InteropService extends EventEmitter {
  readonly stats: ServerStats = { started: {}, cancelled: {} };
  readonly cancelledTags = new Set<string>();
  /** What UnaryCall reports as `server_id` when asked; set once the server is bound. */
  serverId = '';

  recordCancelled(ev: CancelledEvent): void {
    this.cancelledTags.add(ev.tag);
    this.emit('cancelled', ev);
  }

  /** Resolves once a call tagged `tag` was seen cancelled by its handler; rejects after timeoutMs. */
  waitForCancelled(tag: string, timeoutMs = 5000): Promise<void> {
    if (this.cancelledTags.has(tag)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onEv = (ev: CancelledEvent) => {
        if (ev.tag !== tag) return;
        clearTimeout(timer);
        this.removeListener('cancelled', onEv);
        resolve();
      };
      const timer = setTimeout(() => {
        this.removeListener('cancelled', onEv);
        reject(new Error(`server did not observe cancellation of call tagged ${tag}`));
      }, timeoutMs);
      this.on('cancelled', onEv);
    });
  }

  implementation(): grpc.UntypedServiceImplementation {
    return {
      EmptyCall: (call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        void this.emptyCall(call, cb);
      },
      UnaryCall: (
        call: grpc.ServerUnaryCall<SimpleRequest, SimpleResponse>,
        cb: grpc.sendUnaryData<SimpleResponse>,
      ) => {
        void this.unaryCall(call, cb);
      },
      StreamingOutputCall: (
        call: grpc.ServerWritableStream<StreamingOutputCallRequest, StreamingOutputCallResponse>,
      ) => {
        void this.streamingOutputCall(call);
      },
      StreamingInputCall: (
        call: grpc.ServerReadableStream<StreamingInputCallRequest, StreamingInputCallResponse>,
        cb: grpc.sendUnaryData<StreamingInputCallResponse>,
      ) => {
        void this.streamingInputCall(call, cb);
      },
      FullDuplexCall: (
        call: grpc.ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>,
      ) => {
        void this.fullDuplexCall(call);
      },
      HalfDuplexCall: (
        call: grpc.ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>,
      ) => {
        void this.halfDuplexCall(call);
      },
      // UnimplementedCall is deliberately absent: grpc-js answers UNIMPLEMENTED.
    };
  }

  private async emptyCall(
    call: grpc.ServerUnaryCall<object, object>,
    cb: grpc.sendUnaryData<object>,
  ): Promise<void> {
    const state = new CallState('EmptyCall', call, this);
    if (!(await state.preamble())) return;
    state.sendEchoHeaders();
    state.finish();
    cb(null, {}, state.echoTrailers());
  }

  private async unaryCall(
    call: grpc.ServerUnaryCall<SimpleRequest, SimpleResponse>,
    cb: grpc.sendUnaryData<SimpleResponse>,
  ): Promise<void> {
    const state = new CallState('UnaryCall', call, this);
    if (!(await state.preamble())) return;
    state.sendEchoHeaders();
    state.finish();
    const req = call.request;
    const trailers = state.echoTrailers();
    if (hasErrorStatus(req.response_status)) {
      cb(statusError(req.response_status, trailers));
      return;
    }
    const response: SimpleResponse = { payload: payloadOfSize(Number(req.response_size ?? 0)) };
    if (req.fill_server_id) {
      response.server_id = this.serverId;
      response.hostname = hostname();
    }
    if (req.fill_username) response.username = this.serverId;
    cb(null, response, trailers);
  }

  private async streamingOutputCall(
    call: grpc.ServerWritableStream<StreamingOutputCallRequest, StreamingOutputCallResponse>,
  ): Promise<void> {
    const state = new CallState('StreamingOutputCall', call, this);
    if (!(await state.preamble())) return;
    state.sendEchoHeaders();
    if (!(await writeResponses(state, call, call.request))) return;
    endStream(state, call, call.request.response_status);
  }

  private async streamingInputCall(
    call: grpc.ServerReadableStream<StreamingInputCallRequest, StreamingInputCallResponse>,
    cb: grpc.sendUnaryData<StreamingInputCallResponse>,
  ): Promise<void> {
    const state = new CallState('StreamingInputCall', call, this);
    if (!(await state.preamble())) return;
    state.sendEchoHeaders();
    let total = 0;
    for await (const req of requestsOf<StreamingInputCallRequest>(call)) {
      total += req.payload?.body?.length ?? 0;
    }
    if (state.cancelled) return;
    state.finish();
    cb(null, { aggregated_payload_size: total }, state.echoTrailers());
  }

  private async fullDuplexCall(
    call: grpc.ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>,
  ): Promise<void> {
    const state = new CallState('FullDuplexCall', call, this);
    if (!(await state.preamble())) return;
    state.sendEchoHeaders();
    for await (const req of requestsOf<StreamingOutputCallRequest>(call)) {
      if (!(await writeResponses(state, call, req))) return;
      if (hasErrorStatus(req.response_status)) {
        endStream(state, call, req.response_status);
        return;
      }
    }
    endStream(state, call);
  }

  private async halfDuplexCall(
    call: grpc.ServerDuplexStream<StreamingOutputCallRequest, StreamingOutputCallResponse>,
  ): Promise<void> {
    const state = new CallState('HalfDuplexCall', call, this);
    if (!(await state.preamble())) return;
    state.sendEchoHeaders();
    const requests: StreamingOutputCallRequest[] = [];
    for await (const req of requestsOf<StreamingOutputCallRequest>(call)) requests.push(req);
    for (const req of requests) {
      if (!(await writeResponses(state, call, req))) return;
      if (hasErrorStatus(req.response_status)) {
        endStream(state, call, req.response_status);
        return;
      }
    }
    endStream(state, call);
  }
}

export interface InteropServer {
  /** Bound TCP port (0 for a unix socket). */
  port: number;
  /** Address for clients, e.g. `127.0.0.1:43123` or `unix:/tmp/x.sock`. */
  address: string;
  /** What UnaryCall answers `fill_server_id` with. */
  serverId: string;
  server: grpc.Server;
  service: InteropService;
  stats: ServerStats;
  waitForCancelled(tag: string, timeoutMs?: number): Promise<void>;
  /** Graceful shutdown, forced after a short grace period. */
  stop(): Promise<void>;
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });
}

export interface StartOptions {
  /** The id UnaryCall reports for `fill_server_id`; defaults to the client address. */
  serverId?: string;
}

/**
 * Starts the interop server in this process. `address` defaults to `127.0.0.1:0`
 * (any free port); `[::1]:0` binds IPv6 loopback; `unix:/path` binds a unix socket.
 */
export async function startInteropServer(
  address = '127.0.0.1:0',
  options: StartOptions = {},
): Promise<InteropServer> {
  const def = loadTestProto();
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { testing: { TestService: grpc.ServiceClientConstructor } };
  };
  const server = new grpc.Server(SERVER_OPTIONS);
  const service = new InteropService();
  // Avoid unhandled 'error' crashes if nobody listens; the event is informational only.
  service.on('error', () => {});
  server.addService(pkg.grpc.testing.TestService.service, service.implementation());
  const port = await bind(server, address);
  const clientAddress = address.startsWith('unix:')
    ? address
    : `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
  service.serverId = options.serverId ?? clientAddress;
  let stopped: Promise<void> | undefined;
  return {
    port,
    address: clientAddress,
    serverId: service.serverId,
    server,
    service,
    stats: service.stats,
    waitForCancelled: (tag, timeoutMs) => service.waitForCancelled(tag, timeoutMs),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return stopped;
    },
  };
}
