// Message size limits: the default 4 MiB receive limit, channel options that change the
// limits, and that a client keeps working after a call failed on a limit.
import test from 'ava';
import { shareInteropPeer, type InteropPeer } from './helpers/peer';
import {
  MiB,
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
import type { TestServiceClient } from './helpers/client-under-test';

let peer!: InteropPeer;
shareInteropPeer(test, describeClient, (p) => (peer = p));

/** A SimpleResponse with an n-byte payload encodes to n + 10 bytes (for 2^21 <= n < 2^28). */
const RESPONSE_OVERHEAD = 10;

function unaryCall(client: TestServiceClient, req: object, what = 'UnaryCall') {
  return within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall(req, md(), {}, cb)),
    30_000,
    what,
  );
}

async function assertClientStillWorks(
  t: { is: (a: unknown, b: unknown, m?: string) => void },
  client: TestServiceClient,
) {
  const next = await unaryCall(client, { response_size: 1024 }, 'follow-up UnaryCall');
  t.is(next.error, null, 'follow-up call failed');
  t.is(next.response?.payload?.body?.length, 1024);
}

test('a 3 MiB response passes the default limit', async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address);
  const out = await unaryCall(client, { response_size: 3 * MiB });
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 3 * MiB);
  t.true(isAllZero(out.response?.payload?.body));
});

test('a 5 MiB response fails with RESOURCE_EXHAUSTED; the client keeps working', async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address);
  const out = await unaryCall(client, { response_size: 5 * MiB });
  t.is(out.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(out.status.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(out.response, undefined);
  await assertClientStillWorks(t, client);
});

test('receive limit boundary: exactly 4 MiB passes, one byte more fails', async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address);
  const exact = await unaryCall(client, { response_size: 4 * MiB - RESPONSE_OVERHEAD });
  t.is(exact.error, null);
  t.is(exact.response?.payload?.body?.length, 4 * MiB - RESPONSE_OVERHEAD);
  const over = await unaryCall(client, { response_size: 4 * MiB - RESPONSE_OVERHEAD + 1 });
  t.is(over.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  await assertClientStillWorks(t, client);
});

test('a 5 MiB message mid server-stream fails the stream with RESOURCE_EXHAUSTED', async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address);
  const out = await within(
    streamOutcome<StreamingOutputCallResponse>(
      client.StreamingOutputCall(
        { response_parameters: [{ size: 10 }, { size: 5 * MiB }, { size: 10 }] },
        md(),
      ),
    ),
    30_000,
    'StreamingOutputCall',
  );
  t.is(out.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(out.messages.length, 1);
  t.is(out.messages[0].payload?.body?.length, 10);
  await assertClientStillWorks(t, client);
});

test("'grpc.max_receive_message_length' raises the limit: 5 MiB passes", async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address, { 'grpc.max_receive_message_length': 8 * MiB });
  const out = await unaryCall(client, { response_size: 5 * MiB });
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 5 * MiB);
});

test("'grpc.max_receive_message_length' lowers the limit: 2 KiB fails at 1 KiB", async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address, { 'grpc.max_receive_message_length': 1024 });
  const out = await unaryCall(client, { response_size: 2048 });
  t.is(out.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  const small = await unaryCall(client, { response_size: 100 });
  t.is(small.error, null);
});

test('a 5 MiB request passes (no default send limit; server accepts 16 MiB)', async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address);
  const out = await unaryCall(client, { response_size: 8, payload: zeros(5 * MiB) });
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 8);
});

test('a 17 MiB request is rejected by the server with RESOURCE_EXHAUSTED', async (t) => {
  t.timeout(60_000);
  const client = newClient(t, peer.address);
  const out = await unaryCall(client, { response_size: 8, payload: zeros(17 * MiB) });
  t.is(out.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  await assertClientStillWorks(t, client);
});

test("'grpc.max_send_message_length' is enforced on the client", async (t) => {
  t.timeout(40_000);
  const client = newClient(t, peer.address, { 'grpc.max_send_message_length': 1 * MiB });
  const out = await unaryCall(client, { response_size: 8, payload: zeros(2 * MiB) });
  t.is(out.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  const small = await unaryCall(client, { response_size: 8, payload: zeros(1000) });
  t.is(small.error, null);
});
