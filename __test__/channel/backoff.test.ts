// Connection backoff (gRPC's connection-backoff.md) as ts/subchannel/backoff.ts computes
// it, with a scripted random source:
//
//   INITIAL_BACKOFF = 1 s, MULTIPLIER = 1.6, JITTER = 0.2, MAX_BACKOFF = 120 s,
//   MIN_CONNECT_TIMEOUT = 20 s
//   current_backoff = min(current_backoff * MULTIPLIER, MAX_BACKOFF)
//   delay = current_backoff ± JITTER * current_backoff (uniform)
//   connect timeout = max(delay, MIN_CONNECT_TIMEOUT)
//
// and then the same sequence observed on a real subchannel dialing a loopback port with
// nothing listening (real time, small backoff options).
import test from 'ava';
import {
  backoffFromOptions,
  ConnectionBackoff,
  DEFAULT_BACKOFF,
  type BackoffOptions,
} from '../../ts/subchannel/backoff';
import { Subchannel } from '../../ts/subchannel/subchannel';
import { ConnectivityState } from '../../ts/constants';
import { nativeTransport } from '../../ts/transport/native-transport';
import { deadPort } from '../helpers/backends';

/** A random source that returns `values` in turn (then repeats the last one). */
function scripted(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}

/** The un-jittered backoff of attempt `n` (0-based) under `o`. */
function base(o: BackoffOptions, n: number): number {
  return Math.min(o.initialBackoffMs * o.multiplier ** n, o.maxBackoffMs);
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-6;

test('the defaults are the spec values', (t) => {
  t.deepEqual(DEFAULT_BACKOFF, {
    initialBackoffMs: 1000,
    multiplier: 1.6,
    jitter: 0.2,
    maxBackoffMs: 120_000,
    minConnectTimeoutMs: 20_000,
  });
  t.deepEqual(backoffFromOptions({}), DEFAULT_BACKOFF);
});

test('without jitter (random = 0.5) the sequence is 1 s × 1.6^n, capped at 120 s', (t) => {
  const b = new ConnectionBackoff(DEFAULT_BACKOFF, () => 0.5);
  const delays: number[] = [];
  for (let i = 0; i < 16; i++) delays.push(b.nextAttempt().delayMs);
  const expected = [
    1000, 1600, 2560, 4096, 6553.6, 10485.76, 16777.216, 26843.5456, 42949.67296, 68719.476736,
    109951.1627776, 120_000, 120_000, 120_000, 120_000, 120_000,
  ];
  t.is(delays.length, expected.length);
  delays.forEach((d, i) => t.true(close(d, expected[i]), `attempt ${i}: ${d} ≠ ${expected[i]}`));
});

test('the first attempt waits exactly INITIAL_BACKOFF; later ones are jittered by at most ±20 %', (t) => {
  // Extremes of the random source: 0 → −20 %, just under 1 → +20 %.
  const low = new ConnectionBackoff(DEFAULT_BACKOFF, () => 0);
  const high = new ConnectionBackoff(DEFAULT_BACKOFF, () => 1 - Number.EPSILON);
  for (let n = 0; n < 20; n++) {
    const l = low.nextAttempt().delayMs;
    const h = high.nextAttempt().delayMs;
    if (n === 0) {
      t.is(l, 1000);
      t.is(h, 1000);
      continue;
    }
    t.true(close(l, base(DEFAULT_BACKOFF, n) * 0.8), `attempt ${n} low: ${l}`);
    t.true(close(h, base(DEFAULT_BACKOFF, n) * 1.2), `attempt ${n} high: ${h}`);
  }
});

test('every jittered delay stays within ±20 % of the capped backoff, whatever the random draw', (t) => {
  let seed = 42;
  // A small LCG, so a failure is reproducible.
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let run = 0; run < 50; run++) {
    const b = new ConnectionBackoff(DEFAULT_BACKOFF, random);
    for (let n = 0; n < 25; n++) {
      const { delayMs } = b.nextAttempt();
      const center = base(DEFAULT_BACKOFF, n);
      const spread = n === 0 ? 0 : 0.2 * center;
      t.true(
        delayMs >= center - spread - 1e-6 && delayMs <= center + spread + 1e-6,
        `run ${run} attempt ${n}: ${delayMs} outside ${center} ± ${spread}`,
      );
    }
  }
});

test('jitter follows the random draw linearly', (t) => {
  const b = new ConnectionBackoff(DEFAULT_BACKOFF, scripted(0.25, 0.75, 0.5, 0));
  t.is(b.nextAttempt().delayMs, 1000);
  t.true(close(b.nextAttempt().delayMs, 1600 * 0.9)); // 0.25 → −10 %
  t.true(close(b.nextAttempt().delayMs, 2560 * 1.1)); // 0.75 → +10 %
  t.true(close(b.nextAttempt().delayMs, 4096)); // 0.5 → 0
  t.true(close(b.nextAttempt().delayMs, 6553.6 * 0.8)); // 0 → −20 %
});

test('the connect timeout is max(delay, MIN_CONNECT_TIMEOUT) (20 s by default)', (t) => {
  const b = new ConnectionBackoff(DEFAULT_BACKOFF, () => 0.5);
  for (let n = 0; n < 16; n++) {
    const { delayMs, connectTimeoutMs } = b.nextAttempt();
    t.is(connectTimeoutMs, Math.max(delayMs, 20_000));
    t.true(connectTimeoutMs >= 20_000);
  }
  // Near the cap the delay itself exceeds 20 s and is the timeout.
  const capped = new ConnectionBackoff(DEFAULT_BACKOFF, () => 1 - Number.EPSILON);
  let last = capped.nextAttempt();
  for (let n = 1; n < 20; n++) last = capped.nextAttempt();
  t.true(close(last.delayMs, 144_000));
  t.is(last.connectTimeoutMs, last.delayMs);
});

test('reset() (a connection succeeded) starts the sequence over', (t) => {
  const b = new ConnectionBackoff(DEFAULT_BACKOFF, () => 0.5);
  for (let n = 0; n < 6; n++) b.nextAttempt();
  b.reset();
  t.is(b.nextAttempt().delayMs, 1000);
  t.true(close(b.nextAttempt().delayMs, 1600));
});

test('grpc.initial_reconnect_backoff_ms and grpc.max_reconnect_backoff_ms set the sequence', (t) => {
  const o = backoffFromOptions({
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 500,
  });
  t.is(o.initialBackoffMs, 100);
  t.is(o.maxBackoffMs, 500);
  t.is(o.multiplier, 1.6);
  t.is(o.jitter, 0.2);
  t.is(o.minConnectTimeoutMs, 20_000);
  const b = new ConnectionBackoff(o, () => 0.5);
  const delays = Array.from({ length: 7 }, () => b.nextAttempt().delayMs);
  const expected = [100, 160, 256, 409.6, 500, 500, 500];
  delays.forEach((d, i) => t.true(close(d, expected[i]), `attempt ${i}: ${d} ≠ ${expected[i]}`));
});

test('options: a max below the initial backoff is raised to it; invalid values are ignored', (t) => {
  const o = backoffFromOptions({
    'grpc.initial_reconnect_backoff_ms': 2000,
    'grpc.max_reconnect_backoff_ms': 500,
  });
  t.is(o.initialBackoffMs, 2000);
  t.is(o.maxBackoffMs, 2000);
  const junk = backoffFromOptions({
    'grpc.initial_reconnect_backoff_ms': -5,
    'grpc.max_reconnect_backoff_ms': Number.NaN,
  });
  t.deepEqual(junk, DEFAULT_BACKOFF);
  t.deepEqual(backoffFromOptions({ 'grpc.initial_reconnect_backoff_ms': '100' }), DEFAULT_BACKOFF);
});

test('a real subchannel dialing a dead port retries on the backoff schedule', async (t) => {
  t.timeout(30_000);
  const port = await deadPort();
  // Load the addon first, so the first attempt does not include its start-up.
  nativeTransport();
  const options = backoffFromOptions({
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 400,
  });
  const sub = new Subchannel(
    `127.0.0.1:${port}`,
    { authority: `127.0.0.1:${port}`, secure: false, userAgent: 'backoff-test' },
    options,
    () => {},
  );
  sub.ref();
  t.teardown(() => sub.unref());
  const attempts: number[] = [];
  const errors: string[] = [];
  const done = new Promise<void>((resolve) => {
    sub.addConnectivityStateListener((_s, _prev, next, _ka, error) => {
      if (next === ConnectivityState.CONNECTING) attempts.push(performance.now());
      if (next === ConnectivityState.TRANSIENT_FAILURE) {
        errors.push(error ?? '');
        // As pick_first does in sticky TRANSIENT_FAILURE: reconnect once the backoff ends.
        if (attempts.length < 8) sub.startConnecting();
        else resolve();
      }
    });
  });
  sub.startConnecting();
  await done;
  t.is(attempts.length, 8);
  t.true(
    errors.every((e) => e.includes(String(port))),
    errors.join('\n'),
  );
  // Attempt n+1 starts no earlier than the jittered delay computed at attempt n (timer
  // granularity allows ~2 ms early), and not much later than its upper bound (the slack
  // is for a loaded machine: other test files run alongside).
  for (let n = 0; n + 1 < attempts.length; n++) {
    const gap = attempts[n + 1] - attempts[n];
    const center = base(options, n);
    const lo = n === 0 ? center : center * 0.8;
    const hi = n === 0 ? center : center * 1.2;
    t.log(`gap ${n}: ${gap.toFixed(1)} ms (allowed ${lo.toFixed(0)}–${hi.toFixed(0)} ms)`);
    t.true(gap >= lo - 2, `attempt ${n + 1} came ${gap} ms after attempt ${n}, before ${lo}`);
    t.true(gap <= hi + 600, `attempt ${n + 1} came ${gap} ms after attempt ${n}, long after ${hi}`);
  }
});
