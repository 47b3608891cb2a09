// Interceptor chain corner cases that a real server cannot stage on demand:
// what reaches the transport call and in what order when interceptors hold
// operations or events back. The transport is the fake from
// helpers/fake-call.ts; interceptors.test.ts covers the same API end to end.
import test from 'ava';
import { Client, type CallOptions } from '../ts/client';
import { Status } from '../ts/constants';
import { CallCredentials, credentials } from '../ts/credentials';
import { Metadata } from '../ts/metadata';
import { InterceptingCall, type Interceptor } from '../ts/call/client-interceptors';
import type { ServiceError } from '../ts/call/client-calls';
import { FakeChannel } from './helpers/fake-call';

interface Msg {
  n: number;
}
const serialize = (value: Msg): Buffer => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Buffer): Msg => JSON.parse(bytes.toString()) as Msg;
const encode = (value: Msg): Buffer => Buffer.from(JSON.stringify(value));

function setup(options: { interceptors?: Interceptor[] } = {}): {
  channel: FakeChannel;
  client: Client;
} {
  const channel = new FakeChannel();
  const client = new Client('fake:1', credentials.createInsecure(), {
    channelOverride: channel,
    ...options,
  });
  return { channel, client };
}

function unary(
  client: Client,
  options: CallOptions = {},
): Promise<{ error: ServiceError | null; value?: Msg }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest('/pkg.S/M', serialize, deserialize, { n: 1 }, options, (error, value) =>
      resolve({ error, value }),
    );
  });
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const passThrough: Interceptor = (options, nextCall) => new InterceptingCall(nextCall(options));

test('a pass-through chain hands a unary request and half-close to the transport with the start', async (t) => {
  const { channel, client } = setup({ interceptors: [passThrough, passThrough] });
  const done = unary(client);
  const call = channel.last;
  t.is(call.startCount, 1);
  t.deepEqual(call.startOptions, { message: encode({ n: 1 }), halfClose: true });
  t.deepEqual(call.sent, []);
  t.false(call.halfClosed);
  call.headers();
  call.message(encode({ n: 2 }));
  call.finish();
  t.deepEqual(await done, { error: null, value: { n: 2 } });
});

test('a streaming call with interceptors starts without waiting for its first message', async (t) => {
  const { channel, client } = setup({ interceptors: [passThrough] });
  const stream = client.makeBidiStreamRequest('/pkg.S/B', serialize, deserialize);
  const call = channel.last;
  t.is(call.startCount, 0);
  await Promise.resolve();
  t.is(call.startCount, 1);
  t.is(call.startOptions, undefined);
  const written = new Promise<void>((resolve) => stream.write({ n: 3 }, () => resolve()));
  await written;
  t.deepEqual(call.sent, [encode({ n: 3 })]);
  stream.end();
  await tick();
  t.true(call.halfClosed);
});

test('a held start keeps messages and the half-close, in order, until it is passed on', async (t) => {
  let release!: () => void;
  const holdStart: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        release = () => next(metadata, listener);
      },
    });
  const { channel, client } = setup({ interceptors: [holdStart] });
  const stream = client.makeClientStreamRequest('/pkg.S/C', serialize, deserialize, () => {});
  stream.write({ n: 1 });
  stream.write({ n: 2 });
  stream.end();
  await tick();
  const call = channel.last;
  t.is(call.startCount, 0);
  t.deepEqual(call.sent, []);
  t.false(call.halfClosed);
  release();
  t.is(call.startCount, 1);
  t.deepEqual(call.sent, [encode({ n: 1 })]);
  // The Writable hands over the next message once the first is written.
  await tick();
  t.deepEqual(call.sent, [encode({ n: 1 }), encode({ n: 2 })]);
  t.true(call.halfClosed);
});

test('the half-close waits for a message a requester is still working on', async (t) => {
  const pending: Array<() => void> = [];
  const slowSend: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      sendMessage(message, next) {
        pending.push(() => next(message));
      },
    });
  const { channel, client } = setup({ interceptors: [slowSend] });
  void unary(client);
  await tick();
  const call = channel.last;
  t.is(call.startCount, 1);
  t.false(call.halfClosed);
  t.deepEqual(call.sent, []);
  pending.shift()!();
  t.deepEqual(call.sent, [encode({ n: 1 })]);
  t.true(call.halfClosed);
});

test('messages and status wait for headers held by a listener, then arrive in order', async (t) => {
  let releaseHeaders!: () => void;
  const holdHeaders: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMetadata(m, nextMd) {
            releaseHeaders = () => nextMd(m);
          },
        });
      },
    });
  const { channel, client } = setup({ interceptors: [holdHeaders] });
  const stream = client.makeServerStreamRequest('/pkg.S/SS', serialize, deserialize, { n: 0 });
  const events: string[] = [];
  stream.on('metadata', () => events.push('metadata'));
  stream.on('data', (m: Msg) => events.push(`data ${m.n}`));
  stream.on('status', (s) => events.push(`status ${s.code}`));
  const call = channel.last;
  call.headers();
  call.message(encode({ n: 1 }));
  call.message(encode({ n: 2 }));
  call.finish();
  await tick();
  t.deepEqual(events, []);
  releaseHeaders();
  await tick();
  t.deepEqual(events, ['metadata', 'data 1', 'data 2', `status ${Status.OK}`]);
});

test('OK without a response: interceptors see a null message, the caller UNIMPLEMENTED', async (t) => {
  const seen: unknown[] = [];
  const spy: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMessage(message, nextMessage) {
            seen.push(message);
            nextMessage(message);
          },
        });
      },
    });
  const { channel, client } = setup({ interceptors: [spy] });
  const done = unary(client);
  channel.last.finish();
  const { error } = await done;
  t.deepEqual(seen, [null]);
  t.is(error?.code, Status.UNIMPLEMENTED);
  t.is(error?.details, 'No message received');
});

test('a second response cancels through the interceptors with UNIMPLEMENTED', async (t) => {
  const cancels: string[] = [];
  const watch: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      cancel(next) {
        cancels.push('seen');
        next();
      },
    });
  const { channel, client } = setup({ interceptors: [watch] });
  const done = unary(client);
  const call = channel.last;
  call.message(encode({ n: 1 }));
  call.message(encode({ n: 2 }));
  const { error } = await done;
  t.deepEqual(cancels, ['seen']);
  t.deepEqual(call.cancels, [
    { code: Status.UNIMPLEMENTED, details: 'Too many responses received' },
  ]);
  t.is(error?.code, Status.UNIMPLEMENTED);
});

test('the bottom call gets the options an interceptor passes: host, deadline, credentials', (t) => {
  class TestCallCredentials extends CallCredentials {
    generateMetadata(): Promise<Metadata> {
      return Promise.resolve(new Metadata());
    }
    compose(): CallCredentials {
      return this;
    }
    _equals(other: CallCredentials): boolean {
      return other === this;
    }
  }
  const perCall = new TestCallCredentials();
  const deadline = Date.now() + 60_000;
  const rewrite: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall({ ...options, host: 'other.test', deadline }));
  const { channel, client } = setup();
  void unary(client, { interceptors: [rewrite], credentials: perCall, host: 'first.test' });
  const call = channel.last;
  t.is(call.args.host, 'other.test');
  t.is(call.args.deadline, deadline);
  t.is(call.credentials, perCall);
});

test('cancel() on the call object goes through every interceptor, outermost first', async (t) => {
  const order: string[] = [];
  const named =
    (name: string): Interceptor =>
    (options, nextCall) =>
      new InterceptingCall(nextCall(options), {
        cancel(next) {
          order.push(name);
          next();
        },
      });
  const { channel, client } = setup({ interceptors: [named('outer'), named('inner')] });
  const stream = client.makeBidiStreamRequest('/pkg.S/B', serialize, deserialize);
  stream.on('error', () => {});
  const status = new Promise<number>((resolve) => stream.on('status', (s) => resolve(s.code)));
  await Promise.resolve();
  stream.cancel();
  t.is(await status, Status.CANCELLED);
  t.deepEqual(order, ['outer', 'inner']);
  t.deepEqual(channel.last.cancels, [{ code: Status.CANCELLED, details: 'Cancelled on client' }]);
});

test('without interceptors the call objects drive the transport call directly', (t) => {
  const { channel, client } = setup();
  const call = client.makeUnaryRequest('/pkg.S/M', serialize, deserialize, { n: 1 }, () => {});
  t.is((call as unknown as { call: unknown }).call, channel.last);
});

test('a message rewritten while the start is held is sent rewritten', (t) => {
  // grpc-js sends the original message in this case (it keeps the message it
  // was given, not the one passed to next); the rewrite is what the
  // interceptor asked for.
  let release!: () => void;
  const holdStart: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        release = () => next(metadata, listener);
      },
      sendMessage(message: Msg, next) {
        next({ n: message.n * 10 });
      },
    });
  const { channel, client } = setup({ interceptors: [holdStart] });
  void unary(client);
  release();
  t.deepEqual(channel.last.startOptions, { message: encode({ n: 10 }), halfClose: true });
});

test('an interceptor starting the rest of the chain twice gets the error at once', (t) => {
  const startTwice: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, listener);
        t.throws(() => next(metadata, listener), { message: 'h2grpc: call already started' });
      },
    });
  const { channel, client } = setup({ interceptors: [startTwice] });
  void unary(client);
  t.is(channel.last.startCount, 1);
});

test('cancelling while an interceptor holds the start ends the call once the start comes', async (t) => {
  let release!: () => void;
  const holdStart: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        release = () => next(metadata, listener);
      },
    });
  const { channel, client } = setup({ interceptors: [holdStart] });
  let result: { error: ServiceError | null } | undefined;
  const call = client.makeUnaryRequest('/pkg.S/M', serialize, deserialize, { n: 1 }, (error) => {
    result = { error };
  });
  call.cancel();
  await tick();
  t.is(result, undefined);
  release();
  await tick();
  t.is(result?.error?.code, Status.CANCELLED);
  t.is(result?.error?.details, 'Cancelled on client');
  // The transport call was never started: nothing reached the network.
  t.is(channel.last.startCount, 0);
});
