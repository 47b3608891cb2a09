// The registry and plugin API: policy selection from a loadBalancingConfig
// list, and a user policy written the grpc-js way (registered, parsed,
// created, wrapping a child policy) running through it.
import test from 'ava';
import {
  ChildLoadBalancerHandler,
  PickFirstLoadBalancingConfig,
  QueuePicker,
  UnavailablePicker,
  createChildChannelControlHelper,
  createLoadBalancer,
  getDefaultConfig,
  isLoadBalancerNameRegistered,
  parseLoadBalancingConfig,
  registerLoadBalancerType,
  selectLbConfigFromList,
  type ChannelControlHelper,
  type LoadBalancer,
  type PickArgs,
  type PickResult,
  type Picker,
  type TypedLoadBalancingConfig,
} from '../../ts/balancer/index';
import { RoundRobinLoadBalancingConfig } from '../../ts/balancer/round-robin';
import type { ChannelOptions } from '../../ts/channel';
import { ConnectivityState, Status } from '../../ts/constants';
import { Metadata } from '../../ts/metadata';
import { getLoadBalancingConfigList, validateServiceConfig } from '../../ts/service-config';
import type { LoadBalancingConfig } from '../../ts/service-config';
import type { StatusOr } from '../../ts/status-or';
import type { Endpoint } from '../../ts/subchannel/subchannel-address';
import { FakeHelper, endpoints, nextTick, pickAddress } from './fakes';

const { READY } = ConnectivityState;

// --- A user policy, written as one would for grpc-js's experimental API ---

class CountingConfig implements TypedLoadBalancingConfig {
  constructor(
    readonly tag: string,
    readonly child: TypedLoadBalancingConfig,
  ) {}
  getLoadBalancerName(): string {
    return 'counting';
  }
  toJsonObject(): object {
    return { counting: { tag: this.tag, childPolicy: [this.child.toJsonObject()] } };
  }
  static createFromJson(obj: unknown): CountingConfig {
    const { tag, childPolicy } = obj as { tag?: unknown; childPolicy?: unknown };
    if (typeof tag !== 'string') throw new Error('tag must be a string');
    const child = Array.isArray(childPolicy)
      ? selectLbConfigFromList(childPolicy as LoadBalancingConfig[], true)
      : getDefaultConfig();
    if (child === null) throw new Error('no usable child policy');
    return new CountingConfig(tag, child);
  }
}

/** Counts picks per address on top of whatever its child policy picks. */
class CountingPicker implements Picker {
  constructor(
    private readonly child: Picker,
    private readonly counts: Map<string, number>,
  ) {}
  pick(args: PickArgs): PickResult {
    const result = this.child.pick(args);
    const address = result.subchannel?.getAddress();
    if (address !== undefined) this.counts.set(address, (this.counts.get(address) ?? 0) + 1);
    return result;
  }
}

class CountingBalancer implements LoadBalancer {
  static latest: CountingBalancer | null = null;
  readonly counts = new Map<string, number>();
  private readonly child: ChildLoadBalancerHandler;

  constructor(helper: ChannelControlHelper) {
    CountingBalancer.latest = this;
    this.child = new ChildLoadBalancerHandler(
      createChildChannelControlHelper(helper, {
        updateState: (state, picker, errorMessage) =>
          helper.updateState(state, new CountingPicker(picker, this.counts), errorMessage),
      }),
    );
  }
  updateAddressList(
    list: StatusOr<Endpoint[]>,
    config: TypedLoadBalancingConfig,
    options: ChannelOptions,
    note: string,
  ): boolean {
    if (!(config instanceof CountingConfig)) return false;
    return this.child.updateAddressList(list, config.child, options, note);
  }
  exitIdle(): void {
    this.child.exitIdle();
  }
  resetBackoff(): void {
    this.child.resetBackoff();
  }
  destroy(): void {
    this.child.destroy();
  }
  getTypeName(): string {
    return 'counting';
  }
}

registerLoadBalancerType('counting', CountingBalancer, CountingConfig);

// --- Registry ---

test('built-in policies are registered, pick_first is the default', (t) => {
  t.true(isLoadBalancerNameRegistered('pick_first'));
  t.true(isLoadBalancerNameRegistered('round_robin'));
  t.false(isLoadBalancerNameRegistered('grpclb'));
  t.true(getDefaultConfig() instanceof PickFirstLoadBalancingConfig);
});

test('parseLoadBalancingConfig needs exactly one registered, valid policy', (t) => {
  t.true(parseLoadBalancingConfig({ round_robin: {} }) instanceof RoundRobinLoadBalancingConfig);
  t.throws(() => parseLoadBalancingConfig({}), { message: /exactly one/ });
  t.throws(() => parseLoadBalancingConfig({ pick_first: {}, round_robin: {} }), {
    message: /exactly one/,
  });
  t.throws(() => parseLoadBalancingConfig({ grpclb: {} }), { message: /Unrecognized.*grpclb/ });
  t.throws(() => parseLoadBalancingConfig({ pick_first: { shuffleAddressList: 1 } }), {
    message: /^pick_first: .*shuffleAddressList/,
  });
});

test('selectLbConfigFromList: the first supported and valid policy wins', (t) => {
  const chosen = selectLbConfigFromList([
    { grpclb: {} },
    { pick_first: { shuffleAddressList: 'no' } },
    { round_robin: {} },
    { pick_first: {} },
  ]);
  t.is(chosen?.getLoadBalancerName(), 'round_robin');
  t.is(
    selectLbConfigFromList([{ pick_first: {} }, { round_robin: {} }])?.getLoadBalancerName(),
    'pick_first',
  );
});

test('selectLbConfigFromList: nothing usable is null, or the default on request', (t) => {
  t.is(selectLbConfigFromList([{ grpclb: {} }, { xds: {} }]), null);
  t.is(selectLbConfigFromList([]), null);
  t.is(selectLbConfigFromList([{ grpclb: {} }], true)?.getLoadBalancerName(), 'pick_first');
});

test('a service config naming only unknown policies is invalid', (t) => {
  t.throws(() => validateServiceConfig({ loadBalancingConfig: [{ grpclb: {} }, { xds: {} }] }), {
    message: /loadBalancingConfig: no supported and valid policy among grpclb, xds/,
  });
  const config = validateServiceConfig({
    loadBalancingConfig: [{ grpclb: {} }, { round_robin: {} }],
  });
  t.is(
    selectLbConfigFromList(getLoadBalancingConfigList(config))?.getLoadBalancerName(),
    'round_robin',
  );
});

test('createLoadBalancer instantiates the registered class, or returns null', (t) => {
  const helper = new FakeHelper();
  t.is(
    createLoadBalancer(new RoundRobinLoadBalancingConfig(), helper)?.getTypeName(),
    'round_robin',
  );
  const unknown: TypedLoadBalancingConfig = {
    getLoadBalancerName: () => 'nope',
    toJsonObject: () => ({}),
  };
  t.is(createLoadBalancer(unknown, helper), null);
});

test('createChildChannelControlHelper overrides some methods and forwards the rest', (t) => {
  const parent = new FakeHelper();
  let overridden = 0;
  const child = createChildChannelControlHelper(parent, {
    requestReresolution() {
      overridden++;
    },
  });
  child.requestReresolution();
  t.is(overridden, 1);
  t.is(parent.reresolutionRequests, 0);
  const picker = new UnavailablePicker();
  child.updateState(ConnectivityState.TRANSIENT_FAILURE, picker, 'x');
  t.is(parent.last.picker, picker);
  t.is(child.createSubchannel({ host: '10.0.0.1', port: 1 }, {}), parent.sc('10.0.0.1:1'));
});

test('a user policy registered like a grpc-js one is selected, parsed and run', (t) => {
  const serviceConfig = validateServiceConfig({
    loadBalancingConfig: [
      { not_registered: {} },
      { counting: { tag: 'x', childPolicy: [{ grpclb: {} }, { round_robin: {} }] } },
    ],
  });
  const config = selectLbConfigFromList(serviceConfig.loadBalancingConfig, true);
  t.true(config instanceof CountingConfig);
  t.deepEqual(config?.toJsonObject(), {
    counting: { tag: 'x', childPolicy: [{ round_robin: {} }] },
  });
  const helper = new FakeHelper();
  const lb = new ChildLoadBalancerHandler(helper);
  t.true(lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1'), config!, {}, ''));
  helper.sc('10.0.0.1:1').setState(READY);
  helper.sc('10.0.0.2:1').setState(READY);
  t.is(helper.lastState, READY);
  const picked = [0, 1, 2, 3].map(() => pickAddress(helper.last.picker)).sort();
  t.deepEqual(picked, ['10.0.0.1:1', '10.0.0.1:1', '10.0.0.2:1', '10.0.0.2:1']);
  t.deepEqual(Object.fromEntries(CountingBalancer.latest?.counts ?? []), {
    '10.0.0.1:1': 2,
    '10.0.0.2:1': 2,
  });
  // An invalid config for it is skipped in favour of the next entry.
  t.is(
    selectLbConfigFromList([{ counting: { tag: 1 } }, { pick_first: {} }])?.getLoadBalancerName(),
    'pick_first',
  );
});

// --- Pickers ---

test('UnavailablePicker fails with UNAVAILABLE unless told otherwise', (t) => {
  const args = { metadata: new Metadata(), extraPickInfo: {} };
  const result = new UnavailablePicker().pick(args);
  t.is(result.status.code, Status.UNAVAILABLE);
  t.is(result.status.details, 'No connection established');
  const custom = new UnavailablePicker({ code: Status.PERMISSION_DENIED, details: 'no' }).pick(
    args,
  );
  t.is(custom.status.code, Status.PERMISSION_DENIED);
  t.is(custom.status.details, 'no');
});

test('QueuePicker queues and calls exitIdle once, on the next tick', async (t) => {
  let calls = 0;
  const picker = new QueuePicker({ exitIdle: () => calls++ });
  const args = { metadata: new Metadata(), extraPickInfo: {} };
  t.is(pickAddress(picker), 'QUEUE');
  picker.pick(args);
  t.is(calls, 0);
  await nextTick();
  t.is(calls, 1);
  picker.pick(args);
  await nextTick();
  t.is(calls, 1);
  // With a child picker it delegates, still waking the balancer.
  const delegating = new QueuePicker({ exitIdle: () => calls++ }, new UnavailablePicker());
  t.is(pickAddress(delegating), 'TRANSIENT_FAILURE');
  await nextTick();
  t.is(calls, 2);
});
