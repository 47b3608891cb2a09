// Request metadata, response headers ('metadata' event), trailers (status.metadata),
// and status codes/messages, against the real interop server.
import test from 'ava';
import { shareInteropPeer, type InteropPeer } from './helpers/peer';
import {
  describeClient,
  grpc,
  md,
  newClient,
  streamOutcome,
  unaryOutcome,
  within,
  writeAll,
  type Metadata,
} from './helpers/fixture';
import type {
  SimpleResponse,
  StreamingInputCallResponse,
  StreamingOutputCallResponse,
} from './helpers/interop-server';

let peer!: InteropPeer;
shareInteropPeer(test, describeClient, (p) => (peer = p));

const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';
const INITIAL_VALUE = 'test_initial_metadata_value';
const TRAILING_VALUE = Buffer.from([0xab, 0xab, 0xab]);

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const PRINTABLE = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i))
  .join('')
  .trim();
const UNICODE_DETAILS = 'ünïcödé %41 \t\n 日本';

function values(m: Metadata | undefined, key: string): Array<string | Buffer> {
  return m ? m.get(key) : [];
}

function customMetadata(): Metadata {
  return md({ [ECHO_INITIAL]: INITIAL_VALUE, [ECHO_TRAILING]: TRAILING_VALUE });
}

test('custom_metadata on UnaryCall: initial echoed as header, -bin echoed as trailer', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 314159 }, customMetadata(), {}, cb),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 314159);
  t.deepEqual(values(out.headers, ECHO_INITIAL), [INITIAL_VALUE]);
  t.is(out.status.code, grpc.status.OK);
  const trailing = values(out.status.metadata, ECHO_TRAILING);
  t.is(trailing.length, 1);
  t.true(Buffer.isBuffer(trailing[0]));
  t.deepEqual(trailing[0], TRAILING_VALUE);
  // Headers and trailers are distinct: the trailer key is not in the headers.
  t.deepEqual(values(out.headers, ECHO_TRAILING), []);
});

test('custom_metadata on FullDuplexCall: header and trailer echoed', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.FullDuplexCall(customMetadata());
  const outcome = streamOutcome<StreamingOutputCallResponse>(call);
  await writeAll(call, [
    { response_parameters: [{ size: 314159 }], payload: { body: Buffer.alloc(271828) } },
  ]);
  const out = await within(outcome, 15_000, 'FullDuplexCall');
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, 1);
  t.deepEqual(values(out.headers, ECHO_INITIAL), [INITIAL_VALUE]);
  t.deepEqual(values(out.status.metadata, ECHO_TRAILING), [TRAILING_VALUE]);
});

test('echo-all: ASCII and -bin request metadata come back as headers and t- trailers', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const long = 'v'.repeat(2000);
  const request = md({
    'x-h2grpc-echo-all-metadata': '1',
    'x-plain': 'hello world',
    'x-printable': PRINTABLE,
    'x-long': long,
    'x-multi': ['one', 'two', 'three'],
    'x-all-bytes-bin': ALL_BYTES,
    'x-zero-bin': Buffer.from([0, 0, 0]),
    'x-multi-bin': [ALL_BYTES, Buffer.from('two')],
  });
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: 1 }, request, {}, cb)),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  for (const [prefix, m] of [
    ['', out.headers],
    ['t-', out.status.metadata],
  ] as const) {
    t.deepEqual(values(m, `${prefix}x-plain`), ['hello world'], `${prefix}x-plain`);
    t.deepEqual(values(m, `${prefix}x-printable`), [PRINTABLE], `${prefix}x-printable`);
    t.deepEqual(values(m, `${prefix}x-long`), [long], `${prefix}x-long`);
    // Repeated ASCII keys may be merged into one comma-separated value on the way (HTTP
    // semantics, allowed by the gRPC spec), so compare the joined form.
    t.is(values(m, `${prefix}x-multi`).join(', '), 'one, two, three', `${prefix}x-multi`);
    // Repeated -bin values are each base64-encoded and must come back as separate values.
    t.deepEqual(values(m, `${prefix}x-multi-bin`), [ALL_BYTES, Buffer.from('two')]);
    t.deepEqual(values(m, `${prefix}x-all-bytes-bin`), [ALL_BYTES], `${prefix}x-all-bytes-bin`);
    t.deepEqual(values(m, `${prefix}x-zero-bin`), [Buffer.from([0, 0, 0])], `${prefix}x-zero-bin`);
  }
});

test('echo-all on server streaming and client streaming calls', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const request = () =>
    md({ 'x-h2grpc-echo-all-metadata': '1', 'x-k': 'v', 'x-k-bin': Buffer.from('\u0000\u00ff') });

  const s = await within(
    streamOutcome<StreamingOutputCallResponse>(
      client.StreamingOutputCall({ response_parameters: [{ size: 3 }] }, request()),
    ),
    15_000,
    'StreamingOutputCall',
  );
  t.is(s.status.code, grpc.status.OK);
  t.deepEqual(values(s.headers, 'x-k'), ['v']);
  t.deepEqual(values(s.headers, 'x-k-bin'), [Buffer.from('\u0000\u00ff')]);
  t.deepEqual(values(s.status.metadata, 't-x-k'), ['v']);
  t.deepEqual(values(s.status.metadata, 't-x-k-bin'), [Buffer.from('\u0000\u00ff')]);

  const c = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(request(), {}, cb),
      (call) => void writeAll(call, [{ payload: { body: Buffer.alloc(5) } }]),
    ),
    15_000,
    'StreamingInputCall',
  );
  t.is(c.error, null);
  t.is(c.response?.aggregated_payload_size, 5);
  t.deepEqual(values(c.headers, 'x-k'), ['v']);
  t.deepEqual(values(c.status.metadata, 't-x-k-bin'), [Buffer.from('\u0000\u00ff')]);
});

test('status_code_and_message: unicode, percent signs and control chars come back exactly', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        { response_status: { code: grpc.status.UNKNOWN, message: UNICODE_DETAILS } },
        md(),
        {},
        cb,
      ),
    ),
    15_000,
    'UnaryCall',
  );
  t.truthy(out.error);
  t.is(out.error?.code, grpc.status.UNKNOWN);
  t.is(out.error?.details, UNICODE_DETAILS);
  t.is(out.error?.message, `2 UNKNOWN: ${UNICODE_DETAILS}`);
  t.is(out.status.code, grpc.status.UNKNOWN);
  t.is(out.status.details, UNICODE_DETAILS);
  t.is(out.response, undefined);
});

test('status message with reserved URI characters and a literal percent sequence', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const details = 'a%2Fb %25 100% done; x=1&y=2 #frag ?q :@$,+/ ~ ";\'';
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        { response_status: { code: grpc.status.INVALID_ARGUMENT, message: details } },
        md(),
        {},
        cb,
      ),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error?.code, grpc.status.INVALID_ARGUMENT);
  t.is(out.error?.details, details);
});

test('status_code_and_message on FullDuplexCall (status after streaming)', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.FullDuplexCall(customMetadata());
  const outcome = streamOutcome<StreamingOutputCallResponse>(call);
  call.write({ response_parameters: [{ size: 10 }] });
  call.write({
    response_parameters: [{ size: 20 }],
    response_status: { code: grpc.status.ABORTED, message: UNICODE_DETAILS },
  });
  const out = await within(outcome, 15_000, 'FullDuplexCall');
  t.deepEqual(
    out.messages.map((m) => m.payload?.body?.length),
    [10, 20],
  );
  t.is(out.status.code, grpc.status.ABORTED);
  t.is(out.status.details, UNICODE_DETAILS);
  t.is(out.error?.code, grpc.status.ABORTED);
  t.is(out.error?.details, UNICODE_DETAILS);
  // Trailers travel with an error status too.
  t.deepEqual(values(out.status.metadata, ECHO_TRAILING), [TRAILING_VALUE]);
  t.deepEqual(values(out.error?.metadata, ECHO_TRAILING), [TRAILING_VALUE]);
  call.end();
});

test('error status on StreamingOutputCall after some messages', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    streamOutcome<StreamingOutputCallResponse>(
      client.StreamingOutputCall(
        {
          response_parameters: [{ size: 1 }, { size: 2 }],
          response_status: { code: grpc.status.FAILED_PRECONDITION, message: 'nope' },
        },
        md(),
      ),
    ),
    15_000,
    'StreamingOutputCall',
  );
  t.is(out.messages.length, 2);
  t.is(out.error?.code, grpc.status.FAILED_PRECONDITION);
  t.is(out.error?.details, 'nope');
});

test('error status with trailers on UnaryCall (trailers-only response)', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        { response_status: { code: grpc.status.NOT_FOUND, message: 'missing' } },
        md({ [ECHO_TRAILING]: TRAILING_VALUE }),
        {},
        cb,
      ),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error?.code, grpc.status.NOT_FOUND);
  t.deepEqual(values(out.error?.metadata, ECHO_TRAILING), [TRAILING_VALUE]);
  t.deepEqual(values(out.status.metadata, ECHO_TRAILING), [TRAILING_VALUE]);
});

test('every non-OK status code (1..16) reaches the client unchanged', async (t) => {
  t.timeout(30_000);
  const client = newClient(t, peer.address);
  for (let code = 1; code <= 16; code++) {
    const out = await within(
      unaryOutcome<SimpleResponse>((cb) =>
        client.UnaryCall({ response_status: { code, message: `code ${code}` } }, md(), {}, cb),
      ),
      10_000,
      `UnaryCall code ${code}`,
    );
    t.is(out.error?.code, code, `code ${code}`);
    t.is(out.error?.details, `code ${code}`);
  }
});

test('unimplemented_method: UnimplementedCall → UNIMPLEMENTED', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<object>((cb) => client.UnimplementedCall({}, md(), {}, cb)),
    15_000,
    'UnimplementedCall',
  );
  t.is(out.error?.code, grpc.status.UNIMPLEMENTED);
  t.is(out.status.code, grpc.status.UNIMPLEMENTED);
});

test('unimplemented_service: unknown method path → UNIMPLEMENTED', async (t) => {
  t.timeout(20_000);
  const identity = (b: Buffer) => b;
  const Bogus = grpc.makeGenericClientConstructor(
    {
      Bogus: {
        path: '/grpc.testing.TestService/NoSuchMethod',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
      OtherService: {
        path: '/grpc.testing.UnimplementedService/UnimplementedCall',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    'Bogus',
  );
  const client = new Bogus(peer.address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  for (const method of ['Bogus', 'OtherService']) {
    const out = await within(
      new Promise<{ err: { code?: number } | null; value?: Buffer }>((resolve) =>
        client[method](Buffer.alloc(0), (err: { code?: number } | null, value?: Buffer) =>
          resolve({ err, value }),
        ),
      ),
      15_000,
      method,
    );
    t.is(out.err?.code, grpc.status.UNIMPLEMENTED, method);
  }
});

test('response headers are emitted before the first message on a stream', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.StreamingOutputCall(
    { response_parameters: [{ size: 1 }, { size: 1 }] },
    md({ [ECHO_INITIAL]: INITIAL_VALUE }),
  );
  const order: string[] = [];
  call.on('metadata', () => order.push('metadata'));
  call.on('data', () => order.push('data'));
  call.on('status', () => order.push('status'));
  const out = await within(streamOutcome<StreamingOutputCallResponse>(call), 15_000, 'stream');
  t.is(out.status.code, grpc.status.OK);
  t.deepEqual(order, ['metadata', 'data', 'data', 'status']);
});

test('grpc-js compatibility: no reserved grpc-* keys in response headers or trailers', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const ok = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 1 }, customMetadata(), {}, cb),
    ),
    15_000,
    'UnaryCall',
  );
  const failed = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_status: { code: 3, message: 'x' } }, md(), {}, cb),
    ),
    15_000,
    'failing UnaryCall',
  );
  const reserved = (m: Metadata | undefined) =>
    Object.keys(m?.toJSON() ?? {}).filter((k) => k.startsWith('grpc-') || k.startsWith(':'));
  t.deepEqual(reserved(ok.headers), [], 'headers');
  t.deepEqual(reserved(ok.status.metadata), [], 'trailers');
  t.deepEqual(reserved(failed.status.metadata), [], 'trailers-only response');
  t.deepEqual(reserved(failed.error?.metadata), [], 'error metadata');
});
