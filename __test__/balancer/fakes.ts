// Test doubles for balancer unit tests: subchannels whose state the test
// drives, a ChannelControlHelper that records what balancers report, and a
// manual clock for the Happy Eyeballs delay (the resolver tests' FakeClock).
import type { ChannelOptions } from '../../ts/channel';
import { ConnectivityState } from '../../ts/constants';
import type { ChannelControlHelper } from '../../ts/balancer/load-balancer';
import { PickResultType, type Picker } from '../../ts/balancer/picker';
import { Metadata } from '../../ts/metadata';
export { FakeClock } from '../resolver/fake-clock';
import { statusOrFromValue, type StatusOr } from '../../ts/status-or';
import {
  subchannelAddressToString,
  type Endpoint,
  type SubchannelAddress,
} from '../../ts/subchannel/subchannel-address';
import type {
  ConnectivityStateListener,
  HealthListener,
  SubchannelInterface,
  SubchannelRef,
} from '../../ts/subchannel/subchannel-interface';

let nextId = 1;

/**
 * A subchannel whose transitions the test triggers with `setState`. Mirrors
 * the real subchannel's rules: startConnecting moves IDLE to CONNECTING
 * synchronously, and in TRANSIENT_FAILURE it only remembers the request
 * until `endBackoff`.
 */
export class FakeSubchannel implements SubchannelInterface {
  state = ConnectivityState.IDLE;
  refs = 0;
  connectRequests = 0;
  connectAfterBackoff = false;
  healthy = true;
  readonly listeners = new Set<ConnectivityStateListener>();
  readonly healthListeners = new Set<HealthListener>();
  private readonly ref_: SubchannelRef;

  constructor(readonly address: string) {
    this.ref_ = { kind: 'subchannel', id: nextId++, name: address };
  }

  setState(next: ConnectivityState, errorMessage?: string): void {
    const prev = this.state;
    if (prev === next) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener(this, prev, next, 0, errorMessage);
  }

  /** Fails the current attempt. */
  fail(errorMessage = `connect ${this.address} failed`): void {
    this.setState(ConnectivityState.TRANSIENT_FAILURE, errorMessage);
  }

  /** The backoff after a failure ends: reconnect if asked to, else go IDLE. */
  endBackoff(): void {
    if (this.state !== ConnectivityState.TRANSIENT_FAILURE) return;
    if (this.connectAfterBackoff) {
      this.connectAfterBackoff = false;
      this.setState(ConnectivityState.CONNECTING);
    } else {
      this.setState(ConnectivityState.IDLE);
    }
  }

  setHealthy(healthy: boolean): void {
    this.healthy = healthy;
    for (const listener of [...this.healthListeners]) listener(healthy);
  }

  getConnectivityState(): ConnectivityState {
    return this.state;
  }
  addConnectivityStateListener(listener: ConnectivityStateListener): void {
    this.listeners.add(listener);
  }
  removeConnectivityStateListener(listener: ConnectivityStateListener): void {
    this.listeners.delete(listener);
  }
  startConnecting(): void {
    this.connectRequests++;
    if (this.state === ConnectivityState.IDLE) this.setState(ConnectivityState.CONNECTING);
    else if (this.state === ConnectivityState.TRANSIENT_FAILURE) this.connectAfterBackoff = true;
  }
  getAddress(): string {
    return this.address;
  }
  throttleKeepalive(): void {}
  ref(): void {
    this.refs++;
  }
  unref(): void {
    this.refs--;
    if (this.refs < 0) throw new Error(`${this.address} unref'd below zero`);
  }
  getChannelzRef(): SubchannelRef {
    return this.ref_;
  }
  isHealthy(): boolean {
    return this.healthy;
  }
  addHealthStateWatcher(listener: HealthListener): void {
    this.healthListeners.add(listener);
  }
  removeHealthStateWatcher(listener: HealthListener): void {
    this.healthListeners.delete(listener);
  }
  getRealSubchannel(): SubchannelInterface {
    return this;
  }
  realSubchannelEquals(other: SubchannelInterface): boolean {
    return other.getRealSubchannel() === this;
  }
}

/** One `updateState` call. */
export interface StateReport {
  state: ConnectivityState;
  picker: Picker;
  errorMessage: string | null;
}

/**
 * Records what a balancer reports. Subchannels are pooled by address, as
 * the channel's pool does, so the same address yields the same subchannel.
 */
export class FakeHelper implements ChannelControlHelper {
  readonly subchannels = new Map<string, FakeSubchannel>();
  readonly reports: StateReport[] = [];
  reresolutionRequests = 0;
  /** Address strings in the order `startConnecting` was first called on them. */
  readonly connectOrder: string[] = [];

  createSubchannel(address: SubchannelAddress, _args: ChannelOptions): FakeSubchannel {
    const key = subchannelAddressToString(address);
    let subchannel = this.subchannels.get(key);
    if (subchannel === undefined) {
      subchannel = new FakeSubchannel(key);
      const original = subchannel.startConnecting.bind(subchannel);
      subchannel.startConnecting = () => {
        this.connectOrder.push(key);
        original();
      };
      this.subchannels.set(key, subchannel);
    }
    return subchannel;
  }
  updateState(state: ConnectivityState, picker: Picker, errorMessage: string | null): void {
    this.reports.push({ state, picker, errorMessage });
  }
  requestReresolution(): void {
    this.reresolutionRequests++;
  }
  addChannelzChild(): void {}
  removeChannelzChild(): void {}

  /** The subchannel for `address` (`host:port`); throws if never created. */
  sc(address: string): FakeSubchannel {
    const subchannel = this.subchannels.get(address);
    if (subchannel === undefined) throw new Error(`no subchannel for ${address}`);
    return subchannel;
  }

  get last(): StateReport {
    const report = this.reports.at(-1);
    if (report === undefined) throw new Error('no state reported yet');
    return report;
  }

  get lastState(): ConnectivityState | undefined {
    return this.reports.at(-1)?.state;
  }
}

/** `{host, port}` from `host:port` or `[v6]:port`. */
export function addr(text: string): SubchannelAddress {
  const match = /^\[(.*)\]:(\d+)$/.exec(text) ?? /^(.*):(\d+)$/.exec(text);
  if (match === null) return { path: text };
  return { host: match[1], port: Number(match[2]) };
}

/** One endpoint per address. */
export function endpoints(...addresses: string[]): StatusOr<Endpoint[]> {
  return statusOrFromValue(addresses.map((a) => ({ addresses: [addr(a)] })));
}

/** The address a picker sends the next call to, or the pick's type name if none. */
export function pickAddress(picker: Picker): string {
  const result = picker.pick({ metadata: new Metadata(), extraPickInfo: {} });
  if (result.pickResultType === PickResultType.COMPLETE && result.subchannel !== null) {
    return result.subchannel.getAddress();
  }
  return PickResultType[result.pickResultType];
}

/** Waits for queued `process.nextTick` callbacks (QueuePicker's exitIdle). */
export function nextTick(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}
