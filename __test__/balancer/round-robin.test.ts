// round_robin (gRFC A61): one pick_first child per endpoint, rotation over
// READY children only, aggregate state, re-resolution, child reuse.
import test from 'ava';
import {
  RoundRobinLoadBalancer,
  RoundRobinLoadBalancingConfig,
  parseLoadBalancingConfig,
} from '../../ts/balancer/index';
import { ConnectivityState, Status } from '../../ts/constants';
import { statusOrFromError, statusOrFromValue } from '../../ts/status-or';
import { FakeClock, FakeHelper, addr, endpoints, pickAddress } from './fakes';

const { IDLE, CONNECTING, READY, TRANSIENT_FAILURE } = ConnectivityState;
const CONFIG = new RoundRobinLoadBalancingConfig();
const A = '10.0.0.1:1';
const B = '10.0.0.2:1';
const C = '10.0.0.3:1';

// random() = 0: the first READY picker starts at the first READY child.
function setup() {
  const helper = new FakeHelper();
  const clock = new FakeClock();
  const lb = new RoundRobinLoadBalancer(helper, { clock, random: () => 0 });
  return { helper, clock, lb };
}

function picks(helper: FakeHelper, n: number): string[] {
  const picker = helper.last.picker;
  return Array.from({ length: n }, () => pickAddress(picker));
}

test('connects to every endpoint at once and reports CONNECTING', (t) => {
  const { helper, lb } = setup();
  t.true(lb.updateAddressList(endpoints(A, B, C), CONFIG, {}, ''));
  t.deepEqual([...helper.connectOrder].sort(), [A, B, C]);
  t.is(helper.lastState, CONNECTING);
  t.is(helper.reports.length, 1, 'one report for the whole update');
});

test('picks rotate over READY children and skip the others', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints(A, B, C), CONFIG, {}, '');
  helper.sc(A).setState(READY);
  t.is(helper.lastState, READY);
  t.deepEqual(picks(helper, 3), [A, A, A]);
  helper.sc(C).setState(READY);
  t.deepEqual(picks(helper, 4), [A, C, A, C]);
  helper.sc(B).setState(READY);
  t.deepEqual(picks(helper, 6), [A, B, C, A, B, C]);
  // B fails: it leaves the rotation, the others keep it going.
  helper.sc(B).fail();
  t.is(helper.lastState, READY);
  t.deepEqual(picks(helper, 4), [A, C, A, C]);
});

test('a new picker continues the rotation where the old one was', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints(A, B, C), CONFIG, {}, '');
  helper.sc(A).setState(READY);
  helper.sc(B).setState(READY);
  t.deepEqual(picks(helper, 1), [A]); // next would be B
  helper.sc(C).setState(READY);
  t.deepEqual(picks(helper, 3), [B, C, A]);
});

test('aggregate state: READY over CONNECTING over TRANSIENT_FAILURE', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints(A, B), CONFIG, {}, '');
  helper.sc(A).fail('A down');
  t.is(helper.lastState, CONNECTING, 'B is still connecting');
  helper.sc(B).setState(READY);
  t.is(helper.lastState, READY);
  helper.sc(B).setState(IDLE);
  // B's pick_first went IDLE; round_robin reconnects it at once.
  t.is(helper.sc(B).state, CONNECTING);
  t.is(helper.lastState, CONNECTING);
  helper.sc(B).fail('B down');
  t.is(helper.lastState, TRANSIENT_FAILURE);
  t.regex(helper.last.errorMessage ?? '', /B down/);
  t.is(pickAddress(helper.last.picker), 'TRANSIENT_FAILURE');
  // Sticky per child: a child reconnecting does not make the whole CONNECTING.
  helper.sc(A).endBackoff();
  t.is(helper.sc(A).state, CONNECTING);
  t.is(helper.lastState, TRANSIENT_FAILURE);
  helper.sc(A).setState(READY);
  t.is(helper.lastState, READY);
  t.deepEqual(picks(helper, 2), [A, A]);
});

test('a failing child asks for re-resolution', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints(A, B), CONFIG, {}, '');
  helper.sc(B).setState(READY);
  t.is(helper.reresolutionRequests, 0);
  helper.sc(A).fail();
  t.is(helper.reresolutionRequests, 1);
  helper.sc(B).setState(IDLE);
  t.is(helper.reresolutionRequests, 2);
});

test('an update keeps children of endpoints still present and drops the others', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints(A, B), CONFIG, {}, '');
  helper.sc(A).setState(READY);
  helper.sc(B).setState(READY);
  const connects = helper.connectOrder.length;
  lb.updateAddressList(endpoints(B, C), CONFIG, {}, '');
  t.is(helper.sc(A).refs, 0, 'A released');
  t.is(helper.sc(B).refs, 1, 'B kept');
  t.deepEqual(helper.connectOrder.slice(connects), [C], 'only C is new');
  t.is(helper.lastState, READY);
  t.deepEqual(picks(helper, 2).sort(), [B, B]);
  helper.sc(C).setState(READY);
  t.deepEqual(picks(helper, 4).sort(), [B, B, C, C]);
});

test('an endpoint whose addresses are reordered is the same child', (t) => {
  const { helper, lb } = setup();
  const two = (first: string, second: string) =>
    statusOrFromValue([{ addresses: [addr(first), addr(second)] }]);
  lb.updateAddressList(two(A, B), CONFIG, {}, '');
  helper.sc(A).setState(READY);
  lb.updateAddressList(two(B, A), CONFIG, {}, '');
  t.is(helper.lastState, READY);
  t.is(helper.sc(A).refs, 1);
  t.deepEqual(picks(helper, 1), [A]);
});

test('an empty list is rejected with TRANSIENT_FAILURE; a resolver error keeps children', (t) => {
  const { helper, lb } = setup();
  const error = statusOrFromError<never>({ code: Status.UNAVAILABLE, details: 'dns down' });
  lb.updateAddressList(error, CONFIG, {}, '');
  t.is(helper.lastState, TRANSIENT_FAILURE);
  t.is(helper.last.errorMessage, 'dns down');
  lb.updateAddressList(endpoints(A), CONFIG, {}, '');
  helper.sc(A).setState(READY);
  lb.updateAddressList(error, CONFIG, {}, '');
  t.is(helper.lastState, READY);
  t.false(lb.updateAddressList(statusOrFromValue([]), CONFIG, {}, 'nothing'));
  t.is(helper.lastState, TRANSIENT_FAILURE);
  t.regex(helper.last.errorMessage ?? '', /No addresses resolved/);
  t.is(helper.sc(A).refs, 0);
});

test('each child runs pick_first over its endpoint addresses', (t) => {
  const { helper, clock, lb } = setup();
  lb.updateAddressList(
    statusOrFromValue([{ addresses: [addr(A), addr('[::1]:1')] }, { addresses: [addr(C)] }]),
    CONFIG,
    {},
    '',
  );
  t.deepEqual([...helper.connectOrder].sort(), [A, C]);
  clock.advance(250);
  t.true(helper.connectOrder.includes('[::1]:1'));
  helper.sc('[::1]:1').setState(READY);
  t.deepEqual(picks(helper, 2), ['[::1]:1', '[::1]:1']);
});

test('destroy releases every child', (t) => {
  const { helper, lb } = setup();
  lb.updateAddressList(endpoints(A, B), CONFIG, {}, '');
  helper.sc(A).setState(READY);
  lb.destroy();
  t.is(helper.sc(A).refs, 0);
  t.is(helper.sc(B).refs, 0);
  const reports = helper.reports.length;
  helper.sc(B).setState(READY);
  t.is(helper.reports.length, reports);
});

test('registered as round_robin; config rejects non-objects', (t) => {
  const config = parseLoadBalancingConfig({ round_robin: {} });
  t.true(config instanceof RoundRobinLoadBalancingConfig);
  t.deepEqual(config.toJsonObject(), { round_robin: {} });
  t.throws(() => RoundRobinLoadBalancingConfig.createFromJson([]));
  t.false(
    new RoundRobinLoadBalancer(new FakeHelper()).updateAddressList(
      endpoints(A),
      parseLoadBalancingConfig({ pick_first: {} }),
      {},
      '',
    ),
  );
});
