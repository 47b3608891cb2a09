// Calls with a stream of responses, as async iterators: server streaming
// and bidi. Responses are queued as they arrive and handed out by `next()`.
//
// Backpressure: once HIGH_WATER responses wait in the queue, the call pauses
// reading: what still arrives counts as unread and its bytes stay out of the
// server's flow-control window, so a consumer slower than the server stops
// it within one window (as a paused Readable does). `next()` resumes once the
// queue is below the mark. Leaving the iteration early (`break`, `return`, a
// throw in the loop body) cancels the call, so nothing keeps arriving for a
// reader that is gone.
import type { Call, StatusObject } from '../call/call-interface';
import { parseFailure, serializationFailure, startWithRequest } from '../call/client-calls';
import type { ChannelInterface } from '../channel-interface';
import { Status } from '../constants';
import type { Metadata } from '../metadata';
import { abortedBeforeStart, CallState } from './call-state';
import { createCall, metadataOf, type ModernCallOptions } from './options';
import { pumpRequests, type RequestSource } from './request-pump';
import type { MethodInfo } from './unary';

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** The call's outcome, once known: null for OK, else what to throw. */
type Outcome = { error: unknown } | null;

/** A `next()` waiting for a response. */
interface Waiter<Res> {
  resolve: (result: IteratorResult<Res, undefined>) => void;
  reject: (reason: unknown) => void;
}

/** Queued responses at which reading pauses: an object-mode Readable's default highWaterMark. */
const HIGH_WATER = 16;

/** Consumed slots at the queue's head past which the array is compacted. */
const COMPACT_AFTER = 1024;

/**
 * Queues responses and hands them to `next()` in order; after the last one,
 * `next()` finishes the iteration (OK) or throws the call's error.
 */
class ResponseQueue<Res> extends CallState implements AsyncIterableIterator<Res> {
  private queue: Res[] = [];
  private head = 0;
  private outcome: Outcome | undefined = undefined;
  /** Pending `next()` calls, oldest first; only while the queue is empty. */
  private waiters: Waiter<Res>[] = [];
  /** The consumer left (`return()`/`throw()`): drop whatever still arrives. */
  private closed = false;
  /** The signal was aborted before the call could start; it never will. */
  private neverStarted = false;
  /** Reading is paused: the queue reached HIGH_WATER. */
  private readPaused = false;

  constructor(
    call: Call,
    options: ModernCallOptions,
    private readonly deserialize: (bytes: Buffer) => Res,
    callerStack: Error,
  ) {
    super(call, options, callerStack);
  }

  onReceiveMessage(message: Buffer): void {
    if (this.finished || this.closed) return;
    let value: Res;
    try {
      value = this.deserialize(message);
    } catch (error) {
      this.call.cancelWithStatus(Status.INTERNAL, parseFailure(error));
      return;
    }
    if (this.waiters.length > 0) {
      (this.waiters.shift() as Waiter<Res>).resolve({ done: false, value });
    } else {
      this.queue.push(value);
      if (!this.readPaused && this.queue.length - this.head >= HIGH_WATER) {
        this.readPaused = true;
        this.call.pauseRead();
      }
    }
  }

  protected finish(status: StatusObject): void {
    this.outcome = this.failure(status);
    if (this.waiters.length === 0) return;
    // Waiters only exist while the queue is empty: the first one gets the
    // outcome, later ones the end, as with a generator.
    const waiters = this.waiters;
    this.waiters = [];
    this.closed = true;
    const first = waiters[0];
    if (this.outcome === null) first.resolve(DONE);
    else first.reject(this.outcome.error);
    for (let i = 1; i < waiters.length; i++) waiters[i].resolve(DONE);
  }

  /**
   * An abort is the caller saying "stop": responses that arrived but were
   * not read yet are dropped, so the next `next()` throws CANCELLED.
   */
  override onAbort(reason: unknown): void {
    if (this.finished) return;
    this.queue = [];
    this.head = 0;
    super.onAbort(reason);
  }

  /** Starts the call if it has not been; server streaming starts on the first `next()`. */
  protected ensureStarted(): void {}

  next(): Promise<IteratorResult<Res, undefined>> {
    // Checked first: an iterator left before its first `next()` must not start.
    if (this.closed) return Promise.resolve(DONE);
    this.ensureStarted();
    if (this.head < this.queue.length) {
      const value = this.queue[this.head];
      this.queue[this.head++] = undefined as Res;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.queue.length) {
        // A reader that never quite catches up must not grow the array forever.
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      if (this.readPaused && this.queue.length - this.head < HIGH_WATER) {
        this.readPaused = false;
        this.call.resumeRead();
      }
      return Promise.resolve({ done: false, value });
    }
    const outcome = this.outcome;
    if (outcome !== undefined) {
      // Thrown once; later calls end the iteration, as a generator's do.
      this.closed = true;
      return outcome === null ? Promise.resolve(DONE) : Promise.reject(outcome.error);
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
    });
  }

  /** Leaves the iteration: cancels the call if it is still running. */
  return(): Promise<IteratorResult<Res, undefined>> {
    this.close();
    return Promise.resolve(DONE);
  }

  /** Leaves the iteration like `return()`, then rethrows `error`. */
  throw(error?: unknown): Promise<IteratorResult<Res, undefined>> {
    this.close();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  protected close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    if (!this.finished && this.started()) {
      this.call.cancelWithStatus(Status.CANCELLED, 'Cancelled on client');
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve(DONE);
  }

  /** Whether the call was started (a lazily started one may never be). */
  protected started(): boolean {
    return !this.neverStarted;
  }

  /**
   * Ends the call before it started, because `signal` is already aborted:
   * nothing is sent, and the iteration throws CANCELLED.
   * @internal
   */
  abortBeforeStart(signal: AbortSignal): void {
    this.neverStarted = true;
    this.finished = true;
    this.outcome = { error: abortedBeforeStart(signal) };
  }
}

/**
 * The responses of a server-streaming call, as an async iterator. The call
 * starts on the first `next()` (the first turn of a `for await`), so an
 * iterator that is never read costs no RPC.
 */
export class ServerStreamingCall<Req, Res> extends ResponseQueue<Res> {
  private pending: { metadata: Metadata; request: Req; serialize: (value: Req) => Buffer } | null;

  /** @internal Created by a modern client method. */
  constructor(
    call: Call,
    options: ModernCallOptions,
    method: MethodInfo<Req, Res>,
    metadata: Metadata,
    request: Req,
    callerStack: Error,
  ) {
    super(call, options, method.deserialize, callerStack);
    this.pending = { metadata, request, serialize: method.serialize };
  }

  protected override ensureStarted(): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    const signal = this.options.signal;
    if (signal !== undefined && signal.aborted) {
      this.abortBeforeStart(signal);
      return;
    }
    this.watch(signal);
    startWithRequest(this.call, pending.metadata, this, pending.serialize, pending.request);
  }

  protected override started(): boolean {
    return this.pending === null && super.started();
  }
}

/**
 * A bidi-streaming call: an async iterator of responses that is also the
 * request writer. Either feed it from an iterable given to the method, or
 * `write()` requests and `end()` it; not both.
 */
export class BidiStreamingCall<Req, Res> extends ResponseQueue<Res> {
  private ended = false;
  /** Requests come from an iterable given to the method; `write`/`end` are not for the user. */
  private fed = false;
  private readonly serialize: (value: Req) => Buffer;

  /** @internal Created by a modern client method. */
  constructor(
    call: Call,
    options: ModernCallOptions,
    method: MethodInfo<Req, Res>,
    callerStack: Error,
  ) {
    super(call, options, method.deserialize, callerStack);
    this.serialize = method.serialize;
  }

  /**
   * Sends one request. The promise resolves once the transport has taken it
   * (await it before the next write to respect backpressure), or once the
   * call has ended; it never rejects: how the call ended is what the
   * response iteration reports.
   * @throws Error if called after `end()` or on a call fed from an iterable.
   */
  write(request: Req): Promise<void> {
    if (this.fed) throw new Error('h2grpc: write() on a bidi call fed from an iterable');
    if (this.ended) throw new Error('h2grpc: write() after end()');
    if (this.finished) return Promise.resolve();
    let message: Buffer;
    try {
      message = this.serialize(request);
    } catch (error) {
      this.call.cancelWithStatus(Status.INTERNAL, serializationFailure(error));
      return Promise.resolve();
    }
    return new Promise((resolve) => this.call.sendMessage(message, resolve));
  }

  /** Tells the server no more requests will come (half-close). Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.finished) this.call.halfClose();
  }

  /**
   * Feeds the requests from an iterable, then half-closes.
   * @internal
   */
  feed(requests: RequestSource<Req>): void {
    this.fed = true;
    this.ended = true;
    void pumpRequests(this, this.serialize, requests);
  }
}

/**
 * Starts a server-streaming call lazily; see {@link ServerStreamingCall}.
 * @throws Error if the options are invalid (bad metadata or timeout).
 */
export function serverStreamingCall<Req, Res>(
  channel: ChannelInterface,
  method: MethodInfo<Req, Res>,
  request: Req,
  options: ModernCallOptions,
): ServerStreamingCall<Req, Res> {
  const metadata = metadataOf(options);
  const call = createCall(channel, method.path, options);
  return new ServerStreamingCall(call, options, method, metadata, request, new Error());
}

/**
 * Starts a bidi call at once, fed from `requests` if given.
 * @throws Error if the options are invalid (bad metadata or timeout).
 */
export function bidiStreamingCall<Req, Res>(
  channel: ChannelInterface,
  method: MethodInfo<Req, Res>,
  requests: RequestSource<Req> | undefined,
  options: ModernCallOptions,
): BidiStreamingCall<Req, Res> {
  const metadata = metadataOf(options);
  const call = createCall(channel, method.path, options);
  const state = new BidiStreamingCall(call, options, method, new Error());
  const signal = options.signal;
  if (signal !== undefined && signal.aborted) {
    state.abortBeforeStart(signal);
    return state;
  }
  state.watch(signal);
  call.start(metadata, state);
  if (requests !== undefined) state.feed(requests);
  return state;
}
