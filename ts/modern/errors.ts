// The one error type the modern API throws. It is a grpc-js `ServiceError`
// in everything users can observe (same fields, same message format), so
// code that inspects `err.code` or logs `err.message` works with either API.
import { Status } from '../constants';
import { Metadata } from '../metadata';
import type { StatusObject } from '../call/call-interface';

/**
 * A call that ended with a status other than OK. Compatible with
 * `@grpc/grpc-js`'s `ServiceError`: `message` is
 * `"<code> <STATUS_NAME>: <details>"` and `code`, `details` and `metadata`
 * (the trailers) are own properties.
 *
 * A call cancelled through an `AbortSignal` has code `CANCELLED` and the
 * signal's `reason` as `cause`.
 */
export class GrpcError extends Error implements StatusObject {
  /** The gRPC status code. */
  code: Status;
  /** The server's (or the client library's) explanation, without the code. */
  details: string;
  /** Trailing metadata that came with the status (empty if the call ended locally). */
  metadata: Metadata;

  /**
   * @param code A non-OK status code.
   * @param details The status message.
   * @param metadata Trailing metadata; a fresh empty one if omitted.
   * @param options `cause`, as for `Error`.
   */
  constructor(code: Status, details: string, metadata?: Metadata, options?: { cause?: unknown }) {
    super(`${code} ${Status[code]}: ${details}`, options);
    this.code = code;
    this.details = details;
    this.metadata = metadata ?? new Metadata();
  }

  /**
   * The error for a call's final status.
   * @param status A non-OK status.
   * @param cause What led to it on the client (an abort reason), if anything.
   */
  static fromStatus(status: StatusObject, cause?: unknown): GrpcError {
    return cause === undefined
      ? new GrpcError(status.code, status.details, status.metadata)
      : new GrpcError(status.code, status.details, status.metadata, { cause });
  }
}

Object.defineProperty(GrpcError.prototype, 'name', {
  value: 'GrpcError',
  writable: true,
  configurable: true,
  enumerable: false,
});
