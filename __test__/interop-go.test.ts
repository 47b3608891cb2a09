// gRPC's standard interop test cases (doc/interop-test-descriptions.md in grpc/grpc),
// run by the client under test (h2grpc by default) against grpc-go's own interop server
// (google.golang.org/grpc/interop/server v1.85.0, plaintext), a peer written by another
// team than the @grpc/grpc-js server the other tests use.
//
// The binary comes from scripts/ensure-go-interop.sh (npm test runs it in pretest).
import test from 'ava';
import type * as GrpcJs from '@grpc/grpc-js';
import { spawnGoInteropServer, type GoInteropServer } from './helpers/go-interop-server';
import {
  deadlineIn,
  describeClient,
  grpc,
  isAllZero,
  md,
  newClient,
  streamOutcome,
  unaryOutcome,
  within,
  writeAll,
  zeros,
  type ServiceError,
} from './helpers/fixture';
import {
  loadTestProto,
  type SimpleResponse,
  type StreamingInputCallResponse,
  type StreamingOutputCallResponse,
} from './helpers/interop-server';
import type { TeardownContext } from './helpers/peer';

let server: GoInteropServer;

test.before(async (t) => {
  t.log(describeClient());
  server = await spawnGoInteropServer();
  t.log(`grpc-go interop server at ${server.address}`);
});

test.after.always(async () => {
  await server?.stop();
});

/** Per-test bound: t.timeout for the test, CALL_MS for each awaited call. */
const TEST_MS = 20_000;
const CALL_MS = 15_000;

// The descriptions' requests also set response_type COMPRESSABLE: that is the proto3
// default (0), so leaving it out sends the same bytes.

const ECHO_INITIAL_KEY = 'x-grpc-test-echo-initial';
const ECHO_INITIAL_VALUE = 'test_initial_metadata_value';
const ECHO_TRAILING_KEY = 'x-grpc-test-echo-trailing-bin';
const ECHO_TRAILING_VALUE = Buffer.from([0xab, 0xab, 0xab]);

const STATUS_MESSAGE = 'test status message';
const SPECIAL_STATUS_MESSAGE = '\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n';

type UnimplementedServiceClient = GrpcJs.Client & {
  UnimplementedCall(
    req: object,
    md: GrpcJs.Metadata,
    opts: GrpcJs.CallOptions,
    cb: (err: ServiceError | null, value?: object) => void,
  ): GrpcJs.ClientUnaryCall;
};

function newUnimplementedServiceClient(
  t: TeardownContext,
  address: string,
): UnimplementedServiceClient {
  const pkg = grpc.loadPackageDefinition(loadTestProto()) as unknown as {
    grpc: {
      testing: {
        UnimplementedService: new (
          address: string,
          credentials: GrpcJs.ChannelCredentials,
        ) => UnimplementedServiceClient;
      };
    };
  };
  const client = new pkg.grpc.testing.UnimplementedService(
    address,
    grpc.credentials.createInsecure(),
  );
  t.teardown(() => client.close());
  return client;
}

/**
 * The responses of a streaming call, one at a time, for tests that interleave writes and
 * reads (ping_pong). `next()` rejects if the call ends before another message arrives.
 */
class Inbox<T> {
  private readonly queue: T[] = [];
  private waiter: { resolve: (m: T) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;

  constructor(call: NodeJS.EventEmitter) {
    call.on('data', (m: T) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(m);
      } else {
        this.queue.push(m);
      }
    });
    const finish = (why: Error) => {
      this.ended ??= why;
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(this.ended);
    };
    call.on('end', () => finish(new Error('stream ended while a response was expected')));
    call.on('error', (e: Error) => finish(e));
  }

  next(): Promise<T> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift()!);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }
}

function assertPayload(
  t: { is(a: unknown, b: unknown, msg?: string): void; true(v: boolean, msg?: string): void },
  response: SimpleResponse | StreamingOutputCallResponse | undefined,
  size: number,
  what: string,
): void {
  t.is(response?.payload?.type, 'COMPRESSABLE', `${what}: payload type`);
  t.is(response?.payload?.body?.length, size, `${what}: payload size`);
  t.true(isAllZero(response?.payload?.body), `${what}: payload is all zeros`);
}

test('empty_unary', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    CALL_MS,
    'EmptyCall',
  );
  t.is(out.error, null);
  t.deepEqual(out.response, {});
  t.is(out.status.code, grpc.status.OK);
});

test('large_unary', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 314159, payload: zeros(271828) }, md(), {}, cb),
    ),
    CALL_MS,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.status.code, grpc.status.OK);
  assertPayload(t, out.response, 314159, 'response');
});

test('client_streaming', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(md(), {}, cb),
      (call) => {
        void writeAll(
          call,
          [27182, 8, 1828, 45904].map((n) => ({ payload: zeros(n) })),
        );
      },
    ),
    CALL_MS,
    'StreamingInputCall',
  );
  t.is(out.error, null);
  t.is(out.status.code, grpc.status.OK);
  t.is(Number(out.response?.aggregated_payload_size), 74922);
});

test('server_streaming', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const sizes = [31415, 9, 2653, 58979];
  const call = client.StreamingOutputCall(
    { response_parameters: sizes.map((size) => ({ size })) },
    md(),
  );
  const out = await within(streamOutcome(call), CALL_MS, 'StreamingOutputCall');
  t.is(out.error, undefined);
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, sizes.length);
  sizes.forEach((size, i) => assertPayload(t, out.messages[i], size, `response ${i}`));
});

test('ping_pong', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const call = client.FullDuplexCall(md());
  const inbox = new Inbox<StreamingOutputCallResponse>(call);
  const outcome = streamOutcome(call);
  const exchanges = [
    { request: 27182, response: 31415 },
    { request: 8, response: 9 },
    { request: 1828, response: 2653 },
    { request: 45904, response: 58979 },
  ];
  for (const [i, { request, response }] of exchanges.entries()) {
    call.write({
      response_parameters: [{ size: response }],
      payload: zeros(request),
    });
    const msg = await within(inbox.next(), CALL_MS, `FullDuplexCall response ${i}`);
    assertPayload(t, msg, response, `response ${i}`);
  }
  call.end();
  const out = await within(outcome, CALL_MS, 'FullDuplexCall status');
  t.is(out.error, undefined);
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, exchanges.length, 'no responses after the half-close');
});

test('empty_stream', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const call = client.FullDuplexCall(md());
  const outcome = streamOutcome(call);
  call.end();
  const out = await within(outcome, CALL_MS, 'FullDuplexCall');
  t.is(out.error, undefined);
  t.is(out.status.code, grpc.status.OK);
  t.deepEqual(out.messages, []);
});

test('status_code_and_message: UnaryCall', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_status: { code: 2, message: STATUS_MESSAGE } }, md(), {}, cb),
    ),
    CALL_MS,
    'UnaryCall',
  );
  t.is(out.error?.code, grpc.status.UNKNOWN);
  t.is(out.error?.details, STATUS_MESSAGE);
  t.is(out.status.code, grpc.status.UNKNOWN);
  t.is(out.status.details, STATUS_MESSAGE);
  t.is(out.response, undefined);
});

test('status_code_and_message: FullDuplexCall', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const call = client.FullDuplexCall(md());
  const outcome = streamOutcome(call);
  call.write({ response_status: { code: 2, message: STATUS_MESSAGE } });
  call.end();
  const out = await within(outcome, CALL_MS, 'FullDuplexCall');
  t.is(out.error?.code, grpc.status.UNKNOWN);
  t.is(out.error?.details, STATUS_MESSAGE);
  t.is(out.status.code, grpc.status.UNKNOWN);
  t.is(out.status.details, STATUS_MESSAGE);
  t.deepEqual(out.messages, []);
});

test('special_status_message', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        { response_status: { code: 2, message: SPECIAL_STATUS_MESSAGE } },
        md(),
        {},
        cb,
      ),
    ),
    CALL_MS,
    'UnaryCall',
  );
  t.is(out.error?.code, grpc.status.UNKNOWN);
  t.is(out.error?.details, SPECIAL_STATUS_MESSAGE);
  t.is(out.status.code, grpc.status.UNKNOWN);
  t.is(out.status.details, SPECIAL_STATUS_MESSAGE);
});

function echoMetadata(): GrpcJs.Metadata {
  return md({ [ECHO_INITIAL_KEY]: ECHO_INITIAL_VALUE, [ECHO_TRAILING_KEY]: ECHO_TRAILING_VALUE });
}

test('custom_metadata: UnaryCall', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 314159, payload: zeros(271828) }, echoMetadata(), {}, cb),
    ),
    CALL_MS,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.status.code, grpc.status.OK);
  assertPayload(t, out.response, 314159, 'response');
  t.deepEqual(out.headers?.get(ECHO_INITIAL_KEY), [ECHO_INITIAL_VALUE], 'initial metadata');
  t.deepEqual(out.status.metadata.get(ECHO_TRAILING_KEY), [ECHO_TRAILING_VALUE], 'trailers');
});

test('custom_metadata: FullDuplexCall', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const call = client.FullDuplexCall(echoMetadata());
  const outcome = streamOutcome(call);
  call.write({
    response_parameters: [{ size: 314159 }],
    payload: zeros(271828),
  });
  call.end();
  const out = await within(outcome, CALL_MS, 'FullDuplexCall');
  t.is(out.error, undefined);
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, 1);
  assertPayload(t, out.messages[0], 314159, 'response');
  t.deepEqual(out.headers?.get(ECHO_INITIAL_KEY), [ECHO_INITIAL_VALUE], 'initial metadata');
  t.deepEqual(out.status.metadata.get(ECHO_TRAILING_KEY), [ECHO_TRAILING_VALUE], 'trailers');
});

test('unimplemented_method', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<object>((cb) => client.UnimplementedCall({}, md(), {}, cb)),
    CALL_MS,
    'TestService/UnimplementedCall',
  );
  t.is(out.error?.code, grpc.status.UNIMPLEMENTED);
  t.is(out.status.code, grpc.status.UNIMPLEMENTED);
  t.is(out.response, undefined);
});

test('unimplemented_service', async (t) => {
  t.timeout(TEST_MS);
  const client = newUnimplementedServiceClient(t, server.address);
  const out = await within(
    unaryOutcome<object>((cb) => client.UnimplementedCall({}, md(), {}, cb)),
    CALL_MS,
    'UnimplementedService/UnimplementedCall',
  );
  t.is(out.error?.code, grpc.status.UNIMPLEMENTED);
  t.is(out.status.code, grpc.status.UNIMPLEMENTED);
  t.is(out.response, undefined);
});

test('cancel_after_begin', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(md(), {}, cb),
      (call) => call.cancel(),
    ),
    CALL_MS,
    'StreamingInputCall',
  );
  t.is(out.error?.code, grpc.status.CANCELLED);
  t.is(out.status.code, grpc.status.CANCELLED);
  t.is(out.response, undefined);
});

test('cancel_after_first_response', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const call = client.FullDuplexCall(md());
  const outcome = streamOutcome(call, (_msg, index) => {
    if (index === 0) call.cancel();
  });
  call.write({
    response_parameters: [{ size: 31415 }],
    payload: zeros(27182),
  });
  const out = await within(outcome, CALL_MS, 'FullDuplexCall');
  t.is(out.messages.length, 1);
  assertPayload(t, out.messages[0], 31415, 'first response');
  t.is(out.error?.code, grpc.status.CANCELLED);
  t.is(out.status.code, grpc.status.CANCELLED);
});

test('timeout_on_sleeping_server', async (t) => {
  t.timeout(TEST_MS);
  const client = newClient(t, server.address);
  const call = client.FullDuplexCall(md(), { deadline: deadlineIn(1) });
  const outcome = streamOutcome(call);
  call.write({ payload: zeros(27182) });
  const out = await within(outcome, CALL_MS, 'FullDuplexCall');
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
  t.is(out.status.code, grpc.status.DEADLINE_EXCEEDED);
});
