/**
 * gRPC status codes, as defined by the gRPC specification and exported by
 * `@grpc/grpc-js` under the same name and values.
 */
export enum Status {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/**
 * Channel connectivity states, per gRPC's connectivity-semantics document.
 * Same names and values as `@grpc/grpc-js`'s `connectivityState`.
 */
export enum ConnectivityState {
  IDLE = 0,
  CONNECTING = 1,
  READY = 2,
  TRANSIENT_FAILURE = 3,
  SHUTDOWN = 4,
}

/**
 * Flags that select which properties of a parent server call a client call
 * inherits. Same values as `@grpc/grpc-js`'s `propagate`.
 */
export enum Propagate {
  DEADLINE = 1,
  CENSUS_STATS_CONTEXT = 2,
  CENSUS_TRACING_CONTEXT = 4,
  CANCELLATION = 8,
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
  DEBUG = 0,
  INFO = 1,
  ERROR = 2,
  NONE = 3,
}

/**
 * Message compression algorithms, as numbered by `@grpc/grpc-js`'s
 * `compressionAlgorithms` (the values of `grpc.default_compression_algorithm`).
 */
export enum CompressionAlgorithms {
  identity = 0,
  deflate = 1,
  gzip = 2,
}
