// Node's timers take delays up to 2^31-1 ms (about 24.8 days); a longer one,
// like NaN or a negative one, fires after 1 ms (with a TimeoutOverflowWarning).
// Deadlines, retry pushbacks, hedging delays and reconnect backoffs come from
// users and servers and can be longer: firing them after 1 ms turns "far
// away" into "now". A LongTimer waits the real time instead, in steps Node
// accepts.

/** The longest delay Node's `setTimeout` honours. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * A one-shot timer for any delay: past {@link MAX_TIMER_DELAY_MS} it re-arms
 * until the time has come; Infinity never fires (and holds no timer); NaN and
 * negative delays fire at once.
 */
export class LongTimer {
  private timer: NodeJS.Timeout | null = null;
  private readonly at: number;
  private refed = true;

  constructor(
    private readonly callback: () => void,
    delayMs: number,
  ) {
    const delay = delayMs > 0 ? delayMs : 0;
    this.at = Date.now() + delay;
    this.arm(delay);
  }

  /** Stops the timer; harmless after it fired. */
  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Lets the process exit while only this timer is pending. */
  unref(): this {
    this.refed = false;
    this.timer?.unref();
    return this;
  }

  /** Keeps the process alive while this timer is pending (the default). */
  ref(): this {
    this.refed = true;
    this.timer?.ref();
    return this;
  }

  private arm(delay: number): void {
    if (delay === Infinity) return;
    if (delay > MAX_TIMER_DELAY_MS) {
      this.timer = setTimeout(
        () => this.arm(Math.max(0, this.at - Date.now())),
        MAX_TIMER_DELAY_MS,
      );
    } else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.callback();
      }, delay);
    }
    if (!this.refed) this.timer.unref();
  }
}
