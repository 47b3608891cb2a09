// Deadlines and client-side cancellation. Besides the client's view, each test
// checks that the server handler saw its call cancelled (CANCELLED line printed by
// the child server, or the counter of the in-process server).
import test from 'ava';
import { shareInteropPeer, type InteropPeer } from './helpers/peer';
import { startInteropServer } from './helpers/interop-server';
import {
  deadlineIn,
  describeClient,
  grpc,
  md,
  newClient,
  streamOutcome,
  uniqueTag,
  unaryOutcome,
  warmUp,
  within,
} from './helpers/fixture';
import type {
  SimpleResponse,
  StreamingInputCallResponse,
  StreamingOutputCallResponse,
} from './helpers/interop-server';

let peer!: InteropPeer;
shareInteropPeer(test, describeClient, (p) => (peer = p));

function cancelledLine(method: string, tag: string): RegExp {
  return new RegExp(`^CANCELLED ${method} tag=${tag}$`);
}

test('deadline exceeded on a slow unary handler; the server sees the cancellation', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  await warmUp(client);
  const tag = uniqueTag('deadline-unary');
  const started = Date.now();
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        { response_size: 10 },
        md({ 'x-h2grpc-sleep-ms': '10000', 'x-h2grpc-tag': tag }),
        { deadline: deadlineIn(1000) },
        cb,
      ),
    ),
    15_000,
    'UnaryCall with deadline',
  );
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
  t.is(out.status.code, grpc.status.DEADLINE_EXCEEDED);
  // Not a speed assertion: only that the call did not wait for the 10 s handler.
  t.true(Date.now() - started < 9000);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('UnaryCall', tag), 5000));
});

test('deadline exceeded mid server-stream', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  await warmUp(client);
  const tag = uniqueTag('deadline-stream');
  const call = client.StreamingOutputCall(
    {
      response_parameters: Array.from({ length: 100 }, () => ({ size: 10, interval_us: 100_000 })),
    },
    md({ 'x-h2grpc-tag': tag }),
    { deadline: deadlineIn(1000) },
  );
  const out = await within(streamOutcome<StreamingOutputCallResponse>(call), 15_000, 'stream');
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
  t.is(out.status.code, grpc.status.DEADLINE_EXCEEDED);
  t.true(out.messages.length < 100);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingOutputCall', tag), 5000));
});

test('deadline exceeded on client streaming while the server sleeps', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  await warmUp(client);
  const tag = uniqueTag('deadline-cstream');
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) =>
        client.StreamingInputCall(
          md({ 'x-h2grpc-sleep-ms': '10000', 'x-h2grpc-tag': tag }),
          { deadline: deadlineIn(1000) },
          cb,
        ),
      (call) => call.write({ payload: { body: Buffer.alloc(10) } }),
    ),
    15_000,
    'StreamingInputCall with deadline',
  );
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingInputCall', tag), 5000));
});

test('a deadline already in the past fails with DEADLINE_EXCEEDED', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<object>((cb) =>
      client.EmptyCall({}, md(), { deadline: new Date(Date.now() - 1000) }, cb),
    ),
    15_000,
    'EmptyCall past deadline',
  );
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
});

test('a generous deadline does not interfere with a slow-ish call', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall(
        { response_size: 5 },
        md({ 'x-h2grpc-sleep-ms': '200' }),
        { deadline: deadlineIn(10_000) },
        cb,
      ),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 5);
});

test('deadline given as milliseconds since the epoch (number)', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<object>((cb) =>
      client.EmptyCall({}, md({ 'x-h2grpc-sleep-ms': '5000' }), { deadline: Date.now() + 200 }, cb),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
});

test('cancel_after_first_response: client cancel mid server-stream → CANCELLED', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  await warmUp(client);
  const tag = uniqueTag('cancel-sstream');
  const call = client.StreamingOutputCall(
    {
      response_parameters: Array.from({ length: 200 }, () => ({ size: 100, interval_us: 20_000 })),
    },
    md({ 'x-h2grpc-tag': tag }),
  );
  const out = await within(
    streamOutcome<StreamingOutputCallResponse>(call, (_m, i) => {
      if (i === 2) call.cancel();
    }),
    15_000,
    'cancelled stream',
  );
  t.is(out.error?.code, grpc.status.CANCELLED);
  t.is(out.error?.details, 'Cancelled on client');
  t.is(out.status.code, grpc.status.CANCELLED);
  t.is(out.status.details, 'Cancelled on client');
  t.true(out.messages.length >= 3 && out.messages.length < 200);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('StreamingOutputCall', tag), 5000));
});

test('client cancel mid bidi stream → CANCELLED', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  await warmUp(client);
  const tag = uniqueTag('cancel-bidi');
  const call = client.FullDuplexCall(md({ 'x-h2grpc-tag': tag }));
  // Ping-pong once, then ask for a long paced burst and cancel in the middle of it, while
  // the handler is busy writing. (A reset that arrives while a grpc-js handler waits for
  // the next request is reported to it as a half-close, so it could not be observed.)
  const outcome = streamOutcome<StreamingOutputCallResponse>(call, (_m, i) => {
    if (i === 0) {
      call.write({
        response_parameters: Array.from({ length: 100 }, () => ({ size: 2, interval_us: 20_000 })),
      });
    }
    if (i === 3) call.cancel();
  });
  call.write({ response_parameters: [{ size: 1 }] });
  const out = await within(outcome, 15_000, 'cancelled bidi');
  t.is(out.error?.code, grpc.status.CANCELLED);
  t.is(out.error?.details, 'Cancelled on client');
  t.is(out.status.code, grpc.status.CANCELLED);
  t.deepEqual(
    out.messages.slice(0, 4).map((m) => m.payload?.body?.length),
    [1, 2, 2, 2],
  );
  t.true(out.messages.length < 101);
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('FullDuplexCall', tag), 5000));
});

test('cancel_after_begin: cancel a client stream before sending anything', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(md(), {}, cb),
      (call) => call.cancel(),
    ),
    15_000,
    'cancelled StreamingInputCall',
  );
  t.is(out.error?.code, grpc.status.CANCELLED);
  t.is(out.error?.details, 'Cancelled on client');
});

test('client cancel of an in-flight unary call → CANCELLED; server sees it', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  await warmUp(client);
  const tag = uniqueTag('cancel-unary');
  const out = await within(
    unaryOutcome<SimpleResponse>(
      (cb) =>
        client.UnaryCall(
          { response_size: 1 },
          md({ 'x-h2grpc-sleep-ms': '10000', 'x-h2grpc-tag': tag }),
          {},
          cb,
        ),
      (call) => setTimeout(() => call.cancel(), 300),
    ),
    15_000,
    'cancelled UnaryCall',
  );
  t.is(out.error?.code, grpc.status.CANCELLED);
  t.is(out.error?.details, 'Cancelled on client');
  await t.notThrowsAsync(peer.waitForLine(cancelledLine('UnaryCall', tag), 5000));
});

test('cancel after the call completed is a no-op', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  let call: ReturnType<typeof client.EmptyCall> | undefined;
  const out = await within(
    unaryOutcome<object>(
      (cb) => client.EmptyCall({}, md(), {}, cb),
      (c) => (call = c),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(out.error, null);
  t.notThrows(() => call?.cancel());
  // The client keeps working.
  const again = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    15_000,
    'EmptyCall',
  );
  t.is(again.error, null);
});

test('in-process server: deadline and cancel are counted by the server', async (t) => {
  t.timeout(30_000);
  const srv = await startInteropServer();
  t.teardown(() => srv.stop());
  const client = newClient(t, srv.address);
  await warmUp(client);
  const tag = uniqueTag('inproc-deadline');
  const out = await within(
    unaryOutcome<object>((cb) =>
      client.EmptyCall(
        {},
        md({ 'x-h2grpc-sleep-ms': '10000', 'x-h2grpc-tag': tag }),
        { deadline: deadlineIn(1000) },
        cb,
      ),
    ),
    15_000,
    'EmptyCall',
  );
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
  await t.notThrowsAsync(srv.waitForCancelled(tag, 5000));
  t.is(srv.stats.cancelled.EmptyCall, 1);
  // A completed call is not counted as cancelled.
  const ok = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    15_000,
    'EmptyCall',
  );
  t.is(ok.error, null);
  await new Promise((r) => setTimeout(r, 100));
  t.is(srv.stats.started.EmptyCall, 3);
  t.is(srv.stats.cancelled.EmptyCall, 1);
});
