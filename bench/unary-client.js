// One benchmark client process: unary BenchmarkService.UnaryCall with N in
// flight on one channel for a fixed time, measuring its own CPU. Run by
// bench/run.js; prints one JSON line.
'use strict';
const path = require('node:path');
const protoLoader = require('@grpc/proto-loader');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const clientName = args.client ?? 'h2grpc';
const target = args.target;
const concurrency = Number(args.concurrency ?? 64);
const durationMs = Number(args.duration ?? 5000);
const warmupMs = Number(args.warmup ?? 1000);
const reqSize = Number(args.req ?? 0);
const respSize = Number(args.resp ?? 0);

const grpc =
  clientName === 'grpc-js'
    ? require('@grpc/grpc-js')
    : require(path.join(__dirname, '..', 'dist', 'index.js'));
const def = protoLoader.loadSync('grpc/testing/benchmark_service.proto', {
  includeDirs: ['/usr/share/grpc-proto'],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const pkg = grpc.loadPackageDefinition(def);
const client = new pkg.grpc.testing.BenchmarkService(target, grpc.credentials.createInsecure());
const request = {
  response_type: 'COMPRESSABLE',
  response_size: respSize,
  payload: { body: Buffer.alloc(reqSize) },
};

function run(ms, record) {
  return new Promise((resolve, reject) => {
    const end = Date.now() + ms;
    let inflight = 0;
    let count = 0;
    const lat = [];
    const one = () => {
      inflight++;
      const t0 = process.hrtime.bigint();
      client.UnaryCall(request, (err) => {
        inflight--;
        if (err) return reject(err);
        count++;
        if (record && lat.length < 2_000_000) lat.push(Number(process.hrtime.bigint() - t0) / 1000);
        if (Date.now() < end) one();
        else if (inflight === 0) resolve({ count, lat });
      });
    };
    for (let i = 0; i < concurrency; i++) one();
  });
}

(async () => {
  await run(warmupMs, false);
  const stats0 = clientName === 'h2grpc' ? grpc.nativeStats?.() : undefined;
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const { count, lat } = await run(durationMs, true);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  eld.disable();
  lat.sort((a, b) => a - b);
  const stats1 = clientName === 'h2grpc' ? grpc.nativeStats?.() : undefined;
  const per = (k) => (stats0 && stats1 ? (stats1[k] - stats0[k]) / count : undefined);
  console.log(
    JSON.stringify({
      client: clientName,
      concurrency,
      rpcs: count,
      qps: count / seconds,
      cpuUsPerRpc: (cpu.user + cpu.system) / count,
      p50us: lat[Math.floor(lat.length * 0.5)],
      p99us: lat[Math.floor(lat.length * 0.99)],
      eventLoopDelayP99ms: eld.percentile(99) / 1e6,
      rssMB: process.memoryUsage().rss / 1048576,
      callsInPerRpc: per('callsIn'),
      wakesPerRpc: per('wakesOut'),
      eventsPerRpc: per('eventsOut'),
      bytesCopiedPerRpc: per('bytesCopied'),
    }),
  );
  client.close();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
