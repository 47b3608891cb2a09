// Timing options and values at their edges (issue 11, item 4): each one at 0, −1, 1,
// 2³¹−1, 2³¹, 1e300, Infinity, NaN, a string and undefined, next to what @grpc/grpc-js
// does with the same value (`H2GRPC_TEST_CLIENT=grpc-js` runs this file against it;
// each table lists both clients' outcomes, and says why where they differ).
//
// Most differences come from Node's timers: `setTimeout` takes at most 2³¹−1 ms, and
// a longer delay, NaN or a negative one fires after 1 ms. grpc-js hands such values
// to `setTimeout` in several places; h2grpc waits the real time (in steps, for delays
// past 2³¹−1 ms), treats an unusable deadline (NaN, a string) as none, and clamps what
// the native side takes (durations of a century or more are a century).
//
// Everything runs against one in-process grpc-js server with a Buffer service.
import { spawn } from 'node:child_process';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import test from 'ava';
import * as grpcJs from '@grpc/grpc-js';
import { deadPort } from './helpers/backends';
import { clientName, describeClient, grpc, isGrpcJs, sleep } from './helpers/fixture';

type Client = InstanceType<typeof grpc.Client>;

/** The edge values, by the label the tables use. */
const EDGES: ReadonlyArray<readonly [string, unknown]> = [
  ['0', 0],
  ['-1', -1],
  ['1', 1],
  ['2^31-1', 2 ** 31 - 1],
  ['2^31', 2 ** 31],
  ['1e300', 1e300],
  ['Infinity', Infinity],
  ['NaN', NaN],
  ["'abc'", 'abc'],
  ['undefined', undefined],
];

/** One outcome for both clients, or one per client. `skip:` rows do not run. */
type Expected = string | { h2grpc: string; grpcJs: string };
type Table = Record<string, Expected>;

function expectedFor(table: Table): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [label, e] of Object.entries(table)) {
    out[label] = typeof e === 'string' ? e : isGrpcJs ? e.grpcJs : e.h2grpc;
  }
  return out;
}

/** Runs `observe` for every edge value at once; rows expected to be `skip:` are not run. */
async function observeAll(
  table: Table,
  observe: (value: unknown, label: string) => Promise<string>,
): Promise<{ observed: Record<string, string>; expected: Record<string, string> }> {
  const expected = expectedFor(table);
  const observed: Record<string, string> = {};
  await Promise.all(
    EDGES.map(async ([label, value]) => {
      observed[label] = expected[label].startsWith('skip:')
        ? expected[label]
        : await observe(value, label);
    }),
  );
  return { observed, expected };
}

// --- the server -----------------------------------------------------------------------

const id = (b: Buffer): Buffer => b;
const attempts = new Map<string, number>();
let port = 0;
const server = new grpcJs.Server();

function method(path: string) {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  };
}

test.before(async (t) => {
  t.log(describeClient());
  server.addService(
    { Echo: method('/edge.E/Echo'), Fail: method('/edge.E/Fail') },
    {
      // Answers after `x-sleep-ms`; counts the attempts of `x-key`.
      Echo: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, cb: grpcJs.sendUnaryData<Buffer>) => {
        const key = String(call.metadata.get('x-key')[0] ?? '');
        attempts.set(key, (attempts.get(key) ?? 0) + 1);
        const timer = setTimeout(
          () => cb(null, Buffer.from('ok')),
          Number(call.metadata.get('x-sleep-ms')[0] ?? 0),
        );
        call.on('cancelled', () => clearTimeout(timer));
      },
      // The first attempt of `x-key` fails UNAVAILABLE with `grpc-retry-pushback-ms:
      // x-pushback` (when given); later attempts succeed.
      Fail: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, cb: grpcJs.sendUnaryData<Buffer>) => {
        const key = String(call.metadata.get('x-key')[0]);
        const n = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, n);
        if (n > 1) {
          cb(null, Buffer.from('ok'));
          return;
        }
        const trailers = new grpcJs.Metadata();
        const pushback = call.metadata.get('x-pushback')[0];
        if (pushback !== undefined) trailers.set('grpc-retry-pushback-ms', String(pushback));
        cb({ code: grpcJs.status.UNAVAILABLE, details: 'first attempt fails', metadata: trailers });
      },
    },
  );
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
});

test.after.always(() => server.forceShutdown());

// --- helpers --------------------------------------------------------------------------

let keys = 0;

function client(
  t: { teardown(fn: () => void): void },
  options: Record<string, unknown>,
  target = `127.0.0.1:${port}`,
): Client {
  const c = new grpc.Client(target, grpc.credentials.createInsecure(), options);
  t.teardown(() => c.close());
  return c;
}

/** A deadline `value` ms from now for numbers (Infinity, NaN, 1e300 stay themselves); anything else as is. */
function deadlineFrom(value: unknown): unknown {
  return typeof value === 'number' ? Date.now() + value : value;
}

interface StartedCall {
  /** The `x-key` the server counts this call's attempts under. */
  key: string;
  /** The status code name once the call ends. */
  status: Promise<string>;
  cancel(): void;
}

function startUnary(
  c: Client,
  path: string,
  options: Record<string, unknown>,
  metadata: Record<string, string>,
  waitForReady: boolean,
): StartedCall {
  const key = `${clientName}-${++keys}`;
  const md = new grpc.Metadata({ waitForReady });
  md.set('x-key', key);
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  let resolve!: (status: string) => void;
  const status = new Promise<string>((r) => (resolve = r));
  const call = c.makeUnaryRequest(path, id, id, Buffer.alloc(0), md, options as never, (err) =>
    resolve(grpc.status[err?.code ?? grpc.status.OK]),
  );
  return { key, status, cancel: () => call.cancel() };
}

/**
 * One unary call: its status once it ends, or `pending` after `waitMs` (the call is
 * then cancelled).
 */
async function unary(
  c: Client,
  path: string,
  options: Record<string, unknown>,
  metadata: Record<string, string> = {},
  waitMs = 10_000,
  waitForReady = false,
): Promise<{ outcome: string; key: string }> {
  let call: StartedCall;
  try {
    call = startUnary(c, path, options, metadata, waitForReady);
  } catch (e) {
    return { outcome: `throws ${(e as Error).name}`, key: '' };
  }
  const outcome = await Promise.race([call.status, sleep(waitMs).then(() => 'pending')]);
  if (outcome === 'pending') call.cancel();
  return { outcome, key: call.key };
}

const tries = (key: string): number => attempts.get(key) ?? 0;

/** Connects `c` with one call, so that timings measured next do not include connecting. */
async function warmUp(c: Client): Promise<void> {
  const { outcome } = await unary(c, '/edge.E/Echo', {});
  if (outcome !== 'OK') throw new Error(`warm-up call: ${outcome}`);
}

// --- deadlines ------------------------------------------------------------------------

test('a call deadline while waiting for a connection', async (t) => {
  // Nothing listens: wait-for-ready calls wait in the picker until their deadline.
  const c = client(t, {}, `127.0.0.1:${await deadPort()}`);
  const { observed, expected } = await observeAll(
    {
      '0': 'DEADLINE_EXCEEDED',
      '-1': 'DEADLINE_EXCEEDED',
      '1': 'DEADLINE_EXCEEDED',
      '2^31-1': 'pending',
      // Past Node's timer limit: grpc-js sets no timer (infinite); h2grpc waits the
      // real time. Both were "fails after 1 ms" in h2grpc before.
      '2^31': 'pending',
      '1e300': 'pending',
      Infinity: 'pending',
      // Not a time: h2grpc treats it as no deadline; grpc-js computes a NaN delay,
      // which Node fires after 1 ms.
      NaN: { h2grpc: 'pending', grpcJs: 'DEADLINE_EXCEEDED' },
      // Channel#createCall: deadline must be a number or Date.
      "'abc'": 'throws TypeError',
      undefined: 'pending',
    },
    async (value) =>
      (await unary(c, '/edge.E/Echo', { deadline: deadlineFrom(value) }, {}, 300, true)).outcome,
  );
  t.deepEqual(observed, expected);
});

/**
 * A raw HTTP/2 server that answers every call OK at once, whatever its grpc-timeout
 * (the grpc-js server turns one past 2³¹−1 ms into a 1 ms timer), and reports the
 * grpc-timeout it got by the call's `x-key`.
 */
async function timeoutRecorder(t: { teardown(fn: () => void): void }): Promise<{
  port: number;
  timeouts: Map<string, string>;
}> {
  const timeouts = new Map<string, string>();
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    timeouts.set(String(headers['x-key']), String(headers['grpc-timeout'] ?? 'none'));
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
    // One empty message.
    stream.end(Buffer.alloc(5));
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  t.teardown(() => h2.close());
  return { port: (h2.address() as { port: number }).port, timeouts };
}

test('a call deadline on a ready connection', async (t) => {
  const recorder = await timeoutRecorder(t);
  const c = client(t, {}, `127.0.0.1:${recorder.port}`);
  t.is((await unary(c, '/edge.E/Echo', {})).outcome, 'OK');
  const tooFar =
    'skip: grpc-js throws "Deadline is too far in the future" inside a promise callback (an unhandled rejection)';
  const { observed, expected } = await observeAll(
    {
      '0': 'DEADLINE_EXCEEDED, not sent',
      '-1': 'DEADLINE_EXCEEDED, not sent',
      '1': 'skip: 1 ms may or may not be enough for the call',
      '2^31-1': 'OK, grpc-timeout 2147484S',
      '2^31': 'OK, grpc-timeout 2147484S',
      // h2grpc's binding used to panic converting it (the call ended INTERNAL); the
      // native deadline is now capped at a century.
      '1e300': { h2grpc: 'OK, grpc-timeout 52560000M', grpcJs: tooFar },
      Infinity: 'OK, grpc-timeout none',
      NaN: { h2grpc: 'OK, grpc-timeout none', grpcJs: tooFar },
      "'abc'": 'throws TypeError, not sent',
      undefined: 'OK, grpc-timeout none',
    },
    async (value) => {
      const { outcome, key } = await unary(c, '/edge.E/Echo', { deadline: deadlineFrom(value) });
      const sent = recorder.timeouts.get(key);
      return sent === undefined ? `${outcome}, not sent` : `${outcome}, grpc-timeout ${sent}`;
    },
  );
  t.deepEqual(observed, expected);
});

test('watchConnectivityState deadline', async (t) => {
  // An idle channel that nothing asks to connect: only the deadline can end the watch.
  const c = client(t, {});
  const channel = c.getChannel();
  const { observed, expected } = await observeAll(
    {
      '0': 'error',
      '-1': 'error',
      '1': 'error',
      '2^31-1': 'pending',
      // grpc-js hands these to setTimeout as they are: the watch fails after 1 ms.
      '2^31': { h2grpc: 'pending', grpcJs: 'error' },
      '1e300': { h2grpc: 'pending', grpcJs: 'error' },
      Infinity: 'pending',
      NaN: { h2grpc: 'pending', grpcJs: 'error' },
      "'abc'": { h2grpc: 'pending', grpcJs: 'error' },
      undefined: { h2grpc: 'pending', grpcJs: 'error' },
    },
    (value) =>
      new Promise<string>((resolve) => {
        channel.watchConnectivityState(
          grpc.connectivityState.IDLE,
          deadlineFrom(value) as number,
          (err) => resolve(err ? 'error' : 'changed'),
        );
        setTimeout(() => resolve('pending'), 300);
      }),
  );
  t.deepEqual(observed, expected);
  t.is(channel.getConnectivityState(false), grpc.connectivityState.IDLE);
});

// --- channel options ------------------------------------------------------------------

test('grpc.client_idle_timeout_ms', async (t) => {
  // The state 300 ms and 1600 ms after a call: grpc-js idles after at least 1 s.
  const { observed, expected } = await observeAll(
    {
      // h2grpc used to go idle at once (a new connection for every call).
      '0': 'READY,IDLE',
      '-1': 'READY,IDLE',
      '1': 'READY,IDLE',
      '2^31-1': 'READY,READY',
      // grpc-js's idle timer fires every 1 ms here (Node's limit), never idling.
      '2^31': 'READY,READY',
      '1e300': 'READY,READY',
      Infinity: 'READY,READY',
      NaN: 'READY,READY',
      "'abc'": 'READY,READY',
      undefined: 'READY,READY',
    },
    async (value) => {
      const c = client(t, { 'grpc.client_idle_timeout_ms': value });
      const { outcome } = await unary(c, '/edge.E/Echo', {});
      if (outcome !== 'OK') return outcome;
      const channel = c.getChannel();
      await sleep(300);
      const early = grpc.connectivityState[channel.getConnectivityState(false)];
      await sleep(1300);
      return `${early},${grpc.connectivityState[channel.getConnectivityState(false)]}`;
    },
  );
  t.deepEqual(observed, expected);
});

test('grpc.initial_reconnect_backoff_ms and grpc.max_reconnect_backoff_ms', async (t) => {
  // Both set to the value; a server that closes every connection at once; how
  // many connection attempts a wait-for-ready call causes in 1.5 s.
  const { observed, expected } = await observeAll(
    {
      // 0 means the default (1 s) in both: grpc-js tests the option for truth.
      '0': '2',
      // grpc-js hands -1, Infinity and strings to setTimeout (1 ms: many
      // attempts, and for -1, 1e300, Infinity and strings unhandled "RangeError:
      // Invalid time value"s from its re-resolution's date). h2grpc takes
      // them as unset (1 s).
      '-1': { h2grpc: '2', grpcJs: 'skip: unhandled RangeErrors' },
      '1': 'many',
      '2^31-1': '1',
      // h2grpc waits the real time; grpc-js's timers overflow (1 ms).
      '2^31': { h2grpc: '1', grpcJs: 'skip: 2 to 4 attempts, by timing' },
      '1e300': { h2grpc: '1', grpcJs: 'skip: unhandled RangeErrors' },
      Infinity: { h2grpc: '2', grpcJs: 'skip: unhandled RangeErrors' },
      NaN: '2',
      "'abc'": { h2grpc: '2', grpcJs: 'skip: unhandled RangeErrors' },
      undefined: '2',
    },
    async (value) => {
      const closer = net.createServer((s) => {
        accepted++;
        s.destroy();
      });
      let accepted = 0;
      await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', resolve));
      t.teardown(() => closer.close());
      const c = client(
        t,
        { 'grpc.initial_reconnect_backoff_ms': value, 'grpc.max_reconnect_backoff_ms': value },
        `127.0.0.1:${(closer.address() as net.AddressInfo).port}`,
      );
      await unary(c, '/edge.E/Echo', {}, {}, 1500, true);
      return accepted > 5 ? 'many' : String(accepted);
    },
  );
  t.deepEqual(observed, expected);
});

for (const option of ['grpc.keepalive_time_ms', 'grpc.keepalive_timeout_ms']) {
  test(option, async (t) => {
    // A huge value made h2grpc's connect throw (the attempt failed, calls UNAVAILABLE).
    const { observed, expected } = await observeAll(
      Object.fromEntries(EDGES.map(([label]) => [label, 'OK'])),
      async (value) => (await unary(client(t, { [option]: value }), '/edge.E/Echo', {})).outcome,
    );
    t.deepEqual(observed, expected);
  });
}

test('grpc.keepalive_timeout_ms with keepalive pings running', async (t) => {
  // Pings every 50 ms during a 300 ms call: the timeout only has to outlast an ACK.
  const racy = 'skip: grpc-js waits 1 ms for the ACK (Node clamps the delay); loopback may beat it';
  // grpc-js takes the option when its key is present (`in`), whatever its value.
  const racyUndefined = 'skip: grpc-js hands undefined to setTimeout: a 1 ms wait for the ACK';
  const { observed, expected } = await observeAll(
    {
      '0': 'skip: no time for an ACK (racy on both)',
      '-1': { h2grpc: 'OK', grpcJs: racy },
      '1': 'skip: 1 ms for an ACK (racy on both)',
      '2^31-1': 'OK',
      '2^31': { h2grpc: 'OK', grpcJs: racy },
      '1e300': { h2grpc: 'OK', grpcJs: racy },
      Infinity: { h2grpc: 'OK', grpcJs: racy },
      NaN: { h2grpc: 'OK', grpcJs: racy },
      "'abc'": { h2grpc: 'OK', grpcJs: racy },
      undefined: { h2grpc: 'OK', grpcJs: racyUndefined },
    },
    async (value) => {
      const c = client(t, {
        'grpc.keepalive_time_ms': 50,
        'grpc.keepalive_timeout_ms': value,
        'grpc.keepalive_permit_without_calls': 1,
      });
      return (await unary(c, '/edge.E/Echo', {}, { 'x-sleep-ms': '300' })).outcome;
    },
  );
  t.deepEqual(observed, expected);
});

// --- server-sent and service-config delays --------------------------------------------

const RETRY_CONFIG = JSON.stringify({
  methodConfig: [
    {
      name: [{ service: 'edge.E' }],
      retryPolicy: {
        maxAttempts: 2,
        initialBackoff: '0.01s',
        maxBackoff: '0.01s',
        backoffMultiplier: 1,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
});

test('grpc-retry-pushback-ms', async (t) => {
  // The server's pushback, as text; no deadline. `after N`: attempts the server saw.
  // gRFC A6: anything but a non-negative integer means "do not retry"; grpc-js
  // parseInt()s it ("1e+300" → 1) and hands NaN to setTimeout (1 ms).
  const { observed, expected } = await observeAll(
    {
      '0': 'OK after 2',
      '-1': 'UNAVAILABLE after 1',
      '1': 'OK after 2',
      '2^31-1': 'pending after 1',
      // grpc-js (and h2grpc before) retried after 1 ms: Node's timer limit.
      '2^31': { h2grpc: 'pending after 1', grpcJs: 'OK after 2' },
      '1e300': { h2grpc: 'UNAVAILABLE after 1', grpcJs: 'OK after 2' },
      Infinity: { h2grpc: 'UNAVAILABLE after 1', grpcJs: 'OK after 2' },
      NaN: { h2grpc: 'UNAVAILABLE after 1', grpcJs: 'OK after 2' },
      "'abc'": { h2grpc: 'UNAVAILABLE after 1', grpcJs: 'OK after 2' },
      undefined: 'OK after 2',
    },
    async (value) => {
      const c = client(t, { 'grpc.service_config': RETRY_CONFIG });
      await warmUp(c);
      const pushback: Record<string, string> =
        value === undefined ? {} : { 'x-pushback': String(value) };
      const { outcome, key } = await unary(c, '/edge.E/Fail', {}, pushback, 2000);
      return `${outcome} after ${tries(key)}`;
    },
  );
  t.deepEqual(observed, expected);
});

/** A hedging delay of `ms` milliseconds as a service config duration string. */
function hedgingDelay(value: unknown): string | undefined {
  if (typeof value !== 'number') return value as string | undefined;
  if (!Number.isFinite(value)) return `${value}s`;
  if (value < 0) return `-${(-value / 1000).toFixed(3)}s`;
  // Written out digit by digit: 1e300 ms is a 1 followed by 297 zeros, in seconds.
  const seconds = BigInt(Math.trunc(value / 1000)).toString();
  return `${seconds}.${String(value % 1000).padStart(3, '0')}s`;
}

test('hedgingDelay', async (t) => {
  // Three hedged attempts, each held 1 s by the server: whether more than the first
  // started within 500 ms (then the call's outcome), or `throws` when the config is
  // rejected.
  const { observed, expected } = await observeAll(
    {
      '0': 'hedged, OK',
      '-1': 'throws',
      '1': 'hedged, OK',
      '2^31-1': 'first only, OK',
      // grpc-js (and h2grpc before) hedged after 1 ms: Node's timer limit.
      '2^31': { h2grpc: 'first only, OK', grpcJs: 'hedged, OK' },
      // 1e300 ms is past protobuf's Duration range (315576000000 s), which h2grpc
      // rejects; grpc-js takes it and hedges after 1 ms.
      '1e300': { h2grpc: 'throws', grpcJs: 'hedged, OK' },
      Infinity: 'throws',
      NaN: 'throws',
      "'abc'": 'throws',
      undefined: 'hedged, OK',
    },
    async (value) => {
      const delay = hedgingDelay(value);
      const config = JSON.stringify({
        methodConfig: [
          {
            name: [{ service: 'edge.E' }],
            hedgingPolicy: {
              maxAttempts: 3,
              ...(delay === undefined ? {} : { hedgingDelay: delay }),
              nonFatalStatusCodes: ['UNAVAILABLE'],
            },
          },
        ],
      });
      let c: Client;
      try {
        c = client(t, { 'grpc.service_config': config });
      } catch {
        return 'throws';
      }
      await warmUp(c);
      const call = startUnary(c, '/edge.E/Echo', {}, { 'x-sleep-ms': '1000' }, false);
      await sleep(500);
      const started = tries(call.key) > 1 ? 'hedged' : 'first only';
      return `${started}, ${await call.status}`;
    },
  );
  t.deepEqual(observed, expected);
});

// --- timers that must not outlive their call --------------------------------------------

/**
 * Runs retry-timer-child.ts: its call waits on a 30 s pushback when it ends (cancelled
 * or at its deadline). The outcome is the call's status, and whether the process then
 * exits by itself within 5 s.
 */
async function childOutcome(
  t: { teardown(fn: () => void): void },
  policy: string,
  end: string,
): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(__dirname, 'helpers', 'retry-timer-child.ts'),
      policy,
      end,
      String(port),
    ],
    {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const result = new Promise<string>((resolve) =>
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('RESULT ')) resolve(line);
    }),
  );
  const line = await Promise.race([result, sleep(20_000).then(() => 'no result within 20 s')]);
  const [, name, ms] = line.split(' ');
  let status = line;
  if (line.startsWith('RESULT ')) status = Number(ms) < 5000 ? name : `${name} after ${ms} ms`;
  const gone = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  return `${status}, ${gone ? 'exits' : 'stays alive'}`;
}

test('a pending retry or hedging pushback timer does not outlive its call', async (t) => {
  t.timeout(60_000);
  const cases: Record<string, Expected> = {
    'retry cancel': 'CANCELLED, exits',
    'retry deadline': 'DEADLINE_EXCEEDED, exits',
    // grpc-js does not keep the hedging pushback timer: it runs on after the call.
    'hedging cancel': { h2grpc: 'CANCELLED, exits', grpcJs: 'CANCELLED, stays alive' },
    'hedging deadline': {
      h2grpc: 'DEADLINE_EXCEEDED, exits',
      grpcJs: 'DEADLINE_EXCEEDED, stays alive',
    },
  };
  const observed: Record<string, string> = {};
  await Promise.all(
    Object.keys(cases).map(async (name) => {
      const [policy, end] = name.split(' ');
      observed[name] = await childOutcome(t, policy, end);
    }),
  );
  t.deepEqual(observed, expectedFor(cases));
});
