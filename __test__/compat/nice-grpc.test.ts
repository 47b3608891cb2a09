// nice-grpc (unchanged) on h2grpc through the npm override, with
// @grpc/proto-loader definitions, against the grpc-js interop server.
import { spawnInteropServer, type InteropPeer } from '../helpers/peer';
import { LOADER_OPTIONS, TEST_PROTO } from '../helpers/interop-server';
import { compatRequire, compatTest, grpcSeenBy, nativeCalls } from './helpers/compat';

const test = compatTest('nice-grpc');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
let peer: InteropPeer;
let nice: Any;
let client: Any;
let channel: Any;

test.before(async () => {
  peer = await spawnInteropServer();
  nice = compatRequire('nice-grpc');
  const protoLoader = compatRequire('@grpc/proto-loader');
  const def = protoLoader.loadSync(TEST_PROTO, LOADER_OPTIONS);
  const service = def['grpc.testing.TestService'];
  channel = nice.createChannel(peer.address);
  // nice-grpc's `deadline` call option comes from its deadline middleware.
  const { deadlineMiddleware } = compatRequire('nice-grpc-client-middleware-deadline');
  client = nice.createClientFactory().use(deadlineMiddleware).create(service, channel);
});

test.after.always(async () => {
  channel?.close();
  await peer?.stop();
});

async function collect(iterable: AsyncIterable<Any>): Promise<Any[]> {
  const out: Any[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

test.serial('nice-grpc loads h2grpc as @grpc/grpc-js', (t) => {
  grpcSeenBy(t, 'nice-grpc');
  const grpc = grpcSeenBy(t, 'nice-grpc');
  t.true(channel instanceof grpc.Channel, 'createChannel made an h2grpc Channel');
});

test.serial('unary call', async (t) => {
  const grpc = grpcSeenBy(t, 'nice-grpc');
  const before = nativeCalls(grpc);
  const res = await client.UnaryCall({ response_size: 10, payload: { body: Buffer.from('abc') } });
  t.is(res.payload.body.length, 10);
  t.true(nativeCalls(grpc) > before, 'the call went through h2grpc');
});

test.serial('metadata in and response header/trailer callbacks', async (t) => {
  const { Metadata } = compatRequire('nice-grpc-common');
  let header: Any;
  let trailer: Any;
  await client.UnaryCall(
    { response_size: 1 },
    {
      metadata: Metadata({ 'x-grpc-test-echo-initial': 'hello' }),
      onHeader: (h: Any) => (header = h),
      onTrailer: (tr: Any) => (trailer = tr),
    },
  );
  t.is(header.get('x-grpc-test-echo-initial'), 'hello');
  t.truthy(trailer);
});

test.serial('server streaming', async (t) => {
  const sizes = [3, 5, 7];
  const responses = await collect(
    client.StreamingOutputCall({ response_parameters: sizes.map((size) => ({ size })) }),
  );
  t.deepEqual(
    responses.map((r) => r.payload.body.length),
    sizes,
  );
});

test.serial('client streaming and bidi streaming', async (t) => {
  async function* requests(): AsyncIterable<Any> {
    for (const n of [4, 6]) yield { payload: { body: Buffer.alloc(n) } };
  }
  const agg = await client.StreamingInputCall(requests());
  t.is(agg.aggregated_payload_size, 10);
  async function* pings(): AsyncIterable<Any> {
    for (const size of [1, 2]) yield { response_parameters: [{ size }] };
  }
  const pongs = await collect(client.FullDuplexCall(pings()));
  t.deepEqual(
    pongs.map((r) => r.payload.body.length),
    [1, 2],
  );
});

test.serial('errors become ClientError with the status code and details', async (t) => {
  const err = await t.throwsAsync(
    client.UnaryCall({ response_status: { code: 9, message: 'compat precondition' } }),
    { instanceOf: nice.ClientError },
  );
  t.is(err!.code, nice.Status.FAILED_PRECONDITION);
  t.is((err as Any).details, 'compat precondition');
  t.is(err!.path, '/grpc.testing.TestService/UnaryCall');
});

test.serial("nice-grpc's deadline option ends the call with DEADLINE_EXCEEDED", async (t) => {
  const started = Date.now();
  const err = await t.throwsAsync(
    collect(
      client.StreamingOutputCall(
        { response_parameters: [{ size: 1, interval_us: 3_000_000 }] },
        { deadline: new Date(Date.now() + 200) },
      ),
    ),
    { instanceOf: nice.ClientError },
  );
  t.is(err!.code, nice.Status.DEADLINE_EXCEEDED);
  t.true(Date.now() - started < 2500, 'ended at the deadline, not when the server answered');
});

test.serial('abort signal cancels the call with an AbortError', async (t) => {
  const controller = new AbortController();
  const started = Date.now();
  const pending = collect(
    client.StreamingOutputCall(
      { response_parameters: [{ size: 1 }, { size: 1, interval_us: 3_000_000 }] },
      { signal: controller.signal },
    ),
  );
  setTimeout(() => controller.abort(), 200);
  // abort-controller-x's AbortError is not an Error to ava's throwsAsync.
  const err = await pending.then(
    () => undefined,
    (e: Any) => e,
  );
  t.truthy(err, 'the call was aborted');
  t.true(compatRequire('abort-controller-x').isAbortError(err), String(err));
  t.true(Date.now() - started < 2500);
});
