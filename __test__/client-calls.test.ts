// The call objects' events, callbacks and requests to the transport, with
// fake transports standing in for the network. Most scenarios run twice:
// once on h2grpc and once on @grpc/grpc-js given an equivalent fake call, and
// what the user sees must be the same, in the same order.
import test from 'ava';
import * as grpcJs from '@grpc/grpc-js';
import { Client } from '../ts/client';
import { Status } from '../ts/constants';
import { credentials } from '../ts/credentials';
import { Metadata } from '../ts/metadata';
import type { ServiceError } from '../ts/call/client-calls';
import { FakeChannel, FakeCall } from './helpers/fake-call';

// ---------------------------------------------------------------------------
// A grpc-js internal call that behaves like FakeCall, so that both libraries
// can be driven by the same script.

interface GrpcJsListener {
  onReceiveMetadata(metadata: grpcJs.Metadata): void;
  onReceiveMessage(message: Buffer): void;
  onReceiveStatus(status: grpcJs.StatusObject): void;
}

class GrpcJsFakeCall {
  listener: GrpcJsListener | undefined;
  sent: Buffer[] = [];
  halfClosed = false;
  cancels: Array<{ code: Status; details: string }> = [];
  ended = false;

  start(_metadata: grpcJs.Metadata, listener: GrpcJsListener): void {
    this.listener = listener;
  }
  sendMessageWithContext(context: { callback?: () => void }, message: Buffer): void {
    this.sent.push(message);
    if (context.callback) process.nextTick(context.callback);
  }
  startRead(): void {}
  halfClose(): void {
    this.halfClosed = true;
  }
  cancelWithStatus(code: Status, details: string): void {
    this.cancels.push({ code, details });
    if (this.ended) return;
    this.ended = true;
    process.nextTick(() =>
      this.listener?.onReceiveStatus({ code, details, metadata: new grpcJs.Metadata() }),
    );
  }
  getPeer(): string {
    return '127.0.0.1:50051';
  }
  getCallNumber(): number {
    return 1;
  }
  setCredentials(): void {}
  getAuthContext(): null {
    return null;
  }
  headers(metadata: grpcJs.Metadata): void {
    if (!this.ended) this.listener!.onReceiveMetadata(metadata);
  }
  message(message: Buffer): void {
    if (!this.ended) this.listener!.onReceiveMessage(message);
  }
  finish(code: Status, details: string, trailers: grpcJs.Metadata): void {
    if (this.ended) return;
    this.ended = true;
    this.listener!.onReceiveStatus({ code, details, metadata: trailers });
  }
}

class GrpcJsFakeChannel {
  readonly calls: GrpcJsFakeCall[] = [];
  createCall(): GrpcJsFakeCall {
    const call = new GrpcJsFakeCall();
    this.calls.push(call);
    return call;
  }
  close(): void {}
}

// ---------------------------------------------------------------------------
// Scenario plumbing.

interface Msg {
  n?: number;
  bad?: boolean;
}

const serialize = (value: Msg): Buffer => {
  if (value.bad) throw new Error('cannot serialize');
  return Buffer.from(JSON.stringify(value));
};
const deserialize = (bytes: Buffer): Msg => {
  if (bytes[0] === 0xff) throw new Error('bad bytes');
  return JSON.parse(bytes.toString()) as Msg;
};
const encode = (value: Msg): Buffer => Buffer.from(JSON.stringify(value));
const GARBAGE = Buffer.from([0xff, 0x00]);

/** The parts of both libraries' call objects and Client that the scenarios use. */
interface AnyCall extends NodeJS.EventEmitter {
  cancel(): void;
  getPeer(): string;
  write?(value: Msg, cb?: () => void): boolean;
  end?(cb?: () => void): void;
}
type Callback = (err: ServiceError | null, value?: Msg) => void;
interface AnyClient {
  makeUnaryRequest(...args: unknown[]): AnyCall;
  makeClientStreamRequest(...args: unknown[]): AnyCall;
  makeServerStreamRequest(...args: unknown[]): AnyCall;
  makeBidiStreamRequest(...args: unknown[]): AnyCall;
}

/** A fake call of either library, seen from the server's side. */
interface ServerSide {
  headers(entries?: Record<string, string>): void;
  message(bytes: Buffer): void;
  finish(code?: Status, details?: string, trailers?: Record<string, string>): void;
}

interface Harness {
  client: AnyClient;
  newMetadata(): Metadata | grpcJs.Metadata;
  /** The server's side of the most recent call. */
  server(): ServerSide;
  log: string[];
  /** What the transport was asked to do, normalized across the two call contracts. */
  transport(): { sent: string[]; halfClosed: boolean | 'cancelled'; cancels: string[] };
}

function fillMetadata<M extends { add(key: string, value: string): void }>(
  md: M,
  entries: Record<string, string> = {},
): M {
  for (const [key, value] of Object.entries(entries)) md.add(key, value);
  return md;
}

// Whether a cancelled call was also half-closed does not matter (grpc-js
// half-closes the call it has just cancelled for a bad request; h2grpc does
// not bother), so it is left out for cancelled calls.
function normalize(
  sent: string[],
  halfClosed: boolean,
  cancels: Array<{ code: Status; details: string }>,
): ReturnType<Harness['transport']> {
  return {
    sent,
    halfClosed: cancels.length > 0 ? 'cancelled' : halfClosed,
    cancels: cancels.map((c) => `${c.code} ${c.details}`),
  };
}

function h2grpcHarness(): Harness {
  const channel = new FakeChannel();
  const client = new Client('fake:1', credentials.createInsecure(), {
    channelOverride: channel,
  }) as unknown as AnyClient;
  return {
    client,
    newMetadata: () => new Metadata(),
    log: [],
    server: () => {
      const call = channel.last;
      return {
        headers: (entries) => call.headers(fillMetadata(new Metadata(), entries)),
        message: (bytes) => call.message(bytes),
        finish: (code = Status.OK, details = '', trailers) =>
          call.finish(code, details, fillMetadata(new Metadata(), trailers)),
      };
    },
    transport: () => {
      const call = channel.last;
      const first = call.startOptions?.message;
      const sent = (first ? [first, ...call.sent] : call.sent).map((b) => b.toString());
      return normalize(
        sent,
        call.halfClosed || call.startOptions?.halfClose === true,
        call.cancels,
      );
    },
  };
}

function grpcJsHarness(): Harness {
  const channel = new GrpcJsFakeChannel();
  const client = new grpcJs.Client('fake:1', grpcJs.credentials.createInsecure(), {
    channelOverride: channel as unknown as grpcJs.Channel,
  }) as unknown as AnyClient;
  const last = () => channel.calls[channel.calls.length - 1];
  return {
    client,
    newMetadata: () => new grpcJs.Metadata(),
    log: [],
    server: () => {
      const call = last();
      return {
        headers: (entries) => call.headers(fillMetadata(new grpcJs.Metadata(), entries)),
        message: (bytes) => call.message(bytes),
        finish: (code = Status.OK, details = '', trailers) =>
          call.finish(code, details, fillMetadata(new grpcJs.Metadata(), trailers)),
      };
    },
    transport: () => {
      const call = last();
      return normalize(
        call.sent.map((b) => b.toString()),
        call.halfClosed,
        call.cancels,
      );
    },
  };
}

function describeMetadata(md: { toJSON(): object }): string {
  return JSON.stringify(md.toJSON());
}

function describeError(err: ServiceError): string {
  return `${err.message} | code=${err.code} details=${err.details} md=${describeMetadata(err.metadata)}`;
}

/** Records, in order, every event and callback a user could observe. */
function record(call: AnyCall, log: string[]): void {
  call.on('metadata', (md: Metadata) => log.push(`metadata ${describeMetadata(md)}`));
  call.on('status', (s: grpcJs.StatusObject) =>
    log.push(`status ${s.code} ${s.details} ${describeMetadata(s.metadata)}`),
  );
  call.on('data', (value: Msg) => log.push(`data ${JSON.stringify(value)}`));
  call.on('end', () => log.push('end'));
  call.on('error', (err: ServiceError) => log.push(`error ${describeError(err)}`));
}

function callbackInto(log: string[]): Callback {
  return (err, value) =>
    log.push(err ? `callback error ${describeError(err)}` : `callback ${JSON.stringify(value)}`);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function assertOrder(events: string[], expected: string[]): void {
  if (JSON.stringify(events) !== JSON.stringify(expected)) {
    throw new Error(`events ${JSON.stringify(events)}, expected ${JSON.stringify(expected)}`);
  }
}

type Scenario = (h: Harness) => Promise<void> | void;

async function runOn(harness: Harness, scenario: Scenario) {
  await scenario(harness);
  await settle();
  return { events: harness.log, transport: harness.transport() };
}

/** Runs `scenario` on both libraries and expects identical observations. */
function sameAsGrpcJs(title: string, scenario: Scenario, check?: (events: string[]) => void) {
  test(`like grpc-js: ${title}`, async (t) => {
    const ours = await runOn(h2grpcHarness(), scenario);
    const theirs = await runOn(grpcJsHarness(), scenario);
    t.deepEqual(ours, theirs);
    check?.(ours.events);
  });
}

// ---------------------------------------------------------------------------
// Unary.

function unary(h: Harness, request: Msg = { n: 1 }): AnyCall {
  const call = h.client.makeUnaryRequest(
    '/s/M',
    serialize,
    deserialize,
    request,
    h.newMetadata(),
    {},
    callbackInto(h.log),
  );
  record(call, h.log);
  return call;
}

sameAsGrpcJs(
  'unary OK: metadata, then the callback with the response, then status',
  (h) => {
    unary(h);
    const s = h.server();
    s.headers({ 'x-h': 'v' });
    s.message(encode({ n: 42 }));
    s.finish(Status.OK, '', { 'x-t': 'w' });
  },
  (events) =>
    assertOrder(events, ['metadata {"x-h":["v"]}', 'callback {"n":42}', 'status 0  {"x-t":["w"]}']),
);

sameAsGrpcJs('unary with a non-OK status: ServiceError with status fields', (h) => {
  unary(h);
  const s = h.server();
  s.headers();
  s.finish(Status.NOT_FOUND, 'no such thing', { 'x-why': 'gone' });
});

sameAsGrpcJs('unary OK without a response: UNIMPLEMENTED No message received', (h) => {
  unary(h);
  h.server().finish(Status.OK, '', { 'x-t': '1' });
});

sameAsGrpcJs('unary with two responses: cancelled as UNIMPLEMENTED', (h) => {
  unary(h);
  const s = h.server();
  s.message(encode({ n: 1 }));
  s.message(encode({ n: 2 }));
  s.finish();
});

sameAsGrpcJs('unary with an unparsable response: INTERNAL parsing error', (h) => {
  unary(h);
  const s = h.server();
  s.headers();
  s.message(GARBAGE);
  s.finish();
});

sameAsGrpcJs('unary request that cannot be serialized: INTERNAL, call cancelled', (h) => {
  unary(h, { bad: true });
});

sameAsGrpcJs(
  'unary cancelled by the user: CANCELLED Cancelled on client',
  (h) => {
    const call = unary(h);
    h.server().headers();
    call.cancel();
    call.cancel();
  },
  (events) =>
    assertOrder(events, [
      'metadata {}',
      'callback error 1 CANCELLED: Cancelled on client | code=1 details=Cancelled on client md={}',
      'status 1 Cancelled on client {}',
    ]),
);

sameAsGrpcJs('unary cancelled after it finished: nothing more happens', async (h) => {
  const call = unary(h);
  const s = h.server();
  s.message(encode({ n: 1 }));
  s.finish();
  await settle();
  call.cancel();
});

// ---------------------------------------------------------------------------
// Client streaming.

function clientStream(h: Harness): AnyCall {
  const call = h.client.makeClientStreamRequest(
    '/s/C',
    serialize,
    deserialize,
    h.newMetadata(),
    callbackInto(h.log),
  );
  record(call, h.log);
  return call;
}

sameAsGrpcJs('client streaming: writes, end, response', async (h) => {
  const call = clientStream(h);
  call.write!({ n: 1 });
  call.write!({ n: 2 });
  await new Promise<void>((resolve) => call.end!(resolve));
  const s = h.server();
  s.headers();
  s.message(encode({ n: 3 }));
  s.finish();
});

sameAsGrpcJs('client streaming: server fails early', (h) => {
  const call = clientStream(h);
  call.write!({ n: 1 });
  h.server().finish(Status.RESOURCE_EXHAUSTED, 'too much');
});

sameAsGrpcJs('client streaming: a request that cannot be serialized cancels with INTERNAL', (h) => {
  const call = clientStream(h);
  call.write!({ n: 1 });
  call.write!({ bad: true });
});

// ---------------------------------------------------------------------------
// Server streaming.

function serverStream(h: Harness, request: Msg = { n: 0 }): AnyCall {
  const call = h.client.makeServerStreamRequest(
    '/s/S',
    serialize,
    deserialize,
    request,
    h.newMetadata(),
  );
  record(call, h.log);
  return call;
}

sameAsGrpcJs('server streaming OK: metadata, data in order, end, status', (h) => {
  serverStream(h);
  const s = h.server();
  s.headers({ a: '1' });
  s.message(encode({ n: 1 }));
  s.message(encode({ n: 2 }));
  s.message(encode({ n: 3 }));
  s.finish(Status.OK, '', { t: '2' });
});

sameAsGrpcJs(
  'server streaming OK, messages spread over time',
  async (h) => {
    serverStream(h);
    const s = h.server();
    s.headers();
    for (let n = 1; n <= 3; n++) {
      s.message(encode({ n }));
      await settle();
    }
    s.finish();
  },
  (events) =>
    assertOrder(events, [
      'metadata {}',
      'data {"n":1}',
      'data {"n":2}',
      'data {"n":3}',
      'status 0  {}',
      'end',
    ]),
);

// grpc-js also emits 'end' after 'error' and 'status'; so must h2grpc.
sameAsGrpcJs(
  'server streaming with a non-OK status after data: error then status',
  async (h) => {
    serverStream(h);
    const s = h.server();
    s.headers();
    s.message(encode({ n: 1 }));
    await settle();
    s.finish(Status.UNAVAILABLE, 'went away', { w: 'x' });
  },
  (events) =>
    assertOrder(events, [
      'metadata {}',
      'data {"n":1}',
      'error 14 UNAVAILABLE: went away | code=14 details=went away md={"w":["x"]}',
      'status 14 went away {"w":["x"]}',
      'end',
    ]),
);

sameAsGrpcJs('server streaming with an immediate error status', (h) => {
  serverStream(h);
  h.server().finish(Status.PERMISSION_DENIED, 'no');
});

sameAsGrpcJs('server streaming with an unparsable message: INTERNAL', async (h) => {
  serverStream(h);
  const s = h.server();
  s.message(encode({ n: 1 }));
  await settle();
  s.message(GARBAGE);
  s.message(encode({ n: 2 }));
  s.finish();
});

sameAsGrpcJs('server streaming cancelled by the user mid-stream', async (h) => {
  const call = serverStream(h);
  const s = h.server();
  s.headers();
  s.message(encode({ n: 1 }));
  await settle();
  call.cancel();
  s.message(encode({ n: 2 }));
});

sameAsGrpcJs('server streaming request that cannot be serialized', (h) => {
  serverStream(h, { bad: true });
});

// ---------------------------------------------------------------------------
// Bidi streaming.

function bidi(h: Harness): AnyCall {
  const call = h.client.makeBidiStreamRequest('/s/B', serialize, deserialize, h.newMetadata());
  record(call, h.log);
  return call;
}

sameAsGrpcJs('bidi: ping-pong, half-close, OK', async (h) => {
  const call = bidi(h);
  const s = h.server();
  call.write!({ n: 1 });
  s.headers();
  s.message(encode({ n: 10 }));
  await settle();
  call.write!({ n: 2 });
  s.message(encode({ n: 20 }));
  await new Promise<void>((resolve) => call.end!(resolve));
  s.finish();
});

sameAsGrpcJs('bidi: server ends with an error while the client is writing', async (h) => {
  const call = bidi(h);
  const s = h.server();
  call.write!({ n: 1 });
  await settle();
  s.finish(Status.ABORTED, 'conflict');
});

sameAsGrpcJs('bidi: cancelled by the user', async (h) => {
  const call = bidi(h);
  call.write!({ n: 1 });
  await settle();
  call.cancel();
});

// ---------------------------------------------------------------------------
// h2grpc specifics, checked directly.

function h2grpc() {
  const channel = new FakeChannel();
  const client = new Client('fake:1', credentials.createInsecure(), { channelOverride: channel });
  return { channel, client };
}

test('callErrorFromStatus format: "<code> <NAME>: <details>" and the caller in the stack', async (t) => {
  const { channel, client } = h2grpc();
  const err = await new Promise<ServiceError | null>((resolve) => {
    client.makeUnaryRequest('/s/M', serialize, deserialize, { n: 1 }, (e) => resolve(e));
    channel.last.finish(Status.DEADLINE_EXCEEDED, 'Deadline exceeded');
  });
  t.true(err instanceof Error);
  t.is(err!.message, '4 DEADLINE_EXCEEDED: Deadline exceeded');
  t.is(err!.code, Status.DEADLINE_EXCEEDED);
  t.is(err!.details, 'Deadline exceeded');
  t.true(err!.metadata instanceof Metadata);
  // Unary calls skip the costly stack capture unless H2GRPC_CALLER_STACKS=1.
  t.regex(err!.stack!, /\nfor call at\n\(call site not captured/);
});

test('stream errors carry the caller in the stack', async (t) => {
  const { channel, client } = h2grpc();
  const err = await new Promise<ServiceError>((resolve) => {
    const stream = client.makeServerStreamRequest('/s/M', serialize, deserialize, { n: 1 });
    stream.on('error', (e: ServiceError) => resolve(e));
    channel.last.finish(Status.DEADLINE_EXCEEDED, 'Deadline exceeded');
  });
  t.is(err.message, '4 DEADLINE_EXCEEDED: Deadline exceeded');
  t.regex(err.stack!, /\nfor call at\n/);
  // The caller's frames, not the transport's, follow the marker.
  t.regex(err.stack!.split('\nfor call at\n')[1], /client-calls\.test\.ts/);
});

test('unary: exactly one start, carrying the message and the half-close', (t) => {
  const { channel, client } = h2grpc();
  const md = new Metadata();
  client.makeUnaryRequest('/s/M', serialize, deserialize, { n: 7 }, md, () => {});
  const call = channel.last;
  t.is(call.startCount, 1);
  t.is(call.startMetadata, md);
  t.deepEqual(call.startOptions, { message: encode({ n: 7 }), halfClose: true });
  t.deepEqual(call.sent, []);
  t.false(call.halfClosed);
});

test('call options reach createCall; deadline defaults to Infinity', (t) => {
  const { channel, client } = h2grpc();
  const parent = { a: 'server call' };
  const deadline = Date.now() + 5000;
  client.makeServerStreamRequest('/s/S', serialize, deserialize, {}, new Metadata(), {
    deadline,
    host: 'authority.test',
    parent,
    propagate_flags: 3,
  });
  t.deepEqual(channel.last.args, {
    method: '/s/S',
    deadline,
    host: 'authority.test',
    parentCall: parent,
    propagateFlags: 3,
  });
  client.makeBidiStreamRequest('/s/B', serialize, deserialize);
  t.deepEqual(channel.last.args, {
    method: '/s/B',
    deadline: Infinity,
    host: undefined,
    parentCall: null,
    propagateFlags: undefined,
  });
});

test('server streaming: options without metadata', (t) => {
  const { channel, client } = h2grpc();
  client.makeServerStreamRequest('/s/S', serialize, deserialize, {}, { host: 'h' });
  t.is(channel.last.args.host, 'h');
  t.true(channel.last.startMetadata instanceof Metadata);
});

test('getPeer comes from the call, and is "unknown" when the call has none', (t) => {
  const { channel, client } = h2grpc();
  const call = client.makeBidiStreamRequest('/s/B', serialize, deserialize);
  t.is(call.getPeer(), '127.0.0.1:50051');
  (channel.last as FakeCall).peer = '';
  t.is(call.getPeer(), 'unknown');
});

test('write backpressure: the write callback runs when the transport has taken the message', async (t) => {
  const { channel, client } = h2grpc();
  const call = client.makeClientStreamRequest('/s/C', serialize, deserialize, () => {});
  let written = false;
  call.write({ n: 1 }, () => {
    written = true;
  });
  t.false(written);
  await settle();
  t.true(written);
  t.deepEqual(channel.last.sent, [encode({ n: 1 })]);
});

test('a write that cannot be serialized completes, so the stream does not hang', async (t) => {
  const { channel, client } = h2grpc();
  const call = client.makeClientStreamRequest('/s/C', serialize, deserialize, () => {});
  await new Promise<void>((resolve) => call.write({ bad: true }, () => resolve()));
  t.deepEqual(channel.last.cancels, [
    { code: Status.INTERNAL, details: 'Request message serialization failure: cannot serialize' },
  ]);
});

test('the unary callback runs before the status event, and once', async (t) => {
  const { channel, client } = h2grpc();
  const order: string[] = [];
  const call = client.makeUnaryRequest('/s/M', serialize, deserialize, {}, (err, value) =>
    order.push(`callback ${err?.code ?? JSON.stringify(value)}`),
  );
  call.on('status', (s) => order.push(`status ${s.code}`));
  channel.last.message(encode({ n: 5 }));
  channel.last.listener!.onReceiveStatus({ code: 0, details: '', metadata: new Metadata() });
  channel.last.listener!.onReceiveStatus({ code: 2, details: 'again', metadata: new Metadata() });
  t.deepEqual(order, ['callback {"n":5}', 'status 0']);
});

test('waitForReady calls back once the channel is ready, asynchronously', async (t) => {
  const { channel, client } = h2grpc();
  let called = false;
  const done = new Promise<Error | undefined>((resolve) =>
    client.waitForReady(Date.now() + 1000, (err) => {
      called = true;
      resolve(err);
    }),
  );
  t.false(called);
  t.is(await done, undefined);
  channel.close();
  const err = await new Promise<Error | undefined>((resolve) =>
    client.waitForReady(Date.now() + 1000, resolve),
  );
  t.is(err?.message, 'The channel has been closed');
});

test('waitForReady reports a missed deadline with the grpc-js message', async (t) => {
  const channel = new FakeChannel();
  channel.state = 1; // CONNECTING, and it never gets anywhere
  channel.watchConnectivityState = (_s, _d, callback) =>
    setImmediate(() => callback(new Error('x')));
  const client = new Client('fake:1', credentials.createInsecure(), { channelOverride: channel });
  const err = await new Promise<Error | undefined>((resolve) =>
    client.waitForReady(Date.now() + 10, resolve),
  );
  t.is(err?.message, 'Failed to connect before the deadline');
});

test('close closes the channel; getChannel returns it', (t) => {
  const { channel, client } = h2grpc();
  t.is(client.getChannel(), channel);
  client.close();
  t.true(channel.closed);
});

test('callInvocationTransformer is refused rather than ignored', (t) => {
  t.throws(
    () =>
      new Client('fake:1', credentials.createInsecure(), {
        channelOverride: new FakeChannel(),
        callInvocationTransformer: (p: unknown) => p,
      }),
    { message: /callInvocationTransformer/ },
  );
});
