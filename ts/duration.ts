// Protobuf `google.protobuf.Duration` in its three appearances: the object
// form (`{seconds, nanos}` as numbers), the proto-loader message form
// (`seconds` as a string, since it is an int64), and the JSON form used in
// service configs (`"1.5s"`). Same names as grpc-js's `duration` module,
// which its `experimental` API exports.

/** A span of time: whole seconds plus nanoseconds, both with the same sign. */
export interface Duration {
  /** Whole seconds. */
  seconds: number;
  /** Nanoseconds on top of `seconds`. */
  nanos: number;
}

/** A Duration as proto-loader decodes it: int64 `seconds` arrives as a string. */
export interface DurationMessage {
  seconds: string;
  nanos: number;
}

const NANOS_PER_SECOND = 1_000_000_000;
const NANOS_PER_MS = 1_000_000;

/**
 * Converts the proto-loader message form to a {@link Duration}.
 * @param message A decoded `google.protobuf.Duration`.
 */
export function durationMessageToDuration(message: DurationMessage): Duration {
  return { seconds: Number.parseInt(message.seconds, 10), nanos: message.nanos };
}

/**
 * Converts milliseconds (possibly fractional) to a {@link Duration}.
 * @param millis The span in milliseconds.
 */
export function msToDuration(millis: number): Duration {
  const seconds = Math.trunc(millis / 1000);
  // The remainder keeps the sign of `millis`, as protobuf requires of nanos.
  // Rounding undoes float error (1000.3 ms leaves 0.29999… ms); the clamp
  // keeps a remainder that rounds up to a full second a valid `nanos`.
  const nanos = Math.round((millis - seconds * 1000) * NANOS_PER_MS);
  const limit = NANOS_PER_SECOND - 1;
  return { seconds, nanos: Math.max(-limit, Math.min(limit, nanos)) };
}

/**
 * Converts a {@link Duration} to whole milliseconds, truncating toward zero.
 * Unlike grpc-js this does not wrap at 2^31 ms (about 24.8 days).
 * @param duration The span.
 */
export function durationToMs(duration: Duration): number {
  return Math.trunc(duration.seconds * 1000 + duration.nanos / NANOS_PER_MS);
}

/**
 * Whether `value` has the object form: numeric `seconds` and `nanos`.
 * @param value Anything, typically parsed JSON.
 */
export function isDuration(value: unknown): value is Duration {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.seconds === 'number' && typeof v.nanos === 'number';
}

/**
 * Whether `value` has the proto-loader message form: string `seconds`,
 * numeric `nanos`.
 * @param value Anything, typically a decoded message.
 */
export function isDurationMessage(value: unknown): value is DurationMessage {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.seconds === 'string' && typeof v.nanos === 'number';
}

// Protobuf's JSON form: seconds, optionally up to nine fractional digits,
// then `s`. Negative durations are refused as in grpc-js, because every
// duration in a service config (timeouts, backoffs, hedging delays) must be
// non-negative and callers rely on `null` to reject them.
const DURATION_JSON = /^(\d+)(?:\.(\d{1,9}))?s$/;

/**
 * Parses the JSON form, e.g. `"1.5s"` → `{seconds: 1, nanos: 500000000}`.
 * @param value The string from a service config.
 * @returns The duration, or null when `value` is not a valid non-negative
 *   duration.
 */
export function parseDuration(value: string): Duration | null {
  const match = DURATION_JSON.exec(value);
  if (match === null) return null;
  const seconds = Number.parseInt(match[1], 10);
  if (!Number.isSafeInteger(seconds)) return null;
  const nanos = match[2] === undefined ? 0 : Number.parseInt(match[2].padEnd(9, '0'), 10);
  return { seconds, nanos };
}

/**
 * Formats the JSON form with 0, 3, 6 or 9 fractional digits, as protobuf's
 * JSON mapping prescribes: `{seconds: 1, nanos: 500000000}` → `"1.500s"`.
 * @param duration The span.
 */
export function durationToString(duration: Duration): string {
  const negative = duration.seconds < 0 || duration.nanos < 0;
  const seconds = Math.abs(duration.seconds);
  const nanos = Math.abs(duration.nanos);
  const sign = negative ? '-' : '';
  if (nanos === 0) return `${sign}${seconds}s`;
  let fraction = String(nanos).padStart(9, '0');
  // Drop whole groups of three trailing zeros: ms, then µs precision.
  while (fraction.endsWith('000')) fraction = fraction.slice(0, -3);
  return `${sign}${seconds}.${fraction}s`;
}
