// Against grpc-go's interop server: compression towards a server that has
// no gzip codec, and a fast server stream that must not draw GOAWAY
// "too_many_pings" (grpc-go's server counts pings that come without data in
// between as strikes).
import test from 'ava';
import { spawnGoInteropServer, type GoInteropServer } from './helpers/go-interop-server';
import {
  describeClient,
  grpc,
  isAllZero,
  md,
  newClient,
  streamOutcome,
  unaryOutcome,
  within,
  zeros,
} from './helpers/fixture';
import type { SimpleResponse, StreamingOutputCallResponse } from './helpers/interop-server';

let server: GoInteropServer;

test.before(async (t) => {
  t.log(describeClient());
  server = await spawnGoInteropServer();
});

test.after.always(async () => {
  await server?.stop();
});

test('gzip to a grpc-go server without gzip: UNIMPLEMENTED on every call, as with grpc-js', async (t) => {
  // This grpc-go build links no gzip codec. Its UNIMPLEMENTED answer is
  // trailers-only, so (as in grpc-js) no grpc-accept-encoding is learned
  // from it and the channel keeps compressing.
  t.timeout(60_000);
  const gzip = newClient(t, server.address, { 'grpc.default_compression_algorithm': 2 });
  for (let i = 0; i < 2; i++) {
    const out = await within(
      unaryOutcome<SimpleResponse>((cb) =>
        gzip.UnaryCall({ response_size: 10, payload: zeros(1000) }, md(), {}, cb),
      ),
      30_000,
      'compressed UnaryCall',
    );
    t.is(out.error?.code, grpc.status.UNIMPLEMENTED, `call ${i}`);
    t.is(out.error?.details, 'grpc: Decompressor is not installed for grpc-encoding "gzip"');
  }
  // An uncompressed channel to the same server is fine.
  const plain = newClient(t, server.address);
  const ok = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      plain.UnaryCall({ response_size: 10, payload: zeros(1000) }, md(), {}, cb),
    ),
    30_000,
    'plain UnaryCall',
  );
  t.is(ok.error, null);
  t.true(isAllZero(ok.response?.payload?.body));
});

test('a fast server stream with BDP pings draws no GOAWAY too_many_pings', async (t) => {
  t.timeout(120_000);
  const client = newClient(t, server.address);
  for (let round = 0; round < 3; round++) {
    const call = client.StreamingOutputCall(
      { response_parameters: Array.from({ length: 400 }, () => ({ size: 64 * 1024 })) } as never,
      md(),
    );
    const out = await within(streamOutcome<StreamingOutputCallResponse>(call), 60_000, 'stream');
    t.is(out.error, undefined, `round ${round}`);
    t.is(out.messages.length, 400, `round ${round}`);
  }
  t.false(/too_many_pings|too many pings/.test(server.output()), server.output());
});
