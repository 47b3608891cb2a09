// A one-shot timer whose delay grows on every use, per gRPC's
// connection-backoff.md. The delay sequence is the subchannels' own
// (`ConnectionBackoff`): the first delay is the initial backoff, each later
// one the previous un-jittered delay times the multiplier, capped at the
// maximum, then spread by ±jitter (not fed back, so it does not random-walk).
//
// Same public surface as grpc-js's `BackoffTimeout` (exported from its
// `experimental` API), so resolvers and balancers written for grpc-js can
// use it unchanged; the clock and random source are injectable for tests.
import { systemClock, type Clock, type TimerHandle } from './clock';
import { ConnectionBackoff } from './subchannel/backoff';

/** Backoff parameters; each defaults to the connection-backoff spec's value. */
export interface BackoffOptions {
  /** First delay, and the delay again after `reset()`, in ms. Default 1000. */
  initialDelay?: number;
  /** Growth factor per `runOnce()`. Default 1.6. */
  multiplier?: number;
  /** Maximum fraction by which a delay varies randomly. Default 0.2. */
  jitter?: number;
  /** Cap on the un-jittered delay, in ms. Default 120000. */
  maxDelay?: number;
  /** Time source; defaults to the real clock. */
  clock?: Clock;
  /** Uniform random source in [0, 1); defaults to `Math.random`. */
  random?: () => number;
}

const DEFAULT_INITIAL_DELAY_MS = 1000;
const DEFAULT_MULTIPLIER = 1.6;
const DEFAULT_JITTER = 0.2;
const DEFAULT_MAX_DELAY_MS = 120_000;

// Options come from channel options, i.e. from users: anything that is not
// a usable number falls back to the default rather than producing NaN timers.
function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * Calls `callback` once after the current backoff delay each time
 * `runOnce()` is called, lengthening the delay for the next time.
 */
export class BackoffTimeout {
  private readonly initialDelay: number;
  private readonly clock: Clock;
  private readonly sequence: ConnectionBackoff;
  private timer: TimerHandle | null = null;
  private running = false;
  private hasRef = true;
  private startTime = 0;
  private endTime = 0;

  /**
   * @param callback Called when a started timer ends (never synchronously).
   * @param options Delays and growth; see {@link BackoffOptions}.
   */
  constructor(
    private readonly callback: () => void,
    options: BackoffOptions = {},
  ) {
    this.initialDelay = positive(options.initialDelay, DEFAULT_INITIAL_DELAY_MS);
    const multiplier = positive(options.multiplier, DEFAULT_MULTIPLIER);
    // Zero jitter is meaningful (deterministic delays), so only negatives
    // and non-numbers fall back.
    const jitter = options.jitter;
    const usableJitter =
      jitter !== undefined && Number.isFinite(jitter) && jitter >= 0 ? jitter : DEFAULT_JITTER;
    // A maximum below the initial delay would make the sequence shrink.
    const maxDelay = Math.max(this.initialDelay, positive(options.maxDelay, DEFAULT_MAX_DELAY_MS));
    this.clock = options.clock ?? systemClock;
    this.sequence = new ConnectionBackoff(
      {
        initialBackoffMs: this.initialDelay,
        multiplier,
        jitter: usableJitter,
        maxBackoffMs: maxDelay,
        minConnectTimeoutMs: 0,
      },
      options.random ?? Math.random,
    );
  }

  /** Starts the timer with the current delay and advances the delay for next time. */
  runOnce(): void {
    this.running = true;
    this.startTime = this.clock.now();
    this.arm(this.sequence.nextAttempt().delayMs);
  }

  /** Stops the timer; the callback will not run until `runOnce()` is called again. */
  stop(): void {
    this.disarm();
    this.running = false;
  }

  /**
   * Returns the delay to its initial value. A running timer is shortened as
   * if it had been started with the initial delay; if that moment has
   * already passed, the callback runs right away (asynchronously).
   */
  reset(): void {
    this.sequence.reset();
    if (!this.running) return;
    const now = this.clock.now();
    this.arm(Math.max(0, this.startTime + this.initialDelay - now), now);
  }

  /** Whether a started timer has not yet ended or been stopped. */
  isRunning(): boolean {
    return this.running;
  }

  /** While running, the timer keeps the Node process alive (the default). */
  ref(): void {
    this.hasRef = true;
    this.timer?.ref?.();
  }

  /** While running, the timer does not keep the Node process alive. */
  unref(): void {
    this.hasRef = false;
    this.timer?.unref?.();
  }

  /** When the running timer will end; only meaningful while `isRunning()`. */
  getEndTime(): Date {
    return new Date(this.endTime);
  }

  private arm(delay: number, now: number = this.startTime): void {
    this.disarm();
    this.endTime = now + delay;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.running = false;
      this.callback();
    }, delay);
    if (!this.hasRef) this.timer.unref?.();
  }

  private disarm(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
