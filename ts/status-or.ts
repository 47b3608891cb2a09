// A value or the status explaining why there is none. Resolvers hand their
// results to the channel in this form (grpc-js's `StatusOr`, exported there
// from `experimental`), so a failed resolution and a successful one travel
// down the same listener call instead of two callbacks.
import type { StatusObject } from './call/call-interface';
import { Metadata } from './metadata';

/** The success arm of {@link StatusOr}. */
export interface StatusOrOk<T> {
  ok: true;
  value: T;
}

/** The failure arm of {@link StatusOr}: a full status, metadata included. */
export interface StatusOrError {
  ok: false;
  error: StatusObject;
}

/** Either a value (`ok: true`) or the status of the failure (`ok: false`). */
export type StatusOr<T> = StatusOrOk<T> | StatusOrError;

/**
 * A status whose metadata may be left out; {@link statusOrFromError} fills
 * in an empty `Metadata`. Same shape as grpc-js's `PartialStatusObject`.
 */
export type PartialStatusObject = Pick<StatusObject, 'code' | 'details'> & {
  metadata?: Metadata | null;
};

/**
 * Wraps a successful result.
 * @param value The result.
 */
export function statusOrFromValue<T>(value: T): StatusOr<T> {
  return { ok: true, value };
}

/**
 * Wraps a failure. Consumers read `error.metadata` unconditionally (it ends
 * up in a call's status), so a missing one becomes an empty `Metadata`.
 * @param error The failure status; `metadata` may be omitted.
 */
export function statusOrFromError<T>(error: PartialStatusObject): StatusOr<T> {
  return {
    ok: false,
    error: { code: error.code, details: error.details, metadata: error.metadata ?? new Metadata() },
  };
}
