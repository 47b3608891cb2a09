// Retry throttling (gRFC A6 "Throttling Retry Attempts and Hedged RPCs") and
// the memory budget for messages kept for replay. Both are shared: the
// throttler by every channel to the same target (as grpc-js keys it), the
// buffer budget by every call on a channel.

/**
 * A token bucket: each failed attempt costs one token, each success gives
 * back `tokenRatio`; retries (and hedges) stop while the bucket is at or
 * below half full. Token values keep A6's three decimals because the service
 * config validation already rounded both inputs.
 */
export class RetryThrottler {
  private tokens: number;

  /**
   * @param previous The bucket of the config this one replaces: its fill
   *   level carries over, rescaled to the new size, so a config push does not
   *   hand a failing server a fresh budget of retries.
   */
  constructor(
    private readonly maxTokens: number,
    private readonly tokenRatio: number,
    previous?: RetryThrottler,
  ) {
    this.tokens =
      previous === undefined ? maxTokens : previous.tokens * (maxTokens / previous.maxTokens);
  }

  /** An attempt ended with OK. */
  addCallSucceeded(): void {
    this.tokens = Math.min(this.tokens + this.tokenRatio, this.maxTokens);
  }

  /** An attempt ended with a retryable (or non-fatal hedging) code. */
  addCallFailed(): void {
    this.tokens = Math.max(this.tokens - 1, 0);
  }

  /** Whether a further attempt may start now. */
  canRetryCall(): boolean {
    return this.tokens > this.maxTokens / 2;
  }
}

const throttlers = new Map<string, RetryThrottler>();

/**
 * Installs (or, with no `retryThrottling` in the new service config, removes)
 * the bucket for `target`; called whenever a channel adopts a service config.
 */
export function updateRetryThrottler(
  target: string,
  config: { maxTokens: number; tokenRatio: number } | undefined,
): void {
  if (config === undefined) {
    throttlers.delete(target);
    return;
  }
  throttlers.set(
    target,
    new RetryThrottler(config.maxTokens, config.tokenRatio, throttlers.get(target)),
  );
}

/** The bucket new calls to `target` draw from, if throttling is configured. */
export function getRetryThrottler(target: string): RetryThrottler | undefined {
  return throttlers.get(target);
}

/**
 * Bytes of sent messages held for replay, per call and per channel
 * (`grpc.per_rpc_retry_buffer_size`, `grpc.retry_buffer_size`). A message
 * that does not fit commits its call: it can no longer be replayed.
 */
export class MessageBufferTracker {
  private total = 0;

  constructor(
    private readonly totalLimit: number,
    /** The per-call limit; each call counts its own bytes against it. */
    readonly limitPerCall: number,
  ) {}

  /**
   * Reserves `size` bytes for a call that already holds `callBytes`.
   * @returns false when either limit would be exceeded (nothing is reserved).
   */
  allocate(size: number, callBytes: number): boolean {
    if (this.limitPerCall - callBytes < size || this.totalLimit - this.total < size) return false;
    this.total += size;
    return true;
  }

  /** Returns bytes reserved by `allocate`. */
  free(size: number): void {
    this.total = Math.max(0, this.total - size);
  }
}
