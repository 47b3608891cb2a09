// Client keepalive (gRFC A8, grpc-js timing) against real peers on loopback:
// a raw node:http2 server that counts the PINGs it receives, and a TCP proxy
// that stops forwarding to play a peer that has silently gone away.
import test, { type ExecutionContext } from 'ava';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type * as GrpcJs from '@grpc/grpc-js';
import { grpc as h2grpc } from './helpers/fixture';

const METHOD = '/test.Keepalive/Hang';
const identity = (b: Buffer): Buffer => b;
const definition = {
  Hang: {
    path: METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

type HangClient = GrpcJs.Client & {
  Hang(
    req: Buffer,
    md: GrpcJs.Metadata,
    opts: GrpcJs.CallOptions,
    cb: (err: GrpcJs.ServiceError | null, res?: Buffer) => void,
  ): GrpcJs.Call;
};

const HangClient = h2grpc.makeGenericClientConstructor(definition, 'Hang') as unknown as new (
  target: string,
  creds: GrpcJs.ChannelCredentials,
  options?: Record<string, string | number>,
) => HangClient;

function newClient(
  t: ExecutionContext,
  target: string,
  options: Record<string, string | number>,
): HangClient {
  const client = new HangClient(target, h2grpc.credentials.createInsecure(), options);
  t.teardown(() => client.close());
  return client;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface PingServer {
  address: string;
  /** Arrival time (ms since start) of every PING, per session in connection order. */
  pings: number[][];
  sessions: http2.ServerHttp2Session[];
}

/**
 * An HTTP/2 server whose handlers never answer (calls stay active) and
 * which records the PINGs each session receives. `onPing` may react, e.g.
 * with a GOAWAY.
 */
async function startPingServer(
  t: ExecutionContext,
  onPing?: (session: http2.ServerHttp2Session, index: number) => void,
): Promise<PingServer> {
  const started = Date.now();
  const state: PingServer = { address: '', pings: [], sessions: [] };
  const server = http2.createServer();
  server.on('session', (session) => {
    const index = state.sessions.length;
    state.sessions.push(session);
    const mine: number[] = [];
    state.pings.push(mine);
    session.on('ping', () => {
      mine.push(Date.now() - started);
      onPing?.(session, index);
    });
    session.on('error', () => {});
  });
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of state.sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return state;
}

/** Starts a call that the server never answers; resolves with its outcome. */
function hang(
  client: HangClient,
  deadlineMs: number,
): { call: GrpcJs.Call; done: Promise<GrpcJs.ServiceError | null> } {
  let call!: GrpcJs.Call;
  const done = new Promise<GrpcJs.ServiceError | null>((resolve) => {
    call = client.Hang(
      Buffer.from('x'),
      new h2grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err) => resolve(err),
    );
  });
  return { call, done };
}

test('keepalive_time_ms=100: the server sees a PING about every 100 ms while a call runs', async (t) => {
  t.timeout(30_000);
  const srv = await startPingServer(t);
  const client = newClient(t, srv.address, { 'grpc.keepalive_time_ms': 100 });
  const { call, done } = hang(client, 10_000);
  await sleep(1000);
  const pings = srv.pings[0] ?? [];
  // grpc-js timing: one ping per keepalive_time after the previous ACK.
  // Lower bound loose for loaded machines; the upper bound catches a
  // ping per poll instead of per keepalive_time.
  t.true(pings.length >= 3 && pings.length <= 11, `pings: ${pings.join(',')}`);
  call.cancel();
  await done;
  // No calls and no permit_without_calls: the pings stop.
  await sleep(150);
  const after = srv.pings[0].length;
  await sleep(500);
  t.is(srv.pings[0].length, after);
});

test('keepalive disabled by default: no PINGs on an idle call', async (t) => {
  t.timeout(30_000);
  const srv = await startPingServer(t);
  // BDP pings follow received DATA only; this server sends none.
  const client = newClient(t, srv.address, {});
  const { call, done } = hang(client, 10_000);
  await sleep(700);
  t.deepEqual(srv.pings[0] ?? [], []);
  call.cancel();
  await done;
});

test('keepalive_permit_without_calls=1 pings an idle connection', async (t) => {
  t.timeout(30_000);
  const srv = await startPingServer(t);
  const client = newClient(t, srv.address, {
    'grpc.keepalive_time_ms': 100,
    'grpc.keepalive_permit_without_calls': 1,
  });
  // Connect without any call.
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())),
  );
  await sleep(800);
  t.true((srv.pings[0]?.length ?? 0) >= 3, `pings: ${srv.pings[0]}`);
});

/**
 * A TCP proxy in front of `target` that forwards until `stall()`, then
 * swallows every byte in both directions without closing anything: the
 * peer is still "connected" but never answers again.
 */
async function startStallingProxy(
  t: ExecutionContext,
  target: string,
): Promise<{ address: string; stall(): void }> {
  let stalled = false;
  const sockets = new Set<net.Socket>();
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.split(':').pop())];
  const proxy = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    client.on('data', (d) => {
      if (!stalled) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!stalled) client.write(d);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  );
  return {
    address: `127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    stall: () => {
      stalled = true;
    },
  };
}

test('a peer that stops answering PINGs fails calls UNAVAILABLE within time + timeout', async (t) => {
  t.timeout(30_000);
  const srv = await startPingServer(t);
  const proxy = await startStallingProxy(t, srv.address);
  const client = newClient(t, proxy.address, {
    'grpc.keepalive_time_ms': 200,
    'grpc.keepalive_timeout_ms': 300,
  });
  const { done } = hang(client, 20_000);
  // Answered pings first: the connection is healthy.
  for (let i = 0; i < 100 && (srv.pings[0]?.length ?? 0) < 2; i++) await sleep(50);
  t.true((srv.pings[0]?.length ?? 0) >= 2, `pings before the stall: ${srv.pings[0]}`);
  proxy.stall();
  const stalledAt = Date.now();
  const err = await done;
  const took = Date.now() - stalledAt;
  t.is(err?.code, h2grpc.status.UNAVAILABLE, err?.details);
  // time (200) + timeout (300) after the stall, plus slack for loaded machines.
  // Without keepalive the call would wait for its 20 s deadline.
  t.true(took < 3000, `failed after ${took} ms`);
});

test('GOAWAY too_many_pings doubles the keepalive time of the next connection', async (t) => {
  t.timeout(30_000);
  const srv = await startPingServer(t, (session, index) => {
    if (index === 0)
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
  });
  const client = newClient(t, srv.address, {
    'grpc.keepalive_time_ms': 200,
    'grpc.keepalive_permit_without_calls': 1,
  });
  client.getChannel().getConnectivityState(true);
  // First connection: pinged at ~200 ms, told to calm down, goes away.
  for (let i = 0; i < 50 && srv.sessions.length < 2; i++) {
    await sleep(50);
    client.getChannel().getConnectivityState(true);
  }
  t.is(srv.sessions.length, 2, 'reconnected after the GOAWAY');
  const connectedAt = Date.now();
  for (let i = 0; i < 40 && (srv.pings[1]?.length ?? 0) < 2; i++) await sleep(50);
  const second = srv.pings[1] ?? [];
  t.true(second.length >= 2, `pings on the second connection: ${second}`);
  // Pings now come every ~400 ms instead of 200.
  const gap = second[1] - second[0];
  t.true(gap >= 350, `gap between pings ${gap} ms (connected ${connectedAt})`);
});

test('after too_many_pings, two channels that shared a connection still share one', async (t) => {
  t.timeout(30_000);
  const srv = await startPingServer(t, (session, index) => {
    if (index === 0)
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
  });
  const options = { 'grpc.keepalive_time_ms': 200, 'grpc.keepalive_permit_without_calls': 1 };
  const clients = [newClient(t, srv.address, options), newClient(t, srv.address, options)];
  const ready = () =>
    Promise.all(
      clients.map(
        (c) =>
          new Promise<void>((resolve, reject) =>
            c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())),
          ),
      ),
    );
  await ready();
  t.is(srv.sessions.length, 1, 'the two channels share the first connection');
  // The first ping (~200 ms) draws the GOAWAY; both channels reconnect.
  for (let i = 0; i < 50 && srv.sessions.length < 2; i++) await sleep(50);
  await ready();
  await sleep(500);
  // The throttled keepalive time is the subchannel's own: the two channels still
  // find the same subchannel (one connection), instead of one of them keying a new
  // one by the doubled time.
  t.is(srv.sessions.length, 2, `${srv.sessions.length} connections`);
});
