/**
 * gRPC status codes, as defined by the gRPC specification and exported by
 * `@grpc/grpc-js` under the same name and values.
 */
export enum Status {
  /** Not an error; returned on success. */
  OK = 0,
  /** The operation was cancelled, typically by the caller. */
  CANCELLED = 1,
  /** Unknown error, e.g. a status from another error space or an error without enough information. */
  UNKNOWN = 2,
  /** The client specified an invalid argument, independent of the system state. */
  INVALID_ARGUMENT = 3,
  /** The deadline expired before the operation could complete. */
  DEADLINE_EXCEEDED = 4,
  /** Some requested entity was not found. */
  NOT_FOUND = 5,
  /** The entity a client attempted to create already exists. */
  ALREADY_EXISTS = 6,
  /** The caller does not have permission to execute the operation. */
  PERMISSION_DENIED = 7,
  /** Some resource has been exhausted (a quota, or a message size limit). */
  RESOURCE_EXHAUSTED = 8,
  /** The system is not in a state required for the operation. */
  FAILED_PRECONDITION = 9,
  /** The operation was aborted, typically by a concurrency conflict. */
  ABORTED = 10,
  /** The operation was attempted past the valid range. */
  OUT_OF_RANGE = 11,
  /** The operation is not implemented or not supported by the server. */
  UNIMPLEMENTED = 12,
  /** Internal error: an invariant expected by the system was broken. */
  INTERNAL = 13,
  /** The service is currently unavailable; usually transient, retrying may help. */
  UNAVAILABLE = 14,
  /** Unrecoverable data loss or corruption. */
  DATA_LOSS = 15,
  /** The request lacks valid authentication credentials. */
  UNAUTHENTICATED = 16,
}

/**
 * Channel connectivity states, per gRPC's connectivity-semantics document.
 * Same names and values as `@grpc/grpc-js`'s `connectivityState`.
 */
export enum ConnectivityState {
  /** No connection and no attempt; the next call or `getConnectivityState(true)` starts one. */
  IDLE = 0,
  /** Resolving the target or connecting. */
  CONNECTING = 1,
  /** Connected; calls are sent at once. */
  READY = 2,
  /** Connecting failed; retrying after backoff. Fail-fast calls fail with UNAVAILABLE. */
  TRANSIENT_FAILURE = 3,
  /** The channel was closed. */
  SHUTDOWN = 4,
}

/**
 * Flags that select which properties of a parent server call a client call
 * inherits. Same values as `@grpc/grpc-js`'s `propagate`.
 */
export enum Propagate {
  /** Inherit the parent call's deadline. */
  DEADLINE = 1,
  /** Inherit the census stats context (accepted; no effect, as in grpc-js). */
  CENSUS_STATS_CONTEXT = 2,
  /** Inherit the census tracing context (accepted; no effect, as in grpc-js). */
  CENSUS_TRACING_CONTEXT = 4,
  /** Cancel the call when the parent call is cancelled. */
  CANCELLATION = 8,
  /** Every flag: the default when `propagate_flags` is not given. */
  DEFAULTS = 0xffff,
}

/** Default limit for a received message, in bytes (4 MiB, as in grpc-js and grpc-go). */
export const DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024;

/** Default limit for a sent message, in bytes (-1 means unlimited). */
export const DEFAULT_MAX_SEND_MESSAGE_LENGTH = -1;

/**
 * Severity of a log message, lowest first. Same names and values as
 * `@grpc/grpc-js`'s `logVerbosity`; `NONE` as the verbosity silences everything.
 */
export enum LogVerbosity {
  /** Everything, including trace lines. */
  DEBUG = 0,
  /** Informational messages and errors. */
  INFO = 1,
  /** Errors only (the default). */
  ERROR = 2,
  /** Nothing. */
  NONE = 3,
}

/**
 * Message compression algorithms, as numbered by `@grpc/grpc-js`'s
 * `compressionAlgorithms` (the values of `grpc.default_compression_algorithm`).
 */
export enum CompressionAlgorithms {
  /** No compression. */
  identity = 0,
  /** zlib deflate. */
  deflate = 1,
  /** gzip. */
  gzip = 2,
}
