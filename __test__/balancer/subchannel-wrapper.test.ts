// Addresses, EndpointMap and BaseSubchannelWrapper: the small pieces
// balancers build on.
import test from 'ava';
import { ConnectivityState } from '../../ts/constants';
import { BaseSubchannelWrapper } from '../../ts/subchannel/base-subchannel-wrapper';
import {
  EndpointMap,
  endpointEqual,
  endpointHasAddress,
  endpointToString,
  isTcpSubchannelAddress,
  subchannelAddressEqual,
  subchannelAddressToString,
} from '../../ts/subchannel/subchannel-address';
import type { SubchannelInterface } from '../../ts/subchannel/subchannel-interface';
import { FakeSubchannel, addr } from './fakes';

test('addresses format, compare and classify', (t) => {
  t.is(subchannelAddressToString({ host: '10.0.0.1', port: 80 }), '10.0.0.1:80');
  t.is(subchannelAddressToString({ host: '::1', port: 80 }), '[::1]:80');
  t.is(subchannelAddressToString({ path: '/tmp/s' }), '/tmp/s');
  t.true(isTcpSubchannelAddress({ host: 'h', port: 1 }));
  t.false(isTcpSubchannelAddress({ path: '/tmp/s' }));
  t.true(subchannelAddressEqual({ host: 'h', port: 1 }, { host: 'h', port: 1 }));
  t.false(subchannelAddressEqual({ host: 'h', port: 1 }, { host: 'h', port: 2 }));
  t.false(subchannelAddressEqual({ host: 'h', port: 1 }, { path: 'h' }));
  t.true(subchannelAddressEqual(undefined, undefined));
  t.false(subchannelAddressEqual(undefined, { path: 'x' }));
});

test('endpoints: equality is ordered, map keys are not', (t) => {
  const ab = { addresses: [addr('10.0.0.1:1'), addr('[::1]:1')] };
  const ba = { addresses: [addr('[::1]:1'), addr('10.0.0.1:1')] };
  t.is(endpointToString(ab), '[10.0.0.1:1, [::1]:1]');
  t.true(endpointHasAddress(ab, addr('[::1]:1')));
  t.false(endpointEqual(ab, ba));
  t.true(endpointEqual(ab, { addresses: [addr('10.0.0.1:1'), addr('[::1]:1')] }));
  const map = new EndpointMap<string>();
  map.set(ab, 'first');
  t.is(map.get(ba), 'first');
  map.set(ba, 'second');
  t.is(map.size, 1);
  t.is(map.get(ab), 'second');
  t.is(map.getForSubchannelAddress(addr('[::1]:1')), 'second');
  const c = { addresses: [addr('10.0.0.3:1')] };
  map.set(c, 'third');
  t.deepEqual(map.deleteMissing([c]), ['second']);
  t.deepEqual([...map.values()], ['third']);
  t.deepEqual([...map.entries()], [[c, 'third']]);
  t.true(map.has(c));
  map.delete(c);
  t.is(map.size, 0);
});

class Ejectable extends BaseSubchannelWrapper {
  destroyed = 0;
  eject(): void {
    this.setHealthy(false);
  }
  protected override destroy(): void {
    this.destroyed++;
    super.destroy();
  }
}

test('BaseSubchannelWrapper delegates and combines health', (t) => {
  const real = new FakeSubchannel('10.0.0.1:1');
  const wrapper = new Ejectable(real);
  t.is(wrapper.getAddress(), '10.0.0.1:1');
  t.is(wrapper.getRealSubchannel(), real);
  t.true(wrapper.realSubchannelEquals(real));
  t.true(real.realSubchannelEquals(wrapper));
  const seen: ConnectivityState[] = [];
  const listener = (_s: SubchannelInterface, _p: ConnectivityState, next: ConnectivityState) =>
    seen.push(next);
  wrapper.addConnectivityStateListener(listener);
  wrapper.startConnecting();
  t.deepEqual(seen, [ConnectivityState.CONNECTING]);
  wrapper.removeConnectivityStateListener(listener);
  t.is(real.listeners.size, 0);

  const health: boolean[] = [];
  const watcher = (healthy: boolean) => health.push(healthy);
  wrapper.addHealthStateWatcher(watcher);
  t.is(real.healthListeners.size, 1);
  wrapper.eject();
  t.false(wrapper.isHealthy());
  real.setHealthy(false); // hidden: the wrapper is already unhealthy
  t.deepEqual(health, [false]);
  wrapper.removeHealthStateWatcher(watcher);
  t.is(real.healthListeners.size, 0, 'no listener left on the shared subchannel');

  wrapper.ref();
  wrapper.ref();
  t.is(real.refs, 2);
  wrapper.unref();
  t.is(wrapper.destroyed, 0);
  wrapper.unref();
  t.is(wrapper.destroyed, 1);
  t.is(real.refs, 0);
});
