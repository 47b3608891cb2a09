'use strict';
// What `npm run bench` measures: the scenarios, the run profiles (quick and
// full), the rows of the table and the project's targets.

const { MiB } = require('./util');

const SMALL = 16; // bytes: the "small payload" of the QPS and streaming scenarios

/**
 * kind: unary | pingpong | chain | server-stream | open-streams | slow-consumer | cold
 * (see clients/node-client.js).
 * unit: how the throughput row is shown; `bytesPerOp` turns ops/s into MiB/s.
 */
const SCENARIOS = [
  {
    id: 'unary-1',
    title: '1. unary, 1 in flight, empty payload',
    kind: 'unary',
    concurrency: 1,
    reqSize: 0,
    respSize: 0,
    unit: 'RPC/s',
  },
  {
    id: 'unary-64',
    title: `2a. unary, 64 in flight, ${SMALL} B`,
    kind: 'unary',
    concurrency: 64,
    reqSize: SMALL,
    respSize: SMALL,
    unit: 'RPC/s',
  },
  {
    id: 'unary-256',
    title: `2b. unary, 256 in flight, ${SMALL} B`,
    kind: 'unary',
    concurrency: 256,
    reqSize: SMALL,
    respSize: SMALL,
    unit: 'RPC/s',
  },
  {
    id: 'unary-1mib',
    title: '3. unary, 1 MiB request and response, 8 in flight',
    kind: 'unary',
    concurrency: 8,
    reqSize: MiB,
    respSize: MiB,
    unit: 'MiB/s',
    bytesPerOp: MiB,
  },
  {
    id: 'request-chain',
    title: '4a. request chain: 10 dependent unary calls in a row, empty payload',
    kind: 'chain',
    chainLength: 10,
    reqSize: 0,
    respSize: 0,
    unit: 'chains/s',
  },
  {
    id: 'pingpong',
    title: `4. bidi ping-pong on one stream, ${SMALL} B`,
    kind: 'pingpong',
    concurrency: 1,
    reqSize: SMALL,
    respSize: SMALL,
    unit: 'round trips/s',
  },
  {
    id: 'stream-small',
    title: `5a. server streaming, ${SMALL} B messages`,
    kind: 'server-stream',
    respSize: SMALL,
    unit: 'msg/s',
  },
  {
    id: 'stream-64k',
    title: '5b. server streaming, 64 KiB messages',
    kind: 'server-stream',
    respSize: 64 * 1024,
    unit: 'MiB/s',
    bytesPerOp: 64 * 1024,
  },
  {
    id: 'streams-10k',
    title: '6. 10 000 concurrently open streams',
    kind: 'open-streams',
    streams: 10000,
    warmStreams: 1000,
    reqSize: SMALL,
    respSize: SMALL,
  },
  {
    id: 'cold',
    title: '7. cold start: new client + first RPC',
    kind: 'cold',
  },
  {
    id: 'slow-consumer',
    title: '8. slow consumer: 64 KiB server stream, reader paused for 5 s',
    kind: 'slow-consumer',
    respSize: 64 * 1024,
    unit: 'MiB/s',
    bytesPerOp: 64 * 1024,
    pauseMs: 5000,
  },
];

/** quick: `npm run bench -- --quick` (< 3 min); full: the default (< 15 min). */
const PROFILES = {
  quick: { reps: 2, warmupSec: 1, durationSec: 1, coldSamples: 3, timeoutMs: 60_000 },
  full: { reps: 3, warmupSec: 2, durationSec: 5, coldSamples: 8, timeoutMs: 120_000 },
};

const CLIENTS = ['grpc-js', 'h2grpc', 'grpc-go'];

/**
 * Rows of the table. `better`: which direction wins. `node` rows have no
 * grpc-go value (event-loop delay, require time).
 */
function rowsFor(scenario) {
  const s = scenario;
  const tp = { metric: 'throughput', label: `throughput (${s.unit})`, better: 'higher' };
  const p50 = { metric: 'p50us', label: 'p50 latency (µs)', better: 'lower' };
  const p99 = { metric: 'p99us', label: 'p99 latency (µs)', better: 'lower' };
  const cpu = {
    metric: 'cpuUsPerOp',
    label: `client CPU µs per ${s.kind === 'server-stream' ? 'message' : 'RPC'}`,
    better: 'lower',
  };
  const rss = { metric: 'peakRssMB', label: 'peak RSS (MB)', better: 'lower' };
  const eld = {
    metric: 'eldP99ms',
    label: 'event-loop delay p99 (ms)',
    better: 'lower',
    nodeOnly: true,
  };
  switch (s.kind) {
    case 'unary':
    case 'pingpong':
      return [tp, p50, p99, cpu, rss, eld];
    case 'chain':
      return [
        tp,
        { ...p50, label: 'p50 per chain (µs)' },
        { ...p99, label: 'p99 per chain (µs)' },
        { ...cpu, label: 'client CPU µs per chain' },
        rss,
        eld,
      ];
    case 'server-stream':
      return [tp, cpu, rss, eld];
    case 'open-streams':
      return [
        { metric: 'openMs', label: 'time to open all, first reply each (ms)', better: 'lower' },
        { metric: 'rssOpenMB', label: 'RSS with all open (MB)', better: 'lower' },
        { metric: 'rssPerStreamKB', label: 'RSS growth per open stream (KB)', better: 'lower' },
        { metric: 'closeMs', label: 'time to close all (ms)', better: 'lower' },
        { ...cpu, label: 'client CPU µs per stream (open + close)' },
        eld,
      ];
    case 'slow-consumer':
      return [
        { metric: 'sentPauseMB', label: 'MiB the server sent during the pause', better: 'lower' },
        { metric: 'rssPauseMB', label: 'RSS growth during the pause (MB)', better: 'lower' },
        { ...tp, label: 'throughput before the pause (MiB/s)' },
      ];
    case 'cold':
      return [
        { metric: 'coldMs', label: 'new client + first RPC (ms)', better: 'lower' },
        {
          metric: 'requireMs',
          label: 'require() of the library (ms)',
          better: 'lower',
          nodeOnly: true,
        },
      ];
    default:
      throw new Error(`unknown scenario kind ${s.kind}`);
  }
}

/** The issues' targets (issue 12's latency rows first): ratio h2grpc ÷ peer, compared with `op`. */
const TARGETS = [
  {
    figure: 'unary p50, 1 in flight',
    scenario: 'unary-1',
    metric: 'p50us',
    vsGrpcJs: ['<=', 0.6],
    vsGrpcGo: ['<=', 1.1],
  },
  {
    figure: 'bidi ping-pong round trips/s',
    scenario: 'pingpong',
    metric: 'throughput',
    vsGrpcJs: ['>=', 1.5],
    vsGrpcGo: ['>=', 0.9],
  },
  {
    figure: 'client CPU µs per unary RPC, 1 in flight',
    scenario: 'unary-1',
    metric: 'cpuUsPerOp',
    vsGrpcJs: ['<=', 0.5],
    vsGrpcGo: ['<=', 1.5],
  },
  {
    figure: 'unary QPS, 64 in flight',
    scenario: 'unary-64',
    metric: 'throughput',
    vsGrpcJs: ['>=', 4.5],
    vsGrpcGo: ['>=', 0.9],
  },
  {
    figure: 'client CPU µs per unary RPC (64 in flight)',
    scenario: 'unary-64',
    metric: 'cpuUsPerOp',
    vsGrpcJs: ['<=', 0.33],
    vsGrpcGo: ['<=', 1.5],
  },
  {
    figure: 'server-stream small messages/s',
    scenario: 'stream-small',
    metric: 'throughput',
    vsGrpcJs: ['>=', 4],
    vsGrpcGo: ['>=', 0.7],
  },
  {
    figure: '1 MiB messages MB/s',
    scenario: 'unary-1mib',
    metric: 'throughput',
    vsGrpcJs: ['>=', 2],
    vsGrpcGo: ['>=', 0.8],
  },
  {
    figure: 'RSS with 10k open streams',
    scenario: 'streams-10k',
    metric: 'rssOpenMB',
    vsGrpcJs: ['<=', 0.5],
    vsGrpcGo: null,
  },
  {
    figure: 'event-loop delay p99 at max load (unary, 256 in flight)',
    scenario: 'unary-256',
    metric: 'eldP99ms',
    vsGrpcJs: ['<=', 0.5],
    vsGrpcGo: null,
  },
];

/** Figures drawn in docs/benchmarks.svg: one per scenario plus the target ones. */
const CHART = [
  ['unary-1', 'p50us', 'unary 1 in flight: p50 latency'],
  ['unary-64', 'throughput', 'unary 64 in flight: RPC/s'],
  ['unary-64', 'cpuUsPerOp', 'unary 64 in flight: CPU per RPC'],
  ['unary-256', 'throughput', 'unary 256 in flight: RPC/s'],
  ['unary-256', 'eldP99ms', 'unary 256 in flight: event-loop p99'],
  ['unary-1mib', 'throughput', 'unary 1 MiB: MiB/s'],
  ['request-chain', 'p50us', 'request chain (10 calls): p50'],
  ['pingpong', 'throughput', 'bidi ping-pong: round trips/s'],
  ['stream-small', 'throughput', 'server stream 16 B: msg/s'],
  ['stream-64k', 'throughput', 'server stream 64 KiB: MiB/s'],
  ['streams-10k', 'rssOpenMB', '10k open streams: RSS'],
  ['streams-10k', 'openMs', '10k open streams: time to open'],
  ['cold', 'coldMs', 'cold start: client + first RPC'],
];

module.exports = { SCENARIOS, PROFILES, CLIENTS, TARGETS, CHART, rowsFor };
