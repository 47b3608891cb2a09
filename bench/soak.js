'use strict';
// `npm run soak`: a long mixed load on one channel against grpc-go's benchmark
// server, which is killed and restarted now and then. The load is what real
// clients do all the time: unary calls, fast server streams the client
// cancels after a few messages, streams that run into their deadline while
// messages flow, and bidi ping-pong streams that are half-closed or
// cancelled. Every call has an expected end (OK, CANCELLED after our cancel,
// DEADLINE_EXCEEDED for the deadline streams, or CANCELLED when the server's
// own deadline reset the stream first, counted apart); any other end is an
// error. Errors from a short window around a server restart (from the kill to
// a grace period after the server listens again) are explained by it; any
// other error fails the run.
//
//   npm run soak [-- options]
//     --minutes N            how long to run (default 1)
//     --client h2grpc|grpc-js  the client under test (default h2grpc)
//     --restart-every S      kill (SIGKILL) and restart the server every S seconds
//                            (default 20; 0: never)
//     --down-ms MS           how long the server stays down (default 300)
//     --grace-ms MS          errors up to this long after the server is back are
//                            explained by the restart (default 3000: reconnect backoff)
//     --report-every S       progress line interval (default 10)
//     --unary-rate R --cancel-rate R --deadline-rate R --bidi-rate R
//                            calls started per second of each kind
//                            (defaults 800, 250, 25, 60)
//     --target host:port     a running server instead (never restarted)
//     --h2grpc path          another h2grpc build's dist/index.js
//     --json path            also write the summary there
//
// Every report: RSS, JS heap, external memory, active handles, calls done
// by kind, errors by code (explained by a restart / not). Exits 1 on any
// unexplained error.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { spawnTracked, stop, freePort, waitForPort, installCleanup } = require('./procs');
const { ROOT, PROTO_DIR, PROTO_FILE, sleep } = require('./util');

const BIN = path.join(ROOT, 'bench', '.bin');
const MB = 1024 * 1024;

function parseCli(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z][\w-]*)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    if (m[2] !== undefined) out[m[1]] = m[2];
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[m[1]] = argv[++i];
    else out[m[1]] = true;
  }
  return out;
}

const args = parseCli(process.argv.slice(2));
const num = (name, dflt) => {
  const v = args[name] === undefined ? dflt : Number(args[name]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number >= 0`);
  return v;
};
const opts = {
  minutes: num('minutes', 1),
  client: args.client ?? 'h2grpc',
  restartEverySec: num('restart-every', 20),
  downMs: num('down-ms', 300),
  graceMs: num('grace-ms', 3000),
  reportEverySec: num('report-every', 10),
  rates: {
    unary: num('unary-rate', 800),
    cancel: num('cancel-rate', 250),
    deadline: num('deadline-rate', 25),
    bidi: num('bidi-rate', 60),
  },
  target: args.target,
  h2grpcEntry: args.h2grpc ?? path.join(ROOT, 'dist', 'index.js'),
  json: args.json,
};
if (!['h2grpc', 'grpc-js'].includes(opts.client)) {
  throw new Error(`--client must be h2grpc or grpc-js, got ${opts.client}`);
}

const grpc =
  opts.client === 'grpc-js' ? require('@grpc/grpc-js') : require(path.resolve(opts.h2grpcEntry));
const protoLoader = require('@grpc/proto-loader');
const { status } = grpc;
const CODE_NAMES = Object.fromEntries(Object.entries(status).map(([k, v]) => [v, k]));

const BenchmarkService = grpc.loadPackageDefinition(
  protoLoader.loadSync(PROTO_FILE, {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  }),
).grpc.testing.BenchmarkService;

function log(line) {
  process.stdout.write(`${line}\n`);
}

// ---------------------------------------------------------------------------
// The server: grpc-go's benchmark server under benchgo (dies with us), on one
// port for the whole run so the channel reconnects to the same target.
// ---------------------------------------------------------------------------

class Server {
  constructor(port) {
    this.port = port;
    this.child = null;
    this.testName = `h2grpc-soak-server-${process.pid}`;
  }

  async start() {
    this.child = spawnTracked(path.join(BIN, 'benchgo'), [
      'exec',
      '--',
      path.join(BIN, 'server'),
      `-port=${this.port}`,
      `-test_name=${this.testName}`,
    ]);
    let out = '';
    const keep = (d) => (out = (out + d).slice(-4000));
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    const child = this.child;
    const dead = () => child.exitCode !== null || child.signalCode !== null;
    await waitForPort('127.0.0.1', this.port, 10_000, dead).catch((e) => {
      throw new Error(`grpc-go benchmark server: ${e.message}\n${out}`);
    });
  }

  async kill() {
    if (this.child) await stop(this.child, 'SIGKILL');
    this.child = null;
  }

  async stop() {
    if (this.child) await stop(this.child, 'SIGINT');
    this.child = null;
    for (const ext of ['cpu', 'mem']) fs.rmSync(`/tmp/${this.testName}.${ext}`, { force: true });
  }
}

function ensureGoBench() {
  if (fs.existsSync(path.join(BIN, 'server')) && fs.existsSync(path.join(BIN, 'benchgo'))) return;
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'ensure-go-bench.sh')], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('scripts/ensure-go-bench.sh failed');
}

// ---------------------------------------------------------------------------
// Outcomes.
// ---------------------------------------------------------------------------

const KINDS = ['unary', 'cancel', 'deadline', 'bidi'];
const stats = {
  started: Object.fromEntries(KINDS.map((k) => [k, 0])),
  done: Object.fromEntries(KINDS.map((k) => [k, 0])),
  skipped: Object.fromEntries(KINDS.map((k) => [k, 0])),
  inFlight: Object.fromEntries(KINDS.map((k) => [k, 0])),
  /** Unexpected ends: { t (ms since start), kind, code, details }. */
  errors: [],
  /** Deadline calls the server's own deadline reset first (see CALLS.deadline). */
  serverDeadlineFirst: 0,
  /** Restarts: { killAt, readyAt } in ms since start. */
  restarts: [],
  reports: [],
};
const t0 = performance.now();
const now = () => performance.now() - t0;

function explained(e) {
  return stats.restarts.some(
    (r) => e.t >= r.killAt - 100 && e.t <= (r.readyAt ?? Infinity) + opts.graceMs,
  );
}

/** Records how a call ended; `expected` is the code it should end with. */
function settle(kind, code, details, expected) {
  stats.inFlight[kind]--;
  stats.done[kind]++;
  if (code !== expected) stats.errors.push({ t: now(), kind, code, details });
}

function errorsByCode(errors) {
  const out = {};
  for (const e of errors) {
    const name = CODE_NAMES[e.code] ?? String(e.code);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The calls.
// ---------------------------------------------------------------------------

const CALL_DEADLINE_MS = 10_000;
const rand = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const deadlineIn = (ms) => new Date(Date.now() + ms);
const request = (respSize) => ({
  response_type: 'COMPRESSABLE',
  response_size: respSize,
  payload: { type: 'COMPRESSABLE', body: Buffer.alloc(32) },
});

/** Ends a stream call once, from its `status` event (its `error` is handled). */
function onEnd(call, fn) {
  let ended = false;
  call.on('error', () => {});
  call.on('status', (s) => {
    if (ended) return;
    ended = true;
    fn(s);
  });
}

const CALLS = {
  unary(client) {
    client.UnaryCall(request(64), { deadline: deadlineIn(CALL_DEADLINE_MS) }, (err) => {
      settle('unary', err ? err.code : status.OK, err?.details, status.OK);
    });
  },

  /**
   * A fast server stream cancelled after a few messages: 64 requests at
   * once, each answered with up to 16 KiB, so the server writes as fast as
   * flow control lets it and has DATA in flight when the cancel goes out.
   * (grpc-go's benchmark server has no StreamingFromServer, and its
   * `unconstrained-streaming` mode exits the whole server when a stream ends
   * any other way than CANCELLED, as grpc-js's cancel, which half-closes
   * first, does.)
   */
  cancel(client) {
    const call = client.StreamingCall({ deadline: deadlineIn(CALL_DEADLINE_MS) });
    const req = request(pick([1024, 4096, 16384]));
    for (let i = 0; i < 64; i++) call.write(req);
    const stopAfter = rand(1, 20);
    let n = 0;
    call.on('data', () => {
      if (++n === stopAfter) call.cancel();
    });
    onEnd(call, (s) => settle('cancel', s.code, s.details, status.CANCELLED));
  },

  /**
   * Ping-pong with 4 KiB answers until the deadline cuts it off mid-flow.
   * The server runs the same deadline (grpc-timeout) and may reset the stream
   * (RST_STREAM CANCEL) a moment before the client's timer fires: grpc-go's
   * client and h2grpc report that as DEADLINE_EXCEEDED, grpc-js as
   * CANCELLED. For grpc-js such ends are counted apart, not as errors.
   */
  deadline(client) {
    const deadline = Date.now() + rand(20, 80);
    const call = client.StreamingCall({ deadline: new Date(deadline) });
    call.on('data', () => call.write(request(4096)));
    call.write(request(4096));
    onEnd(call, (s) => {
      if (opts.client === 'grpc-js' && s.code === status.CANCELLED && Date.now() >= deadline) {
        stats.serverDeadlineFirst++;
        settle('deadline', s.code, s.details, s.code);
      } else {
        settle('deadline', s.code, s.details, status.DEADLINE_EXCEEDED);
      }
    });
  },

  /** Ping-pong, then half-close (3 in 4) or cancel. */
  bidi(client) {
    const call = client.StreamingCall({ deadline: deadlineIn(CALL_DEADLINE_MS) });
    const rounds = rand(1, 10);
    const cancel = Math.random() < 0.25;
    let n = 0;
    call.on('data', () => {
      if (++n < rounds) call.write(request(128));
      else if (cancel) call.cancel();
      else call.end();
    });
    call.write(request(128));
    onEnd(call, (s) => settle('bidi', s.code, s.details, cancel ? status.CANCELLED : status.OK));
  },
};

/**
 * Starts calls of each kind at its rate (open loop), at most `cap` of a kind
 * in flight (a client that falls behind skips, and the report says so).
 */
function startLoad(client) {
  const cap = { unary: 256, cancel: 256, deadline: 64, bidi: 128 };
  const begin = performance.now();
  const due = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const timer = setInterval(() => {
    const elapsed = (performance.now() - begin) / 1000;
    for (const kind of KINDS) {
      const target = Math.floor(elapsed * opts.rates[kind]);
      while (due[kind] < target) {
        due[kind]++;
        if (stats.inFlight[kind] >= cap[kind]) {
          stats.skipped[kind]++;
          continue;
        }
        stats.started[kind]++;
        stats.inFlight[kind]++;
        CALLS[kind](client);
      }
    }
  }, 10);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------
// Reports.
// ---------------------------------------------------------------------------

function activeHandles() {
  // Handles (sockets, timers with handles, child processes): grpc-js's sockets
  // show here; h2grpc's live in its native thread and do not.
  return typeof process._getActiveHandles === 'function'
    ? process._getActiveHandles().length
    : process.getActiveResourcesInfo().length;
}

let lastDone = { ...stats.done };
function report(final = false) {
  const m = process.memoryUsage();
  const t = now();
  const explainedErrors = stats.errors.filter(explained);
  const unexplained = stats.errors.filter((e) => !explained(e));
  const r = {
    t: Math.round(t / 1000),
    rssMB: +(m.rss / MB).toFixed(1),
    heapUsedMB: +(m.heapUsed / MB).toFixed(1),
    heapTotalMB: +(m.heapTotal / MB).toFixed(1),
    externalMB: +(m.external / MB).toFixed(1),
    arrayBuffersMB: +(m.arrayBuffers / MB).toFixed(1),
    handles: activeHandles(),
    done: { ...stats.done },
    inFlight: { ...stats.inFlight },
    errors: errorsByCode(explainedErrors),
    unexplained: errorsByCode(unexplained),
    restarts: stats.restarts.length,
  };
  if (opts.client === 'h2grpc' && typeof grpc.nativeStats === 'function') {
    r.nativeActiveStreams = grpc.nativeStats().activeStreams;
  }
  stats.reports.push(r);
  const rates = Object.fromEntries(
    KINDS.map((k) => [k, Math.round((stats.done[k] - lastDone[k]) / opts.reportEverySec)]),
  );
  lastDone = { ...stats.done };
  const fmt = (o) =>
    Object.entries(o)
      .map(([k, v]) => `${k}×${v}`)
      .join(' ') || '-';
  log(
    `[${String(r.t).padStart(4)}s] rss ${r.rssMB} MB, heap ${r.heapUsedMB}/${r.heapTotalMB} MB, ` +
      `external ${r.externalMB} MB, handles ${r.handles}` +
      (r.nativeActiveStreams !== undefined ? `, native streams ${r.nativeActiveStreams}` : '') +
      (final
        ? ''
        : ` | per s: unary ${rates.unary}, cancelled ${rates.cancel}, ` +
          `deadline ${rates.deadline}, bidi ${rates.bidi}`) +
      ` | errors explained by ${r.restarts} restart(s): ${fmt(r.errors)}; unexplained: ${fmt(r.unexplained)}`,
  );
}

// ---------------------------------------------------------------------------
// Main.
// ---------------------------------------------------------------------------

async function main() {
  installCleanup();
  let server;
  let target = opts.target;
  if (!target) {
    ensureGoBench();
    server = new Server(await freePort());
    await server.start();
    target = `127.0.0.1:${server.port}`;
  }
  log(
    `soak: ${opts.client} against ${server ? 'grpc-go benchmark server' : 'external server'} at ${target}, ` +
      `${opts.minutes} min, restarts every ${server && opts.restartEverySec ? `${opts.restartEverySec} s` : '(never)'}, ` +
      `rates/s: ${KINDS.map((k) => `${k} ${opts.rates[k]}`).join(', ')}`,
  );
  const client = new BenchmarkService(target, grpc.credentials.createInsecure());
  const stopLoad = startLoad(client);
  const reporter = setInterval(report, opts.reportEverySec * 1000);
  const endAt = opts.minutes * 60_000;

  // Restarts, until the end.
  let restartFailed;
  if (server && opts.restartEverySec > 0) {
    (async () => {
      let next = opts.restartEverySec * 1000;
      while (next + opts.downMs < endAt - 1000) {
        await sleep(next - now());
        const r = { killAt: now(), readyAt: undefined };
        stats.restarts.push(r);
        await server.kill();
        await sleep(opts.downMs);
        await server.start();
        r.readyAt = now();
        log(`[${String(Math.round(r.killAt / 1000)).padStart(4)}s] server killed and restarted`);
        next += opts.restartEverySec * 1000;
      }
    })().catch((e) => (restartFailed = e));
  }

  await sleep(endAt - now());
  stopLoad();
  clearInterval(reporter);
  // Calls still running end within their deadline.
  const settleBy = now() + CALL_DEADLINE_MS + 2000;
  while (KINDS.some((k) => stats.inFlight[k] > 0) && now() < settleBy) await sleep(50);
  const hung = { ...stats.inFlight };
  report(true);
  client.close();
  await server?.stop();

  const unexplained = stats.errors.filter((e) => !explained(e));
  const steady = stats.reports.slice(1); // after the first interval's warm-up
  const range = (key) => {
    const xs = steady.map((r) => r[key]);
    return xs.length ? [Math.min(...xs), Math.max(...xs)] : undefined;
  };
  const summary = {
    client: opts.client,
    minutes: opts.minutes,
    restarts: stats.restarts.length,
    started: stats.started,
    done: stats.done,
    skipped: stats.skipped,
    neverEnded: hung,
    rssMB: range('rssMB'),
    heapUsedMB: range('heapUsedMB'),
    externalMB: range('externalMB'),
    deadlineResetByServerFirst: stats.serverDeadlineFirst,
    explainedErrors: errorsByCode(stats.errors.filter(explained)),
    unexplainedErrors: errorsByCode(unexplained),
    firstUnexplained: unexplained.slice(0, 10).map((e) => ({
      t: +(e.t / 1000).toFixed(3),
      kind: e.kind,
      code: CODE_NAMES[e.code] ?? e.code,
      details: e.details,
    })),
  };
  log(`@@soak ${JSON.stringify(summary)}`);
  if (opts.json)
    fs.writeFileSync(
      opts.json,
      `${JSON.stringify({ summary, reports: stats.reports }, null, 2)}\n`,
    );

  const problems = [];
  if (restartFailed) problems.push(`restarting the server failed: ${restartFailed.message}`);
  if (unexplained.length > 0) {
    problems.push(`${unexplained.length} error(s) not explained by a server restart`);
  }
  for (const k of KINDS) {
    if (opts.rates[k] > 0 && stats.done[k] === 0) problems.push(`no ${k} call finished`);
    if (hung[k] > 0) problems.push(`${hung[k]} ${k} call(s) never ended`);
  }
  if (problems.length > 0) {
    log(`soak: FAILED: ${problems.join('; ')}`);
    for (const e of summary.firstUnexplained) log(`  ${JSON.stringify(e)}`);
    process.exit(1);
  }
  log('soak: OK');
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`soak: ${e.stack ?? e}\n`);
  process.exit(1);
});
