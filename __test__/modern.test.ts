// The modern client API (createClient) against the real interop server in a
// child process: all four call kinds, AbortSignal, timeouts and deadlines,
// errors, early exit from a for-await loop, request backpressure, bidi
// interleaving. Type-level checks live in modern-types.test.ts.
import { getEventListeners } from 'node:events';
import { createServer } from 'node:net';
import test from 'ava';
import type { MethodDefinition } from '@grpc/proto-loader';
import {
  CallCredentials,
  Channel,
  createClient,
  credentials,
  GrpcError,
  loadPackageDefinition,
  Metadata,
  nativeStats,
  status,
  type ChannelInterface,
  type ModernClient,
} from '../ts/index';
import { shareInteropPeer, type InteropPeer } from './helpers/peer';
import {
  loadTestProto,
  type SimpleRequest,
  type SimpleResponse,
  type StreamingInputCallRequest,
  type StreamingInputCallResponse,
  type StreamingOutputCallRequest,
  type StreamingOutputCallResponse,
} from './helpers/interop-server';

/** The interop service, typed the way proto-loader-gen-types types it (flags are `boolean`). */
interface TestServiceDefinition {
  EmptyCall: MethodDefinition<object, object>;
  UnaryCall: MethodDefinition<SimpleRequest, SimpleResponse>;
  StreamingOutputCall: MethodDefinition<StreamingOutputCallRequest, StreamingOutputCallResponse>;
  StreamingInputCall: MethodDefinition<StreamingInputCallRequest, StreamingInputCallResponse>;
  FullDuplexCall: MethodDefinition<StreamingOutputCallRequest, StreamingOutputCallResponse>;
  HalfDuplexCall: MethodDefinition<StreamingOutputCallRequest, StreamingOutputCallResponse>;
  UnimplementedCall: MethodDefinition<object, object>;
}

/** The kinds, given as a map (the other way is the generated client interface). */
type TestServiceKinds = {
  EmptyCall: 'unary';
  UnaryCall: 'unary';
  StreamingOutputCall: 'serverStreaming';
  StreamingInputCall: 'clientStreaming';
  FullDuplexCall: 'bidiStreaming';
  HalfDuplexCall: 'bidiStreaming';
  UnimplementedCall: 'unary';
};

type TestClient = ModernClient<TestServiceDefinition, TestServiceKinds>;

const MiB = 1024 * 1024;
const REQUEST_SIZES = [27182, 8, 1828, 45904];
const RESPONSE_SIZES = [31415, 9, 2653, 58979];

const definition = loadTestProto()['grpc.testing.TestService'] as unknown as TestServiceDefinition;

let peer!: InteropPeer;
shareInteropPeer(
  test,
  () => 'client under test: h2grpc modern API',
  (p) => (peer = p),
);

interface Ctx {
  teardown(fn: () => void): void;
}

function newClient(t: Ctx, service: TestServiceDefinition = definition): TestClient {
  const client = createClient<TestServiceDefinition, TestServiceKinds>(service, peer.address);
  t.teardown(() => client.$close());
  return client;
}

let tagCount = 0;
function uniqueTag(name: string): string {
  return `${name}-${process.pid}-${++tagCount}`;
}

function cancelledLine(method: string, tag: string): RegExp {
  return new RegExp(`^CANCELLED ${method} tag=${tag}$`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function zeros(n: number): { body: Buffer } {
  return { body: Buffer.alloc(n) };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<GrpcError> {
  try {
    await p;
  } catch (error) {
    return error as GrpcError;
  }
  throw new Error('expected the call to fail, it succeeded');
}

async function warmUp(client: TestClient): Promise<void> {
  await client.emptyCall({});
}

// --- the four kinds ---------------------------------------------------------

test('unary: a promise of the response; both method names work', async (t) => {
  const client = newClient(t);
  const reply = await client.UnaryCall({ response_size: 314159, payload: zeros(271828) });
  t.is(reply.payload?.body?.length, 314159);
  const again = await client.unaryCall({ response_size: 7 });
  t.is(again.payload?.body?.length, 7);
  t.deepEqual(await client.emptyCall({}), {});
});

test('unary: metadata as a plain object reaches the server; onHeader/onTrailer see the echoes', async (t) => {
  const client = newClient(t);
  const headers: Metadata[] = [];
  const trailers: Metadata[] = [];
  const order: string[] = [];
  const reply = await client.unaryCall(
    { response_size: 1 },
    {
      metadata: {
        'x-grpc-test-echo-trailing-bin': Buffer.from([0xca, 0xfe]),
        'x-h2grpc-echo-all-metadata': '1',
        'x-multi': ['a', 'b'],
      },
      onHeader: (h) => {
        headers.push(h);
        order.push('header');
      },
      onTrailer: (m) => {
        trailers.push(m);
        order.push('trailer');
      },
    },
  );
  order.push('result');
  t.is(reply.payload?.body?.length, 1);
  t.deepEqual(order, ['header', 'trailer', 'result']);
  // Node's http2 on the server joins repeated headers into one `a, b` value.
  const values = (m: Metadata, key: string) => m.get(key).flatMap((v) => String(v).split(', '));
  t.deepEqual(values(headers[0], 'x-multi'), ['a', 'b']);
  t.deepEqual(trailers[0].get('x-grpc-test-echo-trailing-bin'), [Buffer.from([0xca, 0xfe])]);
  t.deepEqual(values(trailers[0], 't-x-multi'), ['a', 'b']);
});

test('unary: a Metadata instance is sent as is', async (t) => {
  const client = newClient(t);
  const metadata = new Metadata();
  metadata.add('x-grpc-test-echo-initial', 'from-metadata');
  let header: Metadata | undefined;
  await client.unaryCall({ response_size: 1 }, { metadata, onHeader: (h) => (header = h) });
  t.deepEqual(header?.get('x-grpc-test-echo-initial'), ['from-metadata']);
});

test('server streaming: for await yields every response in order', async (t) => {
  const client = newClient(t);
  const responses = await collect(
    client.streamingOutputCall({
      response_parameters: RESPONSE_SIZES.map((size) => ({ size })),
    }),
  );
  t.deepEqual(
    responses.map((r) => r.payload?.body?.length),
    RESPONSE_SIZES,
  );
});

test('server streaming: a non-OK status is thrown from the loop after the messages', async (t) => {
  const client = newClient(t);
  const seen: number[] = [];
  let trailer: Metadata | undefined;
  const error = await rejection(
    (async () => {
      for await (const r of client.StreamingOutputCall(
        {
          response_parameters: [{ size: 3 }, { size: 4 }],
          response_status: { code: status.FAILED_PRECONDITION, message: 'stream says no' },
        },
        {
          metadata: { 'x-grpc-test-echo-trailing-bin': Buffer.from('t') },
          onTrailer: (m) => (trailer = m),
        },
      )) {
        seen.push(r.payload?.body?.length ?? -1);
      }
    })(),
  );
  t.deepEqual(seen, [3, 4]);
  // As in grpc-js, the stack names the code that made the call.
  t.regex(error.stack ?? '', /\nfor call at\n[\s\S]*modern\.test\.ts/);
  t.true(error instanceof GrpcError);
  t.is(error.code, status.FAILED_PRECONDITION);
  t.is(error.details, 'stream says no');
  t.is(error.message, '9 FAILED_PRECONDITION: stream says no');
  t.deepEqual(error.metadata.get('x-grpc-test-echo-trailing-bin'), [Buffer.from('t')]);
  t.is(trailer, error.metadata);
});

test('server streaming: next() calls made at once settle in order', async (t) => {
  const client = newClient(t);
  const responses = client.streamingOutputCall({
    response_parameters: [{ size: 1 }, { size: 2 }],
  });
  const results = await Promise.all([responses.next(), responses.next(), responses.next()]);
  t.deepEqual(
    results.map((r) => (r.done ? 'done' : r.value.payload?.body?.length)),
    [1, 2, 'done'],
  );
});

test.serial('server streaming: the call starts on the first next(), not before', async (t) => {
  const client = newClient(t);
  await warmUp(client);
  const before = nativeStats().streamsStarted;
  const responses = client.streamingOutputCall({ response_parameters: [{ size: 1 }] });
  await sleep(50);
  t.is(nativeStats().streamsStarted, before);
  t.deepEqual(
    (await collect(responses)).map((r) => r.payload?.body?.length),
    [1],
  );
  t.true(nativeStats().streamsStarted > before);
});

test('client streaming: requests from an async generator, one response', async (t) => {
  const client = newClient(t);
  async function* requests() {
    for (const n of REQUEST_SIZES) {
      await sleep(1);
      yield { payload: zeros(n) };
    }
  }
  const reply = await client.streamingInputCall(requests());
  t.is(reply.aggregated_payload_size, 74922);
});

test('client streaming: from an array, and from an empty one', async (t) => {
  const client = newClient(t);
  const reply = await client.StreamingInputCall(REQUEST_SIZES.map((n) => ({ payload: zeros(n) })));
  t.is(reply.aggregated_payload_size, 74922);
  const empty = await client.StreamingInputCall([]);
  t.is(empty.aggregated_payload_size, 0);
});

test('client streaming: the generator is not pulled ahead of the transport (backpressure)', async (t) => {
  t.timeout(60_000);
  const client = newClient(t);
  await warmUp(client);
  const count = 32;
  let pulled = 0;
  async function* requests() {
    for (let i = 0; i < count; i++) {
      pulled++;
      yield { payload: zeros(MiB) };
    }
  }
  // The server reads nothing for 1.5 s, so flow control stops the writes:
  // a pump that did not wait for each write would pull all 32 MiB at once.
  const reply = client.streamingInputCall(requests(), {
    metadata: { 'x-h2grpc-sleep-ms': '1500' },
  });
  await sleep(1000);
  const pulledWhileBlocked = pulled;
  t.log(`pulled while the server did not read: ${pulledWhileBlocked} of ${count}`);
  t.true(pulledWhileBlocked >= 1);
  t.true(pulledWhileBlocked <= 8);
  t.is((await reply).aggregated_payload_size, count * MiB);
  t.is(pulled, count);
});

test('client streaming: an iterable that throws cancels the call and rejects with its error', async (t) => {
  const client = newClient(t);
  const tag = uniqueTag('iterable-throws');
  const boom = new Error('producer failed');
  async function* requests() {
    yield { payload: zeros(10) };
    await sleep(100);
    throw boom;
  }
  const error = await rejection(
    client.streamingInputCall(requests(), { metadata: { 'x-h2grpc-tag': tag } }),
  );
  t.is(error as unknown, boom);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingInputCall', tag), 5000));
});

test('bidi: write/next interleave one request and one response at a time', async (t) => {
  const client = newClient(t);
  const call = client.fullDuplexCall();
  const received: number[] = [];
  for (const size of RESPONSE_SIZES) {
    await call.write({ response_parameters: [{ size }] });
    const next = await call.next();
    t.false(next.done);
    if (!next.done) received.push(next.value.payload?.body?.length ?? -1);
  }
  call.end();
  t.deepEqual(await call.next(), { done: true, value: undefined });
  t.deepEqual(received, RESPONSE_SIZES);
});

test('bidi: fed from an async generator that waits for each response', async (t) => {
  const client = newClient(t);
  // The generator yields the next request only once the previous response
  // arrived: requests and responses truly interleave.
  let answered: () => void = () => {};
  const log: string[] = [];
  async function* requests() {
    for (const size of [5, 6, 7]) {
      log.push(`req ${size}`);
      const got = new Promise<void>((resolve) => (answered = resolve));
      yield { response_parameters: [{ size }] };
      await got;
    }
  }
  for await (const r of client.fullDuplexCall(requests())) {
    log.push(`res ${r.payload?.body?.length}`);
    answered();
  }
  t.deepEqual(log, ['req 5', 'res 5', 'req 6', 'res 6', 'req 7', 'res 7']);
});

test('bidi: a call fed from an iterable refuses write()', async (t) => {
  const client = newClient(t);
  const call = client.fullDuplexCall([{ response_parameters: [{ size: 1 }] }]);
  t.throws(() => call.write({}), { message: /fed from an iterable/ });
  t.deepEqual(
    (await collect(call)).map((r) => r.payload?.body?.length),
    [1],
  );
});

test('bidi: half duplex answers after end()', async (t) => {
  const client = newClient(t);
  const call = client.halfDuplexCall();
  await call.write({ response_parameters: [{ size: 2 }] });
  await call.write({ response_parameters: [{ size: 3 }] });
  call.end();
  t.throws(() => call.write({}), { message: /after end/ });
  t.deepEqual(
    (await collect(call)).map((r) => r.payload?.body?.length),
    [2, 3],
  );
});

// --- errors -----------------------------------------------------------------

test('errors: GrpcError is a ServiceError-compatible Error with code, details, metadata', async (t) => {
  const client = newClient(t);
  const error = await rejection(
    client.unaryCall(
      { response_status: { code: status.NOT_FOUND, message: 'no such thing' } },
      { metadata: { 'x-grpc-test-echo-trailing-bin': Buffer.from([1, 2]) } },
    ),
  );
  t.true(error instanceof GrpcError);
  t.true(error instanceof Error);
  t.is(error.name, 'GrpcError');
  t.is(error.code, status.NOT_FOUND);
  t.is(error.details, 'no such thing');
  t.is(error.message, '5 NOT_FOUND: no such thing');
  t.true(error.metadata instanceof Metadata);
  t.deepEqual(error.metadata.get('x-grpc-test-echo-trailing-bin'), [Buffer.from([1, 2])]);
});

test('errors: an unimplemented method rejects with UNIMPLEMENTED', async (t) => {
  const client = newClient(t);
  const error = await rejection(client.unimplementedCall({}));
  t.is(error.code, status.UNIMPLEMENTED);
  t.regex(error.message, /^12 UNIMPLEMENTED: /);
});

test('errors: a request that cannot be serialized fails the call with INTERNAL', async (t) => {
  const broken: TestServiceDefinition = {
    ...definition,
    UnaryCall: {
      ...definition.UnaryCall,
      requestSerialize: () => {
        throw new Error('cannot encode');
      },
    },
    StreamingInputCall: {
      ...definition.StreamingInputCall,
      requestSerialize: () => {
        throw new Error('cannot encode either');
      },
    },
  };
  const client = newClient(t, broken);
  const unary = await rejection(client.unaryCall({ response_size: 1 }));
  t.is(unary.code, status.INTERNAL);
  t.is(unary.details, 'Request message serialization failure: cannot encode');
  const streaming = await rejection(client.streamingInputCall([{ payload: zeros(1) }]));
  t.is(streaming.code, status.INTERNAL);
  t.is(streaming.details, 'Request message serialization failure: cannot encode either');
});

test('errors: a response that cannot be parsed fails the call with INTERNAL', async (t) => {
  const broken: TestServiceDefinition = {
    ...definition,
    StreamingOutputCall: {
      ...definition.StreamingOutputCall,
      responseDeserialize: () => {
        throw new Error('bad bytes');
      },
    },
  };
  const client = newClient(t, broken);
  const error = await rejection(
    collect(client.streamingOutputCall({ response_parameters: [{ size: 1 }, { size: 2 }] })),
  );
  t.is(error.code, status.INTERNAL);
  t.is(error.details, 'Response message parsing error: bad bytes');
});

test('errors: invalid metadata rejects without starting a call', async (t) => {
  const client = newClient(t);
  await t.throwsAsync(client.unaryCall({}, { metadata: { 'bad key!': 'x' } }));
  await t.throwsAsync(client.unaryCall({}, { metadata: { 'x-bin': 'not a buffer' } }));
});

// --- AbortSignal --------------------------------------------------------------

test.serial(
  'abort: an already aborted signal never starts a call, whatever the kind',
  async (t) => {
    const client = newClient(t);
    await warmUp(client);
    const reason = new Error('gave up early');
    const signal = AbortSignal.abort(reason);
    const before = nativeStats().streamsStarted;
    const errors = [
      await rejection(client.unaryCall({}, { signal })),
      await rejection(client.streamingInputCall([{}], { signal })),
      await rejection(collect(client.streamingOutputCall({}, { signal }))),
      await rejection(collect(client.fullDuplexCall([{}], { signal }))),
    ];
    const bidi = client.fullDuplexCall(undefined, { signal });
    await bidi.write({}); // resolves: the call is over, nothing is sent
    errors.push(await rejection(bidi.next()));
    t.is(nativeStats().streamsStarted, before);
    for (const error of errors) {
      t.true(error instanceof GrpcError);
      t.is(error.code, status.CANCELLED);
      t.is(error.cause, reason);
      t.is(error.details, 'Cancelled on client: gave up early');
    }
  },
);

test('abort: during a unary call → CANCELLED with the reason; the server sees it', async (t) => {
  const client = newClient(t);
  await warmUp(client);
  const tag = uniqueTag('abort-unary');
  const controller = new AbortController();
  const reason = new Error('user navigated away');
  setTimeout(() => controller.abort(reason), 300);
  const started = Date.now();
  const error = await rejection(
    client.unaryCall(
      { response_size: 1 },
      {
        signal: controller.signal,
        metadata: { 'x-h2grpc-sleep-ms': '10000', 'x-h2grpc-tag': tag },
      },
    ),
  );
  t.is(error.code, status.CANCELLED);
  t.is(error.cause, reason);
  t.is(error.message, '1 CANCELLED: Cancelled on client: user navigated away');
  t.true(Date.now() - started < 9000);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('UnaryCall', tag), 5000));
});

test('abort: during a server stream → thrown from the loop; the server sees it', async (t) => {
  const client = newClient(t);
  const tag = uniqueTag('abort-server-stream');
  const controller = new AbortController();
  let count = 0;
  const error = await rejection(
    (async () => {
      for await (const _ of client.streamingOutputCall(
        {
          response_parameters: Array.from({ length: 100 }, () => ({
            size: 10,
            interval_us: 50_000,
          })),
        },
        { signal: controller.signal, metadata: { 'x-h2grpc-tag': tag } },
      )) {
        if (++count === 2) controller.abort();
      }
    })(),
  );
  t.is(count, 2);
  t.is(error.code, status.CANCELLED);
  t.true(error.cause instanceof Error);
  t.is((error.cause as Error).name, 'AbortError');
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingOutputCall', tag), 5000));
});

test('abort: during a client stream → CANCELLED; the generator is closed; the server sees it', async (t) => {
  const client = newClient(t);
  const tag = uniqueTag('abort-client-stream');
  const controller = new AbortController();
  let cleanedUp = false;
  async function* requests() {
    try {
      for (;;) {
        yield { payload: zeros(100) };
        await sleep(20);
      }
    } finally {
      cleanedUp = true;
    }
  }
  setTimeout(() => controller.abort('stop it'), 300);
  const error = await rejection(
    client.streamingInputCall(requests(), {
      signal: controller.signal,
      metadata: { 'x-h2grpc-tag': tag },
    }),
  );
  t.is(error.code, status.CANCELLED);
  t.is(error.cause, 'stop it');
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingInputCall', tag), 5000));
  await sleep(100);
  t.true(cleanedUp);
});

test('abort: during a bidi call → CANCELLED; the server sees it', async (t) => {
  const client = newClient(t);
  const tag = uniqueTag('abort-bidi');
  const controller = new AbortController();
  const call = client.fullDuplexCall(undefined, {
    signal: controller.signal,
    metadata: { 'x-h2grpc-tag': tag },
  });
  // The handler is busy writing slow responses when the abort comes.
  await call.write({
    response_parameters: Array.from({ length: 50 }, () => ({ size: 10, interval_us: 50_000 })),
  });
  const first = await call.next();
  t.false(first.done);
  controller.abort();
  const error = await rejection(collect(call));
  t.is(error.code, status.CANCELLED);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('FullDuplexCall', tag), 5000));
});

test('abort: one signal shared by many calls cancels them all, with one listener on the signal', async (t) => {
  const client = newClient(t);
  await warmUp(client);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const controller = new AbortController();
  const calls = Array.from({ length: 20 }, () =>
    rejection(
      client.unaryCall(
        {},
        { signal: controller.signal, metadata: { 'x-h2grpc-sleep-ms': '10000' } },
      ),
    ),
  );
  t.is(getEventListeners(controller.signal, 'abort').length, 1);
  await sleep(200);
  controller.abort();
  for (const error of await Promise.all(calls)) t.is(error.code, status.CANCELLED);
  t.is(getEventListeners(controller.signal, 'abort').length, 0);
  await sleep(10); // warnings are emitted on a later tick
  t.deepEqual(
    warnings.map((w) => w.name),
    [],
  );
});

test('abort: a long-lived signal keeps no listener once its calls are done', async (t) => {
  const client = newClient(t);
  const controller = new AbortController();
  await Promise.all([
    client.emptyCall({}, { signal: controller.signal }),
    collect(client.streamingOutputCall({}, { signal: controller.signal })),
    client.streamingInputCall([], { signal: controller.signal }),
    collect(client.fullDuplexCall([], { signal: controller.signal })),
  ]);
  t.is(getEventListeners(controller.signal, 'abort').length, 0);
});

// --- leaving a loop, deadlines ---------------------------------------------

test('breaking out of for await cancels the server stream', async (t) => {
  const client = newClient(t);
  const tag = uniqueTag('break');
  let trailers = 0;
  let count = 0;
  for await (const _ of client.streamingOutputCall(
    { response_parameters: Array.from({ length: 100 }, () => ({ size: 10, interval_us: 20_000 })) },
    { metadata: { 'x-h2grpc-tag': tag }, onTrailer: () => trailers++ },
  )) {
    if (++count === 3) break;
  }
  t.is(count, 3);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingOutputCall', tag), 5000));
  t.is(trailers, 1);
});

test('breaking out of for await over a bidi call cancels it', async (t) => {
  const client = newClient(t);
  const tag = uniqueTag('break-bidi');
  const call = client.fullDuplexCall(undefined, { metadata: { 'x-h2grpc-tag': tag } });
  await call.write({
    response_parameters: Array.from({ length: 100 }, () => ({ size: 10, interval_us: 20_000 })),
  });
  for await (const _ of call) break;
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('FullDuplexCall', tag), 5000));
  t.deepEqual(await call.next(), { done: true, value: undefined });
});

test('timeout (ms) → DEADLINE_EXCEEDED; the server sees the cancellation', async (t) => {
  const client = newClient(t);
  await warmUp(client);
  const tag = uniqueTag('timeout');
  const started = Date.now();
  const error = await rejection(
    client.unaryCall(
      { response_size: 1 },
      { timeout: 500, metadata: { 'x-h2grpc-sleep-ms': '10000', 'x-h2grpc-tag': tag } },
    ),
  );
  t.is(error.code, status.DEADLINE_EXCEEDED);
  t.regex(error.message, /^4 DEADLINE_EXCEEDED: /);
  t.true(Date.now() - started < 9000);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('UnaryCall', tag), 5000));
});

test('deadline (Date or epoch ms) → DEADLINE_EXCEEDED mid server stream', async (t) => {
  const client = newClient(t);
  await warmUp(client);
  const slow = {
    response_parameters: Array.from({ length: 50 }, () => ({ size: 1, interval_us: 100_000 })),
  };
  for (const deadlineIn400 of [() => new Date(Date.now() + 400), () => Date.now() + 400]) {
    const deadline = deadlineIn400();
    let count = 0;
    const error = await rejection(
      (async () => {
        for await (const _ of client.streamingOutputCall(slow, { deadline })) count++;
      })(),
    );
    t.is(error.code, status.DEADLINE_EXCEEDED);
    t.true(count >= 1 && count < 50);
  }
});

test('timeout and deadline together: the earlier wins', async (t) => {
  const client = newClient(t);
  await warmUp(client);
  const started = Date.now();
  const error = await rejection(
    client.unaryCall(
      {},
      { timeout: 300, deadline: Date.now() + 60_000, metadata: { 'x-h2grpc-sleep-ms': '5000' } },
    ),
  );
  t.is(error.code, status.DEADLINE_EXCEEDED);
  t.true(Date.now() - started < 4000);
});

/** A loopback address nothing listens on (connections are refused). */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

test('waitForReady: waits through refused connections until the deadline; default fails fast', async (t) => {
  const client = createClient<TestServiceDefinition, TestServiceKinds>(
    definition,
    await deadAddress(),
  );
  t.teardown(() => client.$close());
  const failFast = await rejection(client.emptyCall({}, { timeout: 5000 }));
  t.is(failFast.code, status.UNAVAILABLE);
  const metadata = new Metadata();
  metadata.set('x-keep', 'me');
  const waited = await rejection(
    client.emptyCall({}, { timeout: 500, waitForReady: true, metadata }),
  );
  t.is(waited.code, status.DEADLINE_EXCEEDED);
  // The caller's Metadata is left as it was.
  t.is(metadata.getOptions().waitForReady, undefined);
  const plain = await rejection(client.emptyCall({}, { timeout: 300, waitForReady: true }));
  t.is(plain.code, status.DEADLINE_EXCEEDED);
});

// --- channels -------------------------------------------------------------------

test('a shared Channel: $close leaves it open for its owner', async (t) => {
  const channel = new Channel(peer.address, credentials.createInsecure(), {});
  t.teardown(() => channel.close());
  const a = createClient<TestServiceDefinition, TestServiceKinds>(definition, channel);
  const b = createClient<TestServiceDefinition, TestServiceKinds>(definition, channel);
  t.is(a.$channel, channel);
  await a.emptyCall({});
  a.$close();
  t.deepEqual(await b.emptyCall({}), {});
});

test('untyped: a definition without types gives a client callable by name', async (t) => {
  const untyped = createClient(loadTestProto()['grpc.testing.TestService'], peer.address);
  t.teardown(() => untyped.$close());
  const reply = await untyped.UnaryCall({ response_size: 4 });
  t.is(reply.payload.body.length, 4);
  t.false(Object.keys(untyped).includes('$close'));
  // A client class from loadPackageDefinition works too (its `service` is used).
  const pkg = loadPackageDefinition(loadTestProto()) as any;
  const fromClass = createClient(pkg.grpc.testing.TestService, peer.address);
  t.teardown(() => fromClass.$close());
  t.is((await fromClass.unaryCall({ response_size: 2 })).payload.body.length, 2);
});

test('per-call credentials reach the transport call', async (t) => {
  class StaticToken extends CallCredentials {
    async generateMetadata(): Promise<Metadata> {
      const metadata = new Metadata();
      metadata.set('authorization', 'Bearer test');
      return metadata;
    }
    compose(): CallCredentials {
      return this;
    }
    _equals(other: CallCredentials): boolean {
      return other === this;
    }
  }
  const channel = new Channel(peer.address, credentials.createInsecure(), {});
  t.teardown(() => channel.close());
  // A real channel whose calls report what they were given.
  const given: unknown[] = [];
  const recording: ChannelInterface = Object.create(channel, {
    createCall: {
      value: (...args: Parameters<ChannelInterface['createCall']>) => {
        const call = channel.createCall(...args);
        const setCredentials = call.setCredentials.bind(call);
        call.setCredentials = (c) => {
          given.push(c);
          setCredentials(c);
        };
        return call;
      },
    },
  });
  const client = createClient<TestServiceDefinition, TestServiceKinds>(definition, recording);
  const token = new StaticToken();
  // Whether an insecure channel may carry call credentials is the channel's
  // decision; this checks only that the modern API hands them over.
  await client.emptyCall({}, { credentials: token }).catch(() => undefined);
  await client.emptyCall({});
  t.deepEqual(given, [token]);
});
