// Time as a dependency. Timer-driven code (backoff, DNS re-resolution rate
// limits) takes a `Clock` so tests can run minutes of backoff in
// microseconds with a fake one, without patching globals.

import { LongTimer } from './long-timer';

/** What is needed of a timer handle: Node's `Timeout` has both, fakes may have neither. */
export interface TimerHandle {
  ref?(): unknown;
  unref?(): unknown;
}

/** The current time and one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch, like `Date.now()`. */
  now(): number;
  /** Runs `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer from this clock's `setTimeout`; harmless if it already ran. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: `Date.now` and Node's timers, as `LongTimer`s so that a
 * backoff past 2^31-1 ms (a user's `grpc.max_reconnect_backoff_ms`) waits
 * its time instead of firing after 1 ms.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => new LongTimer(callback, ms),
  // Only handles from `setTimeout` above reach here.
  clearTimeout: (handle) => (handle as LongTimer).clear(),
};
