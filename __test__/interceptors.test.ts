// Client interceptors against the real interop server. The same file runs
// against @grpc/grpc-js (H2GRPC_TEST_CLIENT=grpc-js), which is what the
// expectations here are taken from.
import test from 'ava';
import type * as GrpcJs from '@grpc/grpc-js';
import { shareInteropPeer, type InteropPeer } from './helpers/peer';
import {
  describeClient,
  grpc,
  isGrpcJs,
  md,
  newClient,
  sleep,
  streamOutcome,
  unaryOutcome,
  uniqueTag,
  warmUp,
  within,
  writeAll,
  zeros,
  type Metadata,
} from './helpers/fixture';
import type {
  SimpleRequest,
  SimpleResponse,
  StreamingInputCallResponse,
  StreamingOutputCallResponse,
} from './helpers/interop-server';

let peer!: InteropPeer;
shareInteropPeer(test, describeClient, (p) => (peer = p));

const TEST_SERVICE = '/grpc.testing.TestService';

type Interceptor = GrpcJs.Interceptor;

function cancelledLine(method: string, tag: string): RegExp {
  return new RegExp(`^CANCELLED ${method} tag=${tag}$`);
}

/** An interceptor that logs every operation and event it sees as `<name>:<what>`, passing all on. */
function recorder(name: string, log: string[]): Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        log.push(`${name}:start`);
        next(metadata, {
          onReceiveMetadata(m, nextMd) {
            log.push(`${name}:onReceiveMetadata`);
            nextMd(m);
          },
          onReceiveMessage(message, nextMessage) {
            log.push(`${name}:onReceiveMessage`);
            nextMessage(message);
          },
          onReceiveStatus(status, nextStatus) {
            log.push(`${name}:onReceiveStatus`);
            nextStatus(status);
          },
        });
      },
      sendMessage(message, next) {
        log.push(`${name}:sendMessage`);
        next(message);
      },
      halfClose(next) {
        log.push(`${name}:halfClose`);
        next();
      },
    });
}

/** `what` for each name in order: outgoing operations go outermost first. */
function each(names: string[], what: string): string[] {
  return names.map((n) => `${n}:${what}`);
}

const NAMES = ['a', 'b', 'c'];
const OUT = NAMES;
const IN = [...NAMES].reverse();

test('an interceptor adds request metadata the server sees', async (t) => {
  t.timeout(20_000);
  const addHeader: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('x-added-by-interceptor', 'yes');
        next(metadata, listener);
      },
    });
  const client = newClient(t, peer.address, { interceptors: [addHeader] });
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 3 }, md({ 'x-h2grpc-echo-all-metadata': '1' }), {}, cb),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.deepEqual(out.headers?.get('x-added-by-interceptor'), ['yes']);
  t.deepEqual(out.status.metadata.get('t-x-added-by-interceptor'), ['yes']);
});

test('listeners see deserialized responses and can replace them', async (t) => {
  t.timeout(20_000);
  const seen: unknown[] = [];
  const rewrite: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveMessage(message: SimpleResponse | StreamingOutputCallResponse, nextMessage) {
            seen.push(message);
            nextMessage({ payload: { body: Buffer.from(`len=${message.payload?.body?.length}`) } });
          },
        });
      },
    });
  const client = newClient(t, peer.address, { interceptors: [rewrite] });
  const unary = await within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: 7 }, md(), {}, cb)),
    15_000,
    'UnaryCall',
  );
  t.is(unary.error, null);
  t.is(unary.response?.payload?.body?.toString(), 'len=7');
  const stream = await within(
    streamOutcome<StreamingOutputCallResponse>(
      client.StreamingOutputCall({ response_parameters: [{ size: 2 }, { size: 5 }] }, md()),
    ),
    15_000,
    'StreamingOutputCall',
  );
  t.is(stream.status.code, grpc.status.OK);
  t.deepEqual(
    stream.messages.map((m) => m.payload?.body?.toString()),
    ['len=2', 'len=5'],
  );
  // Objects, not bytes: the chain deserializes below the interceptors.
  t.is(seen.length, 3);
  for (const message of seen) {
    t.false(Buffer.isBuffer(message));
    t.true(Buffer.isBuffer((message as SimpleResponse).payload?.body));
  }
});

test('a requester changes the outgoing message before it is serialized', async (t) => {
  t.timeout(20_000);
  const bigger: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      sendMessage(message: SimpleRequest, next) {
        t.false(Buffer.isBuffer(message));
        next({ ...message, response_size: 11 });
      },
    });
  const client = newClient(t, peer.address, { interceptors: [bigger] });
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: 1 }, md(), {}, cb)),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 11);
});

test('a status listener rewrites the status the caller sees', async (t) => {
  t.timeout(20_000);
  const rewrite: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            const trailers = status.metadata.clone();
            trailers.set('x-rewritten', `was-${status.code}`);
            nextStatus({
              code: grpc.status.ABORTED,
              details: `rewritten: ${status.details}`,
              metadata: trailers,
            });
          },
        });
      },
    });
  const client = newClient(t, peer.address, { interceptors: [rewrite] });
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        { response_status: { code: grpc.status.NOT_FOUND, message: 'gone' } },
        md(),
        {},
        cb,
      ),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error?.code, grpc.status.ABORTED);
  t.is(out.error?.details, 'rewritten: gone');
  t.is(out.status.code, grpc.status.ABORTED);
  t.deepEqual(out.status.metadata.get('x-rewritten'), [`was-${grpc.status.NOT_FOUND}`]);
  const stream = await within(
    streamOutcome<StreamingOutputCallResponse>(
      client.StreamingOutputCall(
        { response_parameters: [{ size: 1 }], response_status: { code: 9, message: 'no' } },
        md(),
      ),
    ),
    15_000,
    'StreamingOutputCall',
  );
  t.is(stream.error?.code, grpc.status.ABORTED);
  t.is(stream.status.details, 'rewritten: no');
  t.is(stream.messages.length, 1);
});

test('three interceptors, unary: outgoing outermost first, responses innermost first', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const client = newClient(t, peer.address, {
    interceptors: NAMES.map((n) => recorder(n, log)),
  });
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: 1 }, md(), {}, cb)),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.deepEqual(log, [
    ...each(OUT, 'start'),
    ...each(OUT, 'sendMessage'),
    ...each(OUT, 'halfClose'),
    ...each(IN, 'onReceiveMetadata'),
    ...each(IN, 'onReceiveMessage'),
    ...each(IN, 'onReceiveStatus'),
  ]);
});

test('three interceptors, client streaming', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const client = newClient(t, peer.address, {
    interceptors: NAMES.map((n) => recorder(n, log)),
  });
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(md(), {}, cb),
      (call) => void writeAll(call, [{ payload: zeros(3) }, { payload: zeros(4) }]),
    ),
    15_000,
    'StreamingInputCall',
  );
  t.is(out.error, null);
  t.is(out.response?.aggregated_payload_size, 7);
  t.deepEqual(log, [
    ...each(OUT, 'start'),
    ...each(OUT, 'sendMessage'),
    ...each(OUT, 'sendMessage'),
    ...each(OUT, 'halfClose'),
    ...each(IN, 'onReceiveMetadata'),
    ...each(IN, 'onReceiveMessage'),
    ...each(IN, 'onReceiveStatus'),
  ]);
});

test('three interceptors, server streaming', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const client = newClient(t, peer.address, {
    interceptors: NAMES.map((n) => recorder(n, log)),
  });
  const out = await within(
    streamOutcome<StreamingOutputCallResponse>(
      client.StreamingOutputCall({ response_parameters: [{ size: 1 }, { size: 2 }] }, md()),
    ),
    15_000,
    'StreamingOutputCall',
  );
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, 2);
  t.deepEqual(log, [
    ...each(OUT, 'start'),
    ...each(OUT, 'sendMessage'),
    ...each(OUT, 'halfClose'),
    ...each(IN, 'onReceiveMetadata'),
    ...each(IN, 'onReceiveMessage'),
    ...each(IN, 'onReceiveMessage'),
    ...each(IN, 'onReceiveStatus'),
  ]);
});

test('three interceptors, bidi ping-pong', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const client = newClient(t, peer.address, {
    interceptors: NAMES.map((n) => recorder(n, log)),
  });
  const call = client.FullDuplexCall(md());
  const ping = { response_parameters: [{ size: 1 }] };
  const done = streamOutcome<StreamingOutputCallResponse>(call, (_message, index) => {
    if (index === 0) call.write(ping);
    else call.end();
  });
  call.write(ping);
  const out = await within(done, 15_000, 'FullDuplexCall');
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, 2);
  t.deepEqual(log, [
    ...each(OUT, 'start'),
    ...each(OUT, 'sendMessage'),
    ...each(IN, 'onReceiveMetadata'),
    ...each(IN, 'onReceiveMessage'),
    ...each(OUT, 'sendMessage'),
    ...each(IN, 'onReceiveMessage'),
    ...each(OUT, 'halfClose'),
    ...each(IN, 'onReceiveStatus'),
  ]);
});

test("a call's interceptors replace the client's; an empty list keeps them", async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const client = newClient(t, peer.address, { interceptors: [recorder('client', log)] });
  const viaCall = await within(
    unaryOutcome<object>((cb) =>
      client.EmptyCall({}, md(), { interceptors: [recorder('call', log)] }, cb),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(viaCall.error, null);
  t.true(log.length > 0);
  t.true(log.every((entry) => entry.startsWith('call:')));
  log.length = 0;
  const providerOnCall = await within(
    unaryOutcome<object>((cb) =>
      client.EmptyCall({}, md(), { interceptor_providers: [() => recorder('provided', log)] }, cb),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(providerOnCall.error, null);
  t.true(log.length > 0);
  t.true(log.every((entry) => entry.startsWith('provided:')));
  log.length = 0;
  const empty = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), { interceptors: [] }, cb)),
    15_000,
    'EmptyCall',
  );
  t.is(empty.error, null);
  t.true(log.length > 0);
  t.true(log.every((entry) => entry.startsWith('client:')));
});

test('interceptor providers get the method definition and may decline a method', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const asked: Array<[string, boolean, boolean]> = [];
  const provider: GrpcJs.InterceptorProvider = (definition) => {
    asked.push([definition.path, definition.requestStream, definition.responseStream]);
    // A provider that returns nothing adds no interceptor for the method.
    return (definition.path.endsWith('/UnaryCall') ? recorder('unary', log) : undefined)!;
  };
  const client = newClient(t, peer.address, { interceptor_providers: [provider] });
  const empty = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    15_000,
    'EmptyCall',
  );
  t.is(empty.error, null);
  t.deepEqual(log, []);
  const unary = await within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: 2 }, md(), {}, cb)),
    15_000,
    'UnaryCall',
  );
  t.is(unary.error, null);
  t.is(log[0], 'unary:start');
  const stream = client.FullDuplexCall(md());
  stream.end();
  await within(streamOutcome(stream), 15_000, 'FullDuplexCall');
  t.deepEqual(asked, [
    [`${TEST_SERVICE}/EmptyCall`, false, false],
    [`${TEST_SERVICE}/UnaryCall`, false, false],
    [`${TEST_SERVICE}/FullDuplexCall`, true, true],
  ]);
});

test('interceptors and interceptor_providers together are rejected', (t) => {
  const noop: Interceptor = (options, nextCall) => new grpc.InterceptingCall(nextCall(options));
  const client = newClient(t, peer.address);
  const error = t.throws(
    () =>
      client.EmptyCall(
        {},
        md(),
        { interceptors: [noop], interceptor_providers: [() => noop] },
        () => t.fail('the call must not start'),
      ),
    { instanceOf: grpc.InterceptorConfigurationError },
  );
  t.is(error?.name, 'InterceptorConfigurationError');
  t.is(
    error?.message,
    'Both interceptors and interceptor_providers were passed as call options. Only one of these is allowed.',
  );
  // On the client, grpc-js throws a plain Error with its own message.
  const fromConstructor = t.throws(() =>
    newClient(t, peer.address, { interceptors: [noop], interceptor_providers: [() => noop] }),
  );
  t.is(fromConstructor?.name, 'Error');
  t.is(
    fromConstructor?.message,
    'Both interceptors and interceptor_providers were passed as options to the client constructor. Only one of these is allowed.',
  );
});

test('an interceptor that starts the call later holds messages and half-close until then', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const delayStart: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        setTimeout(() => {
          log.push('started');
          metadata.set('x-late', 'yes');
          next(metadata, listener);
        }, 50);
      },
    });
  const client = newClient(t, peer.address, {
    interceptors: [delayStart, recorder('inner', log)],
  });
  const unary = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 4 }, md({ 'x-h2grpc-echo-all-metadata': '1' }), {}, cb),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(unary.error, null);
  t.is(unary.response?.payload?.body?.length, 4);
  t.deepEqual(unary.headers?.get('x-late'), ['yes']);
  t.deepEqual(log.slice(0, 4), ['started', 'inner:start', 'inner:sendMessage', 'inner:halfClose']);

  const bidi = client.FullDuplexCall(md());
  const done = streamOutcome<StreamingOutputCallResponse>(bidi);
  bidi.write({ response_parameters: [{ size: 3 }] });
  bidi.write({ response_parameters: [{ size: 5 }] });
  bidi.end();
  const out = await within(done, 15_000, 'FullDuplexCall');
  t.is(out.status.code, grpc.status.OK);
  t.deepEqual(
    out.messages.map((m) => m.payload?.body?.length),
    [3, 5],
  );
});

test('an interceptor asynchronously rewriting the metadata listener keeps messages after it', async (t) => {
  t.timeout(20_000);
  const slowHeaders: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMetadata(m, nextMd) {
            setTimeout(() => {
              m.set('x-seen', 'late');
              nextMd(m);
            }, 30);
          },
        });
      },
    });
  const client = newClient(t, peer.address, { interceptors: [slowHeaders] });
  const order: string[] = [];
  const call = client.StreamingOutputCall({ response_parameters: [{ size: 1 }] }, md());
  call.on('metadata', (m: Metadata) => order.push(`metadata:${m.get('x-seen')[0]}`));
  const out = await within(
    streamOutcome<StreamingOutputCallResponse>(call, () => order.push('data')),
    15_000,
    'StreamingOutputCall',
  );
  t.is(out.status.code, grpc.status.OK);
  t.deepEqual(order, ['metadata:late', 'data']);
});

test('cancel goes through the requester to the server', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const watchCancel: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      cancel(next) {
        log.push('cancel');
        next();
      },
    });
  const client = newClient(t, peer.address, { interceptors: [watchCancel] });
  await warmUp(client);
  const tag = uniqueTag('icpt-cancel');
  const out = await within(
    unaryOutcome<SimpleResponse>(
      (cb) =>
        client.UnaryCall(
          { response_size: 1 },
          md({ 'x-h2grpc-sleep-ms': '10000', 'x-h2grpc-tag': tag }),
          {},
          cb,
        ),
      (call) => setTimeout(() => call.cancel(), 200),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error?.code, grpc.status.CANCELLED);
  t.is(out.status.details, 'Cancelled on client');
  t.deepEqual(log, ['cancel']);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('UnaryCall', tag), 5000));
});

test('a requester that swallows cancel keeps the call going', async (t) => {
  t.timeout(20_000);
  const noCancel: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), { cancel() {} });
  const client = newClient(t, peer.address, { interceptors: [noCancel] });
  const out = await within(
    unaryOutcome<SimpleResponse>(
      (cb) => client.UnaryCall({ response_size: 6 }, md({ 'x-h2grpc-sleep-ms': '300' }), {}, cb),
      (call) => setTimeout(() => call.cancel(), 50),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 6);
});

test('an interceptor cancels the call itself with its own status', async (t) => {
  t.timeout(20_000);
  const tag = uniqueTag('icpt-self-cancel');
  const abortOnHeaders: Interceptor = (options, nextCall) => {
    const call: GrpcJs.InterceptingCall = new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMetadata(m, nextMd) {
            nextMd(m);
            call.cancelWithStatus(grpc.status.ABORTED, 'interceptor gave up');
          },
        });
      },
    });
    return call;
  };
  const client = newClient(t, peer.address, { interceptors: [abortOnHeaders] });
  const stream = client.StreamingOutputCall(
    { response_parameters: [{ size: 1 }, { size: 1, interval_us: 5_000_000 }] },
    md({ 'x-grpc-test-echo-initial': 'x', 'x-h2grpc-tag': tag }),
  );
  const out = await within(streamOutcome(stream), 15_000, 'StreamingOutputCall');
  t.is(out.error?.code, grpc.status.ABORTED);
  t.is(out.status.details, 'interceptor gave up');
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingOutputCall', tag), 5000));
});

test('an interceptor answers without calling the server', async (t) => {
  t.timeout(20_000);
  const deny: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(_metadata, listener) {
        // Not from inside start: the caller has not attached its listeners yet.
        setImmediate(() =>
          listener.onReceiveStatus({
            code: grpc.status.PERMISSION_DENIED,
            details: 'denied by interceptor',
            metadata: new grpc.Metadata(),
          }),
        );
      },
    });
  const client = newClient(t, peer.address, { interceptors: [deny] });
  const out = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    15_000,
    'EmptyCall',
  );
  t.is(out.error?.code, grpc.status.PERMISSION_DENIED);
  t.is(out.error?.details, 'denied by interceptor');
});

test("grpc-js's retry interceptor example retries from within the interceptor", async (t) => {
  t.timeout(20_000);
  const maxRetries = 3;
  let attempts = 0;
  // The example from grpc-js's interceptor documentation, with one change
  // for the test: a retry sends the request without its response_status, so
  // the second attempt succeeds.
  const retry: Interceptor = (options, nextCall) => {
    let savedMetadata: Metadata;
    let savedSendMessage: SimpleRequest;
    let savedReceiveMessage: unknown;
    let savedMessageNext: (message: unknown) => void;
    const requester = new grpc.RequesterBuilder()
      .withStart((metadata, _listener, next) => {
        savedMetadata = metadata;
        const newListener = new grpc.ListenerBuilder()
          .withOnReceiveMessage((message, next) => {
            savedReceiveMessage = message;
            savedMessageNext = next;
          })
          .withOnReceiveStatus((status, next) => {
            let retries = 0;
            const again = (message: SimpleRequest, metadata: Metadata) => {
              retries++;
              attempts++;
              const newCall = nextCall(options);
              newCall.start(metadata, {
                onReceiveMessage(message) {
                  savedReceiveMessage = message;
                },
                onReceiveStatus(status) {
                  if (status.code !== grpc.status.OK) {
                    if (retries <= maxRetries) {
                      again(message, metadata);
                    } else {
                      savedMessageNext(savedReceiveMessage);
                      next(status);
                    }
                  } else {
                    const ok = new grpc.StatusBuilder().withCode(grpc.status.OK).build();
                    savedMessageNext(savedReceiveMessage);
                    next(ok as GrpcJs.StatusObject);
                  }
                },
              });
              newCall.sendMessage({ ...message, response_status: null });
              newCall.halfClose();
            };
            if (status.code !== grpc.status.OK) {
              again(savedSendMessage, savedMetadata);
            } else {
              savedMessageNext(savedReceiveMessage);
              next(status);
            }
          })
          .build();
        next(metadata, newListener);
      })
      .withSendMessage((message, next) => {
        savedSendMessage = message;
        attempts++;
        next(message);
      })
      .build();
    return new grpc.InterceptingCall(nextCall(options), requester);
  };
  const client = newClient(t, peer.address, { interceptors: [retry] });
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        {
          response_size: 5,
          response_status: { code: grpc.status.UNAVAILABLE, message: 'try again' },
        },
        md(),
        {},
        cb,
      ),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 5);
  t.is(attempts, 2);
});

test('a response that cannot be deserialized ends the call with INTERNAL', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const client = newClient(t, peer.address, { interceptors: [recorder('r', log)] });
  let message: unknown = 'not called';
  const spy: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveMessage(m, nextMessage) {
            message = m;
            nextMessage(m);
          },
        });
      },
    });
  const out = await within(
    unaryOutcome<object>((cb) =>
      client.makeUnaryRequest(
        `${TEST_SERVICE}/EmptyCall`,
        () => Buffer.alloc(0),
        () => {
          throw new Error('bad bytes');
        },
        {},
        md(),
        { interceptors: [spy] },
        cb,
      ),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(out.error?.code, grpc.status.INTERNAL);
  t.is(out.error?.details, 'Response message parsing error: bad bytes');
  // A unary chain is told "no message" as null before the status.
  t.is(message, null);
  t.deepEqual(log, []);
  // StreamingOutputCallRequest{response_parameters: [{size: 1}]}, encoded by hand.
  const withResponse = client.makeServerStreamRequest(
    `${TEST_SERVICE}/StreamingOutputCall`,
    () => Buffer.from([0x12, 0x02, 0x08, 0x01]),
    () => {
      throw new Error('bad stream bytes');
    },
    {},
    md(),
  );
  const streamOut = await within(
    streamOutcome(withResponse as GrpcJs.ClientReadableStream<unknown>),
    15_000,
    'StreamingOutputCall',
  );
  t.is(streamOut.error?.code, grpc.status.INTERNAL);
  t.is(streamOut.status.details, 'Response message parsing error: bad stream bytes');
  t.deepEqual(log.slice(0, 3), ['r:start', 'r:sendMessage', 'r:halfClose']);
  t.false(log.includes('r:onReceiveMessage'));
  t.true(log.includes('r:onReceiveStatus'));
});

test('a request that cannot be serialized ends the call with INTERNAL', async (t) => {
  t.timeout(20_000);
  const log: string[] = [];
  const client = newClient(t, peer.address, { interceptors: [recorder('r', log)] });
  const out = await within(
    unaryOutcome<object>((cb) =>
      client.makeUnaryRequest(
        `${TEST_SERVICE}/EmptyCall`,
        () => {
          throw new Error('cannot encode');
        },
        () => ({}),
        {},
        md(),
        {},
        cb,
      ),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(out.error?.code, grpc.status.INTERNAL);
  t.is(out.error?.details, 'Request message serialization failure: cannot encode');
  // The interceptor saw the request object: serialization happens below it.
  t.true(log.includes('r:sendMessage'));
});

test('getPeer works from an interceptor and from the call object', async (t) => {
  t.timeout(20_000);
  let peerSeen = '';
  const peerWatcher: Interceptor = (options, nextCall) => {
    const call: GrpcJs.InterceptingCall = new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            peerSeen = call.getPeer();
            nextStatus(status);
          },
        });
      },
    });
    return call;
  };
  const client = newClient(t, peer.address, { interceptors: [peerWatcher] });
  let call!: GrpcJs.ClientUnaryCall;
  const out = await within(
    unaryOutcome<object>((cb) => (call = client.EmptyCall({}, md(), {}, cb))),
    15_000,
    'EmptyCall',
  );
  t.is(out.error, null);
  t.is(peerSeen, peer.address);
  t.is(call.getPeer(), peer.address);
});

test('interceptor options carry the call options, and a changed deadline applies', async (t) => {
  t.timeout(20_000);
  const seen: Array<[string, unknown]> = [];
  const shortDeadline: Interceptor = (options, nextCall) => {
    seen.push([options.method_definition.path, options.host]);
    return new grpc.InterceptingCall(
      nextCall({ ...options, deadline: new Date(Date.now() + 1500) }),
    );
  };
  const client = newClient(t, peer.address, { interceptors: [shortDeadline] });
  const out = await within(
    unaryOutcome<object>((cb) =>
      client.EmptyCall({}, md({ 'x-h2grpc-sleep-ms': '5000' }), { host: 'example.test' }, cb),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
  t.deepEqual(seen.at(-1), [`${TEST_SERVICE}/EmptyCall`, 'example.test']);
});

test('a pass-through interceptor still starts a unary call with one native call', async (t) => {
  if (isGrpcJs) {
    t.pass('h2grpc-only: native boundary counters');
    return;
  }
  t.timeout(20_000);
  const { nativeStats } = require('../ts/index') as typeof import('../ts/index');
  const passThrough: Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options));
  const plain = newClient(t, peer.address);
  const intercepted = newClient(t, peer.address, { interceptors: [passThrough] });
  await warmUp(plain);
  await warmUp(intercepted);
  const callsIn = async (client: typeof plain): Promise<number> => {
    const before = nativeStats().callsIn;
    const out = await unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb));
    t.is(out.error, null);
    return nativeStats().callsIn - before;
  };
  await sleep(10);
  t.is(await callsIn(intercepted), await callsIn(plain));
});
