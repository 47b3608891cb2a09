// The JS half of the boundary. One native transport per process (realm): it
// starts calls with one synchronous native call each, batches their commands
// and read reports into one flush per turn, holds the event loop while calls
// are in flight, and when the native side wakes it (at most once per batch)
// drains every pending completion in one call; `batch-decoder.ts` decodes
// them and this class routes them by stream or connection id.
import type { Metadata } from '../metadata';
import { decodeBatch, type BatchSink } from './batch-decoder';
import {
  nativeModule,
  type ConnectConfig,
  type NativeStats,
  type NativeTransportHandle,
} from '../native/binding';

/** Receives one call's completions, in order; `onStatus` comes last. */
export interface StreamHandler {
  onHeaders(metadata: Metadata): void;
  onMessage(message: Buffer): void;
  onWriteAck(): void;
  onStatus(code: number, details: string, trailers: Metadata): void;
}

/** Receives one connection's lifecycle events; `onClosed` comes last. */
export interface ConnectionHandler {
  onReady(): void;
  onGoAway(code: number, lastStreamId: number, debug: Buffer): void;
  onClosed(reason: string): void;
  /** The TLS peer's leaf certificate (DER), before `onReady`; only when `wantPeerCertificate` was set. */
  onPeerCertificate?(der: Buffer): void;
}

/**
 * The count in a `flush` reads pair that says the stream's reader paused
 * (`READS_PAUSED` in crates/h2grpc-napi/src/lib.rs).
 */
const READS_PAUSED = 0xffffffff;

export class NativeTransport {
  private readonly handle: NativeTransportHandle;
  private readonly streams = new Map<number, StreamHandler>();
  private readonly conns = new Map<number, ConnectionHandler>();
  /** Connections still being set up (dial, proxy, TLS, HTTP/2 preface). */
  private readonly connecting = new Set<number>();
  private refed = false;
  private flushScheduled = false;
  /** Calls or stream commands wait for `flush` (not only read acknowledgements). */
  private commandsPending = false;
  /** Messages taken since the last flush, as `(stream, count)` pairs. */
  private reads = new Uint32Array(64);
  private readsLength = 0;
  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    const reads = this.takeReads();
    // A turn that only read messages of calls that have since ended (a unary
    // response and its status in one batch) has nothing to hand over.
    if (!this.commandsPending && reads === null) return;
    this.commandsPending = false;
    this.handle.flush(reads);
  };

  constructor() {
    const { NativeTransport: Native } = nativeModule();
    this.handle = new Native(this.onWake);
  }

  /** Routes decoded completions to their connection or call, by id. */
  private readonly sink: BatchSink = {
    ready: (conn) => {
      this.connecting.delete(conn);
      this.conns.get(conn)?.onReady();
    },
    goAway: (conn, code, lastStreamId, debug) => {
      this.conns.get(conn)?.onGoAway(code, lastStreamId, debug);
    },
    closed: (conn, reason) => {
      const handler = this.conns.get(conn);
      this.conns.delete(conn);
      this.connecting.delete(conn);
      handler?.onClosed(reason);
    },
    peerCertificate: (conn, der) => {
      this.conns.get(conn)?.onPeerCertificate?.(der);
    },
    headers: (stream, metadata) => {
      this.streams.get(stream)?.onHeaders(metadata);
    },
    message: (stream, message) => {
      this.streams.get(stream)?.onMessage(message);
    },
    writeAck: (stream) => {
      this.streams.get(stream)?.onWriteAck();
    },
    status: (stream, code, details, trailers) => {
      const handler = this.streams.get(stream);
      this.streams.delete(stream);
      handler?.onStatus(code, details, trailers);
    },
  };

  // The wake-up callback can run more than once in one pass of the poll
  // phase (a threadsafe function's does); a stream producing events as fast as JS consumes them would
  // then starve timers and I/O. So only the first wake of a loop turn drains
  // at once; a further wake waits for setImmediate (after this poll phase),
  // and meanwhile the native side, finding its wake flag still set, stays
  // quiet and keeps queueing.
  // `drainedThisTurn` also means a `turnEnd` is scheduled: the two are set
  // and cleared together.
  private drainedThisTurn = false;
  private drainDeferred = false;
  private readonly onWake = (): void => {
    if (this.drainedThisTurn) {
      this.drainDeferred = true;
      return;
    }
    this.drainedThisTurn = true;
    setImmediate(this.turnEnd);
    this.drain();
  };
  private readonly turnEnd = (): void => {
    this.drainedThisTurn = false;
    if (this.drainDeferred) {
      this.drainDeferred = false;
      this.onWake();
    }
  };

  // Calls and messages started during one turn of the event loop reach the
  // I/O thread together: one wake-up and one socket write for the batch,
  // instead of a thread ping-pong per call. A microtask runs before the turn
  // ends, so no call waits for I/O.
  private scheduleFlush(): void {
    this.commandsPending = true;
    this.scheduleFlushOnly();
  }

  private scheduleFlushOnly(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  connect(address: string, config: ConnectConfig, handler: ConnectionHandler): number {
    const id = this.handle.connect(address, config);
    this.conns.set(id, handler);
    this.connecting.add(id);
    this.updateRef();
    return id;
  }

  closeConnection(conn: number): void {
    this.handle.closeConnection(conn);
  }

  startCall(
    handler: StreamHandler,
    conn: number,
    path: string,
    authority: string | null,
    metadata: string | null,
    timeoutMs: number,
    message: Buffer | null,
    halfClose: boolean,
    maxReceive: number,
  ): number {
    const id = this.handle.startCall(
      conn,
      path,
      authority,
      metadata,
      timeoutMs,
      message,
      halfClose,
      maxReceive,
    );
    this.streams.set(id, handler);
    if (!this.refed) this.updateRef();
    this.scheduleFlush();
    return id;
  }

  /** `ack` asks for an `onWriteAck` once the stream can take more. */
  sendMessage(stream: number, message: Buffer, end: boolean, ack: boolean): void {
    this.handle.sendMessage(stream, message, end, ack);
    this.scheduleFlush();
  }

  halfClose(stream: number): void {
    this.handle.halfClose(stream);
    this.scheduleFlush();
  }

  /**
   * The stream's consumer took `count` more messages: their bytes may go
   * back to the server's window. Batched per turn into the next `flush`
   * (consecutive reads of one stream share a pair), never a native call each.
   */
  messagesRead(stream: number, count: number): void {
    const length = this.readsLength;
    if (
      length > 0 &&
      this.reads[length - 2] === stream &&
      this.reads[length - 1] !== READS_PAUSED
    ) {
      this.reads[length - 1] += count;
      return;
    }
    this.pushRead(stream, count);
  }

  /**
   * The stream's consumer stopped taking messages: the native side stops
   * letting its unread bytes back into the server's window until the next
   * `messagesRead` (0 will do). Rides the next flush, like reads.
   */
  readsPaused(stream: number): void {
    this.pushRead(stream, READS_PAUSED);
  }

  private pushRead(stream: number, count: number): void {
    const length = this.readsLength;
    if (length === this.reads.length) {
      const grown = new Uint32Array(length * 2);
      grown.set(this.reads);
      this.reads = grown;
    }
    this.reads[length] = stream;
    this.reads[length + 1] = count;
    this.readsLength = length + 2;
    this.scheduleFlushOnly();
  }

  /** This turn's reads of streams still running, or null if there are none. */
  private takeReads(): Uint32Array | null {
    const reads = this.reads;
    let kept = 0;
    for (let i = 0; i < this.readsLength; i += 2) {
      if (!this.streams.has(reads[i])) continue;
      reads[kept] = reads[i];
      reads[kept + 1] = reads[i + 1];
      kept += 2;
    }
    this.readsLength = 0;
    return kept === 0 ? null : reads.subarray(0, kept);
  }

  /** Resets the stream; no further events are dispatched for it. */
  cancel(stream: number): void {
    this.handle.cancel(stream);
    this.streams.delete(stream);
    this.updateRef();
  }

  stats(): NativeStats {
    return this.handle.stats();
  }

  // A process with calls in flight or connections being set up must not exit;
  // an idle one must be free to, as with grpc-js: an idle READY connection
  // (and its keepalive pings, which run natively) never holds the event loop.
  // Calls waiting for a pick hold it from the picker (`PickerWrapper`). Only
  // the transitions cross into native code.
  private updateRef(): void {
    const want = this.streams.size > 0 || this.connecting.size > 0;
    if (want !== this.refed) {
      this.refed = want;
      this.handle.setRef(want);
    }
  }

  private drain(): void {
    let firstError: unknown;
    let hasError = false;
    // One drain per wake: events pushed while this batch is dispatched find
    // the wake flag cleared and schedule the next wake themselves.
    const batch = this.handle.drain();
    if (batch !== null) {
      try {
        decodeBatch(batch, this.sink);
      } catch (e) {
        // A user callback threw. The batch was finished first so no other
        // call lost its completions; surface the error as grpc-js would.
        hasError = true;
        firstError = e;
      }
    }
    this.updateRef();
    if (hasError) {
      process.nextTick(() => {
        throw firstError;
      });
    }
  }
}

let shared: NativeTransport | undefined;

/** The process-wide native transport, created on first use. */
export function nativeTransport(): NativeTransport {
  shared ??= new NativeTransport();
  return shared;
}
