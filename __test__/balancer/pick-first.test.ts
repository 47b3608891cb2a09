// pick_first (gRFC A62) against fake subchannels and a manual clock:
// Happy Eyeballs ordering and timing, first READY wins, sticky
// TRANSIENT_FAILURE, IDLE after connection loss, shuffling.
import test from 'ava';
import {
  PickFirstLoadBalancer,
  PickFirstLoadBalancingConfig,
  interleaveAddressFamilies,
  shuffled,
} from '../../ts/balancer/index';
import { ConnectivityState } from '../../ts/constants';
import { Status } from '../../ts/constants';
import { statusOrFromError, statusOrFromValue } from '../../ts/status-or';
import { subchannelAddressToString } from '../../ts/subchannel/subchannel-address';
import { FakeClock, FakeHelper, addr, endpoints, nextTick, pickAddress } from './fakes';

const { IDLE, CONNECTING, READY, TRANSIENT_FAILURE } = ConnectivityState;
const CONFIG = new PickFirstLoadBalancingConfig(false);

function setup(random?: () => number) {
  const helper = new FakeHelper();
  const clock = new FakeClock();
  const lb = new PickFirstLoadBalancer(helper, { clock, random });
  return { helper, clock, lb };
}

test('starts with the first address and the next one 250 ms later', (t) => {
  const { helper, clock, lb } = setup();
  t.true(lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1'), CONFIG, {}, ''));
  t.is(helper.lastState, CONNECTING);
  t.deepEqual(helper.connectOrder, ['10.0.0.1:1']);
  clock.advance(249);
  t.deepEqual(helper.connectOrder, ['10.0.0.1:1']);
  clock.advance(1);
  t.deepEqual(helper.connectOrder, ['10.0.0.1:1', '10.0.0.2:1']);
  clock.advance(250);
  t.deepEqual(helper.connectOrder, ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1']);
  // Still connecting: nothing failed, so no state change and no re-resolution.
  t.is(helper.lastState, CONNECTING);
  t.is(helper.reresolutionRequests, 0);
});

test('a failed attempt starts the next address at once', (t) => {
  const { helper, clock, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1'), CONFIG, {}, '');
  clock.advance(100);
  helper.sc('10.0.0.1:1').fail();
  t.deepEqual(helper.connectOrder, ['10.0.0.1:1', '10.0.0.2:1']);
  // Not sticky yet: one address is still trying.
  t.is(helper.lastState, CONNECTING);
});

test('address families are interleaved, starting with the first address family', (t) => {
  const order = (list: string[]) =>
    interleaveAddressFamilies(list.map(addr)).map(subchannelAddressToString);
  t.deepEqual(order(['[::1]:1', '[::2]:1', '10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1']), [
    '[::1]:1',
    '10.0.0.1:1',
    '[::2]:1',
    '10.0.0.2:1',
    '10.0.0.3:1',
  ]);
  t.deepEqual(order(['10.0.0.1:1', '10.0.0.2:1', '[::1]:1']), [
    '10.0.0.1:1',
    '[::1]:1',
    '10.0.0.2:1',
  ]);
  t.deepEqual(order([]), []);
});

test('endpoints are flattened, interleaved and de-duplicated before connecting', (t) => {
  const { helper, clock, lb } = setup();
  const list = statusOrFromValue([
    { addresses: [addr('10.0.0.1:1'), addr('10.0.0.2:1')] },
    { addresses: [addr('[::1]:1'), addr('10.0.0.1:1')] },
  ]);
  lb.updateAddressList(list, CONFIG, {}, '');
  clock.advance(1000);
  t.deepEqual(helper.connectOrder, ['10.0.0.1:1', '[::1]:1', '10.0.0.2:1']);
});

test('the first address to become READY wins and the others are released', (t) => {
  const { helper, clock, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1'), CONFIG, {}, '');
  clock.advance(250);
  const [first, second, third] = ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1'].map((a) =>
    helper.sc(a),
  );
  second.setState(READY);
  t.is(helper.lastState, READY);
  t.is(pickAddress(helper.last.picker), '10.0.0.2:1');
  t.is(pickAddress(helper.last.picker), '10.0.0.2:1');
  t.is(second.refs, 1);
  t.is(first.refs, 0);
  t.is(third.refs, 0);
  t.is(first.listeners.size, 0);
  // The delay timer is gone: the third address is never started.
  t.is(clock.pending(), 0);
  clock.advance(1000);
  t.false(helper.connectOrder.includes('10.0.0.3:1'));
  // A late READY from a released subchannel changes nothing.
  first.setState(READY);
  t.is(pickAddress(helper.last.picker), '10.0.0.2:1');
});

test('sticky TRANSIENT_FAILURE: stays failed until READY, retrying every address', (t) => {
  const { helper, clock, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1'), CONFIG, {}, 'note');
  const [a, b] = [helper.sc('10.0.0.1:1'), helper.sc('10.0.0.2:1')];
  a.fail('refused A');
  t.is(helper.lastState, CONNECTING);
  b.fail('refused B');
  t.is(helper.lastState, TRANSIENT_FAILURE);
  t.regex(helper.last.errorMessage ?? '', /refused B/);
  t.regex(helper.last.errorMessage ?? '', /note/);
  t.is(pickAddress(helper.last.picker), 'TRANSIENT_FAILURE');
  t.is(helper.reresolutionRequests, 1);
  // Both asked to reconnect as soon as their backoff ends.
  t.true(a.connectAfterBackoff);
  t.true(b.connectAfterBackoff);
  const reports = helper.reports.length;
  a.endBackoff();
  t.is(a.state, CONNECTING);
  // No CONNECTING report while sticky.
  t.is(helper.reports.length, reports);
  t.is(helper.lastState, TRANSIENT_FAILURE);
  // A round where every address fails again: new error, re-resolution again.
  a.fail('refused A again');
  b.endBackoff();
  b.fail('refused B again');
  t.is(helper.reresolutionRequests, 2);
  t.is(helper.lastState, TRANSIENT_FAILURE);
  t.regex(helper.last.errorMessage ?? '', /refused B again/);
  // An address that went IDLE (backoff ended without a pending request) is restarted.
  a.connectAfterBackoff = false;
  a.endBackoff();
  t.is(a.state, CONNECTING);
  a.setState(READY);
  t.is(helper.lastState, READY);
  t.is(pickAddress(helper.last.picker), '10.0.0.1:1');
  t.is(clock.pending(), 0);
});

test('losing the connection reports IDLE, re-resolves, and reconnects on the next pick', async (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1'), CONFIG, {}, '');
  const a = helper.sc('10.0.0.1:1');
  a.setState(READY);
  t.is(helper.lastState, READY);
  a.setState(IDLE);
  t.is(helper.lastState, IDLE);
  t.is(helper.reresolutionRequests, 1);
  t.is(a.refs, 0);
  const connectsBefore = helper.connectOrder.length;
  // The IDLE picker queues and wakes the balancer (on the next tick).
  t.is(pickAddress(helper.last.picker), 'QUEUE');
  t.is(helper.connectOrder.length, connectsBefore);
  await nextTick();
  t.is(helper.lastState, CONNECTING);
  t.deepEqual(helper.connectOrder.slice(connectsBefore), ['10.0.0.1:1']);
});

test('a resolver update while IDLE after a lost connection stays IDLE until exitIdle', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1'), CONFIG, {}, '');
  helper.sc('10.0.0.1:1').setState(READY);
  helper.sc('10.0.0.1:1').setState(IDLE);
  const connects = helper.connectOrder.length;
  t.true(lb.updateAddressList(endpoints('10.0.0.5:1'), CONFIG, {}, ''));
  t.is(helper.lastState, IDLE);
  t.is(helper.connectOrder.length, connects);
  lb.exitIdle();
  t.is(helper.lastState, CONNECTING);
  t.deepEqual(helper.connectOrder.slice(connects), ['10.0.0.5:1']);
});

test('an update keeps serving on the current connection until a new one is READY', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1'), CONFIG, {}, '');
  const old = helper.sc('10.0.0.1:1');
  old.setState(READY);
  lb.updateAddressList(endpoints('10.0.0.2:1'), CONFIG, {}, '');
  t.is(helper.lastState, READY);
  t.is(pickAddress(helper.last.picker), '10.0.0.1:1');
  helper.sc('10.0.0.2:1').setState(READY);
  t.is(pickAddress(helper.last.picker), '10.0.0.2:1');
  t.is(old.refs, 0);
});

test('an update that still contains the connected address keeps it without reconnecting', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1'), CONFIG, {}, '');
  const a = helper.sc('10.0.0.1:1');
  a.setState(READY);
  const reports = helper.reports.length;
  lb.updateAddressList(endpoints('10.0.0.9:1', '10.0.0.1:1'), CONFIG, {}, '');
  t.is(a.refs, 1);
  t.is(helper.reports.length, reports, 'same pick: no new report');
  t.is(helper.subchannels.get('10.0.0.9:1')?.refs, 0);
  t.false(helper.connectOrder.includes('10.0.0.9:1'));
});

test('an empty address list drops everything, reports TRANSIENT_FAILURE and is rejected', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1'), CONFIG, {}, '');
  helper.sc('10.0.0.1:1').setState(READY);
  t.false(lb.updateAddressList(statusOrFromValue([]), CONFIG, {}, 'empty'));
  t.is(helper.lastState, TRANSIENT_FAILURE);
  t.regex(helper.last.errorMessage ?? '', /No addresses resolved/);
  t.is(helper.sc('10.0.0.1:1').refs, 0);
});

test('a resolver error fails only a balancer that has nothing to use', (t) => {
  const { helper, lb } = setup();
  const error = statusOrFromError<never>({ code: Status.UNAVAILABLE, details: 'dns failed' });
  t.true(lb.updateAddressList(error, CONFIG, {}, ''));
  t.is(helper.lastState, TRANSIENT_FAILURE);
  t.is(helper.last.errorMessage, 'dns failed');
  lb.updateAddressList(endpoints('10.0.0.1:1'), CONFIG, {}, '');
  helper.sc('10.0.0.1:1').setState(READY);
  const reports = helper.reports.length;
  lb.updateAddressList(error, CONFIG, {}, '');
  t.is(helper.reports.length, reports);
  t.is(helper.lastState, READY);
});

test('shuffleAddressList reorders endpoints with the injected randomness', (t) => {
  const list = ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1'];
  // Always picking index 0 turns Fisher–Yates into a rotation: [2, 3, 4, 1].
  const { helper, clock, lb } = setup(() => 0);
  lb.updateAddressList(endpoints(...list), new PickFirstLoadBalancingConfig(true), {}, '');
  clock.advance(1000);
  t.deepEqual(helper.connectOrder, ['10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1', '10.0.0.1:1']);
  // Without the option the order is kept.
  const plain = setup(() => 0);
  plain.lb.updateAddressList(endpoints(...list), CONFIG, {}, '');
  plain.clock.advance(1000);
  t.deepEqual(plain.helper.connectOrder, list);
});

test('shuffled is a permutation and reaches every position', (t) => {
  const input = [1, 2, 3, 4, 5];
  const firsts = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const out = shuffled(input);
    t.deepEqual([...out].sort(), input);
    firsts.add(out[0]);
  }
  t.is(firsts.size, input.length);
  t.deepEqual(input, [1, 2, 3, 4, 5]);
});

test('config parsing: shuffleAddressList must be a boolean', (t) => {
  t.false(PickFirstLoadBalancingConfig.createFromJson({}).getShuffleAddressList());
  t.true(
    PickFirstLoadBalancingConfig.createFromJson({
      shuffleAddressList: true,
    }).getShuffleAddressList(),
  );
  t.throws(() => PickFirstLoadBalancingConfig.createFromJson({ shuffleAddressList: 'yes' }), {
    message: /shuffleAddressList must be a boolean/,
  });
  t.deepEqual(new PickFirstLoadBalancingConfig(true).toJsonObject(), {
    pick_first: { shuffleAddressList: true },
  });
});

test('an address already in TRANSIENT_FAILURE is skipped in the first pass', (t) => {
  const { helper, clock, lb } = setup();
  // Another user of the pool already saw this address fail.
  helper.createSubchannel(addr('10.0.0.1:1'), {}).state = TRANSIENT_FAILURE;
  lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1'), CONFIG, {}, '');
  t.deepEqual(helper.connectOrder, ['10.0.0.2:1']);
  helper.sc('10.0.0.2:1').fail();
  t.is(helper.lastState, TRANSIENT_FAILURE);
  clock.advance(1000);
  t.is(clock.pending(), 0);
});

test('an unhealthy pick is reported as TRANSIENT_FAILURE when the parent asks for health', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(
    endpoints('10.0.0.1:1'),
    CONFIG,
    { 'grpc-node.internal.pick-first.report_health_status': 1 },
    '',
  );
  const a = helper.sc('10.0.0.1:1');
  a.setState(READY);
  t.is(helper.lastState, READY);
  a.setHealthy(false);
  t.is(helper.lastState, TRANSIENT_FAILURE);
  a.setHealthy(true);
  t.is(helper.lastState, READY);
});

test('destroy releases every subchannel and silences the balancer', (t) => {
  const { helper, clock, lb } = setup();
  lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1'), CONFIG, {}, '');
  clock.advance(250);
  lb.destroy();
  t.is(helper.sc('10.0.0.1:1').refs, 0);
  t.is(helper.sc('10.0.0.2:1').refs, 0);
  t.is(clock.pending(), 0);
  const reports = helper.reports.length;
  helper.sc('10.0.0.1:1').setState(READY);
  t.is(helper.reports.length, reports);
  t.is(lb.getTypeName(), 'pick_first');
});

test('a subchannel that becomes READY inside startConnecting is picked cleanly', (t) => {
  const { helper, clock, lb } = setup();
  const a = helper.createSubchannel(addr('10.0.0.1:1'), {});
  a.startConnecting = () => {
    a.setState(CONNECTING);
    a.setState(READY);
  };
  lb.updateAddressList(endpoints('10.0.0.1:1', '10.0.0.2:1'), CONFIG, {}, '');
  t.is(helper.lastState, READY);
  t.is(pickAddress(helper.last.picker), '10.0.0.1:1');
  t.is(clock.pending(), 0);
  t.is(helper.subchannels.get('10.0.0.2:1')?.refs, 0);
});
