// Per-call options of the modern API and their translation to what a
// channel's `createCall` takes. The shape follows nice-grpc's CallOptions
// (`metadata`, `signal`, `onHeader`, `onTrailer`) with Connect-ES's relative
// `timeout` next to grpc-js's absolute `deadline`.
import { deadlineToMs, type Call, type Deadline } from '../call/call-interface';
import type { ChannelInterface } from '../channel-interface';
import type { CallCredentials } from '../credentials';
import { Metadata, type MetadataValue } from '../metadata';

/**
 * Request metadata: a {@link Metadata}, or a plain object whose values are
 * one value or an array of values per key (`Buffer` values for keys ending
 * in `-bin`, strings for the others).
 */
export type MetadataInit = Metadata | Record<string, MetadataValue | readonly MetadataValue[]>;

/** Options for one call of a modern client method. Every field is optional. */
export interface ModernCallOptions {
  /** Request metadata (headers). A `Metadata` is sent as is; a plain object is converted. */
  metadata?: MetadataInit;
  /**
   * Cancels the call when aborted: the call ends with status CANCELLED, the
   * server sees the stream reset, and the error's `cause` is the signal's
   * `reason`. A signal that is already aborted never starts the call.
   */
  signal?: AbortSignal;
  /** Relative deadline in milliseconds from now; the call fails with DEADLINE_EXCEEDED after it. */
  timeout?: number;
  /** Absolute deadline: a Date or milliseconds since the epoch. With `timeout`, the earlier wins. */
  deadline?: Deadline;
  /** Receives the response headers, once, before the first response message. */
  onHeader?: (header: Metadata) => void;
  /** Receives the trailers, once, before the call's result (or error) is delivered. */
  onTrailer?: (trailer: Metadata) => void;
  /** Call credentials for this call only, applied after the channel's. */
  credentials?: CallCredentials;
  /** Overrides the `:authority` the call is sent with. */
  host?: string;
  /**
   * Wait for the channel to become ready instead of failing fast with
   * UNAVAILABLE while it cannot connect (gRPC's wait-for-ready). Overrides
   * the service config; same as `Metadata`'s `waitForReady` option.
   */
  waitForReady?: boolean;
}

/** Shared by every call made without options; never written to. */
export const NO_CALL_OPTIONS: ModernCallOptions = Object.freeze({});

/**
 * The request metadata for a call, carrying its `waitForReady` flag; a
 * fresh object when none was given, because the transport and pickers hold
 * on to it.
 * @throws Error if a key or value is not legal metadata.
 */
export function metadataOf(options: ModernCallOptions): Metadata {
  const init = options.metadata;
  if (options.waitForReady !== undefined) return withWaitForReady(init, options.waitForReady);
  if (init === undefined) return new Metadata();
  if (init instanceof Metadata) return init;
  return fromRecord(init, new Metadata());
}

// A caller's Metadata is not changed: it may be reused for other calls.
function withWaitForReady(init: MetadataInit | undefined, waitForReady: boolean): Metadata {
  if (init instanceof Metadata) {
    const metadata = init.clone();
    metadata.setOptions({ ...init.getOptions(), waitForReady });
    return metadata;
  }
  const metadata = new Metadata({ waitForReady });
  return init === undefined ? metadata : fromRecord(init, metadata);
}

function fromRecord(
  init: Record<string, MetadataValue | readonly MetadataValue[]>,
  metadata: Metadata,
): Metadata {
  for (const key of Object.keys(init)) {
    const value = init[key];
    if (Array.isArray(value)) {
      for (const v of value as readonly MetadataValue[]) metadata.add(key, v);
    } else {
      metadata.add(key, value as MetadataValue);
    }
  }
  return metadata;
}

/**
 * The absolute deadline (ms since the epoch, or Infinity) from `timeout` and `deadline`.
 * @throws TypeError if `timeout` is not a number.
 */
export function deadlineOf(options: ModernCallOptions): number {
  const { timeout, deadline } = options;
  let at = deadline === undefined ? Infinity : deadlineToMs(deadline);
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || Number.isNaN(timeout)) {
      throw new TypeError(
        `h2grpc: timeout must be a number of milliseconds, got ${String(timeout)}`,
      );
    }
    at = Math.min(at, Date.now() + timeout);
  }
  return at;
}

/** Creates (does not start) the call for `path` on `channel`, with the options' deadline, host and credentials. */
export function createCall(
  channel: ChannelInterface,
  path: string,
  options: ModernCallOptions,
): Call {
  const call = channel.createCall(path, deadlineOf(options), options.host, null, undefined);
  if (options.credentials !== undefined) call.setCredentials(options.credentials);
  return call;
}
