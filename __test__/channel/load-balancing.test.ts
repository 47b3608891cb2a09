// Load balancing against real backends: three interop servers (child processes) on
// loopback behind one `ipv4:` target. round_robin (chosen by the service config) spreads
// calls evenly; pick_first (the default) skips a dead first address and moves to another
// backend when the one it uses is SIGKILLed, without failing wait-for-ready calls.
import test from 'ava';
import { describeClient, grpc, newClient, sleep } from '../helpers/fixture';
import {
  askMany,
  deadPort,
  ipv4Target,
  spawnBackends,
  tally,
  untilAllAnswered,
  untilAnsweredBy,
  untilState,
  ask,
  type Answer,
} from '../helpers/backends';
import type { InteropPeer } from '../helpers/peer';

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

const idsOf = (peers: InteropPeer[]) => peers.map((p) => p.serverId);

/** The backend whose server id is `id`. */
function peerOf(peers: InteropPeer[], id: string | null): InteropPeer {
  const peer = peers.find((p) => p.serverId === id);
  if (peer === undefined) throw new Error(`no backend answered as ${id}`);
  return peer;
}

test.before((t) => {
  t.log(describeClient());
});

test('round_robin (service config) spreads 300 calls evenly over 3 backends', async (t) => {
  t.timeout(90_000);
  const backends = await spawnBackends(t, 3);
  const ids = backends.map((b) => b.serverId);
  const client = newClient(t, ipv4Target(backends.map((b) => b.port)), {
    'grpc.service_config': ROUND_ROBIN,
  });
  // round_robin connects to every backend; wait until each one has answered once.
  await untilAllAnswered(client, ids);

  // 300 calls at once, then 300 one after another: both must rotate.
  for (const mode of ['concurrent', 'sequential'] as const) {
    const answers =
      mode === 'concurrent'
        ? await askMany(client, 300)
        : await (async () => {
            const out = [];
            for (let i = 0; i < 300; i++) out.push(...(await askMany(client, 1)));
            return out;
          })();
    const counts = tally(answers);
    t.log(mode, counts);
    t.deepEqual(Object.keys(counts).sort(), [...ids].sort(), `${mode}: only backends answered`);
    for (const id of ids) {
      t.true(counts[id] >= 90 && counts[id] <= 110, `${mode}: ${id} got ${counts[id]} of 300`);
    }
  }
});

test('pick_first (default) with a dead first address connects to the second and stays there', async (t) => {
  t.timeout(60_000);
  const dead = await deadPort();
  const [backend] = await spawnBackends(t, 1);
  const client = newClient(t, ipv4Target([dead, backend.port]));
  const first = await ask(client);
  t.is(first.error, null, first.error?.message);
  t.is(first.serverId, backend.serverId);
  t.deepEqual(tally(await askMany(client, 60)), { [backend.serverId]: 60 });
  t.is(client.getChannel().getConnectivityState(false), grpc.connectivityState.READY);
});

test('pick_first (default) uses one backend of several for every call', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 3);
  const client = newClient(t, ipv4Target(backends.map((b) => b.port)));
  const counts = tally(await askMany(client, 60));
  // Normally the first address; another only if it was >250 ms slower to connect (A62).
  t.is(Object.keys(counts).length, 1, JSON.stringify(counts));
  t.true(idsOf(backends).includes(Object.keys(counts)[0]));
});

test('pick_first: SIGKILL of the READY backend moves calls to another one; wait-for-ready calls do not fail', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 3);
  const client = newClient(t, ipv4Target(backends.map((b) => b.port)));
  const channel = client.getChannel();
  const used = peerOf(backends, (await ask(client)).serverId);
  t.deepEqual(tally(await askMany(client, 20)), { [used.serverId]: 20 });

  await used.kill('SIGKILL');
  // The channel notices the lost connection (pick_first goes IDLE until a call comes).
  await untilState(channel, grpc.connectivityState.IDLE, 5000);
  // Wait-for-ready calls started now reconnect: the dead backend refuses, another one
  // takes them all.
  const answers = await askMany(client, 50, { waitForReady: true, deadlineMs: 20_000 });
  const counts = tally(answers);
  t.is(Object.keys(counts).length, 1, JSON.stringify(counts));
  const next = Object.keys(counts)[0];
  t.not(next, used.serverId);
  t.true(idsOf(backends).includes(next), JSON.stringify(counts));
  t.is(channel.getConnectivityState(false), grpc.connectivityState.READY);
  // Fail-fast calls too, now that the channel is READY again.
  t.deepEqual(tally(await askMany(client, 20)), { [next]: 20 });
});

test('pick_first: wait-for-ready calls issued while the backend dies all succeed elsewhere', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 2);
  const client = newClient(t, ipv4Target(backends.map((b) => b.port)));
  const used = peerOf(backends, (await ask(client)).serverId);
  const other = backends.find((b) => b !== used)!;

  // Calls keep being started, 5 at a time, from just before the kill until well after;
  // those that start after the channel saw the connection drop must not fail.
  const answers: Array<Answer & { startedAt: number }> = [];
  let lost = 0;
  const channel = client.getChannel();
  channel.watchConnectivityState(grpc.connectivityState.READY, Date.now() + 20_000, () => {
    lost = Date.now();
  });
  const killed = used.kill('SIGKILL');
  const stopAt = Date.now() + 1500;
  while (Date.now() < stopAt) {
    const startedAt = Date.now();
    const batch = await askMany(client, 5, { waitForReady: true, deadlineMs: 20_000 });
    for (const a of batch) answers.push({ ...a, startedAt });
  }
  await killed;
  t.true(lost > 0, 'the channel left READY');
  const afterLoss = answers.filter((a) => a.startedAt >= lost);
  t.true(afterLoss.length >= 5, `only ${afterLoss.length} calls started after the loss`);
  t.deepEqual(
    afterLoss.filter((a) => a.error !== null).map((a) => a.error?.message),
    [],
    'wait-for-ready calls started after the loss failed',
  );
  t.true(afterLoss.every((a) => a.serverId === other.serverId));
  // Calls caught in flight on the dying connection may fail, but only with UNAVAILABLE.
  for (const a of answers) {
    if (a.error) t.is(a.error.code, grpc.status.UNAVAILABLE, a.error.message);
  }
  t.log(`${answers.length} calls, ${answers.filter((a) => a.error).length} failed in flight`);
});

test('round_robin: SIGKILL of one backend moves its share to the others; wait-for-ready calls do not fail', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 3);
  const ids = backends.map((b) => b.serverId);
  const client = newClient(t, ipv4Target(backends.map((b) => b.port)), {
    'grpc.service_config': ROUND_ROBIN,
  });
  await untilAllAnswered(client, ids);
  await backends[0].kill('SIGKILL');
  // round_robin stays READY on the other two; give it a moment to see the connection go.
  await sleep(300);
  const answers = await askMany(client, 150, { waitForReady: true, deadlineMs: 20_000 });
  const counts = tally(answers);
  t.log(counts);
  t.deepEqual(Object.keys(counts).sort(), [ids[1], ids[2]].sort());
  t.true(counts[ids[1]] >= 65 && counts[ids[1]] <= 85, `${ids[1]} got ${counts[ids[1]]}`);
  t.is(client.getChannel().getConnectivityState(false), grpc.connectivityState.READY);
});

test('round_robin: a backend that was never up joins the rotation once it starts', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 2);
  // The third backend: started, then killed, so its port is known but nothing listens.
  const [late] = await spawnBackends(t, 1);
  await late.kill('SIGKILL');
  const client = newClient(t, ipv4Target([...backends.map((b) => b.port), late.port]), {
    'grpc.service_config': ROUND_ROBIN,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 500,
  });
  await untilAllAnswered(client, [backends[0].serverId, backends[1].serverId]);
  t.deepEqual(
    Object.keys(tally(await askMany(client, 30))).sort(),
    [backends[0].serverId, backends[1].serverId].sort(),
  );
  await late.restart();
  const ms = await untilAnsweredBy(client, late.serverId, 5000);
  t.log(`the late backend answered ${ms} ms after it started`);
  const counts = tally(await askMany(client, 90));
  for (const id of [...backends.map((b) => b.serverId), late.serverId]) {
    t.true(counts[id] >= 27 && counts[id] <= 33, `${id} got ${counts[id]} of 90`);
  }
});
