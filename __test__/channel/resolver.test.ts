// A user resolver (grpc-js's experimental Resolver/ResolverListener shapes, registered
// with `experimental.registerResolver`) drives a channel to real backends: calls follow
// the address lists it pushes; an empty list puts the channel in TRANSIENT_FAILURE
// (fail-fast calls fail with UNAVAILABLE, wait-for-ready calls wait and complete once
// addresses return); an invalid service config keeps the previous one in force.
import test from 'ava';
import type * as GrpcJs from '@grpc/grpc-js';
import { describeClient, grpc, newClient, sleep, within } from '../helpers/fixture';
import {
  ask,
  askMany,
  deadPort,
  recordStates,
  runChannelChild,
  stateName,
  spawnBackends,
  tally,
  untilAllAnswered,
  untilAnsweredBy,
  untilState,
  type Answer,
} from '../helpers/backends';
import type { InteropPeer } from '../helpers/peer';

type Listener = GrpcJs.experimental.ResolverListener;
type Uri = GrpcJs.experimental.GrpcUri;
type StatusOrConfig = Parameters<Listener>[2];
type ServiceConfig = Extract<NonNullable<StatusOrConfig>, { ok: true }>['value'];

const ROUND_ROBIN: ServiceConfig = { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] };
const PICK_FIRST: ServiceConfig = { loadBalancingConfig: [{ pick_first: {} }], methodConfig: [] };
const INVALID: StatusOrConfig = {
  ok: false,
  error: {
    code: grpc.status.UNAVAILABLE,
    details: 'Invalid service config: unexpected token } in JSON',
    metadata: new grpc.Metadata(),
  },
};

/** A port on 127.0.0.1, or any address as a resolver may produce it. */
type Address = number | { host: string; port: number } | { path: string };

interface Result {
  ports: Address[];
  serviceConfig: StatusOrConfig;
}

/**
 * Test-side control of a user resolver scheme: the test pushes results; the resolver
 * instance the channel created (a new one after each idle period) reports them.
 */
class Controller {
  private latest: Result | null = null;
  private resolver: { listener: Listener; destroyed: boolean } | null = null;
  /** How many times the channel asked for a resolution (`updateResolution`). */
  resolutionRequests = 0;
  /** What the listener returned for each report. */
  readonly accepted: boolean[] = [];
  /** Errors thrown by the listener (the channel must never throw). */
  readonly thrown: unknown[] = [];
  instances = 0;

  constructor(readonly scheme: string) {
    const controller = this;
    class PushResolver {
      private readonly state = { listener: null as unknown as Listener, destroyed: false };
      constructor(_target: Uri, listener: Listener) {
        controller.instances++;
        this.state.listener = listener;
        controller.resolver = this.state;
      }
      updateResolution(): void {
        controller.resolutionRequests++;
        if (controller.resolver === this.state) controller.report();
      }
      destroy(): void {
        this.state.destroyed = true;
        if (controller.resolver === this.state) controller.resolver = null;
      }
      static getDefaultAuthority(): string {
        return 'localhost';
      }
    }
    grpc.experimental.registerResolver(scheme, PushResolver);
  }

  /** The target that uses this resolver. */
  get target(): string {
    return `${this.scheme}:///backends`;
  }

  /** Makes `ports` (on 127.0.0.1) the resolution result and reports it. */
  push(ports: Address[], serviceConfig: StatusOrConfig = null): void {
    this.latest = { ports, serviceConfig };
    this.report();
  }

  private report(): void {
    const result = this.latest;
    const resolver = this.resolver;
    if (result === null || resolver === null) return;
    // Never synchronously from updateResolution(), as the Resolver contract requires.
    process.nextTick(() => {
      if (resolver.destroyed) return;
      const endpoints = result.ports.map((port) => ({
        addresses: [typeof port === 'number' ? { host: '127.0.0.1', port } : port],
      }));
      try {
        this.accepted.push(
          resolver.listener(
            grpc.experimental.statusOrFromValue(endpoints),
            {},
            result.serviceConfig,
            'pushed by the test',
          ),
        );
      } catch (e) {
        this.thrown.push(e);
      }
    });
  }
}

let schemes = 0;
function controller(): Controller {
  schemes += 1;
  return new Controller(`test-scheme-${schemes}`);
}

const idsOf = (peers: InteropPeer[]) => peers.map((p) => p.serverId);

test.before((t) => {
  t.log(describeClient());
});

test('calls follow the address lists the resolver pushes', async (t) => {
  t.timeout(60_000);
  const [b1, b2, b3] = await spawnBackends(t, 3);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  ctl.push([b1.port]);
  // The resolver is only created on the first call; the push above is reported then.
  t.deepEqual(tally(await askMany(client, 10)), { [b1.serverId]: 10 });
  t.is(ctl.instances, 1);

  ctl.push([b2.port]);
  await untilAnsweredBy(client, b2.serverId, 5000);
  t.deepEqual(tally(await askMany(client, 20)), { [b2.serverId]: 20 });

  ctl.push([b3.port]);
  await untilAnsweredBy(client, b3.serverId, 5000);
  t.deepEqual(tally(await askMany(client, 20)), { [b3.serverId]: 20 });

  // With round_robin from the resolver's service config, all three share the calls.
  ctl.push([b1.port, b2.port, b3.port], { ok: true, value: ROUND_ROBIN });
  await untilAllAnswered(client, idsOf([b1, b2, b3]), 5000);
  const counts = tally(await askMany(client, 90));
  t.deepEqual(counts, { [b1.serverId]: 30, [b2.serverId]: 30, [b3.serverId]: 30 });
  t.deepEqual(ctl.thrown, []);
  t.true(ctl.accepted.every((ok) => ok));
});

for (const policy of ['pick_first', 'round_robin'] as const) {
  test(`${policy}: an empty address list → TRANSIENT_FAILURE; fail-fast calls fail, wait-for-ready calls wait until addresses return`, async (t) => {
    t.timeout(60_000);
    const [b1, b2] = await spawnBackends(t, 2);
    const ctl = controller();
    const config: StatusOrConfig = {
      ok: true,
      value: policy === 'pick_first' ? PICK_FIRST : ROUND_ROBIN,
    };
    const client = newClient(t, ctl.target);
    const channel = client.getChannel();
    ctl.push([b1.port], config);
    t.is((await ask(client)).serverId, b1.serverId);

    ctl.push([], config);
    await untilState(channel, grpc.connectivityState.TRANSIENT_FAILURE, 5000);
    const failFast = await ask(client);
    t.is(failFast.error?.code, grpc.status.UNAVAILABLE);
    t.true(failFast.ms < 1000, `fail-fast call took ${failFast.ms} ms`);
    t.log(`fail-fast: ${failFast.error?.details}`);

    const settled: Answer[] = [];
    const blocked = askMany(client, 5, { waitForReady: true, deadlineMs: 30_000 }).then((a) => {
      settled.push(...a);
      return a;
    });
    await sleep(1000);
    t.is(settled.length, 0, 'wait-for-ready calls completed with no addresses');
    t.is(channel.getConnectivityState(false), grpc.connectivityState.TRANSIENT_FAILURE);

    ctl.push([b2.port], config);
    const answers = await within(blocked, 10_000, 'blocked wait-for-ready calls');
    t.deepEqual(tally(answers), { [b2.serverId]: 5 });
    t.is(channel.getConnectivityState(false), grpc.connectivityState.READY);
    // The rejected empty list was reported as such; the others were accepted.
    t.deepEqual(ctl.accepted, [true, false, true]);
    t.deepEqual(ctl.thrown, []);
  });
}

test('an invalid service config from the resolver keeps the previous one (round_robin stays)', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 3);
  const [b1, b2, b3] = backends;
  const ctl = controller();
  const client = newClient(t, ctl.target);
  ctl.push([b1.port, b2.port, b3.port], { ok: true, value: ROUND_ROBIN });
  await untilAllAnswered(client, idsOf(backends));

  ctl.push([b1.port, b2.port, b3.port], INVALID);
  await sleep(100);
  t.deepEqual(tally(await askMany(client, 90)), {
    [b1.serverId]: 30,
    [b2.serverId]: 30,
    [b3.serverId]: 30,
  });
  // A new address list with an invalid config: still round_robin, over the new list.
  ctl.push([b2.port, b3.port], INVALID);
  await sleep(100);
  t.deepEqual(tally(await askMany(client, 60)), { [b2.serverId]: 30, [b3.serverId]: 30 });
  t.is(client.getChannel().getConnectivityState(false), grpc.connectivityState.READY);
  t.deepEqual(ctl.thrown, []);
});

test('an invalid first service config: the channel default (grpc.service_config) applies', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 2);
  const ctl = controller();
  const client = newClient(t, ctl.target, {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  });
  ctl.push(
    backends.map((b) => b.port),
    INVALID,
  );
  await untilAllAnswered(client, idsOf(backends));
  const counts = tally(await askMany(client, 40));
  t.deepEqual(counts, { [backends[0].serverId]: 20, [backends[1].serverId]: 20 });
  t.deepEqual(ctl.thrown, []);
});

test('an invalid first service config and no default: TRANSIENT_FAILURE until a valid result', async (t) => {
  t.timeout(60_000);
  const [b1] = await spawnBackends(t, 1);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  const channel = client.getChannel();
  ctl.push([b1.port], INVALID);
  channel.getConnectivityState(true);
  await untilState(channel, grpc.connectivityState.TRANSIENT_FAILURE, 5000);
  const failed = await ask(client);
  t.is(failed.error?.code, grpc.status.UNAVAILABLE);
  t.log(`fail-fast: ${failed.error?.details}`);
  const blocked = ask(client, { waitForReady: true, deadlineMs: 20_000 });
  ctl.push([b1.port], null);
  const answer = await blocked;
  t.is(answer.serverId, b1.serverId, answer.error?.message);
  t.is(channel.getConnectivityState(false), grpc.connectivityState.READY);
  t.deepEqual(ctl.thrown, []);
});

test('a service config switching pick_first → round_robin takes effect without failing calls', async (t) => {
  t.timeout(60_000);
  const backends = await spawnBackends(t, 3);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  const ports = backends.map((b) => b.port);
  ctl.push(ports);
  const pf = tally(await askMany(client, 20));
  t.is(Object.keys(pf).length, 1, `pick_first used one backend: ${JSON.stringify(pf)}`);
  ctl.push(ports, { ok: true, value: ROUND_ROBIN });
  // Calls keep flowing during the switch; none fails.
  const during: Answer[] = [];
  const end = Date.now() + 3000;
  const seen = new Set<string>();
  while (Date.now() < end && seen.size < 3) {
    for (const a of await askMany(client, 3)) {
      during.push(a);
      if (a.serverId) seen.add(a.serverId);
    }
  }
  t.deepEqual(
    during.filter((a) => a.error).map((a) => a.error?.message),
    [],
  );
  t.is(seen.size, 3);
  const counts = tally(await askMany(client, 90));
  for (const b of backends) t.is(counts[b.serverId], 30);
  // And back to pick_first.
  ctl.push(ports, { ok: true, value: PICK_FIRST });
  await sleep(200);
  const after = tally(await askMany(client, 30));
  t.is(Object.keys(after).length, 1, JSON.stringify(after));
});

test('losing the READY backend makes the channel ask the resolver again; its new list is used', async (t) => {
  t.timeout(60_000);
  const [b1, b2] = await spawnBackends(t, 2);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  ctl.push([b1.port]);
  t.is((await ask(client)).serverId, b1.serverId);
  const before = ctl.resolutionRequests;
  await b1.kill('SIGKILL');
  const asked = Date.now() + 5000;
  while (ctl.resolutionRequests === before && Date.now() < asked) await sleep(20);
  t.true(ctl.resolutionRequests > before, 'no re-resolution was requested');
  // The resolver answers with the backend's new home.
  ctl.push([b2.port]);
  const a = await ask(client, { waitForReady: true });
  t.is(a.serverId, b2.serverId, a.error?.message);
});

const TEST_SERVICE = 'grpc.testing.TestService';

test('the method config of the resolver’s service config applies from the first call (timeout)', async (t) => {
  t.timeout(60_000);
  const [b1] = await spawnBackends(t, 1);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  ctl.push([b1.port], {
    ok: true,
    value: {
      loadBalancingConfig: [],
      methodConfig: [{ name: [{ service: TEST_SERVICE }], timeout: { seconds: 0, nanos: 300e6 } }],
    },
  });
  // The very first call on the channel: the resolver has not reported yet when it is
  // made, so the channel must wait for the resolution before fixing the call's settings.
  for (const which of ['first', 'second']) {
    const a = await ask(client, { metadata: { 'x-h2grpc-sleep-ms': '2000' }, deadlineMs: 20_000 });
    t.is(
      a.error?.code,
      grpc.status.DEADLINE_EXCEEDED,
      `${which} call: ${a.error?.message ?? 'OK'}`,
    );
    t.true(a.ms >= 250 && a.ms < 1500, `${which} call took ${a.ms} ms`);
  }
});

test('the method config of the resolver’s service config applies from the first call (waitForReady)', async (t) => {
  t.timeout(60_000);
  const [b1] = await spawnBackends(t, 1);
  await b1.kill('SIGKILL');
  const ctl = controller();
  const client = newClient(t, ctl.target, {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 300,
  });
  ctl.push([b1.port], {
    ok: true,
    value: {
      loadBalancingConfig: [],
      methodConfig: [{ name: [{ service: TEST_SERVICE }], waitForReady: true }],
    },
  });
  // No waitForReady in the call's metadata: the service config makes it wait anyway.
  const first = ask(client, { deadlineMs: 30_000 });
  await untilState(client.getChannel(), grpc.connectivityState.TRANSIENT_FAILURE, 5000);
  // An explicit waitForReady: false in the metadata wins over the config.
  const explicit = await ask(client, { waitForReady: false });
  t.is(explicit.error?.code, grpc.status.UNAVAILABLE);
  await sleep(300);
  await b1.restart();
  const a = await first;
  t.is(a.serverId, b1.serverId, a.error?.message);
});

// In a child process: without spacing, the requests loop on process.nextTick and starve
// the event loop, which no timeout inside the starved process could report.
test('a resolver that answers every request at once with dead addresses does not starve the process', async (t) => {
  t.timeout(60_000);
  const port = await deadPort();
  const child = runChannelChild(t, 'eager-resolver', port);
  // tsx startup + the 3 s call; a starved child never prints.
  const line = await within(child.line(/^RESULT /), 40_000, 'RESULT line (event loop starved?)');
  t.not(line, null, `child exited without a result: ${child.lines.join(' | ')} ${child.stderr()}`);
  const result = JSON.parse((line ?? 'RESULT {}').slice('RESULT '.length)) as {
    code: number;
    ms: number;
    ticks: number;
    requests: number;
  };
  t.log(result);
  // pick_first asks for re-resolution each time every address has failed, and this
  // resolver re-reports the same dead address at once: the channel must space its
  // requests out, so that timers (the call's deadline) and I/O keep running.
  t.is(result.code, grpc.status.DEADLINE_EXCEEDED);
  t.true(result.ms < 4000, `the 3 s deadline fired after ${result.ms} ms`);
  t.true(result.ticks >= 20, `only ${result.ticks} of ~60 timer ticks ran in 3 s`);
  t.true(result.requests >= 2, 'the channel asked again after the failures');
  t.true(result.requests <= 10, `${result.requests} resolution requests in 3 s`);
});

test('idle mode destroys the resolver; the next call creates a new one and uses its result', async (t) => {
  t.timeout(60_000);
  const [b1, b2] = await spawnBackends(t, 2);
  const ctl = controller();
  const client = newClient(t, ctl.target, { 'grpc.client_idle_timeout_ms': 300 });
  const channel = client.getChannel();
  ctl.push([b1.port]);
  t.is((await ask(client)).serverId, b1.serverId);
  t.is(ctl.instances, 1);
  await untilState(channel, grpc.connectivityState.IDLE, 5000);
  // While idle, the backends moved.
  ctl.push([b2.port]);
  t.is(ctl.instances, 1, 'no resolver is created while idle');
  const a = await ask(client);
  t.is(a.serverId, b2.serverId, a.error?.message);
  t.is(ctl.instances, 2);
  t.is(channel.getConnectivityState(false), grpc.connectivityState.READY);
});

test('pick_first keeps its connection when a new list still contains the connected address', async (t) => {
  t.timeout(60_000);
  const [b1, b2] = await spawnBackends(t, 2);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  const states = recordStates(client.getChannel());
  ctl.push([b1.port]);
  t.is((await ask(client)).serverId, b1.serverId);
  // b2 comes first now, but b1 is connected and still listed: no reconnect.
  ctl.push([b2.port, b1.port]);
  await sleep(300);
  t.deepEqual(tally(await askMany(client, 20)), { [b1.serverId]: 20 });
  states.stop();
  t.deepEqual(states.states.map(stateName), ['IDLE', 'CONNECTING', 'READY']);
});

test('a backend dropped from the list finishes the calls already running on it', async (t) => {
  t.timeout(60_000);
  const [b1, b2] = await spawnBackends(t, 2);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  ctl.push([b1.port, b2.port], { ok: true, value: ROUND_ROBIN });
  await untilAllAnswered(client, [b1.serverId, b2.serverId]);
  // Two slow calls: round_robin sends one to each backend.
  const slow = askMany(client, 2, { metadata: { 'x-h2grpc-sleep-ms': '1500' } });
  await sleep(300);
  ctl.push([b2.port], { ok: true, value: ROUND_ROBIN });
  await sleep(100);
  t.deepEqual(tally(await askMany(client, 10)), { [b2.serverId]: 10 });
  const answers = await slow;
  t.deepEqual(
    answers.map((a) => a.error?.message ?? 'OK'),
    ['OK', 'OK'],
  );
  t.deepEqual(Object.keys(tally(answers)).sort(), [b1.serverId, b2.serverId].sort());
});

test('addresses the dialer cannot use fail like refused ones: skipped, never thrown at the resolver', async (t) => {
  t.timeout(60_000);
  const [b1] = await spawnBackends(t, 1);
  const ctl = controller();
  const client = newClient(t, ctl.target);
  const channel = client.getChannel();
  const bad: Address[] = [{ host: '127.0.0.1', port: 99999 }, { host: '', port: 1 }, { path: '' }];
  // Only unusable addresses: TRANSIENT_FAILURE, fail-fast calls fail, nothing throws.
  ctl.push(bad);
  channel.getConnectivityState(true);
  await untilState(channel, grpc.connectivityState.TRANSIENT_FAILURE, 5000);
  const failed = await ask(client);
  t.is(failed.error?.code, grpc.status.UNAVAILABLE);
  t.log(`fail-fast: ${failed.error?.details}`);
  const blocked = ask(client, { waitForReady: true, deadlineMs: 20_000 });
  // Unusable addresses ahead of a good one: pick_first moves on to it.
  ctl.push([...bad, b1.port]);
  const a = await blocked;
  t.is(a.serverId, b1.serverId, a.error?.message);
  t.deepEqual(tally(await askMany(client, 10)), { [b1.serverId]: 10 });
  t.deepEqual(ctl.thrown, []);
});
