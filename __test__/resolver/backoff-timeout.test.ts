// BackoffTimeout: connection-backoff.md delays (1 s, ×1.6, ±20 %, ≤ 120 s)
// on a fake clock, and grpc-js's stop/reset/isRunning/getEndTime semantics.
import test from 'ava';
import { BackoffTimeout } from '../../ts/backoff-timeout';
import { FakeClock } from './fake-clock';

function harness(random: () => number = () => 0.5, options = {}) {
  const clock = new FakeClock();
  let fired = 0;
  const backoff = new BackoffTimeout(() => fired++, { clock, random, ...options });
  return { clock, backoff, fired: () => fired };
}

/** Runs the timer once and measures, on the fake clock, how long it waits. */
function nextDelay(h: ReturnType<typeof harness>): number {
  const start = h.clock.now();
  const before = h.fired();
  h.backoff.runOnce();
  while (h.fired() === before) h.clock.advance(1);
  return h.clock.now() - start;
}

test('delays grow by 1.6 from 1 s and stop growing at 120 s', (t) => {
  const h = harness();
  // Measured in whole fake-clock milliseconds, so fractional delays round up.
  const delays = Array.from({ length: 14 }, () => nextDelay(h));
  t.deepEqual(
    delays,
    [
      1000, 1600, 2560, 4096, 6554, 10486, 16778, 26844, 42950, 68720, 109952, 120000, 120000,
      120000,
    ],
  );
});

test('jitter spreads each delay by at most 20 %, and the first delay is exact', (t) => {
  const low = harness(() => 0);
  t.is(nextDelay(low), 1000);
  t.is(nextDelay(low), 1280); // 1600 − 20 %
  t.is(nextDelay(low), 2048); // 2560 − 20 %: jitter does not compound
  const high = harness(() => 0.999_999);
  t.is(nextDelay(high), 1000);
  t.is(nextDelay(high), 1920); // 1600 + 20 %
});

test('options replace the defaults; jitter 0 is honoured', (t) => {
  const h = harness(() => 0, { initialDelay: 10, multiplier: 2, maxDelay: 50, jitter: 0 });
  t.deepEqual(
    Array.from({ length: 5 }, () => nextDelay(h)),
    [10, 20, 40, 50, 50],
  );
});

test('isRunning, getEndTime and stop', (t) => {
  const h = harness();
  t.false(h.backoff.isRunning());
  h.clock.advance(5000);
  h.backoff.runOnce();
  t.true(h.backoff.isRunning());
  t.is(h.backoff.getEndTime().getTime(), 6000);
  h.backoff.stop();
  t.false(h.backoff.isRunning());
  h.clock.advance(10_000);
  t.is(h.fired(), 0, 'a stopped timer never fires');
  t.is(h.clock.pending(), 0);
});

test('the callback is never called synchronously', (t) => {
  const h = harness(undefined, { initialDelay: 1 });
  h.backoff.runOnce();
  h.backoff.reset();
  t.is(h.fired(), 0);
});

test('reset restarts the sequence and shortens a running timer', (t) => {
  const h = harness();
  nextDelay(h);
  nextDelay(h);
  h.backoff.runOnce(); // 2560 ms
  h.clock.advance(400);
  h.backoff.reset();
  t.true(h.backoff.isRunning());
  h.clock.advance(599);
  t.is(h.fired(), 2);
  h.clock.advance(1);
  t.is(h.fired(), 3, 'fires 1000 ms after it started');
  t.is(nextDelay(h), 1000, 'and the sequence starts over');
});

test('reset of a timer already past the initial delay fires it at once (asynchronously)', (t) => {
  const h = harness();
  nextDelay(h);
  h.backoff.runOnce(); // 1600 ms
  h.clock.advance(1200);
  h.backoff.reset();
  t.is(h.fired(), 1);
  h.clock.advance(0);
  t.is(h.fired(), 2);
  t.false(h.backoff.isRunning());
});

test('ref and unref reach the timer', (t) => {
  const clock = new FakeClock();
  const calls: string[] = [];
  const spyClock = {
    now: () => clock.now(),
    clearTimeout: (h: Parameters<FakeClock['clearTimeout']>[0]) => clock.clearTimeout(h),
    setTimeout: (callback: () => void, ms: number) => {
      clock.setTimeout(callback, ms);
      return { ref: () => calls.push('ref'), unref: () => calls.push('unref') };
    },
  };
  const backoff = new BackoffTimeout(() => {}, { clock: spyClock });
  backoff.unref();
  backoff.runOnce();
  backoff.ref();
  t.deepEqual(calls, ['unref', 'ref']);
});

test('works on the real clock', async (t) => {
  const fired = await new Promise<boolean>((resolve) => {
    const backoff = new BackoffTimeout(() => resolve(true), { initialDelay: 5 });
    backoff.runOnce();
  });
  t.true(fired);
});
