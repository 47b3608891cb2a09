// A backend that was SIGKILLed and restarted on the same port is used again within the
// time the connection backoff allows — the "client hangs after the server restarts"
// report against grpc-js (grpc/grpc-node#2785) must not reproduce — and the channel
// returns to READY. Wait-for-ready calls made while it is down wait and then complete.
import test from 'ava';
import { describeClient, grpc, newClient, within } from '../helpers/fixture';
import {
  ask,
  askMany,
  deadPort,
  ipv4Target,
  recordStates,
  runChannelChild,
  spawnBackends,
  stateName,
  tally,
  untilAllAnswered,
  untilAnsweredBy,
  untilState,
} from '../helpers/backends';
import { spawnInteropServer } from '../helpers/peer';
import {
  backoffFromOptions,
  DEFAULT_BACKOFF,
  type BackoffOptions,
} from '../../ts/subchannel/backoff';

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** Time for a connection (TCP + HTTP/2 handshake) and a call on a loaded test machine. */
const CONNECT_SLACK_MS = 2000;

/**
 * The longest a restarted backend can wait for the next connection attempt when it was
 * down for `downMs`: the most attempts that fit in `downMs` (all delays at −jitter) is
 * n; the delay after attempt n−1 is at most its +jitter value.
 */
function backoffBound(downMs: number, o: BackoffOptions): { attempts: number; maxWaitMs: number } {
  const center = (k: number) => Math.min(o.initialBackoffMs * o.multiplier ** k, o.maxBackoffMs);
  let attempts = 1;
  let at = 0;
  for (;;) {
    const minDelay = attempts === 1 ? o.initialBackoffMs : center(attempts - 1) * (1 - o.jitter);
    if (at + minDelay > downMs) break;
    at += minDelay;
    attempts++;
  }
  const k = attempts - 1;
  return { attempts, maxWaitMs: k === 0 ? o.initialBackoffMs : center(k) * (1 + o.jitter) };
}

test.before((t) => {
  t.log(describeClient());
});

test('pick_first, default backoff: SIGKILL + restart on the same port (twice); blocked wait-for-ready calls complete within the backoff bound', async (t) => {
  t.timeout(90_000);
  const [backend] = await spawnBackends(t, 1);
  const client = newClient(t, backend.address);
  const channel = client.getChannel();
  t.is((await ask(client)).serverId, backend.serverId);

  for (let round = 1; round <= 2; round++) {
    const states = recordStates(channel);
    const killedAt = Date.now();
    await backend.kill('SIGKILL');
    // Wait-for-ready calls made while the backend is down queue…
    const blocked = askMany(client, 5, { waitForReady: true, deadlineMs: 60_000 });
    // …while the channel fails to reconnect (pick_first: sticky TRANSIENT_FAILURE).
    await untilState(channel, grpc.connectivityState.TRANSIENT_FAILURE, 10_000);
    // A fail-fast call fails meanwhile, quickly.
    const failFast = await ask(client, { deadlineMs: 10_000 });
    t.is(failFast.error?.code, grpc.status.UNAVAILABLE, failFast.error?.message);
    t.true(failFast.ms < 1000, `fail-fast call took ${failFast.ms} ms`);

    await backend.restart();
    const restartedAt = Date.now();
    const { attempts, maxWaitMs } = backoffBound(restartedAt - killedAt, DEFAULT_BACKOFF);
    const answers = await within(blocked, maxWaitMs + CONNECT_SLACK_MS + 5000, 'blocked calls');
    const waited = Date.now() - restartedAt;
    states.stop();
    t.log(
      `round ${round}: down ${restartedAt - killedAt} ms (≤ ${attempts} attempts), calls done ` +
        `${waited} ms after the restart (bound ${maxWaitMs.toFixed(0)} + ${CONNECT_SLACK_MS} ms); ` +
        `states ${states.states.map(stateName).join(' → ')}`,
    );
    t.deepEqual(tally(answers), { [backend.serverId]: 5 });
    t.true(waited <= maxWaitMs + CONNECT_SLACK_MS, `waited ${waited} ms after the restart`);
    t.is(channel.getConnectivityState(false), grpc.connectivityState.READY);
    t.true(states.states.includes(grpc.connectivityState.TRANSIENT_FAILURE));
    t.is(states.states[states.states.length - 1], grpc.connectivityState.READY);
  }
});

test('pick_first, short backoff: after a restart fail-fast calls succeed again within the bound (no hang)', async (t) => {
  t.timeout(60_000);
  const options = {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 500,
  };
  const [backend] = await spawnBackends(t, 1);
  const client = newClient(t, backend.address, options);
  const channel = client.getChannel();
  t.is((await ask(client)).serverId, backend.serverId);
  await backend.kill('SIGKILL');
  // Keep the channel busy failing for a while, so the backoff grows to its maximum.
  const downUntil = Date.now() + 2000;
  while (Date.now() < downUntil) {
    const a = await ask(client, { deadlineMs: 5000 });
    t.is(a.error?.code, grpc.status.UNAVAILABLE);
    await new Promise((r) => setTimeout(r, 50));
  }
  await backend.restart();
  const bound = backoffFromOptions(options).maxBackoffMs * 1.2 + CONNECT_SLACK_MS;
  const ms = await untilAnsweredBy(client, backend.serverId, bound);
  t.log(`fail-fast calls succeed again ${ms} ms after the restart (bound ${bound} ms)`);
  t.is(channel.getConnectivityState(false), grpc.connectivityState.READY);
  t.deepEqual(tally(await askMany(client, 20)), { [backend.serverId]: 20 });
});

test('round_robin: a killed backend rejoins the rotation after its restart; the channel stays READY', async (t) => {
  t.timeout(90_000);
  const backends = await spawnBackends(t, 3);
  const ids = backends.map((b) => b.serverId);
  const client = newClient(t, ipv4Target(backends.map((b) => b.port)), {
    'grpc.service_config': ROUND_ROBIN,
  });
  const channel = client.getChannel();
  await untilAllAnswered(client, ids);
  const states = recordStates(channel);
  const killedAt = Date.now();
  await backends[2].kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(Object.keys(tally(await askMany(client, 30))).sort(), [ids[0], ids[1]].sort());
  await backends[2].restart();
  const restartedAt = Date.now();
  const { maxWaitMs } = backoffBound(restartedAt - killedAt, DEFAULT_BACKOFF);
  const ms = await untilAnsweredBy(client, ids[2], maxWaitMs + CONNECT_SLACK_MS);
  t.log(
    `rejoined ${ms} ms after the restart (bound ${maxWaitMs.toFixed(0)} + ${CONNECT_SLACK_MS})`,
  );
  const counts = tally(await askMany(client, 300));
  for (const id of ids) t.true(counts[id] >= 90 && counts[id] <= 110, `${id}: ${counts[id]}`);
  states.stop();
  // The other backends kept serving: the channel never left READY.
  t.deepEqual(states.states, [grpc.connectivityState.READY]);
});

test('all backends down, then back: round_robin goes TRANSIENT_FAILURE and recovers to READY', async (t) => {
  t.timeout(90_000);
  const backends = await spawnBackends(t, 2);
  const ids = backends.map((b) => b.serverId);
  const client = newClient(t, ipv4Target(backends.map((b) => b.port)), {
    'grpc.service_config': ROUND_ROBIN,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 1000,
  });
  const channel = client.getChannel();
  await untilAllAnswered(client, ids);
  await Promise.all(backends.map((b) => b.kill('SIGKILL')));
  await untilState(channel, grpc.connectivityState.TRANSIENT_FAILURE, 10_000);
  const blocked = askMany(client, 10, { waitForReady: true, deadlineMs: 60_000 });
  const failFast = await ask(client);
  t.is(failFast.error?.code, grpc.status.UNAVAILABLE);
  await Promise.all(backends.map((b) => b.restart()));
  const answers = await within(blocked, 1000 * 1.2 + CONNECT_SLACK_MS + 2000, 'blocked calls');
  t.is(answers.filter((a) => a.error !== null).length, 0);
  await untilState(channel, grpc.connectivityState.READY, 5000);
  await untilAllAnswered(client, ids, 5000);
});

// A wait-for-ready call queued while the channel is between connection attempts (no
// socket, no stream) must keep the process alive, as in grpc-js; otherwise a script
// whose server is restarting simply exits with its call never completed.
test('a queued wait-for-ready call keeps the process alive through connection backoff', async (t) => {
  t.timeout(60_000);
  const port = await deadPort();
  const child = runChannelChild(t, 'wait-for-ready', port);
  t.is(await within(child.line(/^STARTED$/), 30_000, 'child start'), 'STARTED', child.stderr());
  // Let the first connection attempt fail and the backoff begin, then bring the server up.
  await new Promise((r) => setTimeout(r, 1500));
  t.false(
    child.hasExited(),
    `the child exited while its call was queued: ${child.lines.join(' | ')} ${child.stderr()}`,
  );
  const server = await spawnInteropServer({ t, port });
  t.is(server.port, port);
  const code = await within(child.exited, 20_000, 'child exit');
  t.is(code, 0, child.stderr());
  t.deepEqual(child.lines, ['STARTED', 'OK']);
});

test('a wait-for-ready call that reaches its deadline no longer keeps the process alive', async (t) => {
  t.timeout(60_000);
  const port = await deadPort();
  const child = runChannelChild(t, 'deadline', port);
  t.is(await within(child.line(/^STARTED$/), 30_000, 'child start'), 'STARTED', child.stderr());
  const code = await within(child.exited, 10_000, 'child exit after the deadline');
  t.is(code, 1, child.stderr());
  t.is(child.lines.length, 2);
  t.regex(child.lines[1], /^FAILED 4 /);
});
