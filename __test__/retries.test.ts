// Retries (gRFC A6), side by side with @grpc/grpc-js's client against the
// same real grpc-js server in this process: each scenario runs once per
// client library with the same expectations, so they are grpc-js's real
// behaviour. The server's handlers fail the first N attempts of a call (told
// by request metadata) and record what each attempt carried.
import test from 'ava';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpcJs from '@grpc/grpc-js';
import * as h2grpc from '../ts/index';

type Lib = typeof grpcJs | typeof h2grpc;
const LIBS: Array<[string, Lib]> = [
  ['grpc-js', grpcJs],
  ['h2grpc', h2grpc],
];

const id = (b: Buffer): Buffer => b;

interface AttemptRecord {
  previous: string | undefined;
  at: number;
  messages: string[];
}

const records = new Map<string, AttemptRecord[]>();

function record(md: grpcJs.Metadata, messages: string[] = []): AttemptRecord[] {
  const key = String(md.get('x-key')[0]);
  let list = records.get(key);
  if (list === undefined) {
    list = [];
    records.set(key, list);
  }
  const prev = md.get('grpc-previous-rpc-attempts')[0];
  list.push({ previous: prev === undefined ? undefined : String(prev), at: Date.now(), messages });
  return list;
}

/** The failure this attempt must produce, or null to succeed. */
function failureFor(md: grpcJs.Metadata, attempt: number): Partial<grpcJs.StatusObject> | null {
  const fail = Number(md.get('x-fail')[0] ?? 0);
  if (attempt > fail) return null;
  const trailers = new grpcJs.Metadata();
  const pushback = md.get('x-pushback')[0];
  if (pushback !== undefined) trailers.set('grpc-retry-pushback-ms', String(pushback));
  return {
    code: Number(md.get('x-code')[0] ?? grpcJs.status.UNAVAILABLE),
    details: `attempt ${attempt} failed`,
    metadata: trailers,
  };
}

function method(requestStream: boolean, responseStream: boolean, path: string) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  };
}

let port = 0;
const server = new grpcJs.Server();

test.after.always(() => server.forceShutdown());

test.before(async () => {
  server.addService(
    {
      Unary: method(false, false, '/test.Retry/Unary'),
      Collect: method(true, false, '/test.Retry/Collect'),
      Stream: method(false, true, '/test.Retry/Stream'),
    },
    {
      Unary: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, cb: grpcJs.sendUnaryData<Buffer>) => {
        const n = record(call.metadata, [call.request.toString()]).length;
        const delay = Number(call.metadata.get('x-delay')[0] ?? 0);
        setTimeout(() => {
          const failure = failureFor(call.metadata, n);
          if (failure) cb(failure);
          else cb(null, Buffer.from(`ok after ${n}`));
        }, delay);
      },
      Collect: (
        call: grpcJs.ServerReadableStream<Buffer, Buffer>,
        cb: grpcJs.sendUnaryData<Buffer>,
      ) => {
        const messages: string[] = [];
        const attempts = record(call.metadata, messages);
        const n = attempts.length;
        call.on('data', (m: Buffer) => messages.push(m.toString()));
        call.on('end', () => {
          const failure = failureFor(call.metadata, n);
          if (failure) cb(failure);
          else cb(null, Buffer.from(messages.join(',')));
        });
      },
      Stream: (call: grpcJs.ServerWritableStream<Buffer, Buffer>) => {
        const attempts = record(call.metadata);
        if (call.metadata.get('x-headers-first').length > 0) {
          call.sendMetadata(new grpcJs.Metadata());
        }
        const failure = failureFor(call.metadata, attempts.length);
        // Give the headers time to reach the client before the status.
        setTimeout(() => {
          if (failure) call.emit('error', failure);
          else {
            call.write(Buffer.from('x'));
            call.end();
          }
        }, 50);
      },
    },
  );
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
});

let keys = 0;

interface Setup {
  retryPolicy?: object;
  hedgingPolicy?: object;
  timeout?: string;
  retryThrottling?: object;
  options?: Record<string, number | string>;
  target?: string;
}

const RETRY = {
  maxAttempts: 4,
  initialBackoff: '0.01s',
  maxBackoff: '0.05s',
  backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'],
};

function client(lib: Lib, setup: Setup): grpcJs.Client {
  const serviceConfig = {
    methodConfig: [
      {
        name: [{ service: 'test.Retry' }],
        ...(setup.retryPolicy ? { retryPolicy: setup.retryPolicy } : {}),
        ...(setup.hedgingPolicy ? { hedgingPolicy: setup.hedgingPolicy } : {}),
        ...(setup.timeout ? { timeout: setup.timeout } : {}),
      },
    ],
    ...(setup.retryThrottling ? { retryThrottling: setup.retryThrottling } : {}),
  };
  return makeClient(lib, setup.target ?? `127.0.0.1:${port}`, {
    'grpc.service_config': JSON.stringify(serviceConfig),
    ...setup.options,
  });
}

/** A generic client of either library, typed as grpc-js's (h2grpc's API is the same). */
function makeClient(lib: Lib, target: string, options: Record<string, string | number>) {
  const Client = lib.Client as typeof grpcJs.Client;
  const creds = lib.credentials.createInsecure() as grpcJs.ChannelCredentials;
  return new Client(target, creds, options);
}

function metadataFor(lib: Lib, fields: Record<string, string | number>): [grpcJs.Metadata, string] {
  const md = new lib.Metadata() as grpcJs.Metadata;
  const key = `k${++keys}`;
  md.set('x-key', key);
  for (const [k, v] of Object.entries(fields)) md.set(k, String(v));
  return [md, key];
}

interface Outcome {
  code: number;
  details: string;
  value: string | undefined;
  trailerAttempts: unknown[];
  ms: number;
}

function unary(
  c: grpcJs.Client,
  md: grpcJs.Metadata,
  options: grpcJs.CallOptions = {},
  request = 'req',
): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      '/test.Retry/Unary',
      id,
      id,
      Buffer.from(request),
      md,
      options,
      (err: grpcJs.ServiceError | null, value?: Buffer) => {
        resolve({
          code: err?.code ?? 0,
          details: err?.details ?? '',
          value: value?.toString(),
          trailerAttempts: err?.metadata.get('grpc-previous-rpc-attempts') ?? [],
          ms: Date.now() - started,
        });
      },
    );
  });
}

function collect(
  c: grpcJs.Client,
  md: grpcJs.Metadata,
  messages: Buffer[],
): Promise<{ code: number; value: string | undefined }> {
  return new Promise((resolve) => {
    const call = c.makeClientStreamRequest(
      '/test.Retry/Collect',
      id,
      id,
      md,
      {},
      (err: grpcJs.ServiceError | null, value?: Buffer) =>
        resolve({ code: err?.code ?? 0, value: value?.toString() }),
    );
    for (const m of messages) call.write(m);
    call.end();
  });
}

const attemptsOf = (key: string): AttemptRecord[] => records.get(key) ?? [];

for (const [name, lib] of LIBS) {
  test(`${name}: unary is retried until it succeeds; grpc-previous-rpc-attempts counts`, async (t) => {
    const c = client(lib, { retryPolicy: RETRY });
    const [md, key] = metadataFor(lib, { 'x-fail': 2 });
    const out = await unary(c, md);
    c.close();
    t.is(out.code, 0);
    t.is(out.value, 'ok after 3');
    t.deepEqual(
      attemptsOf(key).map((a) => a.previous),
      [undefined, '1', '2'],
    );
    t.deepEqual(
      attemptsOf(key).map((a) => a.messages),
      [['req'], ['req'], ['req']],
    );
  });

  test(`${name}: maxAttempts ends the retries (and is capped at 5)`, async (t) => {
    const c = client(lib, { retryPolicy: RETRY });
    const [md, key] = metadataFor(lib, { 'x-fail': 100 });
    const out = await unary(c, md);
    c.close();
    t.is(out.code, grpcJs.status.UNAVAILABLE);
    t.is(out.details, 'attempt 4 failed');
    t.is(attemptsOf(key).length, 4);
    t.deepEqual(out.trailerAttempts, ['3']);

    const capped = client(lib, { retryPolicy: { ...RETRY, maxAttempts: 9 } });
    const [md2, key2] = metadataFor(lib, { 'x-fail': 100 });
    const out2 = await unary(capped, md2);
    capped.close();
    t.is(out2.code, grpcJs.status.UNAVAILABLE);
    t.is(attemptsOf(key2).length, 5);
  });

  test.serial(
    `${name}: backoff grows by backoffMultiplier up to maxBackoff, with jitter`,
    async (t) => {
      const c = client(lib, {
        retryPolicy: { ...RETRY, initialBackoff: '0.2s', maxBackoff: '0.3s', backoffMultiplier: 2 },
      });
      const [md, key] = metadataFor(lib, { 'x-fail': 3 });
      const out = await unary(c, md);
      c.close();
      t.is(out.code, 0);
      const at = attemptsOf(key).map((a) => a.at);
      const gaps = at.slice(1).map((v, i) => v - at[i]);
      // 0.2 s ±20%, then 0.4 s capped to 0.3 s ±20% (twice); a little slack for the round trip.
      t.true(gaps[0] >= 155 && gaps[0] < 300, `gaps ${gaps}`);
      t.true(gaps[1] >= 235 && gaps[1] < 420, `gaps ${gaps}`);
      t.true(gaps[2] >= 235 && gaps[2] < 420, `gaps ${gaps}`);
    },
  );

  test(`${name}: a code not in retryableStatusCodes is not retried`, async (t) => {
    const c = client(lib, { retryPolicy: RETRY });
    const [md, key] = metadataFor(lib, { 'x-fail': 2, 'x-code': grpcJs.status.INVALID_ARGUMENT });
    const out = await unary(c, md);
    c.close();
    t.is(out.code, grpcJs.status.INVALID_ARGUMENT);
    t.is(attemptsOf(key).length, 1);
    t.deepEqual(out.trailerAttempts, []);
  });

  test(`${name}: client streaming replays every buffered message on each attempt`, async (t) => {
    const c = client(lib, { retryPolicy: RETRY });
    const [md, key] = metadataFor(lib, { 'x-fail': 2 });
    const out = await collect(c, md, [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
    c.close();
    t.is(out.code, 0);
    t.is(out.value, 'a,b,c');
    t.deepEqual(
      attemptsOf(key).map((a) => a.messages),
      [
        ['a', 'b', 'c'],
        ['a', 'b', 'c'],
        ['a', 'b', 'c'],
      ],
    );
  });

  test(`${name}: a call commits once the server sent headers (no retry after them)`, async (t) => {
    const c = client(lib, { retryPolicy: RETRY });
    const run = (md: grpcJs.Metadata) =>
      new Promise<number>((resolve) => {
        const call = c.makeServerStreamRequest('/test.Retry/Stream', id, id, Buffer.from(''), md);
        call.on('data', () => {});
        call.on('error', (e: grpcJs.ServiceError) => resolve(e.code));
        call.on('end', () => resolve(0));
      });
    const [md, key] = metadataFor(lib, { 'x-fail': 1, 'x-headers-first': 1 });
    t.is(await run(md), grpcJs.status.UNAVAILABLE);
    t.is(attemptsOf(key).length, 1);
    // Without headers first the same failure is retried.
    const [md2, key2] = metadataFor(lib, { 'x-fail': 1 });
    t.is(await run(md2), 0);
    t.is(attemptsOf(key2).length, 2);
    c.close();
  });

  test.serial(
    `${name}: server pushback delays the retry; a negative one stops retries`,
    async (t) => {
      const c = client(lib, { retryPolicy: RETRY });
      const [md, key] = metadataFor(lib, { 'x-fail': 1, 'x-pushback': 300 });
      const out = await unary(c, md);
      t.is(out.code, 0);
      const [a, b] = attemptsOf(key);
      t.true(b.at - a.at >= 280, `retried after ${b.at - a.at} ms`);

      const [md2, key2] = metadataFor(lib, { 'x-fail': 3, 'x-pushback': -1 });
      const out2 = await unary(c, md2);
      t.is(out2.code, grpcJs.status.UNAVAILABLE);
      t.is(attemptsOf(key2).length, 1);
      c.close();
    },
  );

  test(`${name}: retry throttling stops retries once the tokens run out`, async (t) => {
    // 4 tokens, retries allowed while more than 2 remain; each failure costs one.
    const c = client(lib, {
      retryPolicy: RETRY,
      retryThrottling: { maxTokens: 4, tokenRatio: 0.1 },
      target: `ipv4:127.0.0.1:${port}`,
    });
    const [md, key] = metadataFor(lib, { 'x-fail': 100 });
    t.is((await unary(c, md)).code, grpcJs.status.UNAVAILABLE);
    t.is(attemptsOf(key).length, 2);
    const [md2, key2] = metadataFor(lib, { 'x-fail': 100 });
    t.is((await unary(c, md2)).code, grpcJs.status.UNAVAILABLE);
    t.is(attemptsOf(key2).length, 1);
    c.close();
  });

  test(`${name}: grpc.enable_retries 0 disables retries`, async (t) => {
    const c = client(lib, { retryPolicy: RETRY, options: { 'grpc.enable_retries': 0 } });
    const [md, key] = metadataFor(lib, { 'x-fail': 1 });
    const out = await unary(c, md);
    c.close();
    t.is(out.code, grpcJs.status.UNAVAILABLE);
    t.is(attemptsOf(key).length, 1);
  });

  // Timing tests run alone (serial tests run first), so load does not skew them.
  test.serial(`${name}: the deadline covers all attempts`, async (t) => {
    const c = client(lib, { retryPolicy: { ...RETRY, maxAttempts: 5 } });
    const [md, key] = metadataFor(lib, { 'x-fail': 100, 'x-delay': 150 });
    const out = await unary(c, md, { deadline: Date.now() + 400 });
    c.close();
    t.is(out.code, grpcJs.status.DEADLINE_EXCEEDED);
    t.true(out.ms >= 390 && out.ms < 700, `ended after ${out.ms} ms`);
    const n = attemptsOf(key).length;
    t.true(n >= 2 && n <= 3, `${n} attempts`);
  });

  test.serial(
    `${name}: a deadline that passes during the backoff ends the call then`,
    async (t) => {
      const c = client(lib, {
        retryPolicy: { ...RETRY, initialBackoff: '2s', maxBackoff: '2s' },
      });
      const [md, key] = metadataFor(lib, { 'x-fail': 1 });
      const out = await unary(c, md, { deadline: Date.now() + 500 });
      c.close();
      t.is(out.code, grpcJs.status.DEADLINE_EXCEEDED);
      t.true(out.ms >= 490 && out.ms < 900, `ended after ${out.ms} ms`);
      t.is(attemptsOf(key).length, 1);
    },
  );

  test(`${name}: cancelling during the backoff ends the call; no attempt follows`, async (t) => {
    const c = client(lib, {
      retryPolicy: { ...RETRY, initialBackoff: '0.5s', maxBackoff: '0.5s' },
    });
    const [md, key] = metadataFor(lib, { 'x-fail': 1 });
    const code = await new Promise<number>((resolve) => {
      const call = c.makeUnaryRequest(
        '/test.Retry/Unary',
        id,
        id,
        Buffer.from('req'),
        md,
        {},
        (err: grpcJs.ServiceError | null) => resolve(err?.code ?? 0),
      );
      const poll = setInterval(() => {
        if (attemptsOf(key).length === 1) {
          clearInterval(poll);
          setTimeout(() => call.cancel(), 100);
        }
      }, 5);
    });
    t.is(code, grpcJs.status.CANCELLED);
    await new Promise((r) => setTimeout(r, 800));
    c.close();
    t.is(attemptsOf(key).length, 1);
  });

  test.serial(`${name}: the service config timeout covers all attempts too`, async (t) => {
    // Whole seconds: grpc-js misreads fractions ("0.4s" is 4 ns to it).
    const c = client(lib, { retryPolicy: { ...RETRY, maxAttempts: 5 }, timeout: '1s' });
    const [md, key] = metadataFor(lib, { 'x-fail': 100, 'x-delay': 400 });
    const out = await unary(c, md);
    c.close();
    t.is(out.code, grpcJs.status.DEADLINE_EXCEEDED);
    t.true(out.ms >= 990 && out.ms < 1400, `ended after ${out.ms} ms`);
    const n = attemptsOf(key).length;
    t.true(n >= 2 && n <= 3, `${n} attempts`);
  });

  test(`${name}: a message over grpc.per_rpc_retry_buffer_size commits the call`, async (t) => {
    const c = client(lib, {
      retryPolicy: RETRY,
      options: { 'grpc.per_rpc_retry_buffer_size': 100 },
    });
    const [md, key] = metadataFor(lib, { 'x-fail': 1 });
    const out = await collect(c, md, [Buffer.from('small'), Buffer.alloc(200, 'b')]);
    t.is(out.code, grpcJs.status.UNAVAILABLE);
    t.is(attemptsOf(key).length, 1);
    t.deepEqual(attemptsOf(key)[0].messages, ['small', 'b'.repeat(200)]);
    // Under the limit the same call is retried.
    const [md2, key2] = metadataFor(lib, { 'x-fail': 1 });
    const out2 = await collect(c, md2, [Buffer.from('small')]);
    t.is(out2.code, 0);
    t.is(attemptsOf(key2).length, 2);
    c.close();
  });

  test.serial(
    `${name}: hedging sends a second attempt after hedgingDelay; the first answer wins`,
    async (t) => {
      const c = client(lib, {
        hedgingPolicy: {
          maxAttempts: 3,
          hedgingDelay: '0.1s',
          nonFatalStatusCodes: ['UNAVAILABLE'],
        },
      });
      // The first attempt fails (non-fatal), the second succeeds.
      const [md, key] = metadataFor(lib, { 'x-fail': 1, 'x-delay': 20 });
      const out = await unary(c, md);
      c.close();
      t.is(out.code, 0);
      t.is(out.value, 'ok after 2');
      t.deepEqual(
        attemptsOf(key)
          .slice(0, 2)
          .map((a) => a.previous),
        [undefined, '1'],
      );
    },
  );
}

/**
 * A raw HTTP/2 server that refuses the first stream it sees, with RST_STREAM
 * REFUSED_STREAM or with a GOAWAY whose last-stream-id is below it, and
 * answers later ones as a gRPC server would.
 */
async function refusingServer(
  how: 'rst' | 'goaway' = 'rst',
  refuse = 1,
): Promise<{
  port: number;
  streams: () => number;
  /** Request body and grpc-previous-rpc-attempts of the last answered stream. */
  last: () => { body: Buffer; previous: unknown };
  close: () => void;
}> {
  let streams = 0;
  let last = { body: Buffer.alloc(0), previous: undefined as unknown };
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    streams++;
    stream.on('error', () => {});
    if (streams <= refuse) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      last = { body: Buffer.concat(chunks), previous: headers['grpc-previous-rpc-attempts'] };
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const body = Buffer.from('ok');
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      stream.end(frame);
    });
  });
  if (how === 'goaway') {
    // Node cannot send a GOAWAY below a stream it has seen, so the first
    // connection is answered by hand: SETTINGS, then on the first HEADERS a
    // GOAWAY(last-stream-id 0, NO_ERROR). Later connections go to the server.
    let connections = 0;
    const front = net.createServer((socket) => {
      if (++connections > 1) {
        server.emit('connection', socket);
        return;
      }
      streams++;
      socket.on('error', () => {});
      socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      let seen = Buffer.alloc(0);
      let pos = 24; // the client preface
      socket.on('data', (d: Buffer) => {
        seen = Buffer.concat([seen, d]);
        while (seen.length >= pos + 9) {
          const len = seen.readUIntBE(pos, 3);
          const type = seen[pos + 3];
          if (type === 1) {
            const goaway = Buffer.alloc(17);
            goaway.writeUIntBE(8, 0, 3);
            goaway[3] = 7;
            socket.write(goaway);
            return;
          }
          pos += 9 + len;
        }
      });
    });
    const fp = await new Promise<number>((resolve) =>
      front.listen(0, '127.0.0.1', () => resolve((front.address() as { port: number }).port)),
    );
    return {
      port: fp,
      streams: () => streams,
      last: () => last,
      close: () => {
        front.close();
        server.close();
      },
    };
  }
  const p = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return { port: p, streams: () => streams, last: () => last, close: () => server.close() };
}

function plainUnary(
  lib: Lib,
  p: number,
  options: Record<string, number> = {},
): Promise<{ code: number; value: string | undefined; client: grpcJs.Client }> {
  const c = makeClient(lib, `127.0.0.1:${p}`, options);
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      '/test.Plain/Call',
      id,
      id,
      Buffer.from('x'),
      (err: grpcJs.ServiceError | null, value?: Buffer) => {
        c.close();
        resolve({ code: err?.code ?? 0, value: value?.toString(), client: c });
      },
    );
  });
}

for (const [name, lib] of LIBS) {
  test(`${name}: a stream refused with REFUSED_STREAM is retried transparently, without a policy`, async (t) => {
    const s = await refusingServer();
    try {
      const out = await plainUnary(lib, s.port);
      t.is(out.code, 0);
      t.is(out.value, 'ok');
      t.is(s.streams(), 2);
    } finally {
      s.close();
    }
  });

  test(`${name}: a stream above a GOAWAY's last-stream-id is retried transparently`, async (t) => {
    const s = await refusingServer('goaway');
    try {
      const out = await plainUnary(lib, s.port);
      t.is(out.code, 0);
      t.is(out.value, 'ok');
      t.is(s.streams(), 2);
    } finally {
      s.close();
    }
  });

  test(`${name}: with a retry policy a refused client stream is replayed whole and is not an attempt`, async (t) => {
    const s = await refusingServer('rst');
    const bodies: number[] = [];
    const c = makeClient(lib, `127.0.0.1:${s.port}`, {
      'grpc.service_config': JSON.stringify({
        methodConfig: [{ name: [{ service: 'test.Plain' }], retryPolicy: RETRY }],
      }),
    });
    try {
      const code = await new Promise<number>((resolve) => {
        const call = c.makeClientStreamRequest(
          '/test.Plain/Call',
          id,
          id,
          new lib.Metadata() as grpcJs.Metadata,
          {},
          (err: grpcJs.ServiceError | null, value?: Buffer) => {
            bodies.push(value?.length ?? -1);
            resolve(err?.code ?? 0);
          },
        );
        call.write(Buffer.from('a'));
        setTimeout(() => {
          call.write(Buffer.from('b'));
          call.end();
        }, 50);
      });
      t.is(code, 0);
      t.deepEqual(bodies, [2]);
      t.is(s.streams(), 2);
      t.deepEqual(s.last(), {
        body: Buffer.from([0, 0, 0, 0, 1, 0x61, 0, 0, 0, 0, 1, 0x62]),
        previous: undefined,
      });
    } finally {
      c.close();
      s.close();
    }
  });

  test(`${name}: the transparent retry happens once`, async (t) => {
    const s = await refusingServer('rst', 2);
    try {
      const out = await plainUnary(lib, s.port);
      t.is(out.code, grpcJs.status.UNAVAILABLE);
      t.is(s.streams(), 2);
    } finally {
      s.close();
    }
  });

  for (const how of ['rst', 'goaway'] as const) {
    test(`${name}: no transparent retry with grpc.enable_retries 0 (${how})`, async (t) => {
      const s = await refusingServer(how);
      try {
        const out = await plainUnary(lib, s.port, { 'grpc.enable_retries': 0 });
        t.is(out.code, grpcJs.status.UNAVAILABLE);
        t.is(s.streams(), 1);
      } finally {
        s.close();
      }
    });
  }
}

test('h2grpc: an unparseable pushback stops retries (gRFC A6; grpc-js retries at once instead)', async (t) => {
  const c = client(h2grpc, { retryPolicy: RETRY });
  const [md, key] = metadataFor(h2grpc, { 'x-fail': 3, 'x-pushback': 'soon' });
  const out = await unary(c, md);
  c.close();
  t.is(out.code, grpcJs.status.UNAVAILABLE);
  t.is(attemptsOf(key).length, 1);
});

test('h2grpc: a method without a policy gets the plain transport call', (t) => {
  const c = client(h2grpc, {}) as unknown as h2grpc.Client;
  const channel = c.getChannel() as h2grpc.Channel;
  const call = channel.createCall('/test.Retry/Unary', Infinity, null, null, null);
  t.is(call.constructor.name, 'TransportCall');
  const withPolicy = (
    client(h2grpc, { retryPolicy: RETRY }) as unknown as h2grpc.Client
  ).getChannel() as h2grpc.Channel;
  t.is(
    withPolicy.createCall('/test.Retry/Unary', Infinity, null, null, null).constructor.name,
    'RetryingCall',
  );
  c.close();
  withPolicy.close();
});
