// The connection backoff algorithm of gRPC's connection-backoff.md:
//
//   current_backoff = INITIAL_BACKOFF
//   current_deadline = now() + INITIAL_BACKOFF
//   while (TryConnect(Max(current_deadline, now() + MIN_CONNECT_TIMEOUT)) != SUCCESS)
//     SleepUntil(current_deadline)
//     current_backoff = Min(current_backoff * MULTIPLIER, MAX_BACKOFF)
//     current_deadline = now() + current_backoff +
//       UniformRandom(-JITTER * current_backoff, JITTER * current_backoff)
//
// This class only computes; the subchannel owns the timers.

/** Parameters of the connection backoff, in milliseconds (spec defaults below). */
export interface BackoffOptions {
  initialBackoffMs: number;
  multiplier: number;
  jitter: number;
  maxBackoffMs: number;
  minConnectTimeoutMs: number;
}

/** The spec's defaults: 1 s, ×1.6, ±20 %, at most 120 s, connect timeout at least 20 s. */
export const DEFAULT_BACKOFF: BackoffOptions = {
  initialBackoffMs: 1000,
  multiplier: 1.6,
  jitter: 0.2,
  maxBackoffMs: 120_000,
  minConnectTimeoutMs: 20_000,
};

/**
 * Reads the grpc-js channel options that override the defaults. A backoff of
 * 0 means the default, as in grpc-js (which tests the option for truth): a
 * zero backoff would redial a server that drops every connection in a tight
 * loop. Values grpc-js passes to `setTimeout` unchecked (negative, Infinity,
 * strings: a 1 ms backoff there) also mean the default here.
 */
export function backoffFromOptions(options: Record<string, unknown>): BackoffOptions {
  const num = (key: string): number | undefined => {
    const v = options[key];
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
  };
  const positive = (key: string): number | undefined => {
    const v = num(key);
    return v === 0 ? undefined : v;
  };
  const initial = positive('grpc.initial_reconnect_backoff_ms') ?? DEFAULT_BACKOFF.initialBackoffMs;
  return {
    initialBackoffMs: initial,
    multiplier: DEFAULT_BACKOFF.multiplier,
    jitter: DEFAULT_BACKOFF.jitter,
    maxBackoffMs: Math.max(
      initial,
      positive('grpc.max_reconnect_backoff_ms') ?? DEFAULT_BACKOFF.maxBackoffMs,
    ),
    minConnectTimeoutMs:
      num('grpc.min_reconnect_backoff_ms') ?? DEFAULT_BACKOFF.minConnectTimeoutMs,
  };
}

/** One subchannel's position in the backoff sequence. */
export class ConnectionBackoff {
  private current: number;
  private attempts = 0;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {
    this.current = options.initialBackoffMs;
  }

  /**
   * Starts an attempt: returns how long until the next attempt may start
   * (`delayMs`) and how long this attempt may take (`connectTimeoutMs`).
   */
  nextAttempt(): { delayMs: number; connectTimeoutMs: number } {
    let delay: number;
    if (this.attempts === 0) {
      delay = this.options.initialBackoffMs;
    } else {
      this.current = Math.min(this.current * this.options.multiplier, this.options.maxBackoffMs);
      const spread = this.options.jitter * this.current;
      delay = this.current + (this.random() * 2 - 1) * spread;
    }
    this.attempts++;
    return {
      delayMs: Math.max(0, delay),
      connectTimeoutMs: Math.max(delay, this.options.minConnectTimeoutMs),
    };
  }

  /** After a successful connection the sequence starts over. */
  reset(): void {
    this.current = this.options.initialBackoffMs;
    this.attempts = 0;
  }
}
