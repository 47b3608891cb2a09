'use strict';
// `npm run bench`: h2grpc vs @grpc/grpc-js vs grpc-go, side by side, in one run.
//
//   npm run bench [-- options]
//     --quick                 short run (< 3 min): fewer repetitions, 1 s windows
//     --write-docs            also write docs/benchmarks.md and docs/benchmarks.svg (full run only)
//     --server=go|grpc-js     the server to start (default go: grpc-go's benchmark server)
//     --target=host:port      use a running server instead of starting one
//     --clients=a,b           subset of grpc-js,h2grpc,grpc-go
//     --scenarios=a,b         subset of the scenario ids (bench/config.js)
//     --reps=N --warmup=S --duration=S   override the profile
//     --stream-method=unconstrained|from-server   how scenario 5 streams
//     --json=path             where to write the results (default bench/results/latest.json)
//     --h2grpc=path           another h2grpc build: its package dir or its dist/index.js
//     --from-json=path        measure nothing: print (and with --write-docs write) a saved run
//     --quiet                 shared machine: wait until other processes are idle before each
//                             measurement (≤ 60 s each, ≤ 4 min in all), measure again once
//                             if they disturbed it anyway
//
// One measurement at a time: the server runs in its own process, every
// measurement in a fresh client process, the clients alternate so that drift
// hits them alike. Markdown table on stdout, progress on stderr.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { SCENARIOS, PROFILES, CLIENTS } = require('./config');
const { BenchServer } = require('./servers');
const { runGo, supports: goSupports, BIN } = require('./go-client');
const { forkTracked, collect, installCleanup } = require('./procs');
const report = require('./report');
const { othersWindow } = require('./cpu');
const { ratioChart } = require('./svg');
const { parseArgs, sleep, ROOT, PROTO_DIR, PROTO_FILE } = require('./util');

const DEFAULT_H2GRPC_ENTRY = path.join(ROOT, 'dist', 'index.js');
const NODE_CLIENT = path.join(__dirname, 'clients', 'node-client.js');

function log(s) {
  process.stderr.write(`${s}\n`);
}

function options() {
  const a = parseArgs(process.argv.slice(2));
  const profileName = a.quick ? 'quick' : 'full';
  const profile = { ...PROFILES[profileName], name: profileName };
  if (a.reps) profile.reps = Number(a.reps);
  if (a.warmup) profile.warmupSec = Number(a.warmup);
  if (a.duration) profile.durationSec = Number(a.duration);
  for (const k of ['warmupSec', 'durationSec']) {
    // grpc-go's benchmark client takes whole seconds
    if (!Number.isInteger(profile[k]) || profile[k] < 1) {
      throw new Error(`--warmup/--duration must be whole seconds ≥ 1`);
    }
  }
  const clients = a.clients ? String(a.clients).split(',') : CLIENTS;
  for (const c of clients) if (!CLIENTS.includes(c)) throw new Error(`unknown client ${c}`);
  let scenarios = SCENARIOS;
  if (a.scenarios) {
    const ids = String(a.scenarios).split(',');
    for (const id of ids) {
      if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`unknown scenario ${id}`);
    }
    scenarios = SCENARIOS.filter((s) => ids.includes(s.id));
  }
  const serverKind = a.target ? 'external' : (a.server ?? 'go');
  let h2grpcEntry = DEFAULT_H2GRPC_ENTRY;
  if (a.h2grpc) {
    h2grpcEntry = path.resolve(String(a.h2grpc));
    if (fs.existsSync(h2grpcEntry) && fs.statSync(h2grpcEntry).isDirectory()) {
      h2grpcEntry = path.join(h2grpcEntry, 'dist', 'index.js');
    }
  }
  const partial =
    a.quick || a.clients || a.scenarios || a.reps || a.warmup || a.duration || a.target;
  if (a['write-docs'] && partial && !a['from-json']) {
    throw new Error(
      '--write-docs needs the full run: no --quick, --clients, --scenarios, --reps, --warmup, --duration or --target',
    );
  }
  return {
    profile,
    clients,
    scenarios,
    serverKind,
    target: a.target,
    streamMethod: a['stream-method'],
    writeDocs: Boolean(a['write-docs']),
    partial: Boolean(partial),
    quiet: Boolean(a.quiet),
    fromJson: a['from-json'] ? path.resolve(String(a['from-json'])) : undefined,
    h2grpcEntry,
    jsonPath: path.resolve(a.json ?? path.join(ROOT, 'bench', 'results', 'latest.json')),
  };
}

// ------------------------------------------------------------------ prerequisites

function ensurePrerequisites(opts) {
  if (!fs.existsSync(path.join(PROTO_DIR, PROTO_FILE))) {
    log(`bench: ${PROTO_DIR}/${PROTO_FILE} is missing; running scripts/ensure-system-deps.sh`);
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'ensure-system-deps.sh')], {
      stdio: 'inherit',
    });
    if (r.status !== 0 || !fs.existsSync(path.join(PROTO_DIR, PROTO_FILE))) {
      throw new Error('the grpc-proto package is needed (bash scripts/ensure-system-deps.sh)');
    }
  }
  if (opts.clients.includes('h2grpc') && !fs.existsSync(opts.h2grpcEntry)) {
    throw new Error(`h2grpc is not built: ${opts.h2grpcEntry} is missing (npm run build)`);
  }
  const needGo = opts.serverKind === 'go' || opts.clients.includes('grpc-go');
  if (needGo) {
    const missing = ['server', 'client', 'benchgo'].filter(
      (b) => !fs.existsSync(path.join(BIN, b)),
    );
    const goDir = path.join(__dirname, 'go');
    const benchgo = path.join(BIN, 'benchgo');
    const stale =
      fs.existsSync(benchgo) &&
      fs
        .readdirSync(goDir)
        .some((f) => fs.statSync(path.join(goDir, f)).mtimeMs > fs.statSync(benchgo).mtimeMs);
    if (missing.length || stale) {
      log(`bench: building the Go programs (${missing.join(', ') || 'benchgo is stale'})`);
      const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'ensure-go-bench.sh')], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      if (r.status !== 0) throw new Error('scripts/ensure-go-bench.sh failed');
    }
  }
}

function safe(fn, fallback = 'unknown') {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function machineMeta(opts, server, streamMethod) {
  const cpuinfo = safe(() => fs.readFileSync('/proc/cpuinfo', 'utf8'), '');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const h2grpcRoot = path.dirname(path.dirname(opts.h2grpcEntry));
  const git = (...a) => execFileSync('git', a, { cwd: h2grpcRoot, encoding: 'utf8' }).trim();
  const commit = safe(() => git('rev-parse', '--short', 'HEAD'));
  const dirty = safe(() => git('status', '--porcelain', '--', 'ts', 'crates'), '') !== '';
  const goBuild = safe(() => {
    const out = execFileSync(
      fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go',
      ['version', path.join(BIN, 'client')],
    );
    return /: (go[\d.]+)/.exec(String(out))?.[1] ?? 'unknown';
  });
  const pkgVersion = (name) =>
    safe(() => require(path.join(ROOT, 'node_modules', name, 'package.json')).version);
  return {
    date: new Date().toISOString(),
    cpuModel: model,
    cores: os.cpus().length,
    arch: process.arch,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    loadStart: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    node: process.version,
    grpcJs: pkgVersion('@grpc/grpc-js'),
    protoLoader: pkgVersion('@grpc/proto-loader'),
    grpcGo: 'v1.85.0',
    goVersion: `built with ${goBuild}`,
    h2grpc:
      `${commit}${dirty ? ' (with uncommitted changes in ts/ or crates/)' : ''}` +
      `${opts.h2grpcEntry === DEFAULT_H2GRPC_ENTRY ? '' : ` at ${h2grpcRoot}`}`,
    server: server.description,
    streamMethod,
    profile: opts.profile.name,
    reps: opts.profile.reps,
    warmupSec: opts.profile.warmupSec,
    durationSec: opts.profile.durationSec,
    coldSamples: opts.profile.coldSamples,
    clients: opts.clients,
  };
}

// ------------------------------------------------------------------ measurements

async function runNode(client, scenario, ctx) {
  const { profile, server, streamMethod, h2grpcEntry } = ctx;
  const target = server.target;
  const spec = {
    client,
    target,
    kind: scenario.kind,
    warmupMs: profile.warmupSec * 1000,
    durationMs: profile.durationSec * 1000,
    concurrency: scenario.concurrency,
    reqSize: scenario.reqSize,
    respSize: scenario.respSize,
    streams: scenario.streams,
    warmStreams: scenario.warmStreams,
    pauseMs: scenario.pauseMs,
    chainLength: scenario.chainLength,
    streamMethod,
    h2grpcEntry: client === 'h2grpc' ? h2grpcEntry : undefined,
  };
  const child = forkTracked(NODE_CLIENT, ['--spec', JSON.stringify(spec)], { cwd: ROOT });
  const r = await collect(child, profile.timeoutMs, `${client} ${scenario.id}`);
  const msg = r.messages.find((m) => m && m.type === 'result');
  if (r.code !== 0 || !msg) {
    const why = r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`;
    const tail = r.stderr.trim().split('\n').slice(0, 8).join('\n');
    throw new Error(`${client} ${scenario.id}: ${why}\n${tail}`);
  }
  return msg.result;
}

/** One measurement, tried up to 3 times; failed attempts go to `failures`. */
async function measure(client, scenario, ctx, failures) {
  const { profile, server, streamMethod } = ctx;
  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    await server.ensure();
    if (client === 'h2grpc') await waitForBuild(ctx.h2grpcEntry);
    const others = othersWindow(server.pid);
    try {
      const r =
        client === 'grpc-go'
          ? await runGo(scenario, profile, server.target, streamMethod)
          : await runNode(client, scenario, ctx);
      r.otherCores = others.end(r.totalCpuUs);
      return r;
    } catch (e) {
      lastError = e;
      failures.push(e.message);
      log(
        `  ${client} ${scenario.id}: attempt ${attempt} failed: ${e.message.replace(/\n/g, '\n    ')}`,
      );
      await sleep(3000); // e.g. the addon being rebuilt under us
    }
  }
  throw lastError;
}

// --quiet: on a shared machine, wait for the others to calm down before each
// measurement, and measure again once when they disturbed it anyway.
const QUIET_WAIT_CORES = 0.15;
const QUIET_REDO_CORES = 0.25;
const QUIET_MAX_WAIT_MS = 60_000; // per measurement
let quietBudgetMs = 240_000; // per run, so that a busy machine cannot stretch it without end

async function waitQuiet(server) {
  const started = Date.now();
  const deadline = started + Math.min(QUIET_MAX_WAIT_MS, quietBudgetMs);
  let waited = false;
  for (;;) {
    const w = othersWindow(server.pid);
    await sleep(1000);
    const others = w.end(0);
    if (others === undefined || others < QUIET_WAIT_CORES) break;
    if (Date.now() > deadline) {
      log(`  (other processes still use ${others.toFixed(2)} cores; measuring anyway)`);
      break;
    }
    if (!waited) log(`  (other processes use ${others.toFixed(2)} cores; waiting)`);
    waited = true;
  }
  quietBudgetMs = Math.max(0, quietBudgetMs - (Date.now() - started - 1000));
}

/** dist/ or the addon may be briefly missing while someone rebuilds them. */
async function waitForBuild(entry) {
  const deadline = Date.now() + 120_000;
  const root = path.dirname(path.dirname(entry));
  const addonPresent = () =>
    fs.readdirSync(root).some((f) => /^h2grpc\..*\.node$/.test(f)) ||
    fs.existsSync(path.join(root, 'node_modules', '@h2grpc'));
  while (!(fs.existsSync(entry) && addonPresent())) {
    if (Date.now() > deadline) throw new Error('dist/index.js or the addon is missing');
    await sleep(1000);
  }
}

function progressLine(scenario, client, r) {
  const parts = [];
  const t = r.opsPerSec;
  if (scenario.kind === 'cold') {
    parts.push(`${r.coldMs.toFixed(1)} ms to first reply`);
    if (r.requireMs !== undefined) parts.push(`require ${r.requireMs.toFixed(1)} ms`);
  } else if (scenario.kind === 'slow-consumer') {
    parts.push(`server sent ${report.fmt(r.sentPauseMB)} MiB during the pause`);
    parts.push(`RSS +${report.fmt(r.rssPauseMB)} MB`);
  } else if (scenario.kind === 'open-streams') {
    parts.push(`open ${r.openMs.toFixed(0)} ms, RSS ${r.rssOpenMB.toFixed(0)} MB`);
    parts.push(`close ${r.closeMs.toFixed(0)} ms`);
  } else {
    const tp = scenario.bytesPerOp ? (t * scenario.bytesPerOp) / 2 ** 20 : t;
    parts.push(`${report.fmt(tp)} ${scenario.unit}`);
    if (r.p50us !== undefined) parts.push(`p50 ${report.fmt(r.p50us)} µs`);
    if (r.cpuUsPerOp !== undefined) parts.push(`CPU ${report.fmt(r.cpuUsPerOp)} µs/op`);
    if (r.eldP99ms !== undefined) parts.push(`loop p99 ${report.fmt(r.eldP99ms)} ms`);
  }
  return `${client.padEnd(8)} ${parts.join(', ')}`;
}

/** Rough duration of the whole run, for the plan line. */
function estimateSeconds(opts) {
  const p = opts.profile;
  let total = 0;
  for (const s of opts.scenarios) {
    const per =
      s.kind === 'cold'
        ? 0.3
        : s.kind === 'open-streams'
          ? 3
          : s.kind === 'slow-consumer'
            ? 7
            : p.warmupSec + p.durationSec + 0.4;
    const reps = s.kind === 'cold' ? p.coldSamples : p.reps;
    total += per * reps * opts.clients.length;
  }
  return total;
}

/** Runs every measurement; returns { meta, results }. */
async function measureAll(opts) {
  const t0 = Date.now();
  ensurePrerequisites(opts);
  const server = new BenchServer(opts.serverKind, opts.target);
  await server.start();
  const streamMethod =
    opts.streamMethod ?? (opts.serverKind === 'grpc-js' ? 'from-server' : 'unconstrained');
  const meta = machineMeta(opts, server, streamMethod);
  const clients = opts.clients;
  log(
    `bench: ${opts.profile.name} run, ${opts.scenarios.length} scenarios × ${clients.join('/')}, ` +
      `${opts.profile.reps} × (${opts.profile.warmupSec} s warm-up + ${opts.profile.durationSec} s) each; ` +
      `about ${Math.ceil(estimateSeconds(opts) / 60)} min. Server: ${server.description}` +
      `${opts.serverKind === 'external' ? '' : ` at ${server.target}`}`,
  );
  if (os.loadavg()[0] > os.cpus().length * 0.5) {
    log(
      `bench: warning: load average ${meta.loadStart} — other work on this machine skews results`,
    );
  }

  const ctx = { profile: opts.profile, server, streamMethod, h2grpcEntry: opts.h2grpcEntry };
  const results = {};
  for (const scenario of opts.scenarios) {
    results[scenario.id] = {};
    const reps = scenario.kind === 'cold' ? opts.profile.coldSamples : opts.profile.reps;
    const active = clients.filter((c) => c !== 'grpc-go' || goSupports(scenario, server.target));
    for (const c of active) {
      results[scenario.id][c] = { runs: [], errors: [], failedAttempts: [] };
    }
    log(`\n${scenario.title}`);
    for (let rep = 0; rep < reps; rep++) {
      for (const client of active) {
        const slot = results[scenario.id][client];
        const started = Date.now();
        try {
          if (opts.quiet) await waitQuiet(server);
          let r = await measure(client, scenario, ctx, slot.failedAttempts);
          const redo =
            opts.quiet &&
            r.otherCores > QUIET_REDO_CORES &&
            scenario.kind !== 'cold' &&
            quietBudgetMs > 0;
          if (redo) {
            const redoStarted = Date.now();
            log(
              `  [${rep + 1}/${reps}] ${client}: other processes used ${r.otherCores.toFixed(2)} cores; measuring again`,
            );
            await waitQuiet(server);
            const again = await measure(client, scenario, ctx, slot.failedAttempts);
            if (!(again.otherCores > r.otherCores)) r = again;
            quietBudgetMs = Math.max(0, quietBudgetMs - (Date.now() - redoStarted));
          }
          slot.runs.push(r);
          const others =
            r.otherCores !== undefined ? `, others ${r.otherCores.toFixed(2)} cores` : '';
          log(
            `  [${rep + 1}/${reps}] ${progressLine(scenario, client, r)} (${((Date.now() - started) / 1000).toFixed(1)} s${others})`,
          );
        } catch (e) {
          slot.errors.push(e.message.split('\n')[0]);
          log(`  [${rep + 1}/${reps}] ${client} FAILED: ${e.message}`);
        }
        await sleep(scenario.kind === 'cold' ? 50 : 300);
      }
    }
  }
  await server.stop();

  meta.loadEnd = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  meta.elapsedMin = ((Date.now() - t0) / 60000).toFixed(1);
  meta.serverRestarts = server.restarts;
  meta.partial = opts.partial;
  meta.quiet = opts.quiet;
  return { meta, results };
}

/** Tables on stdout; the JSON file; docs/benchmarks.{md,svg} with --write-docs. */
function render(opts, { meta, scenarios, results }) {
  const summary = report.summarize(scenarios, results);
  const targets = report.evaluateTargets(summary);
  const out = [
    `## h2grpc vs @grpc/grpc-js vs grpc-go (${meta.profile} run)`,
    '',
    report.machineLines(meta).join('\n'),
    '',
    'ratio = h2grpc ÷ grpc-js; ↑ higher is better, ↓ lower is better',
    '',
    report.mainTable(scenarios, summary),
    '',
  ];
  const native = report.nativeTable(scenarios, summary);
  if (native) out.push("### h2grpc's boundary counters per operation", '', native, '');
  const threads = report.threadTable(scenarios, summary);
  if (threads) out.push('### Client CPU µs per operation by thread', '', threads, '');
  out.push('### Targets', '', report.targetsTable(targets), '');
  const failures = report.failuresList(scenarios, summary);
  if (failures) out.push('### Failed attempts (retried)', '', failures, '');
  process.stdout.write(`${out.join('\n')}\n`);

  if (!opts.fromJson) {
    fs.mkdirSync(path.dirname(opts.jsonPath), { recursive: true });
    fs.writeFileSync(
      opts.jsonPath,
      `${JSON.stringify({ meta, scenarios, summary, targets, results }, null, 2)}\n`,
    );
    log(`bench: wrote ${path.relative(process.cwd(), opts.jsonPath)}`);
  }

  if (opts.writeDocs) {
    const docs = path.join(ROOT, 'docs');
    fs.mkdirSync(docs, { recursive: true });
    const svg = ratioChart(report.chartItems(summary), {
      title: 'h2grpc vs @grpc/grpc-js and the grpc-go client',
      subtitle:
        `How many times better h2grpc is (× faster, × less CPU/memory/latency); ` +
        `${meta.cores} cores, Node ${meta.node}, ${meta.date.slice(0, 10)}`,
    });
    fs.writeFileSync(path.join(docs, 'benchmarks.svg'), svg);
    fs.writeFileSync(
      path.join(docs, 'benchmarks.md'),
      report.docsMarkdown({ meta, scenarios, summary, targets }),
    );
    log('bench: wrote docs/benchmarks.md and docs/benchmarks.svg');
  }
  const failed = Object.values(results).some((byClient) =>
    Object.values(byClient).some((r) => r.runs.length === 0),
  );
  return failed ? 1 : 0;
}

async function main() {
  installCleanup();
  const opts = options();
  if (opts.fromJson) {
    // Render a saved run again (e.g. after a change to the report) without measuring.
    const saved = JSON.parse(fs.readFileSync(opts.fromJson, 'utf8'));
    if (opts.writeDocs && (saved.meta.profile !== 'full' || saved.meta.partial)) {
      throw new Error(`--write-docs needs a full run; ${opts.fromJson} is not one`);
    }
    return render(opts, saved);
  }
  const { meta, results } = await measureAll(opts);
  return render(opts, { meta, scenarios: opts.scenarios, results });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`bench: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
