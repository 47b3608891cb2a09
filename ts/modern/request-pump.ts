// Feeds a call's request stream from an iterable. Backpressure comes from
// the transport: the next item is not pulled until the previous message was
// taken (`sendMessage`'s onWritten), so a fast producer waits for the network
// instead of filling memory.
import { serializationFailure, errorMessage } from '../call/client-calls';
import { Status } from '../constants';
import type { CallState } from './call-state';

/** Requests for a streaming call: any iterable or async iterable (an array, a generator, a Readable). */
export type RequestSource<T> = Iterable<T> | AsyncIterable<T>;

/** The part of a call that a pump drives. */
export interface PumpTarget {
  readonly call: CallState['call'];
  /** Whether the call has ended; the pump stops pulling once it has. */
  isFinished(): boolean;
  failWith(error: unknown, details: string): void;
}

function written(target: PumpTarget, message: Buffer): Promise<void> {
  return new Promise((resolve) => target.call.sendMessage(message, resolve));
}

/**
 * Sends every item of `requests`, then half-closes. Stops early (and lets
 * the iterable clean up through `return()`) when the call ends. A request
 * that cannot be serialized ends the call with INTERNAL, as in grpc-js; an
 * iterable that throws cancels the call and the call fails with that error.
 */
export async function pumpRequests<T>(
  target: PumpTarget,
  serialize: (value: T) => Buffer,
  requests: RequestSource<T>,
): Promise<void> {
  try {
    for await (const request of requests) {
      if (target.isFinished()) return;
      let message: Buffer;
      try {
        message = serialize(request);
      } catch (error) {
        target.call.cancelWithStatus(Status.INTERNAL, serializationFailure(error));
        return;
      }
      await written(target, message);
      if (target.isFinished()) return;
    }
    // Inside the try: nothing may escape this promise, which nobody awaits.
    if (!target.isFinished()) target.call.halfClose();
  } catch (error) {
    target.failWith(error, `Request stream failed: ${errorMessage(error)}`);
  }
}
