// Message compression against real peers: a @grpc/grpc-js server (which
// decompresses requests but, as of grpc-js 1.14, never compresses responses)
// and raw node:http2 gRPC servers that show the bytes on the wire and send
// compressed responses, including a decompression bomb.
import test, { type ExecutionContext } from 'ava';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import * as grpcJs from '@grpc/grpc-js';
import type * as GrpcJs from '@grpc/grpc-js';
import { grpc as h2grpc, isGrpcJs } from './helpers/fixture';

const METHOD = '/test.Echo/Echo';

const identity = (b: Buffer): Buffer => b;
const definition = {
  Echo: {
    path: METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

type EchoClient = GrpcJs.Client & {
  Echo(
    req: Buffer,
    md: GrpcJs.Metadata,
    cb: (err: GrpcJs.ServiceError | null, res?: Buffer) => void,
  ): void;
};

const EchoClient = h2grpc.makeGenericClientConstructor(definition, 'Echo') as unknown as new (
  target: string,
  creds: GrpcJs.ChannelCredentials,
  options?: Record<string, string | number>,
) => EchoClient;

function newClient(
  t: ExecutionContext,
  target: string,
  options: Record<string, string | number> = {},
): EchoClient {
  const client = new EchoClient(target, h2grpc.credentials.createInsecure(), options);
  t.teardown(() => client.close());
  return client;
}

interface Outcome {
  err: GrpcJs.ServiceError | null;
  res?: Buffer;
}

function echo(client: EchoClient, req: Buffer, md = new h2grpc.Metadata()): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('call did not finish in 15 s')), 15_000);
    client.Echo(req, md, (err, res) => {
      clearTimeout(timer);
      resolve({ err, res });
    });
  });
}

/** A compressible message that is not all one byte. */
function payload(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i % 64) + 32;
  return b;
}

async function startGrpcJsEcho(t: ExecutionContext): Promise<string> {
  const server = new grpcJs.Server();
  server.addService(definition, {
    Echo: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, cb: grpcJs.sendUnaryData<Buffer>) =>
      cb(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  t.teardown(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return `127.0.0.1:${port}`;
}

interface Seen {
  headers: http2.IncomingHttpHeaders;
  /** The request's gRPC frames: compressed flag and raw payload. */
  frames: Array<{ flag: number; body: Buffer }>;
}

type Respond = (stream: http2.ServerHttp2Stream, seen: Seen) => void;

/** Frames one message with the given flag byte. */
function frame(flag: number, body: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function parseFrames(data: Buffer): Array<{ flag: number; body: Buffer }> {
  const out: Array<{ flag: number; body: Buffer }> = [];
  let pos = 0;
  while (pos + 5 <= data.length) {
    const len = data.readUInt32BE(pos + 1);
    out.push({ flag: data[pos], body: data.subarray(pos + 5, pos + 5 + len) });
    pos += 5 + len;
  }
  return out;
}

/** Answers with one message, framed and encoded as `encoding` says. */
function respondWith(encoding: string | null, flag: number, body: Buffer): Respond {
  return (stream) => {
    const headers: http2.OutgoingHttpHeaders = {
      ':status': 200,
      'content-type': 'application/grpc',
    };
    if (encoding !== null) headers['grpc-encoding'] = encoding;
    stream.respond(headers, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.on('error', () => {});
    stream.end(frame(flag, body));
  };
}

/**
 * A raw HTTP/2 gRPC server: records each request's headers and frames, then
 * lets `respond` answer.
 */
async function startRawServer(
  t: ExecutionContext,
  respond: Respond,
): Promise<{ address: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('end', () => {
      const s = { headers, frames: parseFrames(Buffer.concat(chunks)) };
      seen.push(s);
      respond(stream, s);
    });
  });
  server.on('sessionError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function echoRaw(): Respond {
  return (stream, seen) => {
    const f = seen.frames[0];
    const body =
      f === undefined
        ? Buffer.alloc(0)
        : f.flag === 0
          ? f.body
          : seen.headers['grpc-encoding'] === 'gzip'
            ? zlib.gunzipSync(f.body)
            : zlib.inflateSync(f.body);
    respondWith(null, 0, body)(stream, seen);
  };
}

for (const [name, algorithm, inflate] of [
  ['gzip', 2, zlib.gunzipSync],
  ['deflate', 1, zlib.inflateSync],
] as const) {
  test(`channel-level ${name}: the request is compressed on the wire and a grpc-js server decodes it`, async (t) => {
    t.timeout(30_000);
    const raw = await startRawServer(t, echoRaw());
    const msg = payload(100_000);
    const client = newClient(t, raw.address, { 'grpc.default_compression_algorithm': algorithm });
    const out = await echo(client, msg);
    t.is(out.err, null);
    t.true(out.res?.equals(msg));
    const req = raw.seen[0];
    t.is(req.headers['grpc-encoding'], name);
    t.is(req.headers['grpc-accept-encoding'], 'identity,deflate,gzip');
    t.is(req.frames.length, 1);
    t.is(req.frames[0].flag, 1);
    t.true(req.frames[0].body.length < msg.length / 4, 'smaller than the message');
    t.true(inflate(req.frames[0].body).equals(msg));

    const jsTarget = await startGrpcJsEcho(t);
    const viaJs = newClient(t, jsTarget, { 'grpc.default_compression_algorithm': algorithm });
    for (const size of [0, 1, 5000, 300_000]) {
      const m = payload(size);
      const r = await echo(viaJs, m);
      t.is(r.err, null, `size ${size}`);
      t.true(r.res?.equals(m), `size ${size}`);
    }
  });

  test(`${name} responses from the server are inflated`, async (t) => {
    t.timeout(30_000);
    const msg = payload(50_000);
    const compress = name === 'gzip' ? zlib.gzipSync : zlib.deflateSync;
    const raw = await startRawServer(t, respondWith(name, 1, compress(msg)));
    const out = await echo(newClient(t, raw.address), Buffer.from('x'));
    t.is(out.err, null);
    t.true(out.res?.equals(msg));
  });
}

test('without the option nothing is compressed, but grpc-accept-encoding is always sent', async (t) => {
  t.timeout(30_000);
  const raw = await startRawServer(t, echoRaw());
  const msg = payload(10_000);
  const out = await echo(newClient(t, raw.address), msg);
  t.is(out.err, null);
  const req = raw.seen[0];
  t.is(req.headers['grpc-encoding'], undefined);
  t.is(req.headers['grpc-accept-encoding'], 'identity,deflate,gzip');
  t.is(req.frames[0].flag, 0);
  t.true(req.frames[0].body.equals(msg));
});

// grpc-js has no per-call override (gRPC core's metadata key); h2grpc reads it.
(isGrpcJs ? test.skip : test)(
  'per-call override: grpc-internal-encoding-request picks the encoding and is not sent',
  async (t) => {
    t.timeout(30_000);
    const raw = await startRawServer(t, echoRaw());
    const client = newClient(t, raw.address, { 'grpc.default_compression_algorithm': 2 });
    const msg = payload(20_000);
    const md = new h2grpc.Metadata();
    md.set('grpc-internal-encoding-request', 'deflate');
    md.set('x-other', 'kept');
    const out = await echo(client, msg, md);
    t.is(out.err, null);
    t.true(out.res?.equals(msg));
    const req = raw.seen[0];
    t.is(req.headers['grpc-encoding'], 'deflate');
    t.is(req.headers['grpc-internal-encoding-request'], undefined);
    t.is(req.headers['x-other'], 'kept');
    t.true(zlib.inflateSync(req.frames[0].body).equals(msg));
    // identity turns compression off for one call on a gzip channel.
    const plain = new h2grpc.Metadata();
    plain.set('grpc-internal-encoding-request', 'identity');
    t.is((await echo(client, msg, plain)).err, null);
    t.is(raw.seen[1].headers['grpc-encoding'], undefined);
    t.is(raw.seen[1].frames[0].flag, 0);
  },
);

test('a server that does not accept the encoding gets uncompressed messages after its first answer', async (t) => {
  t.timeout(30_000);
  const raw = await startRawServer(t, (stream, seen) => {
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    const f = seen.frames[0];
    stream.end(frame(0, f.flag === 0 ? f.body : zlib.gunzipSync(f.body)));
  });
  const client = newClient(t, raw.address, { 'grpc.default_compression_algorithm': 2 });
  const msg = payload(5000);
  t.is((await echo(client, msg)).err, null);
  t.is(raw.seen[0].headers['grpc-encoding'], 'gzip', 'no knowledge yet: the channel default');
  t.is((await echo(client, msg)).err, null);
  t.is(raw.seen[1].headers['grpc-encoding'], undefined);
  t.is(raw.seen[1].frames[0].flag, 0);
});

// grpc-js rejects with a plain Error here, which ends the call with an
// undefined code; h2grpc reports INTERNAL with grpc-js's text.
(isGrpcJs ? test.skip : test)(
  'compressed message with an unknown grpc-encoding fails INTERNAL',
  async (t) => {
    t.timeout(30_000);
    const raw = await startRawServer(t, respondWith('snappy', 1, Buffer.from('abc')));
    const out = await echo(newClient(t, raw.address), Buffer.from('x'));
    t.is(out.err?.code, h2grpc.status.INTERNAL);
    t.is(out.err?.details, 'Compression method not supported: snappy');
  },
);

// Same grpc-js deviation as above.
(isGrpcJs ? test.skip : test)('compressed flag without grpc-encoding fails INTERNAL', async (t) => {
  t.timeout(30_000);
  const raw = await startRawServer(t, respondWith(null, 1, zlib.gzipSync(Buffer.from('abc'))));
  const out = await echo(newClient(t, raw.address), Buffer.from('x'));
  t.is(out.err?.code, h2grpc.status.INTERNAL);
  t.is(out.err?.details, 'Received compressed message but "grpc-encoding" header was identity');
});

test('corrupt gzip fails INTERNAL', async (t) => {
  t.timeout(30_000);
  const good = zlib.gzipSync(payload(10_000));
  const raw = await startRawServer(t, respondWith('gzip', 1, good.subarray(0, good.length >> 1)));
  const out = await echo(newClient(t, raw.address), Buffer.from('x'));
  t.is(out.err?.code, h2grpc.status.INTERNAL);
  t.is(out.err?.details, 'Failed to decompress gzip-encoded message');
});

/** gzip of `size` zero bytes, built in slices so this process never holds them. */
async function gzipZeros(size: number): Promise<Buffer> {
  const gz = zlib.createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise<void>((resolve) => gz.on('end', resolve));
  const slice = Buffer.alloc(1 << 20);
  for (let left = size; left > 0; left -= slice.length) {
    if (!gz.write(left >= slice.length ? slice : slice.subarray(0, left))) {
      await new Promise((r) => gz.once('drain', r));
    }
  }
  gz.end();
  await done;
  return Buffer.concat(parts);
}

test('decompression bomb: 1 GiB of zeros stops at the receive limit with RESOURCE_EXHAUSTED', async (t) => {
  t.timeout(120_000);
  const bomb = await gzipZeros(1 << 30);
  t.true(bomb.length < 4 << 20, `bomb is ${bomb.length} bytes`);
  const raw = await startRawServer(t, respondWith('gzip', 1, bomb));
  const client = newClient(t, raw.address, { 'grpc.max_receive_message_length': 8 << 20 });
  // Connect and warm up first so the RSS baseline includes the connection.
  const warm = await echo(newClient(t, raw.address), Buffer.from('x'));
  t.is(warm.err?.code, h2grpc.status.RESOURCE_EXHAUSTED);
  const before = process.memoryUsage().rss;
  const out = await echo(client, Buffer.from('x'));
  const grown = process.memoryUsage().rss - before;
  t.is(out.err?.code, h2grpc.status.RESOURCE_EXHAUSTED);
  t.is(out.err?.details, `Received message that decompresses to a size larger than ${8 << 20}`);
  t.true(grown < 128 << 20, `RSS grew by ${grown} bytes`);
});

test('bomb from a grpc-js peer: a compressible message past the limit fails RESOURCE_EXHAUSTED', async (t) => {
  // grpc-js servers do not compress, so the peer is a grpc-js *client*'s
  // compression (zlib) feeding a raw server that relays the frame back.
  t.timeout(60_000);
  const big = Buffer.alloc(6 << 20);
  const relay = await startRawServer(t, (stream, seen) =>
    respondWith('deflate', 1, seen.frames[0].body)(stream, seen),
  );
  const Ctor = grpcJs.makeGenericClientConstructor(definition, 'Echo');
  const js = new Ctor(relay.address, grpcJs.credentials.createInsecure(), {
    'grpc.default_compression_algorithm': 1,
  }) as unknown as grpcJs.Client & {
    Echo(r: Buffer, cb: (e: grpcJs.ServiceError | null, r?: Buffer) => void): void;
  };
  t.teardown(() => js.close());
  // grpc-js's own receive limit rejects the relayed 6 MiB answer; what matters
  // is the compressed frame it produced, which the relay now holds.
  await new Promise<void>((resolve) => js.Echo(big, () => resolve()));
  const compressed = relay.seen[0].frames[0];
  t.is(compressed.flag, 1);
  const replay = await startRawServer(t, respondWith('deflate', 1, compressed.body));
  const out = await echo(newClient(t, replay.address), Buffer.from('x'));
  t.is(out.err?.code, h2grpc.status.RESOURCE_EXHAUSTED);
  t.is(out.err?.details, `Received message that decompresses to a size larger than ${4 << 20}`);
});
