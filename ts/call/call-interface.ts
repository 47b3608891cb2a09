// The internal contract between the call objects users hold (client-calls.ts)
// and the transport underneath (a Channel's calls). It mirrors grpc-js's
// `Call`/`InterceptingListener` split so interceptors can be layered later,
// but lets a unary call hand over its only message and the half-close in the
// same step as the headers: that is what makes one native call per RPC possible.
import type { Status } from '../constants';
import type { CallCredentials } from '../credentials';
import type { Metadata } from '../metadata';

/** Final status of a call: code, human-readable details and trailing metadata. */
export interface StatusObject {
  /** The status code. */
  code: Status;
  /** Human-readable details (`grpc-message`). */
  details: string;
  /** Trailing metadata. */
  metadata: Metadata;
}

/** Absolute deadline: a Date, milliseconds since the epoch, or Infinity for none. */
export type Deadline = Date | number;

/**
 * A {@link Deadline} as milliseconds since the epoch: Infinity for none, and
 * for anything that is no time (NaN, an invalid Date, a value of another
 * type from untyped code), so that every timer and `Math.min` downstream
 * sees a number that means something.
 */
export function deadlineToMs(deadline: Deadline): number {
  const ms: unknown = deadline instanceof Date ? deadline.getTime() : deadline;
  return typeof ms === 'number' && !Number.isNaN(ms) ? ms : Infinity;
}

/** Receives what the server sends, in order. `onReceiveStatus` is called exactly once, last. */
export interface CallListener {
  onReceiveMetadata(metadata: Metadata): void;
  onReceiveMessage(message: Buffer): void;
  onReceiveStatus(status: StatusObject): void;
}

/** What may travel with the request headers in the native call that starts the RPC. */
export interface StartOptions {
  /** The first (for unary: only) serialized request message. */
  message?: Buffer;
  /** Half-close right after `message`: the client sends nothing more. */
  halfClose?: boolean;
}

/** One RPC on a channel, as seen by the call objects. Messages are serialized bytes, unframed. */
export interface Call {
  start(metadata: Metadata, listener: CallListener, options?: StartOptions): void;
  /** Queues one message; `onWritten` runs once the transport has taken it (write backpressure). */
  sendMessage(message: Buffer, onWritten?: () => void): void;
  halfClose(): void;
  /**
   * Receive flow control. Messages already received are still delivered, but
   * each one delivered from now on counts as not yet read: its bytes stay out
   * of the server's flow-control window until `resumeRead`, so a consumer
   * that stops reading stops the server within one window.
   */
  pauseRead(): void;
  /** Counts every message delivered while paused as read, and reads on. */
  resumeRead(): void;
  /** Ends the call locally with this status and resets the stream (RST_STREAM CANCEL). */
  cancelWithStatus(code: Status, details: string): void;
  getPeer(): string;
  /** Call credentials for this call only, composed after the channel's (grpc-js `CallOptions.credentials`). Set before `start`. */
  setCredentials(credentials: CallCredentials): void;
}
