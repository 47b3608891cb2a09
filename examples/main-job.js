'use strict';
// `npm start`: h2grpc end to end against a real gRPC server.
//
//   node examples/main-job.js [--clients=h2grpc,grpc-js] [--demo-client=h2grpc]
//                             [--seconds=3] [--inflight=64]
//
// The parent process only orchestrates and prints. It forks this same file as
//   --server      an embedded @grpc/grpc-js server of grpc.testing.TestService
//   --demo JSON   real calls of all four kinds through one client library, printed
//   --bench JSON  one throughput measurement (one client library, one method), so
//                 each client's CPU time is measured in a process of its own.
// Exit code 0 when every step succeeded, 1 with a message otherwise.

const path = require('node:path');
const fs = require('node:fs');
const { fork } = require('node:child_process');

const PROTO_DIR = '/usr/share/grpc-proto';
const PROTO_FILE = 'grpc/testing/test.proto';
const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};
const MiB = 1024 * 1024;
const H2GRPC_ENTRY = path.join(__dirname, '..', 'dist', 'index.js');
const CLIENTS = ['h2grpc', 'grpc-js'];

class JobError extends Error {}

// ---------------------------------------------------------------- shared helpers

function loadTestPackageDefinition() {
  if (!fs.existsSync(path.join(PROTO_DIR, PROTO_FILE))) {
    throw new JobError(
      `${path.join(PROTO_DIR, PROTO_FILE)} is missing: install the grpc-proto package ` +
        '(scripts/ensure-system-deps.sh does it)',
    );
  }
  const protoLoader = require('@grpc/proto-loader');
  return protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
}

/** The client library by name: 'h2grpc' (dist/index.js) or 'grpc-js' (@grpc/grpc-js). */
function loadClientModule(name) {
  if (name === 'grpc-js') return require('@grpc/grpc-js');
  if (name === 'h2grpc') {
    if (!fs.existsSync(H2GRPC_ENTRY)) {
      throw new JobError(`h2grpc is not built: ${H2GRPC_ENTRY} is missing (run \`npm run build\`)`);
    }
    return require(H2GRPC_ENTRY);
  }
  throw new JobError(`unknown client library ${name}`);
}

function loadTestService(grpc) {
  return grpc.loadPackageDefinition(loadTestPackageDefinition()).grpc.testing.TestService;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseFlags(argv) {
  const flags = {};
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (m) flags[m[1]] = m[2] === undefined ? true : m[2];
  }
  return flags;
}

// ---------------------------------------------------------------- embedded server

function runServer() {
  const grpc = require('@grpc/grpc-js');
  const pkg = grpc.loadPackageDefinition(loadTestPackageDefinition());
  const server = new grpc.Server({
    'grpc.max_send_message_length': 16 * MiB,
    'grpc.max_receive_message_length': 16 * MiB,
  });

  const payload = (size) => ({ body: Buffer.alloc(size) });
  const echoHeaders = (call) => {
    const initial = call.metadata.get('x-grpc-test-echo-initial');
    if (initial.length === 0) return;
    const out = new grpc.Metadata();
    for (const v of initial) out.add('x-grpc-test-echo-initial', v);
    call.sendMetadata(out);
  };
  const echoTrailers = (call) => {
    const out = new grpc.Metadata();
    for (const v of call.metadata.get('x-grpc-test-echo-trailing-bin')) {
      out.add('x-grpc-test-echo-trailing-bin', v);
    }
    return out;
  };
  const errorFor = (status, trailers) =>
    Object.assign(new Error(status.message), {
      code: status.code,
      details: status.message,
      metadata: trailers,
    });
  const failing = (status) => status != null && status.code !== 0;
  const sleepMs = (call) => Number(call.metadata.get('x-h2grpc-sleep-ms')[0] || 0);

  // Streams the responses of one StreamingOutputCallRequest; false if cancelled meanwhile.
  async function writeResponses(call, req) {
    for (const p of req.response_parameters) {
      if (p.interval_us > 0) await sleep(p.interval_us / 1000);
      if (call.cancelled) return false;
      if (!call.write({ payload: payload(p.size) })) {
        await new Promise((resolve) => {
          call.once('drain', resolve);
          call.once('cancelled', resolve);
        });
      }
    }
    return !call.cancelled;
  }

  function endStream(call, status) {
    if (call.cancelled) return;
    if (failing(status)) call.emit('error', errorFor(status, echoTrailers(call)));
    else call.end(echoTrailers(call));
  }

  // Request messages of a streaming call, in order, without destroying the call at the end.
  function onRequests(call, onMessage, onEnd) {
    let chain = Promise.resolve(true);
    call.on('data', (req) => {
      chain = chain.then((go) => (go ? onMessage(req) : false));
    });
    call.on('end', () => {
      chain = chain.then((go) => (go ? onEnd() : undefined));
    });
  }

  // Runs `fn` after x-h2grpc-sleep-ms (at once when absent), unless cancelled meanwhile.
  const afterSleep = (call, fn) => {
    const ms = sleepMs(call);
    if (ms <= 0) return fn();
    setTimeout(() => call.cancelled || fn(), ms);
  };

  server.addService(pkg.grpc.testing.TestService.service, {
    EmptyCall(call, cb) {
      afterSleep(call, () => {
        echoHeaders(call);
        cb(null, {}, echoTrailers(call));
      });
    },
    UnaryCall(call, cb) {
      afterSleep(call, () => {
        echoHeaders(call);
        const req = call.request;
        if (failing(req.response_status)) {
          cb(errorFor(req.response_status, echoTrailers(call)));
        } else {
          cb(null, { payload: payload(req.response_size) }, echoTrailers(call));
        }
      });
    },
    async StreamingOutputCall(call) {
      echoHeaders(call);
      if (await writeResponses(call, call.request)) endStream(call, call.request.response_status);
    },
    StreamingInputCall(call, cb) {
      echoHeaders(call);
      let total = 0;
      call.on('data', (req) => {
        total += req.payload ? req.payload.body.length : 0;
      });
      call.on('end', () => {
        if (!call.cancelled) cb(null, { aggregated_payload_size: total }, echoTrailers(call));
      });
    },
    FullDuplexCall(call) {
      echoHeaders(call);
      onRequests(
        call,
        async (req) => {
          if (!(await writeResponses(call, req))) return false;
          if (failing(req.response_status)) {
            endStream(call, req.response_status);
            return false;
          }
          return true;
        },
        () => endStream(call, null),
      );
    },
    HalfDuplexCall(call) {
      echoHeaders(call);
      const requests = [];
      onRequests(
        call,
        (req) => {
          requests.push(req);
          return true;
        },
        async () => {
          for (const req of requests) {
            if (!(await writeResponses(call, req))) return;
          }
          endStream(call, null);
        },
      );
    },
  });

  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`server: bind failed: ${err.message}\n`);
      process.exit(1);
    }
    process.send({ type: 'listening', result: { port } });
  });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- demo

function fmtValue(v) {
  if (Buffer.isBuffer(v)) {
    const hex = v.subarray(0, 16).toString('hex').replace(/(..)/g, '$1 ').trim();
    return `<${v.length} B: ${hex}${v.length > 16 ? ' …' : ''}>`;
  }
  return JSON.stringify(v);
}

function fmtMetadata(md) {
  if (!md) return '(none)';
  const json = md.toJSON();
  const keys = Object.keys(json);
  if (keys.length === 0) return '{}';
  return `{ ${keys.map((k) => `${k}: ${json[k].map(fmtValue).join(', ')}`).join('; ')} }`;
}

function fmtStatus(grpc, s) {
  const name = Object.keys(grpc.status).find((k) => grpc.status[k] === s.code) || '?';
  return `${s.code} ${name} ${JSON.stringify(s.details)}`;
}

/** Runs a unary/client-streaming call; resolves with everything it emitted. */
function unary(start, onCall) {
  return new Promise((resolve) => {
    const out = { error: null, response: undefined, headers: undefined, status: undefined };
    let cbDone = false;
    const done = () => cbDone && out.status && resolve(out);
    const call = start((err, value) => {
      cbDone = true;
      out.error = err;
      out.response = value;
      done();
    });
    call.on('metadata', (m) => (out.headers = m));
    call.on('status', (s) => {
      out.status = s;
      done();
    });
    if (onCall) onCall(call);
  });
}

/** Reads a server-streaming/bidi call to its end; resolves with everything it emitted. */
function stream(call, onData) {
  return new Promise((resolve) => {
    const out = { messages: [], headers: undefined, error: undefined, status: undefined };
    let ended = false;
    const done = () => {
      if (out.status && (out.status.code === 0 ? ended : out.error)) resolve(out);
    };
    call.on('metadata', (m) => (out.headers = m));
    call.on('data', (m) => {
      out.messages.push(m);
      if (onData) onData(m, out.messages.length - 1);
    });
    call.on('end', () => {
      ended = true;
      done();
    });
    call.on('error', (e) => {
      out.error = e;
      done();
    });
    call.on('status', (s) => {
      out.status = s;
      done();
    });
  });
}

function check(cond, what) {
  if (!cond) throw new JobError(`demo check failed: ${what}`);
}

async function runDemo({ client: clientName, port }) {
  const grpc = loadClientModule(clientName);
  const TestService = loadTestService(grpc);
  const target = `127.0.0.1:${port}`;
  const client = new TestService(target, grpc.credentials.createInsecure());
  const say = (s) => process.stdout.write(`${s}\n`);
  const sizes = (msgs) => msgs.map((m) => (m.payload ? m.payload.body.length : 0)).join(', ');
  say(`client library: ${clientName}, target ${target}`);

  // 1. unary
  let r = await unary((cb) => client.EmptyCall({}, new grpc.Metadata(), {}, cb));
  say(`\n[unary] EmptyCall({})`);
  say(`  response ${JSON.stringify(r.response)}, status ${fmtStatus(grpc, r.status)}`);
  check(r.error === null, 'EmptyCall succeeds');

  const md = new grpc.Metadata();
  md.set('x-grpc-test-echo-initial', 'hello from the client');
  md.set('x-grpc-test-echo-trailing-bin', Buffer.from([0xab, 0xcd, 0xef]));
  r = await unary((cb) =>
    client.UnaryCall(
      { response_size: 314159, payload: { body: Buffer.alloc(271828) } },
      md,
      {},
      cb,
    ),
  );
  say(
    `\n[unary] UnaryCall(payload 271828 B, response_size 314159), request metadata ${fmtMetadata(md)}`,
  );
  say(`  response payload ${r.response && r.response.payload.body.length} B`);
  say(`  headers  ${fmtMetadata(r.headers)}`);
  say(`  trailers ${fmtMetadata(r.status.metadata)}`);
  say(`  status   ${fmtStatus(grpc, r.status)}`);
  check(r.error === null && r.response.payload.body.length === 314159, 'UnaryCall payload size');
  check(
    r.headers && r.headers.get('x-grpc-test-echo-initial')[0] === 'hello from the client',
    'echoed header',
  );
  const trailer = r.status.metadata.get('x-grpc-test-echo-trailing-bin')[0];
  check(
    Buffer.isBuffer(trailer) && trailer.equals(Buffer.from([0xab, 0xcd, 0xef])),
    'echoed -bin trailer',
  );

  const message = 'ünïcödé %41 \t\n 日本';
  r = await unary((cb) =>
    client.UnaryCall(
      { response_status: { code: grpc.status.NOT_FOUND, message } },
      new grpc.Metadata(),
      {},
      cb,
    ),
  );
  say(`\n[unary] UnaryCall asking the server to fail with NOT_FOUND ${JSON.stringify(message)}`);
  say(
    `  error: code ${r.error && r.error.code}, details ${JSON.stringify(r.error && r.error.details)}`,
  );
  check(
    r.error && r.error.code === grpc.status.NOT_FOUND && r.error.details === message,
    'status round trip',
  );

  const slow = new grpc.Metadata();
  slow.set('x-h2grpc-sleep-ms', '3000');
  r = await unary((cb) => client.EmptyCall({}, slow, { deadline: Date.now() + 300 }, cb));
  say(`\n[deadline] EmptyCall to a handler sleeping 3 s, deadline 300 ms`);
  say(`  status ${fmtStatus(grpc, r.status)}`);
  check(r.error && r.error.code === grpc.status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED');

  // 2. server streaming
  const wanted = [31415, 9, 2653, 58979];
  let s = await stream(
    client.StreamingOutputCall(
      { response_parameters: wanted.map((size) => ({ size, interval_us: 10000 })) },
      new grpc.Metadata(),
    ),
  );
  say(`\n[server-streaming] StreamingOutputCall(sizes ${wanted.join(', ')}, 10 ms apart)`);
  say(
    `  ${s.messages.length} messages of ${sizes(s.messages)} B, status ${fmtStatus(grpc, s.status)}`,
  );
  check(s.status.code === 0 && sizes(s.messages) === wanted.join(', '), 'server-streaming sizes');

  const cancelling = client.StreamingOutputCall(
    { response_parameters: Array.from({ length: 100 }, () => ({ size: 10, interval_us: 20000 })) },
    new grpc.Metadata(),
  );
  s = await stream(cancelling, (_m, i) => i === 1 && cancelling.cancel());
  say(`\n[cancel] StreamingOutputCall of 100 paced messages, cancelled after the 2nd`);
  say(`  got ${s.messages.length} messages, status ${fmtStatus(grpc, s.status)}`);
  check(s.error && s.error.code === grpc.status.CANCELLED, 'CANCELLED');

  // 3. client streaming
  const upload = [27182, 8, 1828, 45904];
  r = await unary(
    (cb) => client.StreamingInputCall(new grpc.Metadata(), {}, cb),
    (call) => {
      for (const n of upload) call.write({ payload: { body: Buffer.alloc(n) } });
      call.end();
    },
  );
  say(`\n[client-streaming] StreamingInputCall(payloads ${upload.join(', ')} B)`);
  say(
    `  aggregated_payload_size ${r.response && r.response.aggregated_payload_size}, status ${fmtStatus(grpc, r.status)}`,
  );
  check(r.error === null && r.response.aggregated_payload_size === 74922, 'aggregated size');

  // 4. bidi streaming (ping-pong)
  const bidi = client.FullDuplexCall(md);
  const pongs = [];
  let sent = 0;
  const sendNext = () => {
    bidi.write({
      response_parameters: [{ size: wanted[sent] }],
      payload: { body: Buffer.alloc(upload[sent]) },
    });
    sent += 1;
  };
  const bidiDone = stream(bidi, (m) => {
    pongs.push(m.payload.body.length);
    if (sent < wanted.length) sendNext();
    else bidi.end();
  });
  sendNext();
  s = await bidiDone;
  say(`\n[bidi] FullDuplexCall ping-pong, one request at a time`);
  pongs.forEach((n, i) => say(`  ping ${upload[i]} B asking ${wanted[i]} B -> pong ${n} B`));
  say(`  headers ${fmtMetadata(s.headers)}, trailers ${fmtMetadata(s.status.metadata)}`);
  say(`  status ${fmtStatus(grpc, s.status)}`);
  check(s.status.code === 0 && pongs.join(', ') === wanted.join(', '), 'ping-pong sizes');

  client.close();
}

// ---------------------------------------------------------------- benchmark child

function diffStats(before, after) {
  if (!before || !after) return undefined;
  const out = {};
  for (const k of Object.keys(after)) {
    if (typeof after[k] === 'number' && typeof before[k] === 'number')
      out[k] = after[k] - before[k];
  }
  return out;
}

async function runBench({ client: clientName, method, port, seconds, inflight }) {
  const grpc = loadClientModule(clientName);
  const nativeStats = typeof grpc.nativeStats === 'function' ? () => grpc.nativeStats() : null;
  const TestService = loadTestService(grpc);
  const client = new TestService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const request =
    method === 'EmptyCall' ? {} : { response_size: 1024, payload: { body: Buffer.alloc(1024) } };
  const metadata = new grpc.Metadata();

  // `inflight` loops, each starting its next call when the previous one completes.
  const runFor = (ms) =>
    new Promise((resolve) => {
      const stopAt = Date.now() + ms;
      let completed = 0;
      let errors = 0;
      let firstError = null;
      let active = inflight;
      const one = () => {
        client[method](request, metadata, {}, (err) => {
          completed += 1;
          if (err) {
            errors += 1;
            firstError = firstError || err.message;
          }
          if (Date.now() < stopAt) one();
          else if (--active === 0) resolve({ completed, errors, firstError });
        });
      };
      for (let i = 0; i < inflight; i++) one();
    });

  await runFor(500); // warm-up: connection, JIT
  const stats0 = nativeStats && nativeStats();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const res = await runFor(seconds * 1000);
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const stats1 = nativeStats && nativeStats();
  client.close();
  return {
    client: clientName,
    method,
    calls: res.completed,
    errors: res.errors,
    firstError: res.firstError,
    seconds: elapsedS,
    qps: res.completed / elapsedS,
    cpuUsPerRpc: (cpu.user + cpu.system) / res.completed,
    native: diffStats(stats0, stats1),
    nativeEnd: stats1 || undefined,
  };
}

// ---------------------------------------------------------------- parent

function forkSelf(args, { silent = false } = {}) {
  return fork(__filename, args, { stdio: silent ? 'pipe' : 'inherit', execArgv: [] });
}

/** Resolves with the child's first IPC message of `type`; rejects on its error or exit. */
function childResult(child, type, what) {
  return new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m && m.type === 'error') reject(new JobError(`${what}: ${m.message}`));
      else if (m && m.type === type) resolve(m);
    });
    child.on('exit', (code, signal) =>
      reject(new JobError(`${what} exited (code ${code}, signal ${signal}) without a result`)),
    );
  });
}

/** Waits (bounded) for a child that reported its result to exit, so runs never overlap. */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function printTable(results) {
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  process.stdout.write(
    `\n${pad('method', 12)} ${pad('client', 8)} ${lpad('calls', 8)} ${lpad('QPS', 9)} ${lpad('CPU µs/RPC', 11)}\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `${pad(r.method, 12)} ${pad(r.client, 8)} ${lpad(r.calls, 8)} ${lpad(r.qps.toFixed(0), 9)} ${lpad(r.cpuUsPerRpc.toFixed(1), 11)}\n`,
    );
  }
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  const clients = String(flags.clients || CLIENTS.join(','))
    .split(',')
    .filter(Boolean);
  for (const c of clients) if (!CLIENTS.includes(c)) throw new JobError(`unknown client ${c}`);
  const demoClient = String(flags['demo-client'] || 'h2grpc');
  const seconds = Number(flags.seconds || 3);
  const inflight = Number(flags.inflight || 64);

  // Fail early and clearly if something is missing.
  loadTestPackageDefinition();
  if (clients.includes('h2grpc') || demoClient === 'h2grpc') loadClientModule('h2grpc');

  const server = forkSelf(['--server']);
  const cleanup = () => server.exitCode === null && server.kill('SIGTERM');
  process.on('exit', cleanup);
  try {
    const { port } = (await childResult(server, 'listening', 'server')).result;
    process.stdout.write(`== h2grpc main job: grpc-js TestService server on 127.0.0.1:${port}\n`);

    process.stdout.write(`\n== Real calls through ${demoClient}\n`);
    const demo = forkSelf(['--demo', JSON.stringify({ client: demoClient, port })]);
    await childResult(demo, 'done', 'demo');
    await exited(demo);

    process.stdout.write(
      `\n== Throughput: unary calls, ${inflight} in flight, ~${seconds} s per run, ` +
        'each client measured in its own process\n',
    );
    const results = [];
    for (const method of ['EmptyCall', 'UnaryCall']) {
      for (const client of clients) {
        const child = forkSelf([
          '--bench',
          JSON.stringify({ client, method, port, seconds, inflight }),
        ]);
        const r = await childResult(child, 'bench', `${client} ${method} benchmark`);
        await exited(child);
        results.push(r.result);
        if (r.result.errors > 0) {
          throw new JobError(
            `${client} ${method}: ${r.result.errors} of ${r.result.calls} calls failed (${r.result.firstError})`,
          );
        }
      }
    }
    process.stdout.write(
      'UnaryCall sends a 1 KiB payload and asks for 1 KiB back; CPU is user+system time of the client process.\n',
    );
    printTable(results);

    if (clients.length === 2) {
      process.stdout.write('\nh2grpc vs @grpc/grpc-js:\n');
      for (const method of ['EmptyCall', 'UnaryCall']) {
        const h = results.find((r) => r.method === method && r.client === 'h2grpc');
        const g = results.find((r) => r.method === method && r.client === 'grpc-js');
        process.stdout.write(
          `  ${method.padEnd(10)} QPS ×${(h.qps / g.qps).toFixed(2)}, ` +
            `CPU per RPC ×${(h.cpuUsPerRpc / g.cpuUsPerRpc).toFixed(2)} (lower is better)\n`,
        );
      }
    }

    for (const r of results.filter((x) => x.native)) {
      // Counters are shown as per-RPC deltas; gauges (active*) as their value at the end.
      const per = Object.entries(r.native)
        .map(([k, v]) =>
          k.startsWith('active')
            ? `${k} ${r.nativeEnd[k]} (at end)`
            : `${k} ${v} (${(v / r.calls).toFixed(2)}/RPC)`,
        )
        .join(', ');
      process.stdout.write(`\nh2grpc boundary counters, ${r.method}: ${per}`);
    }
    if (results.some((x) => x.native)) process.stdout.write('\n');
    if (clients.includes('h2grpc') && !results.some((x) => x.native)) {
      process.stdout.write('\n(h2grpc does not export nativeStats(); no boundary counters)\n');
    }
    process.stdout.write('\nmain job: OK\n');
  } finally {
    cleanup();
  }
}

// ---------------------------------------------------------------- entry

function reportChildError(err) {
  const message =
    err instanceof JobError ? err.message : err && err.stack ? err.stack : String(err);
  if (process.send) process.send({ type: 'error', message });
  else process.stderr.write(`${message}\n`);
  process.exitCode = 1;
}

/** Runs a child role: sends its result (or error) to the parent, then exits. */
function runChild(fn, type) {
  fn().then(
    (result) => process.send({ type, result }, () => process.exit(0)),
    (err) => {
      reportChildError(err);
      setTimeout(() => process.exit(1), 100);
    },
  );
}

const role = process.argv[2];
if (role === '--server') {
  try {
    runServer();
  } catch (err) {
    reportChildError(err);
    setTimeout(() => process.exit(1), 100);
  }
} else if (role === '--demo') {
  runChild(() => runDemo(JSON.parse(process.argv[3])), 'done');
} else if (role === '--bench') {
  runChild(() => runBench(JSON.parse(process.argv[3])), 'bench');
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      const message =
        err instanceof JobError ? err.message : err && err.stack ? err.stack : String(err);
      process.stderr.write(`\nmain job FAILED: ${message}\n`);
      process.exit(1);
    },
  );
}
