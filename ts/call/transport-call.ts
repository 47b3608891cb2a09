// A call on the native transport. It implements the internal `Call` contract
// and receives the transport's completions for its stream id. A unary call
// on a ready connection costs exactly one native call: headers, message and
// half-close go together in `startCall`.
import { Status } from '../constants';
import type { CallCredentials } from '../credentials';
import { applyCallCredentials } from './call-credentials';
import { LongTimer } from '../long-timer';
import { Metadata } from '../metadata';
import type { NativeConnection } from '../transport/native-connection';
import { encodeMetadata } from '../transport/metadata-codec';
import { nativeTransport, type StreamHandler } from '../transport/native-transport';
import {
  deadlineToMs,
  type Call,
  type CallListener,
  type Deadline,
  type StartOptions,
} from './call-interface';

/** What a call needs from its channel. */
export interface CallHost {
  /** Finds the call a ready connection (the picker), now or once one is ready. */
  dispatch(call: TransportCall): void;
  /** Forgets a call that was waiting for a connection. */
  abandon(call: TransportCall): void;
  /** Picks again for a dispatched call whose connection went away before it started. */
  repick(call: TransportCall): void;
  callEnded(call: TransportCall): void;
}

/** Per-call settings the channel derives from its options and the method's service config. */
export interface CallSettings {
  maxReceive: number;
  maxSend: number;
  /** From the service config; an explicit `waitForReady` metadata option wins. */
  waitForReady?: boolean;
  /** Method timeout from the service config, in ms; the earlier of it and the deadline applies. */
  timeoutMs?: number;
  /**
   * Retry once, transparently, a stream the server refused before its
   * application saw it (gRFC A6); off with `grpc.enable_retries: 0` and for
   * the attempts of a `RetryingCall`, which does it itself.
   */
  transparentRetry?: boolean;
}

/** Told when the call ends, for balancers that track load (grpc-js `onCallEnded`). */
export type CallEndedHook = (code: Status, details: string, metadata: Metadata) => void;

type State = 'new' | 'waiting' | 'active' | 'done';

/**
 * How many bytes a streaming call may write before it waits for the
 * transport to confirm that h2 took them (write backpressure). Below it,
 * writes cost no event coming back.
 */
const WRITE_BUDGET_BYTES = 64 * 1024;

/**
 * Messages read are reported to the native side (to reopen the server's
 * window) once about this many bytes of them are unreported, and on resume:
 * one report per 256 KiB instead of one per batch spares a native call and
 * an I/O-thread wake-up per batch of a fast stream. Must stay below the
 * native side's unread allowance (`UNREAD_ALLOWANCE` in
 * crates/h2core/src/recv_window.rs, 2 MiB), within which it releases
 * window (and lets a message larger than the window through) without
 * waiting for reports; the margin covers messages whose wire size exceeds
 * their decoded size (compression overhead).
 */
const READ_REPORT_BYTES = 256 * 1024;
/** A message's gRPC prefix: counted so that empty messages add up too. */
const MESSAGE_PREFIX_BYTES = 5;

export class TransportCall implements Call, StreamHandler {
  private state: State = 'new';
  private stream = 0;
  private listener: CallListener | null = null;
  private metadata: string | null = null;
  private first: StartOptions | undefined;
  private pendingWrites: Array<[Buffer, (() => void) | undefined]> = [];
  private pendingHalfClose = false;
  private acks: Array<(() => void) | undefined> = [];
  /** Bytes written since the last ack; the budget below bounds them. */
  private unackedBytes = 0;
  private pendingAcks = 0;
  private deadlineTimer: LongTimer | null = null;
  private peer = '';
  private conn: NativeConnection | null = null;
  /** Whether the channel counts this call as active (it was dispatched). */
  private dispatched = false;
  private requestMetadata: Metadata | null = null;
  private waitForReady = false;
  /** The metadata's own waitForReady option, which wins over the service config. */
  private explicitWaitForReady: boolean | undefined;
  private onCallEnded: CallEndedHook | undefined;
  private deadline: Deadline;
  private maxReceive: number;
  private maxSend: number;
  /** The caller's deadline, before any service config timeout. */
  private readonly callerDeadline: number;
  private readonly createdAt = Date.now();
  /** Per-call credentials (CallOptions.credentials), applied before the channel's (grpc-js 1.14: on any channel). */
  private callCredentials: CallCredentials | null = null;
  /** Counts credential metadata runs, so only the latest pick's result starts the call. */
  private credentialsAttempt = 0;
  // Transparent retry (gRFC A6): a refused stream is started again on the
  // same object, so it costs nothing per call: `first` is kept, and a call
  // that streamed more after starting is not replayed.
  private transparentRetry: boolean;
  private sentAfterStart = false;
  /** Receive flow control: the consumer asked for no more messages for now. */
  private readPaused = false;
  /** Messages delivered while paused: acknowledged to the native side on resume. */
  private unreadMessages = 0;
  /** Messages read but not reported yet, and about how many bytes they took on the wire. */
  private unreportedReads = 0;
  private unreportedBytes = 0;
  /** The native side was told the reader paused and not yet that it resumed. */
  private nativeReadPaused = false;

  constructor(
    private readonly host: CallHost,
    readonly method: string,
    deadline: Deadline,
    private readonly authority: string | null,
    private settings: CallSettings,
  ) {
    this.maxReceive = settings.maxReceive;
    this.maxSend = settings.maxSend;
    this.callerDeadline = deadlineToMs(deadline);
    this.deadline = this.deadlineWith(settings);
    this.transparentRetry = settings.transparentRetry === true;
  }

  /**
   * Replaces the settings the call was created with, while it still waits for
   * a connection: a call made before the channel's first resolution takes
   * the service config that resolution brought (gRPC's service config doc:
   * calls wait for it). The method timeout still counts from the call's creation.
   */
  updateSettings(settings: CallSettings): void {
    if (this.state !== 'waiting' || settings === this.settings) return;
    this.settings = settings;
    this.maxReceive = settings.maxReceive;
    this.maxSend = settings.maxSend;
    this.deadline = this.deadlineWith(settings);
    this.waitForReady = this.explicitWaitForReady ?? settings.waitForReady ?? false;
    if (this.first?.message !== undefined && this.tooLarge(this.first.message)) return;
    if (this.dispatched) {
      this.clearDeadlineTimer();
      this.armDeadlineWhileWaiting();
    }
  }

  private deadlineWith(settings: CallSettings): number {
    return settings.timeoutMs !== undefined
      ? Math.min(this.callerDeadline, this.createdAt + settings.timeoutMs)
      : this.callerDeadline;
  }

  /** The request metadata, for pickers that route on it. */
  getMetadata(): Metadata {
    return this.requestMetadata ?? new Metadata();
  }

  /** Whether the call waits through TRANSIENT_FAILURE instead of failing fast. */
  isWaitForReady(): boolean {
    return this.waitForReady;
  }

  start(metadata: Metadata, listener: CallListener, options?: StartOptions): void {
    if (this.state !== 'new') throw new Error('h2grpc: call already started');
    this.listener = listener;
    this.requestMetadata = metadata;
    this.explicitWaitForReady = metadata.getOptions().waitForReady;
    this.waitForReady = this.explicitWaitForReady ?? this.settings.waitForReady ?? false;
    this.metadata = encodeMetadata(metadata);
    this.first = options;
    this.state = 'waiting';
    if (options?.message !== undefined && this.tooLarge(options.message)) return;
    const timeout = this.timeoutMs();
    if (timeout === 0) {
      this.finishLocally(Status.DEADLINE_EXCEEDED, 'Deadline exceeded');
      return;
    }
    this.dispatched = true;
    this.host.dispatch(this);
  }

  onConnectionReady(conn: NativeConnection, onCallEnded?: CallEndedHook): void {
    if (this.state !== 'waiting') return;
    // Calls without call credentials (the common case) start right here;
    // only credentialed ones take the asynchronous metadata step.
    if (this.callCredentials !== null || conn.config.callCredentials !== undefined) {
      this.startWithCredentials(conn, onCallEnded);
      return;
    }
    this.startOn(conn, onCallEnded);
  }

  /**
   * grpc-js's order: the call's own credentials, then the channel's; their
   * metadata is merged after the request metadata. The connection may have
   * gone while the generator ran; the call is then picked again.
   */
  private startWithCredentials(conn: NativeConnection, onCallEnded?: CallEndedHook): void {
    const pickedAt = ++this.credentialsAttempt;
    this.armDeadlineWhileWaiting();
    applyCallCredentials(
      this.callCredentials,
      conn.config.callCredentials,
      this.authority ?? conn.config.authority,
      this.method,
      this.getMetadata(),
      (failed, encoded) => {
        if (this.state !== 'waiting' || pickedAt !== this.credentialsAttempt) return;
        if (failed === null) {
          this.metadata = encoded;
          if (conn.state === 'ready') {
            this.startOn(conn, onCallEnded);
            return;
          }
          // The picker counted a call start on that connection; balance it.
          onCallEnded?.(Status.UNAVAILABLE, 'connection lost', new Metadata());
          this.host.repick(this);
        } else {
          onCallEnded?.(failed.code, failed.details, new Metadata());
          this.finishLocally(failed.code, failed.details);
        }
      },
    );
  }

  private startOn(conn: NativeConnection, onCallEnded?: CallEndedHook): void {
    this.onCallEnded = onCallEnded;
    this.clearDeadlineTimer();
    const timeout = this.timeoutMs();
    if (timeout === 0) {
      this.finishLocally(Status.DEADLINE_EXCEEDED, 'Deadline exceeded');
      return;
    }
    this.peer = conn.address;
    this.state = 'active';
    this.conn = conn;
    conn.callStarted();
    // Kept, not cleared: a transparent retry sends it again.
    const first = this.first;
    try {
      this.stream = nativeTransport().startCall(
        this,
        conn.id,
        this.method,
        this.authority,
        this.metadata,
        timeout,
        first?.message ?? null,
        first?.halfClose ?? false,
        this.maxReceive,
      );
    } catch (e) {
      // Only a bug (a caught Rust panic) or invalid arguments get here; the
      // call fails, the process does not.
      this.finishLocally(Status.INTERNAL, `h2grpc: failed to start the call: ${errorMessage(e)}`);
      return;
    }
    if (this.pendingWrites.length > 0 || this.pendingHalfClose) {
      const writes = this.pendingWrites;
      this.pendingWrites = [];
      for (const [message, cb] of writes) this.sendMessage(message, cb);
      if (this.pendingHalfClose) this.halfClose();
    }
  }

  /** The picker could not (and will not) find a connection for this call. */
  onPickFailed(code: Status, details: string): void {
    if (this.state !== 'waiting') return;
    this.finishLocally(code, details);
  }

  /** Fails the call at its deadline while it waits for a connection. */
  armDeadlineWhileWaiting(): void {
    if (this.state !== 'waiting') return;
    const timeout = this.timeoutMs();
    if (timeout < 0 || this.deadlineTimer !== null) return;
    // A LongTimer: a deadline past Node's timer limit must not fire after 1 ms.
    this.deadlineTimer = new LongTimer(() => {
      this.deadlineTimer = null;
      if (this.state !== 'waiting') return;
      this.host.abandon(this);
      this.finishLocally(
        Status.DEADLINE_EXCEEDED,
        'Deadline exceeded while waiting for a connection',
      );
    }, timeout);
  }

  sendMessage(message: Buffer, onWritten?: () => void): void {
    if (this.state !== 'done' && this.tooLarge(message)) {
      if (onWritten) process.nextTick(onWritten);
      return;
    }
    switch (this.state) {
      case 'active': {
        this.sentAfterStart = true;
        // Writes within the budget complete at once and cross without an
        // ack; past it, each write asks for an ack and its callback waits,
        // which is what pushes back on a writer faster than the network.
        this.unackedBytes += message.length + 5;
        const ask = this.pendingAcks > 0 || this.unackedBytes >= WRITE_BUDGET_BYTES;
        if (ask) {
          this.pendingAcks++;
          this.acks.push(onWritten);
        } else if (onWritten) {
          process.nextTick(onWritten);
        }
        try {
          nativeTransport().sendMessage(this.stream, message, false, ask);
        } catch (e) {
          this.cancelWithStatus(Status.INTERNAL, `h2grpc: failed to send: ${errorMessage(e)}`);
        }
        return;
      }
      case 'waiting':
      case 'new':
        this.pendingWrites.push([message, onWritten]);
        return;
      case 'done':
        // The call is over; the writer learns it from the status.
        if (onWritten) process.nextTick(onWritten);
    }
  }

  halfClose(): void {
    if (this.state === 'active') {
      nativeTransport().halfClose(this.stream);
      // Remembered for a transparent retry, which half-closes again.
      this.pendingHalfClose = true;
    } else if (this.state !== 'done') this.pendingHalfClose = true;
  }

  cancelWithStatus(code: Status, details: string): void {
    if (this.state === 'done') return;
    if (this.state === 'active') nativeTransport().cancel(this.stream);
    else if (this.state === 'waiting') this.host.abandon(this);
    this.finishLocally(code, details);
  }

  getPeer(): string {
    return this.peer;
  }

  setCredentials(credentials: CallCredentials): void {
    this.callCredentials = credentials;
  }

  // StreamHandler: completions from the native side.

  onHeaders(metadata: Metadata): void {
    this.listener?.onReceiveMetadata(metadata);
  }

  onMessage(message: Buffer): void {
    const pausedBefore = this.readPaused;
    this.listener?.onReceiveMessage(message);
    // The listener may have paused while taking this message (a Readable
    // whose buffer is full): then the message counts as not read yet, and
    // its bytes stay out of the server's window until `resumeRead`.
    if (this.readPaused) {
      this.unreadMessages++;
      // The native side hears of a pause only once a message arrives
      // during it: a unary call pauses while taking its one response and
      // never costs a command for it.
      if (pausedBefore && !this.nativeReadPaused && this.state === 'active') {
        this.nativeReadPaused = true;
        nativeTransport().readsPaused(this.stream);
      }
      return;
    }
    this.unreportedReads++;
    this.unreportedBytes += message.length + MESSAGE_PREFIX_BYTES;
    if (this.unreportedBytes >= READ_REPORT_BYTES) this.reportReads();
  }

  pauseRead(): void {
    this.readPaused = true;
  }

  resumeRead(): void {
    this.readPaused = false;
    if (this.unreadMessages === 0 && !this.nativeReadPaused) return;
    this.unreportedReads += this.unreadMessages;
    this.unreadMessages = 0;
    // At once, whatever the bytes: the native side may be holding the
    // window shut for exactly these.
    const resumed = this.nativeReadPaused;
    this.nativeReadPaused = false;
    this.reportReads(resumed);
  }

  /** `resumed`: report even no reads, to end the native side's pause. */
  private reportReads(resumed = false): void {
    const count = this.unreportedReads;
    this.unreportedReads = 0;
    this.unreportedBytes = 0;
    if ((count > 0 || resumed) && this.state === 'active') {
      nativeTransport().messagesRead(this.stream, count);
    }
  }

  onWriteAck(): void {
    // Writes are taken in order: this ack covers every earlier write too.
    this.pendingAcks--;
    if (this.pendingAcks <= 0) {
      this.pendingAcks = 0;
      this.unackedBytes = 0;
    }
    const cb = this.acks.shift();
    if (cb) cb();
  }

  onStatus(code: number, details: string, trailers: Metadata): void {
    if (this.state === 'done') return;
    if (
      this.transparentRetry &&
      code === Status.UNAVAILABLE &&
      !this.sentAfterStart &&
      isRefusedStream(details)
    ) {
      this.retryTransparently(code, details, trailers);
      return;
    }
    this.end();
    this.onCallEnded?.(code, details, trailers);
    this.listener?.onReceiveStatus({ code, details, metadata: trailers });
  }

  /** Starts the call again through the picker, as if it had just been started. */
  private retryTransparently(code: number, details: string, trailers: Metadata): void {
    this.transparentRetry = false;
    this.onCallEnded?.(code, details, trailers);
    this.onCallEnded = undefined;
    if (this.conn !== null) {
      this.conn.callEnded();
      this.conn = null;
    }
    this.stream = 0;
    this.unackedBytes = 0;
    this.pendingAcks = 0;
    this.unreadMessages = 0;
    this.unreportedReads = 0;
    this.nativeReadPaused = false;
    this.unreportedBytes = 0;
    this.state = 'waiting';
    this.host.callEnded(this);
    this.host.dispatch(this);
  }

  /** Enforces `grpc.max_send_message_length` the way grpc-js does: the call fails. */
  private tooLarge(message: Buffer): boolean {
    if (this.maxSend < 0 || message.length <= this.maxSend) return false;
    this.cancelWithStatus(
      Status.RESOURCE_EXHAUSTED,
      `Attempted to send message with a size larger than ${this.maxSend}`,
    );
    return true;
  }

  private finishLocally(code: Status, details: string): void {
    this.end();
    const listener = this.listener;
    // Asynchronous like every other completion, so callers never see their
    // callback run inside `start` or `cancel`.
    process.nextTick(() => listener?.onReceiveStatus({ code, details, metadata: new Metadata() }));
  }

  private end(): void {
    this.state = 'done';
    if (this.conn !== null) {
      this.conn.callEnded();
      this.conn = null;
    }
    this.clearDeadlineTimer();
    if (this.dispatched) this.host.callEnded(this);
    // Writers waiting on flow control must not hang once the call is over.
    const acks = this.acks;
    this.acks = [];
    for (const [, cb] of this.pendingWrites) if (cb) acks.push(cb);
    this.pendingWrites = [];
    for (const cb of acks) if (cb) process.nextTick(cb);
  }

  private clearDeadlineTimer(): void {
    if (this.deadlineTimer !== null) {
      this.deadlineTimer.clear();
      this.deadlineTimer = null;
    }
  }

  /** Remaining time in ms: -1 for no deadline, 0 when already expired. */
  private timeoutMs(): number {
    const at = deadlineToMs(this.deadline);
    if (at === Infinity || Number.isNaN(at)) return -1;
    return Math.max(0, at - Date.now());
  }
}

/**
 * Whether a status means the server's application never saw the RPC, so it
 * may be replayed safely: the server refused the stream (RST_STREAM
 * REFUSED_STREAM, or above a GOAWAY's last-stream-id), or the picked
 * connection closed before the stream could start. The native side says so
 * only in the details (crates/h2core status.rs and transport.rs).
 */
export function isRefusedStream(details: string): boolean {
  return (
    details.startsWith('Stream refused') ||
    details.startsWith('Stream reset by server with code REFUSED_STREAM') ||
    details === 'Connection is closed' ||
    details === 'Connection is not ready'
  );
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
