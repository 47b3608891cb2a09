// A service config from the resolver that is invalid (issue 11, item 5): per
// service_config.md and service_config.proto, a loadBalancingConfig in which the client
// supports no policy makes the config invalid, as does any field that fails validation.
// The channel then keeps the previous valid config and its balancer (calls keep
// spreading as before); only without one does the update fail the calls.
//
// grpc-js differs: a list of unsupported policies falls back to pick_first, and a
// resolver's config is used without validation. Each test says what grpc-js does.
import test from 'ava';
import type * as GrpcJs from '@grpc/grpc-js';
import { describeClient, grpc, isGrpcJs, newClient, sleep } from './helpers/fixture';
import {
  ask,
  askMany,
  spawnBackends,
  tally,
  untilAllAnswered,
  untilState,
} from './helpers/backends';

type Listener = GrpcJs.experimental.ResolverListener;
type StatusOrConfig = Parameters<Listener>[2];
type ServiceConfig = Extract<NonNullable<StatusOrConfig>, { ok: true }>['value'];

const ROUND_ROBIN: ServiceConfig = { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] };
/** Only a policy no client supports. */
const UNSUPPORTED_ONLY = { loadBalancingConfig: [{ no_such_policy: {} }], methodConfig: [] };
/** pick_first, with a retry policy that fails validation (maxAttempts must be ≥ 2). */
const PICK_FIRST_BAD_RETRY = {
  loadBalancingConfig: [{ pick_first: {} }],
  methodConfig: [
    {
      name: [{ service: 'grpc.testing.TestService' }],
      retryPolicy: {
        maxAttempts: 1,
        initialBackoff: '0.1s',
        maxBackoff: '1s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
};

/** A user resolver whose results the test pushes (reported on the next tick). */
class PushResolverScheme {
  private listener: Listener | null = null;
  private latest: { ports: number[]; config: StatusOrConfig } | null = null;
  /** What the channel's listener returned for each report. */
  readonly accepted: boolean[] = [];

  constructor(readonly scheme: string) {
    const self = this;
    class PushResolver {
      constructor(_target: unknown, listener: Listener) {
        self.listener = listener;
      }
      updateResolution(): void {
        self.report();
      }
      destroy(): void {
        self.listener = null;
      }
      static getDefaultAuthority(): string {
        return 'localhost';
      }
    }
    grpc.experimental.registerResolver(scheme, PushResolver);
  }

  get target(): string {
    return `${this.scheme}:///backends`;
  }

  push(ports: number[], config: object): void {
    this.latest = { ports, config: { ok: true, value: config as ServiceConfig } };
    this.report();
  }

  private report(): void {
    const latest = this.latest;
    const listener = this.listener;
    if (latest === null || listener === null) return;
    process.nextTick(() => {
      const endpoints = latest.ports.map((port) => ({ addresses: [{ host: '127.0.0.1', port }] }));
      this.accepted.push(
        listener(grpc.experimental.statusOrFromValue(endpoints), {}, latest.config, 'test'),
      );
    });
  }
}

let schemes = 0;
const newScheme = () => new PushResolverScheme(`invalid-config-${++schemes}`);

test.before((t) => {
  t.log(describeClient());
});

for (const [name, invalid] of [
  ['only unsupported LB policies', UNSUPPORTED_ONLY],
  ['pick_first and a retry policy that fails validation', PICK_FIRST_BAD_RETRY],
] as const) {
  test(`valid round_robin, then a config with ${name}: round_robin and its spread stay`, async (t) => {
    t.timeout(60_000);
    const backends = await spawnBackends(t, 3);
    const ids = backends.map((b) => b.serverId);
    const ports = backends.map((b) => b.port);
    const resolver = newScheme();
    const client = newClient(t, resolver.target);
    resolver.push(ports, ROUND_ROBIN);
    await untilAllAnswered(client, ids);

    resolver.push(ports, invalid);
    await sleep(200);
    const counts = tally(await askMany(client, 90));
    t.log(counts);
    if (isGrpcJs) {
      // grpc-js takes the config: pick_first (chosen, or its fallback for a list of
      // unsupported policies) sends every call to one backend.
      t.is(Object.keys(counts).length, 1, JSON.stringify(counts));
      return;
    }
    t.deepEqual(counts, { [ids[0]]: 30, [ids[1]]: 30, [ids[2]]: 30 });
    // A new address list with the invalid config: still round_robin, over the new list.
    resolver.push(ports.slice(1), invalid);
    await sleep(200);
    t.deepEqual(tally(await askMany(client, 60)), { [ids[1]]: 30, [ids[2]]: 30 });
    t.is(client.getChannel().getConnectivityState(false), grpc.connectivityState.READY);
    // The channel kept the previous config: the invalid ones count as rejected.
    t.deepEqual(resolver.accepted, [true, false, false]);
  });
}

test('a first config with only unsupported LB policies fails calls until a valid one comes', async (t) => {
  t.timeout(60_000);
  const [backend] = await spawnBackends(t, 1);
  const resolver = newScheme();
  const client = newClient(t, resolver.target);
  const channel = client.getChannel();
  resolver.push([backend.port], UNSUPPORTED_ONLY);
  if (isGrpcJs) {
    // grpc-js falls back to pick_first: the call works.
    t.is((await ask(client)).serverId, backend.serverId);
    return;
  }
  channel.getConnectivityState(true);
  await untilState(channel, grpc.connectivityState.TRANSIENT_FAILURE, 5000);
  const failed = await ask(client);
  t.is(failed.error?.code, grpc.status.UNAVAILABLE);
  t.log(`fail-fast: ${failed.error?.details}`);
  resolver.push([backend.port], ROUND_ROBIN);
  const answer = await ask(client, { waitForReady: true, deadlineMs: 10_000 });
  t.is(answer.serverId, backend.serverId, answer.error?.message);
});
