// A manual clock for timer-driven resolver code: time moves only when a
// test calls advance(), and due timers run in deadline order as it does.
import type { Clock, TimerHandle } from '../../ts/clock';

interface FakeTimer extends TimerHandle {
  at: number;
  seq: number;
  callback: () => void;
}

/** A {@link Clock} whose time only moves when `advance()` is called. */
export class FakeClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Set<FakeTimer>();

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = {
      at: this.time + Math.max(0, ms),
      seq: this.seq++,
      callback,
      ref: () => timer,
      unref: () => timer,
    };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as FakeTimer);
  }

  /** Number of timers not yet run or cleared. */
  pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of this.timers) {
        if (
          timer.at <= end &&
          (next === undefined ||
            timer.at < next.at ||
            (timer.at === next.at && timer.seq < next.seq))
        ) {
          next = timer;
        }
      }
      if (next === undefined) break;
      this.timers.delete(next);
      this.time = next.at;
      next.callback();
    }
    this.time = end;
  }
}

/** Lets promise callbacks and nextTick/setImmediate work queued so far run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
