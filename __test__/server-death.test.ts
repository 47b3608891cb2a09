// The server process dies (SIGKILL) or shuts down (SIGTERM) under the client: calls in
// flight fail with UNAVAILABLE, nothing crashes, and once the server is back on the same
// port the same client recovers (after a bounded retry loop, as reconnect backoff applies).
import test from 'ava';
import { spawnInteropServer } from './helpers/peer';
import {
  describeClient,
  grpc,
  md,
  newClient,
  sleep,
  streamOutcome,
  unaryOutcome,
  within,
  type ServiceError,
} from './helpers/fixture';
import type { SimpleResponse, StreamingOutputCallResponse } from './helpers/interop-server';
import type { TestServiceClient } from './helpers/client-under-test';

test.before((t) => {
  t.log(describeClient());
});

/**
 * Retries EmptyCall with 200 ms sleeps until it succeeds: at least 10 attempts, and for up
 * to 10 s in total. (A bare 10 × 200 ms is not enough when the restarted server is slow to
 * come up: grpc-js's reconnect backoff is 1 s × 1.6^n with ±20% jitter, so after a couple
 * of refused connects the next attempt can be 2.5+ s away.) Resolves with the attempt count.
 */
async function recovers(client: TestServiceClient): Promise<number> {
  let last: ServiceError | null = null;
  const start = Date.now();
  for (let attempt = 1; attempt <= 10 || Date.now() - start < 10_000; attempt++) {
    const out = await within(
      unaryOutcome<object>((cb) => client.EmptyCall({}, md(), { deadline: Date.now() + 5000 }, cb)),
      10_000,
      `EmptyCall attempt ${attempt}`,
    );
    if (out.error === null) return attempt;
    last = out.error;
    await sleep(200);
  }
  throw new Error(`client did not recover within 10 s; last error: ${last?.message}`);
}

test('SIGKILL mid server-stream → UNAVAILABLE; same client works after restart', async (t) => {
  t.timeout(60_000);
  const peer = await spawnInteropServer({ t });
  const client = newClient(t, peer.address);
  // Warm up the connection so the kill hits an established HTTP/2 session.
  t.is((await recovers(client)) > 0, true);

  const call = client.StreamingOutputCall(
    {
      response_parameters: Array.from({ length: 500 }, () => ({ size: 1000, interval_us: 10_000 })),
    },
    md(),
  );
  let killed: Promise<void> | undefined;
  const out = await within(
    streamOutcome<StreamingOutputCallResponse>(call, (_m, i) => {
      if (i === 4) killed = peer.kill('SIGKILL');
    }),
    20_000,
    'stream interrupted by server death',
  );
  await killed;
  t.is(out.error?.code, grpc.status.UNAVAILABLE, out.error?.message);
  t.is(out.status.code, grpc.status.UNAVAILABLE);
  t.true(out.messages.length >= 5 && out.messages.length < 500);

  await peer.restart();
  const attempts = await recovers(client);
  t.log(`recovered after ${attempts} attempt(s)`);
  const s = await within(
    streamOutcome<StreamingOutputCallResponse>(
      client.StreamingOutputCall({ response_parameters: [{ size: 7 }, { size: 8 }] }, md()),
    ),
    10_000,
    'stream after restart',
  );
  t.is(s.status.code, grpc.status.OK);
  t.deepEqual(
    s.messages.map((m) => m.payload?.body?.length),
    [7, 8],
  );
});

test('SIGKILL during an in-flight unary call → UNAVAILABLE', async (t) => {
  t.timeout(60_000);
  const peer = await spawnInteropServer({ t });
  const client = newClient(t, peer.address);
  await recovers(client);
  const pending = within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 1 }, md({ 'x-h2grpc-sleep-ms': '10000' }), {}, cb),
    ),
    20_000,
    'UnaryCall interrupted by server death',
  );
  await sleep(300);
  await peer.kill('SIGKILL');
  const out = await pending;
  t.is(out.error?.code, grpc.status.UNAVAILABLE, out.error?.message);
  t.is(out.status.code, grpc.status.UNAVAILABLE);
});

test('with the server down, a new call fails with UNAVAILABLE (no hang)', async (t) => {
  t.timeout(60_000);
  const peer = await spawnInteropServer({ t });
  const client = newClient(t, peer.address);
  await recovers(client);
  await peer.kill('SIGKILL');
  const out = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    30_000,
    'EmptyCall to a dead server',
  );
  t.is(out.error?.code, grpc.status.UNAVAILABLE, out.error?.message);
  await peer.restart();
  await recovers(client);
  t.pass();
});

test('graceful shutdown (SIGTERM, GOAWAY) and restart: the same client recovers', async (t) => {
  t.timeout(60_000);
  const peer = await spawnInteropServer({ t });
  const client = newClient(t, peer.address);
  await recovers(client);
  await peer.kill('SIGTERM');
  await peer.restart();
  const attempts = await recovers(client);
  t.log(`recovered after ${attempts} attempt(s)`);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: 3 }, md(), {}, cb)),
    10_000,
    'UnaryCall after restart',
  );
  t.is(out.error, null);
});

test('a client created before the server exists connects once it is up', async (t) => {
  t.timeout(60_000);
  // Find a free port by starting and killing a server, then point a client at it.
  const peer = await spawnInteropServer({ t });
  await peer.kill('SIGKILL');
  const client = newClient(t, peer.address);
  const down = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    30_000,
    'EmptyCall before the server is up',
  );
  t.is(down.error?.code, grpc.status.UNAVAILABLE);
  await peer.restart();
  await recovers(client);
  t.pass();
});
