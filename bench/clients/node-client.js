'use strict';
// One measurement in a process of its own, for either Node client:
//
//   node bench/clients/node-client.js --spec '{"client":"h2grpc","kind":"unary",…}'
//
// spec: client (h2grpc | grpc-js), target, kind (unary | pingpong |
// server-stream | open-streams | cold), warmupMs, durationMs, concurrency,
// reqSize, respSize, streams, warmStreams, streamMethod (unconstrained |
// from-server), h2grpcEntry (default dist/index.js).
// Forked by bench/run.js, it sends { type: 'result', result } over IPC (or
// prints `@@result {json}` when run by hand) and exits. It exits as soon as
// its parent goes away.

const tStart = performance.now();
const fs = require('node:fs');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { parseArgs, percentileSorted, PROTO_DIR, PROTO_FILE, ROOT } = require('../util');

const args = parseArgs(process.argv.slice(2));
const spec = JSON.parse(args.spec);

if (process.send) process.on('disconnect', () => process.exit(3));

// A client that buffers without bound would take the machine down with it.
const RSS_LIMIT = 4 * 1024 * 1024 * 1024;

const tRequire = performance.now();
const grpc =
  spec.client === 'grpc-js'
    ? require('@grpc/grpc-js')
    : spec.client === 'h2grpc'
      ? require(spec.h2grpcEntry ?? path.join(ROOT, 'dist', 'index.js'))
      : fail(`unknown client ${spec.client}`);
const requireMs = performance.now() - tRequire;

const protoLoader = require('@grpc/proto-loader');
const packageDefinition = protoLoader.loadSync(PROTO_FILE, {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const BenchmarkService =
  grpc.loadPackageDefinition(packageDefinition).grpc.testing.BenchmarkService;
const clientOptions = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
};
const nativeStats = spec.client === 'h2grpc' ? grpc.nativeStats : undefined;

function fail(msg) {
  throw new Error(msg);
}

function newClient() {
  return new BenchmarkService(spec.target, grpc.credentials.createInsecure(), clientOptions);
}

function simpleRequest(reqSize, respSize) {
  return {
    response_type: 'COMPRESSABLE',
    response_size: respSize,
    payload: { type: 'COMPRESSABLE', body: Buffer.alloc(reqSize) },
  };
}

/**
 * CPU time (µs) of this process's main (JavaScript) thread and of all its
 * other threads (GC helpers, libuv pool, h2grpc's native I/O thread), from
 * /proc/self/task (1/100 s ticks); undefined where there is no /proc.
 */
function threadCpu() {
  try {
    let main = 0;
    let others = 0;
    for (const tid of fs.readdirSync('/proc/self/task')) {
      let stat;
      try {
        stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      } catch {
        continue; // the thread just exited
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const us = (Number(f[11]) + Number(f[12])) * 10_000; // utime + stime
      if (Number(tid) === process.pid) main += us;
      else others += us;
    }
    return { main, others };
  } catch {
    return undefined;
  }
}

/** CPU, event-loop delay and h2grpc's boundary counters over one window. */
class Window {
  begin() {
    this.threads0 = threadCpu();
    this.stats0 = nativeStats?.();
    this.eld = monitorEventLoopDelay({ resolution: 10 });
    this.eld.enable();
    this.cpu0 = process.cpuUsage();
    this.t0 = performance.now();
  }

  /** Metrics of the window for `ops` operations. */
  end(ops) {
    const seconds = (performance.now() - this.t0) / 1000;
    const cpu = process.cpuUsage(this.cpu0);
    const threads1 = threadCpu();
    this.eld.disable();
    // No sample at all: the loop never ran a timer in the whole window.
    const starved = this.eld.count === 0;
    const out = {
      ops,
      seconds,
      opsPerSec: ops / seconds,
      cpuUsPerOp: (cpu.user + cpu.system) / ops,
      eldP99ms: starved ? seconds * 1000 : this.eld.percentile(99) / 1e6,
      eldMaxMs: starved ? seconds * 1000 : this.eld.max / 1e6,
      eldSamples: this.eld.count,
    };
    if (this.threads0 && threads1) {
      out.jsThreadCpuUsPerOp = (threads1.main - this.threads0.main) / ops;
      out.otherThreadsCpuUsPerOp = (threads1.others - this.threads0.others) / ops;
    }
    if (this.stats0) {
      const s1 = nativeStats();
      const per = (k) => (s1[k] - this.stats0[k]) / ops;
      out.native = {
        callsInPerOp: per('callsIn'),
        wakesOutPerOp: per('wakesOut'),
        drainsPerOp: per('drains'),
        eventsOutPerOp: per('eventsOut'),
        bytesCopiedPerOp: per('bytesCopied'),
        bytesZeroCopyPerOp: per('bytesZeroCopy'),
      };
    }
    return out;
  }
}

/**
 * Warm-up then measurement, switched by the operations themselves: `op()`
 * is called once per completed operation and returns false once the
 * measured window is over (the window's metrics are then in `result`).
 */
class Meter {
  constructor({ latency }) {
    this.latency = latency ? [] : null;
    this.phase = 0; // 0 warm-up, 1 measuring, 2 done
    this.ops = 0;
    this.win = new Window();
    this.warmEnd = performance.now() + spec.warmupMs;
    this.result = null;
  }

  op(now, latencyMs) {
    if (this.phase === 0) {
      if (now >= this.warmEnd) {
        this.phase = 1;
        this.win.begin();
        this.end = now + spec.durationMs;
      }
      return true;
    }
    if (this.phase !== 1) return false;
    this.ops++;
    if (this.latency) this.latency.push(latencyMs);
    if ((this.ops & 4095) === 0 && process.memoryUsage.rss() > RSS_LIMIT) {
      throw new Error(`RSS over ${RSS_LIMIT / 2 ** 30} GiB: the client buffers without bound`);
    }
    if (now < this.end) return true;
    this.phase = 2;
    this.result = this.win.end(this.ops);
    if (this.latency) {
      const sorted = Float64Array.from(this.latency).sort();
      this.result.p50us = percentileSorted(sorted, 50) * 1000;
      this.result.p99us = percentileSorted(sorted, 99) * 1000;
    }
    return false;
  }
}

// ------------------------------------------------------------------ scenarios

/** Why a unary reply is not the one asked for, or null when it is. */
function unaryFailure(err, reply) {
  if (err) return err;
  const len = reply.payload.body.length;
  return len === spec.respSize ? null : new Error(`reply of ${len} B`);
}

/** Closed loop: `concurrency` unary calls in flight on one channel. */
function runUnary(client) {
  const request = simpleRequest(spec.reqSize, spec.respSize);
  const meter = new Meter({ latency: true });
  return new Promise((resolve, reject) => {
    let inflight = 0;
    let failed = false;
    const issue = () => {
      inflight++;
      const t0 = performance.now();
      client.UnaryCall(request, (err, reply) => {
        inflight--;
        if (failed) return;
        const failure = unaryFailure(err, reply);
        if (failure) {
          failed = true;
          reject(failure);
          return;
        }
        const now = performance.now();
        let more;
        try {
          more = meter.op(now, now - t0);
        } catch (e) {
          failed = true;
          reject(e);
          return;
        }
        if (more) issue();
        else if (inflight === 0) resolve(meter.result);
      });
    };
    for (let i = 0; i < spec.concurrency; i++) issue();
  });
}

/**
 * A service calling its dependency: `chainLength` unary calls in a row, each
 * started when the previous one answered; one op is one whole chain.
 */
function runChain(client) {
  const request = simpleRequest(spec.reqSize, spec.respSize);
  const meter = new Meter({ latency: true });
  return new Promise((resolve, reject) => {
    let t0 = performance.now();
    let step = 0;
    const next = () => {
      client.UnaryCall(request, (err, reply) => {
        const failure = unaryFailure(err, reply);
        if (failure) {
          reject(failure);
          return;
        }
        if (++step < spec.chainLength) {
          next();
          return;
        }
        const now = performance.now();
        let more;
        try {
          more = meter.op(now, now - t0);
        } catch (e) {
          reject(e);
          return;
        }
        if (!more) return resolve(meter.result);
        step = 0;
        t0 = now;
        next();
      });
    };
    next();
  });
}

/** One bidi stream, one message in flight: write, wait for the reply, repeat. */
function runPingPong(client) {
  const request = simpleRequest(spec.reqSize, spec.respSize);
  const meter = new Meter({ latency: true });
  return new Promise((resolve, reject) => {
    const call = client.StreamingCall();
    let sentAt = performance.now();
    let done = false;
    call.on('data', () => {
      if (done) return;
      const now = performance.now();
      let more;
      try {
        more = meter.op(now, now - sentAt);
      } catch (e) {
        done = true;
        call.cancel();
        reject(e);
        return;
      }
      if (more) {
        sentAt = now;
        call.write(request);
      } else {
        done = true;
        call.end();
      }
    });
    call.on('error', (e) => {
      done = true;
      reject(e);
    });
    call.on('status', (s) => {
      if (s.code === 0 && meter.result) resolve(meter.result);
    });
    call.write(request);
  });
}

/**
 * Server streaming on one stream: the server sends as fast as flow control
 * lets it; count messages. grpc-go's benchmark server has no
 * StreamingFromServer, so by default this is StreamingCall with the
 * `unconstrained-streaming` header (grpc-go's own streaming benchmark mode:
 * one request, then the server streams until cancelled).
 */
function runServerStream(client) {
  const request = simpleRequest(0, spec.respSize);
  const meter = new Meter({ latency: false });
  return new Promise((resolve, reject) => {
    let call;
    if (spec.streamMethod === 'from-server') {
      call = client.StreamingFromServer(request);
    } else {
      const md = new grpc.Metadata();
      md.set('unconstrained-streaming', '1');
      call = client.StreamingCall(md);
      call.write(request);
    }
    let done = false;
    let error;
    call.on('data', (reply) => {
      if (done) return;
      try {
        if (reply.payload.body.length !== spec.respSize) {
          throw new Error(`message of ${reply.payload.body.length} B`);
        }
        if (meter.op(performance.now())) return;
      } catch (e) {
        error = e;
      }
      done = true;
      call.cancel();
    });
    call.on('error', (e) => {
      if (done && e.code === grpc.status.CANCELLED) {
        if (error) reject(error);
        else resolve(meter.result);
      } else {
        done = true;
        reject(e);
      }
    });
  });
}

/**
 * A reader that stops: the server streams 64 KiB messages as fast as it may
 * (unconstrained StreamingCall, as in runServerStream); after 1 s at full
 * speed the Readable is paused for `pauseMs`. The client talks to the server
 * through a byte-counting TCP relay in this process, so what the server got
 * out during the pause is measured on the wire, whatever the library buffers
 * (the kernel's socket buffers on the server's side of the relay are not
 * counted). A library with receive backpressure stops the server within a
 * flow-control window; one without takes in everything.
 */
async function runSlowConsumer() {
  if (!(spec.pauseMs > 0)) throw new Error('slow-consumer needs pauseMs');
  const net = require('node:net');
  const [host, port] = [
    spec.target.slice(0, spec.target.lastIndexOf(':')),
    spec.target.slice(spec.target.lastIndexOf(':') + 1),
  ];
  let fromServer = 0;
  const relay = net.createServer((down) => {
    const up = net.connect(Number(port), host);
    up.on('data', (d) => (fromServer += d.length));
    up.pipe(down);
    down.pipe(up);
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
  });
  await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const client = new BenchmarkService(
    `127.0.0.1:${relay.address().port}`,
    grpc.credentials.createInsecure(),
    clientOptions,
  );
  const md = new grpc.Metadata();
  md.set('unconstrained-streaming', '1');
  const call = client.StreamingCall(md);
  call.on('error', () => {});
  call.write(simpleRequest(0, spec.respSize));
  let received = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const onData = () => {
      received++;
      if (performance.now() - t0 < 1000) return;
      call.pause();
      call.off('data', onData);
      resolve();
    };
    call.on('data', onData);
  });
  const opsPerSec = (received * 1000) / (performance.now() - t0);
  const sent0 = fromServer;
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  await new Promise((resolve) => setTimeout(resolve, spec.pauseMs));
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const sentPauseMB = (fromServer - sent0) / 2 ** 20;
  call.cancel();
  client.close();
  relay.close();
  for (const c of [relay]) c.unref();
  return { ops: received, opsPerSec, sentPauseMB, rssPauseMB: (peak - rss0) / 2 ** 20 };
}

/**
 * Opens n StreamingCall streams at once, each sending one message and
 * reading its reply, keeps them all open, then half-closes all and waits
 * for every status.
 */
async function openAndClose(client, n, request) {
  const calls = new Array(n);
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    let replied = 0;
    for (let i = 0; i < n; i++) {
      const call = client.StreamingCall();
      calls[i] = call;
      let got = false;
      call.on('data', () => {
        if (got) return;
        got = true;
        if (++replied === n) resolve();
      });
      call.on('error', reject);
      call.write(request);
    }
  });
  const openMs = performance.now() - t0;
  const rssOpen = process.memoryUsage.rss();
  const t1 = performance.now();
  await new Promise((resolve, reject) => {
    let closed = 0;
    for (const call of calls) {
      call.on('status', (s) => {
        if (s.code !== 0) reject(new Error(`stream ended with ${s.code} ${s.details}`));
        else if (++closed === n) resolve();
      });
      call.end();
    }
  });
  return { openMs, closeMs: performance.now() - t1, rssOpen };
}

async function runOpenStreams(client) {
  const request = simpleRequest(spec.reqSize, spec.respSize);
  if (spec.warmStreams > 0) await openAndClose(client, spec.warmStreams, request);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const rssBefore = process.memoryUsage.rss();
  const win = new Window();
  win.begin();
  const r = await openAndClose(client, spec.streams, request);
  const out = win.end(spec.streams);
  return {
    ...out,
    streams: spec.streams,
    openMs: r.openMs,
    closeMs: r.closeMs,
    rssOpenMB: r.rssOpen / 2 ** 20,
    rssBeforeMB: rssBefore / 2 ** 20,
    rssPerStreamKB: (r.rssOpen - rssBefore) / 1024 / spec.streams,
  };
}

/** In this fresh process: a new client and its first RPC. */
function runCold() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const client = newClient();
    client.UnaryCall({}, (err) => {
      const coldMs = performance.now() - t0;
      if (err) return reject(err);
      client.close();
      resolve({ coldMs, requireMs, processToResultMs: performance.now() - tStart });
    });
  });
}

// ------------------------------------------------------------------ main

async function main() {
  if (spec.kind === 'cold') return runCold();
  if (spec.kind === 'slow-consumer') return runSlowConsumer();
  const client = newClient();
  try {
    switch (spec.kind) {
      case 'unary':
        return await runUnary(client);
      case 'pingpong':
        return await runPingPong(client);
      case 'chain':
        return await runChain(client);
      case 'server-stream':
        return await runServerStream(client);
      case 'open-streams':
        return await runOpenStreams(client);
      default:
        throw new Error(`unknown kind ${spec.kind}`);
    }
  } finally {
    client.close();
  }
}

// The loop emptied with the measurement unfinished: the library dropped calls.
process.on('beforeExit', () => {
  process.stderr.write(
    `${spec.client} ${spec.kind}: the event loop emptied before the measurement ended ` +
      '(calls outstanding, no handle keeping the process alive)\n',
  );
  process.exit(1);
});

main().then(
  (result) => {
    result.peakRssMB = process.resourceUsage().maxRSS / 1024;
    const total = process.cpuUsage();
    result.totalCpuUs = total.user + total.system;
    if (process.send) process.send({ type: 'result', result }, () => process.exit(0));
    else {
      process.stdout.write(`@@result ${JSON.stringify(result)}\n`);
      process.exit(0);
    }
  },
  (err) => {
    const code = err?.code !== undefined ? ` (code ${err.code})` : '';
    process.stderr.write(`${spec.client} ${spec.kind}${code}: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
