// ChildLoadBalancerHandler: graceful switching between policy types. The
// old policy keeps serving until the new one is READY, or until the old one
// is not READY itself.
import test from 'ava';
import {
  ChildLoadBalancerHandler,
  QueuePicker,
  UnavailablePicker,
  registerLoadBalancerType,
  type ChannelControlHelper,
  type LoadBalancer,
  type Picker,
  type TypedLoadBalancingConfig,
} from '../../ts/balancer/index';
import { ConnectivityState } from '../../ts/constants';
import type { StatusOr } from '../../ts/status-or';
import type { Endpoint } from '../../ts/subchannel/subchannel-address';
import { FakeHelper, endpoints } from './fakes';

const { IDLE, CONNECTING, READY, TRANSIENT_FAILURE } = ConnectivityState;

/** A balancer the test drives by hand through the helper it was given. */
class ManualBalancer implements LoadBalancer {
  static instances: ManualBalancer[] = [];
  updates = 0;
  destroyed = false;
  exitIdleCalls = 0;
  name = 'not updated yet';
  // Distinct per instance, so tests can tell whose picker the channel got.
  readonly picker: Picker = new UnavailablePicker();

  constructor(readonly helper: ChannelControlHelper) {
    ManualBalancer.instances.push(this);
  }
  report(state: ConnectivityState): void {
    this.helper.updateState(state, this.picker, null);
  }
  updateAddressList(_list: StatusOr<Endpoint[]>, config: TypedLoadBalancingConfig): boolean {
    this.updates++;
    this.name = config.getLoadBalancerName();
    return true;
  }
  exitIdle(): void {
    this.exitIdleCalls++;
  }
  resetBackoff(): void {}
  destroy(): void {
    this.destroyed = true;
  }
  getTypeName(): string {
    return this.name;
  }
}

class ManualConfig implements TypedLoadBalancingConfig {
  constructor(readonly name: string) {}
  getLoadBalancerName(): string {
    return this.name;
  }
  toJsonObject(): object {
    return { [this.name]: {} };
  }
  static createFromJson(): ManualConfig {
    throw new Error('built directly in these tests');
  }
}

registerLoadBalancerType('test_a', ManualBalancer, ManualConfig);
registerLoadBalancerType('test_b', ManualBalancer, ManualConfig);
const A = new ManualConfig('test_a');
const B = new ManualConfig('test_b');

function setup() {
  ManualBalancer.instances = [];
  const helper = new FakeHelper();
  const handler = new ChildLoadBalancerHandler(helper);
  return { helper, handler, instances: ManualBalancer.instances };
}

const LIST = endpoints('10.0.0.1:1');

test('the first config creates the child and forwards its reports', (t) => {
  const { helper, handler, instances } = setup();
  t.true(handler.updateAddressList(LIST, A, {}, ''));
  t.is(instances.length, 1);
  instances[0].report(CONNECTING);
  instances[0].report(READY);
  t.deepEqual(
    helper.reports.map((r) => r.state),
    [CONNECTING, READY],
  );
  t.is(helper.last.picker, instances[0].picker);
});

test('the same policy type updates the existing child', (t) => {
  const { handler, instances } = setup();
  handler.updateAddressList(LIST, A, {}, '');
  handler.updateAddressList(LIST, new ManualConfig('test_a'), {}, '');
  t.is(instances.length, 1);
  t.is(instances[0].updates, 2);
});

test('a new type waits while the old one is READY and swaps when the new one is READY', (t) => {
  const { helper, handler, instances } = setup();
  handler.updateAddressList(LIST, A, {}, '');
  const [a] = instances;
  a.report(READY);
  handler.updateAddressList(LIST, B, {}, '');
  const b = instances[1];
  t.is(b.updates, 1);
  const reports = helper.reports.length;
  b.report(CONNECTING);
  b.report(TRANSIENT_FAILURE);
  t.is(helper.reports.length, reports, 'old READY policy keeps serving');
  t.false(a.destroyed);
  // The old one still reports while it is current.
  a.report(READY);
  t.is(helper.last.picker, a.picker);
  b.report(READY);
  t.true(a.destroyed);
  t.is(helper.lastState, READY);
  t.is(helper.last.picker, b.picker);
  // Later updates go to the new child; the old one is not heard any more.
  handler.updateAddressList(LIST, B, {}, '');
  t.is(b.updates, 2);
  const after = helper.reports.length;
  a.report(IDLE);
  t.is(helper.reports.length, after);
});

test('a new type takes over at once when the old one is not READY', (t) => {
  const { helper, handler, instances } = setup();
  handler.updateAddressList(LIST, A, {}, '');
  const [a] = instances;
  a.report(CONNECTING);
  handler.updateAddressList(LIST, B, {}, '');
  const b = instances[1];
  b.report(CONNECTING);
  t.true(a.destroyed);
  t.is(helper.last.picker, b.picker);
});

test('the old policy leaving READY hands over to the pending one', (t) => {
  const { helper, handler, instances } = setup();
  handler.updateAddressList(LIST, A, {}, '');
  const [a] = instances;
  a.report(READY);
  handler.updateAddressList(LIST, B, {}, '');
  const b = instances[1];
  a.report(IDLE);
  t.true(a.destroyed);
  // b has not reported yet: it counts as CONNECTING, with a queueing picker.
  t.is(helper.lastState, CONNECTING);
  t.true(helper.last.picker instanceof QueuePicker);
  b.report(READY);
  t.is(helper.last.picker, b.picker);
});

test('a second switch replaces the pending child', (t) => {
  const { handler, instances } = setup();
  handler.updateAddressList(LIST, A, {}, '');
  instances[0].report(READY);
  handler.updateAddressList(LIST, B, {}, '');
  handler.updateAddressList(LIST, A, {}, '');
  t.is(instances.length, 3);
  t.false(instances[0].destroyed);
  t.true(instances[1].destroyed);
  t.false(instances[2].destroyed);
});

test('re-resolution requests count only from the latest child', (t) => {
  const { helper, handler, instances } = setup();
  handler.updateAddressList(LIST, A, {}, '');
  instances[0].report(READY);
  instances[0].helper.requestReresolution();
  t.is(helper.reresolutionRequests, 1);
  handler.updateAddressList(LIST, B, {}, '');
  instances[0].helper.requestReresolution();
  t.is(helper.reresolutionRequests, 1);
  instances[1].helper.requestReresolution();
  t.is(helper.reresolutionRequests, 2);
});

test('exitIdle reaches both children; destroy silences them', (t) => {
  const { helper, handler, instances } = setup();
  handler.updateAddressList(LIST, A, {}, '');
  instances[0].report(READY);
  handler.updateAddressList(LIST, B, {}, '');
  handler.exitIdle();
  t.is(instances[0].exitIdleCalls, 1);
  t.is(instances[1].exitIdleCalls, 1);
  handler.destroy();
  t.true(instances[0].destroyed && instances[1].destroyed);
  const reports = helper.reports.length;
  instances[1].report(READY);
  t.is(helper.reports.length, reports);
});

test('an unregistered policy is an error', (t) => {
  const { handler } = setup();
  t.throws(() => handler.updateAddressList(LIST, new ManualConfig('nope'), {}, ''), {
    message: /No load balancer registered for policy nope/,
  });
});
