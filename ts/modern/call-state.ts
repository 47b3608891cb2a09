// What every modern call does besides moving messages: it follows the
// caller's AbortSignal, reports headers and trailers to the option hooks,
// and turns the final status into a result or an error. Kept in one base
// class so a call costs one object, and watching a signal allocates no
// closure (abort.ts calls `onAbort`).
import type { Call, CallListener, StatusObject } from '../call/call-interface';
import { errorMessage } from '../call/client-calls';
import { Status } from '../constants';
import type { Metadata } from '../metadata';
import { unwatchSignal, watchSignal, type Abortable } from './abort';
import { GrpcError } from './errors';
import type { ModernCallOptions } from './options';

/** Marks "no abort happened", since an abort reason may be any value, even undefined. */
const NOT_ABORTED: unique symbol = Symbol('not aborted');

/** Status details for a call cancelled through its AbortSignal. */
function abortDetails(reason: unknown): string {
  return `Cancelled on client: ${errorMessage(reason)}`;
}

/**
 * The error for a call whose signal was aborted before it started: the call
 * is never started, so no status came from anywhere else.
 * @param signal An aborted signal.
 */
export function abortedBeforeStart(signal: AbortSignal): GrpcError {
  return new GrpcError(Status.CANCELLED, abortDetails(signal.reason), undefined, {
    cause: signal.reason,
  });
}

/**
 * The part of a modern call shared by all four kinds. Subclasses handle
 * messages and deliver the outcome in {@link CallState.finish}.
 */
export abstract class CallState implements CallListener, Abortable {
  /** Set once the final status arrived; nothing is delivered after it. */
  protected finished = false;
  /** A value thrown by user code (a hook or a request iterable): it becomes the call's error. */
  protected userError: unknown = undefined;
  protected hasUserError = false;
  private abortReason: unknown = NOT_ABORTED;
  private signal: AbortSignal | undefined;

  /**
   * @param callerStack Created where the user made the call: like grpc-js,
   *   a GrpcError's stack ends with "for call at" and these frames, since the
   *   frames where the status arrived are transport internals. Null for
   *   unary calls unless H2GRPC_CALLER_STACKS=1 (capturing costs more than
   *   the rest of a unary call's JavaScript work).
   */
  constructor(
    /** The transport call; set before `start`. */
    readonly call: Call,
    protected readonly options: ModernCallOptions,
    private callerStack: Error | null,
  ) {}

  /** Whether the final status has arrived. */
  isFinished(): boolean {
    return this.finished;
  }

  /** Cancels the call when `signal` aborts, until the call ends. */
  watch(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    this.signal = signal;
    watchSignal(signal, this);
  }

  /** The signal aborted: the call ends with CANCELLED and the stream is reset. */
  onAbort(reason: unknown): void {
    if (this.finished) return;
    this.signal = undefined;
    this.abortReason = reason;
    this.call.cancelWithStatus(Status.CANCELLED, abortDetails(reason));
  }

  /**
   * Fails the call with an error thrown by user code: the first one wins,
   * the call is cancelled (the server sees it) and the promise or iterator
   * rejects with that same value.
   */
  failWith(error: unknown, details: string): void {
    if (this.finished) return;
    if (!this.hasUserError) {
      this.hasUserError = true;
      this.userError = error;
    }
    this.call.cancelWithStatus(Status.CANCELLED, details);
  }

  onReceiveMetadata(metadata: Metadata): void {
    const onHeader = this.options.onHeader;
    if (onHeader === undefined || this.finished) return;
    try {
      onHeader(metadata);
    } catch (error) {
      this.failWith(error, `onHeader threw: ${errorMessage(error)}`);
    }
  }

  abstract onReceiveMessage(message: Buffer): void;

  onReceiveStatus(status: StatusObject): void {
    if (this.finished) return;
    this.finished = true;
    if (this.signal !== undefined) {
      unwatchSignal(this.signal, this);
      this.signal = undefined;
    }
    const onTrailer = this.options.onTrailer;
    if (onTrailer !== undefined) {
      try {
        onTrailer(status.metadata);
      } catch (error) {
        if (!this.hasUserError) {
          this.hasUserError = true;
          this.userError = error;
        }
      }
    }
    this.finish(status);
    this.callerStack = null;
  }

  /**
   * What the call fails with, or null for success: user code's error if it
   * threw (boxed, since user code may throw anything, even `undefined`),
   * otherwise a {@link GrpcError} for a non-OK status.
   */
  protected failure(status: StatusObject): { error: unknown } | null {
    if (this.hasUserError) return { error: this.userError };
    if (status.code === Status.OK) return null;
    const cause = this.abortReason === NOT_ABORTED ? undefined : this.abortReason;
    const error = GrpcError.fromStatus(status, cause);
    const frames = this.callerStack?.stack?.split('\n').slice(1).join('\n');
    // Not kept past the end of the call: it pins the caller's frames.
    this.callerStack = null;
    if (frames) error.stack = `${error.stack}\nfor call at\n${frames}`;
    return { error };
  }

  /** Delivers the outcome; runs once, after the trailers hook. */
  protected abstract finish(status: StatusObject): void;
}
