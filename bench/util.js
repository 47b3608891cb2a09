'use strict';
// Small helpers shared by the bench modules.

const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const PROTO_DIR = '/usr/share/grpc-proto';
const PROTO_FILE = 'grpc/testing/benchmark_service.proto';
const MiB = 1024 * 1024;

/** `--key=value` / `--flag` / `--key value` into an object; the rest into `_`. */
function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([a-zA-Z][\w-]*)(?:=(.*))?$/.exec(a);
    if (!m) {
      out._.push(a);
      continue;
    }
    if (m[2] !== undefined) out[m[1]] = m[2];
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--') && VALUE_FLAGS.has(m[1])) {
      out[m[1]] = argv[++i];
    } else out[m[1]] = true;
  }
  return out;
}
const VALUE_FLAGS = new Set([
  'server',
  'target',
  'clients',
  'scenarios',
  'reps',
  'warmup',
  'duration',
  'json',
  'stream-method',
  'spec',
  'h2grpc',
  'from-json',
]);

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Median of the finite numbers in `xs` (undefined when there are none). */
function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Nearest-rank percentile of an ascending-sorted array. */
function percentileSorted(sorted, p) {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Go's time.Duration.String() ("812.5µs", "4.1ms", "1m2.5s") in microseconds. */
function parseGoDuration(s) {
  const units = { ns: 1e-3, us: 1, µs: 1, μs: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };
  let total = 0;
  let matched = '';
  for (const m of String(s).matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(m[1]) * units[m[2]];
    matched += m[0];
  }
  if (matched !== String(s).trim())
    throw new Error(`cannot parse Go duration ${JSON.stringify(s)}`);
  return total;
}

module.exports = {
  ROOT,
  PROTO_DIR,
  PROTO_FILE,
  MiB,
  parseArgs,
  sleep,
  median,
  percentileSorted,
  parseGoDuration,
};
