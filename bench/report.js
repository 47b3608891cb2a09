'use strict';
// Turns the raw measurements into the summary (median per client and
// metric), the markdown tables, bench/results/latest.json and
// docs/benchmarks.md.

const { SCENARIOS, TARGETS, CHART, rowsFor } = require('./config');
const { median, MiB } = require('./util');

const PEERS = ['grpc-js', 'h2grpc', 'grpc-go'];
const NATIVE_KEYS = [
  ['callsInPerOp', 'native calls in'],
  ['wakesOutPerOp', 'wakes out'],
  ['drainsPerOp', 'drains'],
  ['eventsOutPerOp', 'events out'],
  ['bytesCopiedPerOp', 'bytes copied'],
  ['bytesZeroCopyPerOp', 'bytes zero-copy'],
];

/** The throughput figure of a run, in the scenario's unit. */
function throughputOf(scenario, run) {
  if (run.opsPerSec === undefined) return undefined;
  return scenario.bytesPerOp ? (run.opsPerSec * scenario.bytesPerOp) / MiB : run.opsPerSec;
}

/**
 * results[scenarioId][client] = { runs: [...], errors: [...] } →
 * summary[scenarioId][client] = { metric: median, native: {...}, runs, errors }
 */
function summarize(scenarios, results) {
  const summary = {};
  for (const s of scenarios) {
    summary[s.id] = {};
    for (const client of PEERS) {
      const r = results[s.id]?.[client];
      if (!r) continue;
      const runs = r.runs.map((run) => ({ ...run, throughput: throughputOf(s, run) }));
      const out = { n: runs.length, errors: r.errors, failedAttempts: r.failedAttempts };
      const others = runs.map((run) => run.otherCores).filter((v) => v !== undefined);
      if (others.length) out.otherCores = [Math.min(...others), Math.max(...others)];
      const metrics = new Set(rowsFor(s).map((row) => row.metric));
      const extra = ['opsPerSec', 'seconds', 'jsThreadCpuUsPerOp', 'otherThreadsCpuUsPerOp'];
      for (const m of [...metrics, ...extra]) {
        out[m] = median(runs.map((run) => run[m]));
      }
      const natives = runs.map((run) => run.native).filter(Boolean);
      if (natives.length) {
        out.native = {};
        for (const [k] of NATIVE_KEYS) out.native[k] = median(natives.map((n) => n[k]));
      }
      summary[s.id][client] = out;
    }
  }
  return summary;
}

function fmt(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(2);
}

function ratio(a, b) {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return undefined;
  }
  return a / b;
}

function fmtRatio(r) {
  return r === undefined ? '—' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function cell(summary, scenarioId, client, metric, nodeOnly) {
  const c = summary[scenarioId]?.[client];
  if (!c) return '—';
  if (client === 'grpc-go' && nodeOnly) return 'n/a';
  if (c.n === 0) return c.errors?.length ? 'error' : '—';
  return fmt(c[metric]);
}

/** The main table: scenario | grpc-js | h2grpc | ratio | grpc-go. */
function mainTable(scenarios, summary) {
  const lines = ['| scenario | grpc-js | h2grpc | ratio | grpc-go |', '|---|--:|--:|--:|--:|'];
  for (const s of scenarios) {
    const others = PEERS.flatMap((c) => summary[s.id]?.[c]?.otherCores ?? []);
    const busy = others.length
      ? ` — other processes: ${Math.min(...others).toFixed(2)}–${Math.max(...others).toFixed(2)} cores`
      : '';
    lines.push(`| **${s.title}**${busy} | | | | |`);
    for (const row of rowsFor(s)) {
      const js = summary[s.id]?.['grpc-js']?.[row.metric];
      const h2 = summary[s.id]?.h2grpc?.[row.metric];
      const arrow = row.better === 'higher' ? '↑' : '↓';
      lines.push(
        `| ${row.label} ${arrow} | ${cell(summary, s.id, 'grpc-js', row.metric)} | ` +
          `${cell(summary, s.id, 'h2grpc', row.metric)} | ${fmtRatio(ratio(h2, js))} | ` +
          `${cell(summary, s.id, 'grpc-go', row.metric, row.nodeOnly)} |`,
      );
    }
  }
  return lines.join('\n');
}

/** h2grpc's boundary counters per RPC (per message for server streaming). */
function nativeTable(scenarios, summary) {
  const lines = [
    `| scenario | per | ${NATIVE_KEYS.map(([, l]) => l).join(' | ')} |`,
    `|---|---|${NATIVE_KEYS.map(() => '--:').join('|')}|`,
  ];
  for (const s of scenarios) {
    const n = summary[s.id]?.h2grpc?.native;
    if (!n) continue;
    const per =
      { 'server-stream': 'message', 'open-streams': 'stream', chain: 'chain' }[s.kind] ?? 'RPC';
    lines.push(`| ${s.title} | ${per} | ${NATIVE_KEYS.map(([k]) => fmt(n[k])).join(' | ')} |`);
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

/** Where the Node clients' CPU goes: the JavaScript thread vs all other threads. */
function threadTable(scenarios, summary) {
  const lines = [
    '| scenario | per | grpc-js: JS thread | grpc-js: other threads | h2grpc: JS thread | h2grpc: other threads |',
    '|---|---|--:|--:|--:|--:|',
  ];
  for (const s of scenarios) {
    const js = summary[s.id]?.['grpc-js'];
    const h2 = summary[s.id]?.h2grpc;
    if (js?.jsThreadCpuUsPerOp === undefined && h2?.jsThreadCpuUsPerOp === undefined) continue;
    const per =
      { 'server-stream': 'message', 'open-streams': 'stream', chain: 'chain' }[s.kind] ?? 'RPC';
    lines.push(
      `| ${s.title} | ${per} | ${fmt(js?.jsThreadCpuUsPerOp)} | ${fmt(js?.otherThreadsCpuUsPerOp)} | ` +
        `${fmt(h2?.jsThreadCpuUsPerOp)} | ${fmt(h2?.otherThreadsCpuUsPerOp)} |`,
    );
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

function meets(r, [op, bound]) {
  if (r === undefined) return undefined;
  return op === '>=' ? r >= bound : r <= bound;
}

/** Where each of the project's targets stands in this run. */
function evaluateTargets(summary) {
  return TARGETS.map((t) => {
    const get = (client) => summary[t.scenario]?.[client]?.[t.metric];
    const h2 = get('h2grpc');
    const vsJs = ratio(h2, get('grpc-js'));
    const vsGo = t.vsGrpcGo ? ratio(h2, get('grpc-go')) : undefined;
    return {
      figure: t.figure,
      scenario: t.scenario,
      metric: t.metric,
      targetVsGrpcJs: t.vsGrpcJs,
      ratioVsGrpcJs: vsJs,
      metVsGrpcJs: meets(vsJs, t.vsGrpcJs),
      targetVsGrpcGo: t.vsGrpcGo,
      ratioVsGrpcGo: vsGo,
      metVsGrpcGo: t.vsGrpcGo ? meets(vsGo, t.vsGrpcGo) : undefined,
    };
  });
}

function targetsTable(targets) {
  const verdict = (m) => (m === undefined ? 'no data' : m ? '**met**' : 'missed');
  const bound = (b) => (b ? `${b[0] === '>=' ? '≥' : '≤'} ${b[1]}×` : '—');
  const lines = [
    '| figure | target vs grpc-js | measured | met/missed | target vs grpc-go client | measured | met/missed |',
    '|---|--:|--:|---|--:|--:|---|',
  ];
  for (const t of targets) {
    lines.push(
      `| ${t.figure} | ${bound(t.targetVsGrpcJs)} | ${fmtRatio(t.ratioVsGrpcJs)} | ${verdict(t.metVsGrpcJs)} | ` +
        `${bound(t.targetVsGrpcGo)} | ${t.targetVsGrpcGo ? fmtRatio(t.ratioVsGrpcGo) : '—'} | ` +
        `${t.targetVsGrpcGo ? verdict(t.metVsGrpcGo) : '—'} |`,
    );
  }
  return lines.join('\n');
}

/** Bars of docs/benchmarks.svg: advantage = how many times better h2grpc is. */
function chartItems(summary) {
  const items = [];
  for (const [scenarioId, metric, label] of CHART) {
    const s = SCENARIOS.find((x) => x.id === scenarioId);
    if (!s || !summary[scenarioId]) continue;
    const row = rowsFor(s).find((r) => r.metric === metric);
    const h2 = summary[scenarioId].h2grpc?.[metric];
    const adv = (peer) => {
      const r = ratio(h2, summary[scenarioId][peer]?.[metric]);
      if (r === undefined || r === 0) return undefined;
      return row.better === 'higher' ? r : 1 / r;
    };
    const target = TARGETS.find((t) => t.scenario === scenarioId && t.metric === metric);
    const tAdv = (b) => (b ? (b[0] === '>=' ? b[1] : 1 / b[1]) : undefined);
    items.push({
      label,
      vsGrpcJs: adv('grpc-js'),
      vsGrpcGo: adv('grpc-go'),
      targetVsGrpcJs: tAdv(target?.vsGrpcJs),
      targetVsGrpcGo: tAdv(target?.vsGrpcGo),
      notForGo: Boolean(row.nodeOnly),
    });
  }
  return items;
}

function machineLines(meta) {
  return [
    `- CPU: ${meta.cpuModel}, ${meta.cores} cores (${meta.arch}), ${meta.memGB} GB RAM`,
    `- OS: ${meta.os}; load average at start ${meta.loadStart}, at end ${meta.loadEnd}`,
    `- Node ${meta.node}, @grpc/grpc-js ${meta.grpcJs}, @grpc/proto-loader ${meta.protoLoader}`,
    `- grpc-go ${meta.grpcGo} (benchmark client and server, bench/go), ${meta.goVersion}`,
    `- h2grpc ${meta.h2grpc}`,
    `- server: ${meta.server}${meta.serverRestarts ? ` (restarted ${meta.serverRestarts}× after exiting)` : ''}`,
    `- run: ${meta.profile} profile, ${meta.reps} repetition${meta.reps === 1 ? '' : 's'} alternating the clients ` +
      `(${meta.clients.join(' / ')}), ${meta.warmupSec} s warm-up + ${meta.durationSec} s ` +
      `measured per run, cold start ${meta.coldSamples} fresh processes per client; ` +
      `medians shown${meta.quiet ? '; --quiet (waited for other processes to idle before each measurement)' : ''}; ` +
      `took ${meta.elapsedMin} min (${meta.date})`,
  ];
}

/** Failed attempts (retried or not), as markdown bullets; '' when there were none. */
function failuresList(scenarios, summary) {
  const lines = [];
  for (const s of scenarios) {
    for (const client of PEERS) {
      const c = summary[s.id]?.[client];
      if (!c?.failedAttempts?.length) continue;
      const kinds = new Map();
      for (const m of c.failedAttempts) {
        // the first line names the process; the second is the error it printed
        const why = (m.split('\n')[1] ?? m.split('\n')[0]).trim().slice(0, 200);
        kinds.set(why, (kinds.get(why) ?? 0) + 1);
      }
      for (const [why, n] of kinds) {
        lines.push(`- ${client}, ${s.title}: ${n} failed attempt${n > 1 ? 's' : ''}: \`${why}\``);
      }
    }
  }
  return lines.join('\n');
}

/** The hand-written findings (docs/benchmark-findings.md), kept across regenerations. */
function findings() {
  const file = require('node:path').join(__dirname, '..', 'docs', 'benchmark-findings.md');
  const fs = require('node:fs');
  return fs.existsSync(file) ? `\n${fs.readFileSync(file, 'utf8').trim()}\n` : '';
}

function docsMarkdown({ meta, scenarios, summary, targets }) {
  const failures = failuresList(scenarios, summary);
  const native = nativeTable(scenarios, summary);
  const threads = threadTable(scenarios, summary);
  return `# Benchmarks

Generated by \`npm run bench -- --write-docs${meta.quiet ? ' --quiet' : ''}\` (bench/run.js); do not
edit by hand, rerun it. \`npm run bench\` prints the same tables without touching
this file; \`npm run bench -- --quick\` is a shorter, noisier run (< 3 min).

h2grpc, \`@grpc/grpc-js\` and grpc-go's own benchmark client call the same
server (grpc-go's benchmark server by default) on loopback, each client in a
process of its own, one measurement at a time, alternating the clients
(A/B/C/A/B/C…) so that drift hits all of them alike.

![h2grpc vs @grpc/grpc-js and the grpc-go client](benchmarks.svg)

## Machine

${machineLines(meta).join('\n')}

## Targets

Ratios are h2grpc ÷ peer from this one run.

${targetsTable(targets)}

## All figures

ratio = h2grpc ÷ grpc-js; ↑ higher is better, ↓ lower is better. "n/a":
the figure does not exist for a Go process. "other processes": the CPU the
rest of the machine used while the scenario's measurements ran (cores, range
over its runs; all busy CPU time minus the client's, the server's and the
bench's own, from \`/proc\`). Anything well above 0 means the figures of that
scenario are disturbed by other work on the machine.

${mainTable(scenarios, summary)}
${failures ? `\nFailed attempts during this run (each was retried, up to 3 attempts per measurement):\n\n${failures}\n` : ''}${native ? `\n## h2grpc's boundary counters\n\nPer RPC (per message for server streaming, per stream for the 10k streams), from \`nativeStats()\`.\n\n${native}\n` : ''}${findings()}${threads ? `\n## Where the client CPU goes\n\nClient CPU µs per operation on the JavaScript (main) thread and on all other threads of the process (V8 GC helpers, libuv, h2grpc's native I/O thread), from \`/proc/self/task\` (1/100 s ticks).\n\n${threads}\n` : ''}
## How it is measured

- **Throughput and latency** (scenarios 1–4): a closed loop, N calls in flight
  on one channel; each completion starts the next call. Latency is per RPC
  (per round trip for ping-pong), p50/p99 over the measured window.
- **Client CPU** per RPC (or message): \`process.cpuUsage()\` over the measured
  window, all threads of the process (for h2grpc this includes its native
  I/O thread). grpc-go: its process's CPU time from \`/proc/<pid>/stat\` when
  the warm-up ends and from \`wait4\`'s rusage at exit (bench/go \`benchgo
  exec\`), divided by the RPCs of the measured window.
- **Peak RSS**: \`process.resourceUsage().maxRSS\` (grpc-go: rusage maxrss) at
  the end of the run, warm-up included.
- **Event-loop delay p99**: \`perf_hooks.monitorEventLoopDelay\` (10 ms
  resolution) over the measured window. When the loop never got to run a
  timer during the window, the figure is the window's length.
- **Server streaming** (5): grpc-go's benchmark server does not implement
  \`StreamingFromServer\`, so the client calls \`StreamingCall\` with the
  \`unconstrained-streaming\` header, grpc-go's own streaming benchmark mode:
  one request, then the server streams replies as fast as flow control allows
  until the client cancels (method this run: ${meta.streamMethod}). MiB/s counts
  message payload bytes.
- **1 MiB** (3): MiB/s of response payload (the requests carry the same amount
  the other way).
- **10 000 streams** (6): \`StreamingCall\` × 10 000 on one channel, each
  sending one message and reading one reply; "time to open" runs until every
  stream has its reply; RSS is read then; then all are half-closed and the
  time until every status is "time to close". A 1 000-stream round warms up.
- **Cold start** (7): a fresh process per sample; the time from creating the
  client to the first unary RPC's reply (grpc-go: \`grpc.NewClient\` to the
  first reply, bench/go \`benchgo cold\`). \`require()\` of the library is shown
  apart.
- The grpc-go column is grpc-go's benchmark client (v1.85.0, \`-c 1 -r N\`)
  for 1–4 and bench/go (same grpc-go version, same buffer sizes) for 5–7.
`;
}

module.exports = {
  summarize,
  mainTable,
  nativeTable,
  threadTable,
  failuresList,
  evaluateTargets,
  targetsTable,
  chartItems,
  docsMarkdown,
  machineLines,
  fmt,
};
