'use strict';
// The grpc-go column. Scenarios 1–4 run grpc-go's own benchmark client
// (google.golang.org/grpc/benchmark/client), under `benchgo exec`, which
// reads the client's CPU time from /proc when its warm-up ends and from
// wait4's rusage when it exits. Scenarios 5–7 have no counterpart in that
// client; they run bench/go (`benchgo stream|open|cold`), built on the same
// grpc-go version, which measures itself.

const fs = require('node:fs');
const path = require('node:path');
const { spawnTracked, collect } = require('./procs');
const { parseGoDuration, ROOT } = require('./util');

const BIN = path.join(ROOT, 'bench', '.bin');
const BENCHGO = path.join(BIN, 'benchgo');
const GO_CLIENT = path.join(BIN, 'client');
// Process start + dial before the client's warm-up clock starts.
const GO_START_SLACK_MS = 30;

function lastTagged(stdout, tag) {
  const lines = stdout.split('\n').filter((l) => l.startsWith(`@@${tag} `));
  if (lines.length === 0) return undefined;
  return JSON.parse(lines[lines.length - 1].slice(tag.length + 3));
}

function failure(what, r) {
  const why = r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`;
  const tail = (r.stderr + r.stdout).trim().split('\n').slice(-6).join('\n');
  return new Error(`${what}: ${why}\n${tail}`);
}

/** grpc-go's benchmark client can only dial localhost:<port>. */
function goClientPort(target) {
  const m = /^(localhost|127\.0\.0\.1|\[::1\]|::1):(\d+)$/.exec(target);
  return m ? m[2] : undefined;
}

/** Can the grpc-go column measure `scenario` against `target`? */
function supports(scenario, target) {
  // grpc-go's benchmark client cannot pause a reader.
  if (scenario.kind === 'slow-consumer') return false;
  if (['unary', 'pingpong'].includes(scenario.kind)) return goClientPort(target) !== undefined;
  return true;
}

async function runBenchmarkClient(scenario, profile, target) {
  const port = goClientPort(target);
  const testName = `h2grpc-bench-client-${process.pid}`;
  const args = [
    'exec',
    `-sample-after-ms=${profile.warmupSec * 1000 + GO_START_SLACK_MS}`,
    '--',
    GO_CLIENT,
    `-port=${port}`,
    `-test_name=${testName}`,
    `-r=${scenario.concurrency}`,
    '-c=1',
    `-req=${scenario.reqSize}`,
    `-resp=${scenario.respSize}`,
    `-rpc_type=${scenario.kind === 'pingpong' ? 'streaming' : 'unary'}`,
    `-w=${profile.warmupSec}`,
    `-d=${profile.durationSec}`,
  ];
  const r = await collect(spawnTracked(BENCHGO, args), profile.timeoutMs, `grpc-go ${scenario.id}`);
  for (const ext of ['cpu', 'mem']) fs.rmSync(`/tmp/${testName}.${ext}`, { force: true });
  if (r.code !== 0) throw failure(`grpc-go benchmark client (${scenario.id})`, r);
  const qps = /^qps: ([\d.e+-]+)/m.exec(r.stdout);
  const lat = /^Latency: \(50\/90\/99 %ile\): (\S+)\/(\S+)\/(\S+)/m.exec(r.stdout);
  const ru = lastTagged(r.stdout, 'rusage');
  if (!qps || !lat || !ru) throw failure(`cannot parse the grpc-go client's output`, r);
  const opsPerSec = Number(qps[1]);
  const ops = opsPerSec * profile.durationSec;
  const out = {
    ops,
    seconds: profile.durationSec,
    opsPerSec,
    p50us: parseGoDuration(lat[1]),
    p90us: parseGoDuration(lat[2]),
    p99us: parseGoDuration(lat[3]),
    peakRssMB: ru.maxRssKB / 1024,
  };
  if (ru.cpuAtSampleUs !== undefined) out.cpuUsPerOp = (ru.cpuUs - ru.cpuAtSampleUs) / ops;
  out.totalCpuUs = ru.cpuUs;
  return out;
}

async function runBenchgo(scenario, profile, target, streamMethod) {
  let args;
  if (scenario.kind === 'server-stream') {
    args = [
      'stream',
      `-addr=${target}`,
      `-size=${scenario.respSize}`,
      `-w=${profile.warmupSec}`,
      `-d=${profile.durationSec}`,
      `-method=${streamMethod}`,
    ];
  } else if (scenario.kind === 'open-streams') {
    args = [
      'open',
      `-addr=${target}`,
      `-n=${scenario.streams}`,
      `-warm-n=${scenario.warmStreams}`,
      `-size=${scenario.respSize}`,
    ];
  } else if (scenario.kind === 'cold') {
    args = ['cold', `-addr=${target}`];
  } else if (scenario.kind === 'chain') {
    args = [
      'chain',
      `-addr=${target}`,
      `-n=${scenario.chainLength}`,
      `-w=${profile.warmupSec}`,
      `-d=${profile.durationSec}`,
    ];
  } else {
    throw new Error(`benchgo has no ${scenario.kind}`);
  }
  const r = await collect(spawnTracked(BENCHGO, args), profile.timeoutMs, `grpc-go ${scenario.id}`);
  if (r.code !== 0) throw failure(`benchgo ${args[0]} (${scenario.id})`, r);
  const out = lastTagged(r.stdout, 'result');
  if (!out) throw failure(`benchgo ${args[0]} printed no result`, r);
  return out;
}

/** One grpc-go measurement of `scenario` (for cold: one fresh process). */
function runGo(scenario, profile, target, streamMethod) {
  if (scenario.kind === 'unary' || scenario.kind === 'pingpong') {
    return runBenchmarkClient(scenario, profile, target);
  }
  return runBenchgo(scenario, profile, target, streamMethod);
}

module.exports = { runGo, supports, BIN };
