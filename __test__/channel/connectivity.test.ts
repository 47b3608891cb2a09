// Connectivity state of a channel against real servers: IDLE → CONNECTING → READY via
// getConnectivityState(true) and watchConnectivityState, client.waitForReady, idle mode
// after `grpc.client_idle_timeout_ms`, TRANSIENT_FAILURE for a dead address, and
// SHUTDOWN on close.
import * as net from 'node:net';
import test from 'ava';
import {
  describeClient,
  grpc,
  isGrpcJs,
  md,
  newClient,
  sleep,
  unaryOutcome,
  within,
} from '../helpers/fixture';
import {
  ask,
  askMany,
  deadPort,
  nextState,
  recordStates,
  spawnBackends,
  stateName,
  untilState,
} from '../helpers/backends';
import type { SimpleResponse } from '../helpers/interop-server';

const S = grpc.connectivityState;

test.before((t) => {
  t.log(describeClient());
});

function waitForReady(
  client: ReturnType<typeof newClient>,
  deadline: Date | number,
): Promise<Error | undefined> {
  return new Promise((resolve) => client.waitForReady(deadline, (err) => resolve(err)));
}

test('getConnectivityState(true) and watchConnectivityState: IDLE → CONNECTING → READY', async (t) => {
  t.timeout(30_000);
  const [backend] = await spawnBackends(t, 1);
  const client = newClient(t, backend.address);
  const channel = client.getChannel();
  // A new channel does not connect by itself.
  t.is(channel.getConnectivityState(false), S.IDLE);
  await sleep(200);
  t.is(channel.getConnectivityState(false), S.IDLE);
  const recorded = recordStates(channel);
  // h2grpc builds the resolver and balancer at once (grpc-js reports IDLE first).
  t.is(channel.getConnectivityState(true), isGrpcJs ? S.IDLE : S.CONNECTING);
  await untilState(channel, S.READY, 10_000);
  recorded.stop();
  t.deepEqual(recorded.states.map(stateName), ['IDLE', 'CONNECTING', 'READY']);
  // READY means calls go straight out.
  const a = await ask(client);
  t.is(a.serverId, backend.serverId);
  t.is(channel.getConnectivityState(true), S.READY);
});

test('watchConnectivityState: the callback gets an error when the deadline passes without a change', async (t) => {
  t.timeout(30_000);
  const client = newClient(t, `127.0.0.1:${await deadPort()}`);
  const channel = client.getChannel();
  const start = Date.now();
  const err = await new Promise<Error | undefined>((resolve) =>
    channel.watchConnectivityState(S.IDLE, Date.now() + 300, resolve),
  );
  t.true(err instanceof Error);
  t.true(Date.now() - start >= 290);
  t.is(channel.getConnectivityState(false), S.IDLE);
  // A watch on a state other than the current one fires at once, without error (as in
  // gRPC core and grpc-go; grpc-js waits for the next change instead).
  const now = await new Promise<Error | undefined>((resolve) =>
    channel.watchConnectivityState(S.READY, Date.now() + (isGrpcJs ? 100 : 5000), resolve),
  );
  if (isGrpcJs) t.true(now instanceof Error);
  else t.is(now, undefined);
});

test('client.waitForReady connects an idle channel and calls back once READY', async (t) => {
  t.timeout(30_000);
  const [backend] = await spawnBackends(t, 1);
  const client = newClient(t, backend.address);
  const err = await within(waitForReady(client, Date.now() + 10_000), 15_000, 'waitForReady');
  t.is(err, undefined);
  t.is(client.getChannel().getConnectivityState(false), S.READY);
  // Already READY: calls back (asynchronously) at once.
  t.is(await waitForReady(client, new Date(Date.now() + 1000)), undefined);
});

test('client.waitForReady against a dead address fails at the deadline; state TRANSIENT_FAILURE', async (t) => {
  t.timeout(30_000);
  const client = newClient(t, `127.0.0.1:${await deadPort()}`);
  const start = Date.now();
  const err = await within(waitForReady(client, Date.now() + 1500), 10_000, 'waitForReady');
  const ms = Date.now() - start;
  t.true(err instanceof Error);
  t.true(ms >= 1400 && ms < 5000, `took ${ms} ms`);
  t.is(client.getChannel().getConnectivityState(false), S.TRANSIENT_FAILURE);
});

test('client.waitForReady waits through a failed attempt until the server comes up', async (t) => {
  t.timeout(60_000);
  const [backend] = await spawnBackends(t, 1);
  await backend.kill('SIGKILL');
  const client = newClient(t, backend.address, {
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 500,
  });
  const ready = waitForReady(client, Date.now() + 30_000);
  await untilState(client.getChannel(), S.TRANSIENT_FAILURE, 10_000);
  await backend.restart();
  t.is(await within(ready, 10_000, 'waitForReady after restart'), undefined);
  t.is((await ask(client)).serverId, backend.serverId);
});

test('idle: after grpc.client_idle_timeout_ms without calls the channel goes IDLE; the next call reconnects', async (t) => {
  t.timeout(60_000);
  const [backend] = await spawnBackends(t, 1);
  const client = newClient(t, backend.address, { 'grpc.client_idle_timeout_ms': 300 });
  const channel = client.getChannel();
  t.is((await ask(client)).serverId, backend.serverId);
  t.is(channel.getConnectivityState(false), S.READY);

  // A call in flight (the server sleeps 900 ms) keeps the channel out of idle.
  const long = ask(client, { metadata: { 'x-h2grpc-sleep-ms': '900' } });
  await sleep(600);
  t.is(channel.getConnectivityState(false), S.READY, 'went idle with a call in flight');
  t.is((await long).serverId, backend.serverId);

  for (let round = 1; round <= 2; round++) {
    const ended = Date.now();
    const state = await nextState(channel, S.READY, 5000);
    const after = Date.now() - ended;
    t.is(stateName(state), 'IDLE');
    t.true(after >= 250 && after < 2000, `round ${round}: idle after ${after} ms`);
    // Idle means no connection is kept and nothing reconnects by itself.
    await sleep(300);
    t.is(channel.getConnectivityState(false), S.IDLE);

    const recorded = recordStates(channel);
    const a = await ask(client);
    recorded.stop();
    t.is(a.serverId, backend.serverId, a.error?.message);
    t.deepEqual(recorded.states.map(stateName), ['IDLE', 'CONNECTING', 'READY']);
  }
});

test('idle: wait-for-ready and streaming calls work after the channel went idle', async (t) => {
  t.timeout(60_000);
  const [backend] = await spawnBackends(t, 1);
  const client = newClient(t, backend.address, { 'grpc.client_idle_timeout_ms': 300 });
  const channel = client.getChannel();
  t.is((await ask(client)).serverId, backend.serverId);
  await untilState(channel, S.IDLE, 5000);
  const a = await ask(client, { waitForReady: true });
  t.is(a.serverId, backend.serverId, a.error?.message);
  await untilState(channel, S.IDLE, 5000);
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) => client.UnaryCall({ response_size: 5 }, md(), {}, cb)),
    10_000,
    'UnaryCall after idle',
  );
  t.is(out.error, null);
  t.is(out.response?.payload?.body?.length, 5);
});

test('a dead address: CONNECTING → TRANSIENT_FAILURE, fail-fast calls fail with UNAVAILABLE', async (t) => {
  t.timeout(30_000);
  const client = newClient(t, `127.0.0.1:${await deadPort()}`);
  const channel = client.getChannel();
  const recorded = recordStates(channel);
  channel.getConnectivityState(true);
  await untilState(channel, S.TRANSIENT_FAILURE, 10_000);
  recorded.stop();
  t.deepEqual(recorded.states.slice(0, 3).map(stateName), [
    'IDLE',
    'CONNECTING',
    'TRANSIENT_FAILURE',
  ]);
  const a = await ask(client);
  t.is(a.error?.code, grpc.status.UNAVAILABLE);
  t.regex(a.error?.details ?? '', /refused|connect/i);
});

test('close(): SHUTDOWN; watchers are told; queued and new calls fail with UNAVAILABLE', async (t) => {
  t.timeout(30_000);
  const client = newClient(t, `127.0.0.1:${await deadPort()}`);
  const channel = client.getChannel();
  channel.getConnectivityState(true);
  await untilState(channel, S.TRANSIENT_FAILURE, 10_000);
  const queued = ask(client, { waitForReady: true, deadlineMs: 20_000 });
  const watched = new Promise<Error | undefined>((resolve) =>
    channel.watchConnectivityState(S.TRANSIENT_FAILURE, Date.now() + 10_000, resolve),
  );
  await sleep(50);
  client.close();
  t.is(await watched, undefined);
  t.is(channel.getConnectivityState(false), S.SHUTDOWN);
  const q = await queued;
  t.is(q.error?.code, grpc.status.UNAVAILABLE);
  t.true(q.ms < 2000);
  // A new call fails with UNAVAILABLE (grpc-js throws from the call method instead).
  if (isGrpcJs) {
    await t.throwsAsync(ask(client), { message: /shut down/ });
  } else {
    const after = await ask(client);
    t.is(after.error?.code, grpc.status.UNAVAILABLE);
  }
});

test('a server that accepts but never speaks HTTP/2: the attempt times out after max(delay, min connect timeout)', async (t) => {
  t.timeout(60_000);
  if (isGrpcJs) {
    t.log('grpc-js has no grpc.min_reconnect_backoff_ms (minimum connect timeout): skipped');
    t.pass();
    return;
  }
  // Accepts TCP connections and never answers: the HTTP/2 handshake cannot complete.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { port } = silent.address() as net.AddressInfo;
  const client = newClient(t, `127.0.0.1:${port}`, {
    // Backoff delay 200 ms, minimum connect timeout 800 ms: each attempt gets 800 ms.
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.min_reconnect_backoff_ms': 800,
  });
  const channel = client.getChannel();
  const start = Date.now();
  t.is(channel.getConnectivityState(true), S.CONNECTING);
  await untilState(channel, S.TRANSIENT_FAILURE, 10_000);
  const ms = Date.now() - start;
  t.true(ms >= 750 && ms < 3000, `the attempt failed after ${ms} ms`);
  const a = await ask(client);
  t.is(a.error?.code, grpc.status.UNAVAILABLE);
  t.regex(a.error?.details ?? '', /SETTINGS|timed out/);
});

test('two clients on one target share connections: one going idle or closing leaves the other working', async (t) => {
  t.timeout(60_000);
  const [backend] = await spawnBackends(t, 1);
  const idler = newClient(t, backend.address, { 'grpc.client_idle_timeout_ms': 300 });
  const steady = newClient(t, backend.address, { 'grpc.client_idle_timeout_ms': 300 });
  t.is((await ask(idler)).serverId, backend.serverId);
  t.is((await ask(steady)).serverId, backend.serverId);
  await untilState(idler.getChannel(), S.IDLE, 5000);
  await untilState(steady.getChannel(), S.IDLE, 5000);
  // Steady resumes; idler stays idle; then idler resumes too.
  t.is((await ask(steady)).serverId, backend.serverId);
  t.is(idler.getChannel().getConnectivityState(false), S.IDLE);
  t.is((await ask(idler)).serverId, backend.serverId);
  idler.close();
  t.is(idler.getChannel().getConnectivityState(false), S.SHUTDOWN);
  const after = await askMany(steady, 10);
  t.deepEqual(
    after.map((a) => a.serverId),
    Array(10).fill(backend.serverId),
  );
  t.is(steady.getChannel().getConnectivityState(false), S.READY);
});

test('getConnectivityState(true) after the backend died reconnects (to the next address) without a call', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 2);
  const client = newClient(t, `ipv4:${backends.map((b) => `127.0.0.1:${b.port}`).join(',')}`);
  const channel = client.getChannel();
  // Normally the first address; the second if it connected >250 ms sooner (A62).
  const first = (await ask(client)).serverId;
  const used = backends.find((b) => b.serverId === first)!;
  const other = backends.find((b) => b !== used)!;
  await used.kill('SIGKILL');
  await untilState(channel, S.IDLE, 5000);
  // pick_first stays IDLE until asked…
  await sleep(300);
  t.is(channel.getConnectivityState(false), S.IDLE);
  // …and getConnectivityState(true) asks.
  channel.getConnectivityState(true);
  await untilState(channel, S.READY, 10_000);
  const a = await ask(client);
  t.is(a.serverId, other.serverId);
});
