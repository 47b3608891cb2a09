// All four call kinds against the real interop server, with real payloads.
import test from 'ava';
import { shareInteropPeer, type InteropPeer } from './helpers/peer';
import {
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
} from './helpers/fixture';
import type {
  SimpleResponse,
  StreamingInputCallResponse,
  StreamingOutputCallResponse,
} from './helpers/interop-server';

let peer!: InteropPeer;
shareInteropPeer(test, describeClient, (p) => (peer = p));

// Sizes from the gRPC interop test descriptions (large_unary, client_streaming, ...).
const REQUEST_SIZES = [27182, 8, 1828, 45904];
const RESPONSE_SIZES = [31415, 9, 2653, 58979];

test('empty_unary: EmptyCall returns an empty message and OK', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<object>((cb) => client.EmptyCall({}, md(), {}, cb)),
    15_000,
    'EmptyCall',
  );
  t.is(out.error, null);
  t.deepEqual(out.response, {});
  t.is(out.status.code, grpc.status.OK);
});

test('large_unary: 271828-byte request, 314159-byte response', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ response_size: 314159, payload: zeros(271828) }, md(), {}, cb),
    ),
    15_000,
    'UnaryCall',
  );
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 314159);
  t.true(isAllZero(out.response?.payload?.body));
  t.is(out.status.code, grpc.status.OK);
});

test('client_streaming: StreamingInputCall sums the request payload sizes', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(md(), {}, cb),
      (call) => {
        void writeAll(
          call,
          REQUEST_SIZES.map((n) => ({ payload: zeros(n) })),
        );
      },
    ),
    15_000,
    'StreamingInputCall',
  );
  t.is(out.error, null);
  t.is(out.response?.aggregated_payload_size, 74922);
  t.is(out.status.code, grpc.status.OK);
});

test('client_streaming with no messages: aggregated size 0', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(md(), {}, cb),
      (call) => call.end(),
    ),
    15_000,
    'StreamingInputCall',
  );
  t.is(out.error, null);
  t.is(out.response?.aggregated_payload_size, 0);
});

test('server_streaming: StreamingOutputCall returns the requested sizes in order', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.StreamingOutputCall(
    { response_parameters: RESPONSE_SIZES.map((size) => ({ size })) },
    md(),
  );
  const out = await within(streamOutcome<StreamingOutputCallResponse>(call), 15_000, 'stream');
  t.is(out.status.code, grpc.status.OK);
  t.is(out.error, undefined);
  t.deepEqual(
    out.messages.map((m) => m.payload?.body?.length),
    RESPONSE_SIZES,
  );
  t.true(out.messages.every((m) => isAllZero(m.payload?.body)));
});

test('server_streaming with intervals: 10 responses 20 ms apart', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.StreamingOutputCall(
    {
      response_parameters: Array.from({ length: 10 }, (_, i) => ({
        size: i * 100,
        interval_us: 20_000,
      })),
    },
    md(),
  );
  const out = await within(streamOutcome<StreamingOutputCallResponse>(call), 15_000, 'stream');
  t.is(out.status.code, grpc.status.OK);
  t.deepEqual(
    out.messages.map((m) => m.payload?.body?.length ?? 0),
    Array.from({ length: 10 }, (_, i) => i * 100),
  );
});

test('server_streaming flow control: 200 responses of 64 KiB (12.5 MiB total)', async (t) => {
  t.timeout(60_000);
  const client = newClient(t, peer.address);
  const call = client.StreamingOutputCall(
    { response_parameters: Array.from({ length: 200 }, () => ({ size: 65536 })) },
    md(),
  );
  const out = await within(streamOutcome<StreamingOutputCallResponse>(call), 50_000, 'stream');
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, 200);
  t.true(out.messages.every((m) => m.payload?.body?.length === 65536));
});

test('client_streaming flow control: 200 requests of 64 KiB', async (t) => {
  t.timeout(60_000);
  const client = newClient(t, peer.address);
  const out = await within(
    unaryOutcome<StreamingInputCallResponse, ReturnType<typeof client.StreamingInputCall>>(
      (cb) => client.StreamingInputCall(md(), {}, cb),
      (call) => {
        void writeAll(
          call,
          Array.from({ length: 200 }, () => ({ payload: zeros(65536) })),
        );
      },
    ),
    50_000,
    'StreamingInputCall',
  );
  t.is(out.error, null);
  t.is(out.response?.aggregated_payload_size, 200 * 65536);
});

test('ping_pong: FullDuplexCall answers each request before the next is sent', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.FullDuplexCall(md());
  const outcome = streamOutcome<StreamingOutputCallResponse>(call);
  const received: number[] = [];
  let next: ((m: StreamingOutputCallResponse) => void) | undefined;
  call.on('data', (m: StreamingOutputCallResponse) => next?.(m));
  for (let i = 0; i < REQUEST_SIZES.length; i++) {
    const got = new Promise<StreamingOutputCallResponse>((resolve) => (next = resolve));
    call.write({
      response_parameters: [{ size: RESPONSE_SIZES[i] }],
      payload: zeros(REQUEST_SIZES[i]),
    });
    const m = await within(got, 10_000, `ping-pong response ${i}`);
    received.push(m.payload?.body?.length ?? -1);
  }
  call.end();
  const out = await within(outcome, 10_000, 'FullDuplexCall status');
  t.deepEqual(received, RESPONSE_SIZES);
  t.is(out.messages.length, RESPONSE_SIZES.length);
  t.is(out.status.code, grpc.status.OK);
});

test('empty_stream: FullDuplexCall half-closed at once ends OK with no messages', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.FullDuplexCall(md());
  const outcome = streamOutcome<StreamingOutputCallResponse>(call);
  call.end();
  const out = await within(outcome, 15_000, 'FullDuplexCall');
  t.is(out.status.code, grpc.status.OK);
  t.is(out.messages.length, 0);
});

test('HalfDuplexCall: responses only after half-close, in request order', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  const call = client.HalfDuplexCall(md());
  let halfClosed = false;
  let earlyMessages = 0;
  const outcome = streamOutcome<StreamingOutputCallResponse>(call, () => {
    if (!halfClosed) earlyMessages += 1;
  });
  for (const size of RESPONSE_SIZES) call.write({ response_parameters: [{ size }] });
  // Give the server a moment: it must not answer before the client half-closes.
  await new Promise((r) => setTimeout(r, 200));
  halfClosed = true;
  call.end();
  const out = await within(outcome, 15_000, 'HalfDuplexCall');
  t.is(earlyMessages, 0);
  t.is(out.status.code, grpc.status.OK);
  t.deepEqual(
    out.messages.map((m) => m.payload?.body?.length),
    RESPONSE_SIZES,
  );
});

test('1000 concurrent unary calls on one client all succeed', async (t) => {
  t.timeout(90_000);
  const client = newClient(t, peer.address);
  const N = 1000;
  const outs = await within(
    Promise.all(
      Array.from({ length: N }, (_, i) =>
        unaryOutcome<SimpleResponse>((cb) =>
          client.UnaryCall({ response_size: i % 257, payload: zeros(i % 61) }, md(), {}, cb),
        ),
      ),
    ),
    80_000,
    `${N} concurrent UnaryCalls`,
  );
  const failures = outs.filter((o) => o.error !== null);
  t.is(failures.length, 0, failures[0]?.error?.message);
  t.true(outs.every((o, i) => o.response?.payload?.body?.length === i % 257));
  t.true(outs.every((o) => o.status.code === grpc.status.OK));
});

test('50 concurrent ping-pong streams on one client', async (t) => {
  t.timeout(60_000);
  const client = newClient(t, peer.address);
  const runOne = async (k: number) => {
    const call = client.FullDuplexCall(md());
    const outcome = streamOutcome<StreamingOutputCallResponse>(call);
    const sizes = [k, k + 1, k + 2];
    await writeAll(
      call,
      sizes.map((size) => ({ response_parameters: [{ size }] })),
    );
    const out = await outcome;
    return { sizes, got: out.messages.map((m) => m.payload?.body?.length ?? 0), out };
  };
  const results = await within(
    Promise.all(Array.from({ length: 50 }, (_, k) => runOne(k * 10))),
    50_000,
    '50 FullDuplexCalls',
  );
  for (const r of results) {
    t.is(r.out.status.code, grpc.status.OK);
    t.deepEqual(r.got, r.sizes);
  }
});

test('the same client works for many sequential calls of mixed kinds', async (t) => {
  t.timeout(30_000);
  const client = newClient(t, peer.address);
  for (let i = 0; i < 20; i++) {
    const u = await within(
      unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: i }, md(), {}, cb)),
      10_000,
      'UnaryCall',
    );
    t.is(u.response?.payload?.body?.length, i);
    const s = await within(
      streamOutcome<StreamingOutputCallResponse>(
        client.StreamingOutputCall({ response_parameters: [{ size: i }, { size: 1 }] }, md()),
      ),
      10_000,
      'StreamingOutputCall',
    );
    t.is(s.messages.length, 2);
  }
});

test('waitForReady on the client resolves once connected', async (t) => {
  t.timeout(20_000);
  const client = newClient(t, peer.address);
  await within(
    new Promise<void>((resolve, reject) =>
      client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
    ),
    15_000,
    'waitForReady',
  );
  t.pass();
});
