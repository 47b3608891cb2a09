// pick_first, the default policy, per gRFC A62: flatten the endpoints into
// one address list (optionally shuffled, then interleaved by address family
// as Happy Eyeballs, RFC 8305, asks), start connecting to the first address,
// start the next one 250 ms later or as soon as the current one fails, and
// use whichever connects first for every call. When every address has
// failed, stay in TRANSIENT_FAILURE ("sticky") until one connects, retrying
// each address as its backoff allows. When the connection is lost, go IDLE
// and reconnect only when a call needs it.
import { isIPv6 } from 'node:net';
import type { ChannelOptions } from '../channel';
import { systemClock, type Clock, type TimerHandle } from '../clock';
import { ConnectivityState, LogVerbosity } from '../constants';
import { isTracerEnabled, trace } from '../logging';
import { statusOrFromValue, type StatusOr } from '../status-or';
import {
  isTcpSubchannelAddress,
  subchannelAddressEqual,
  type Endpoint,
  type SubchannelAddress,
} from '../subchannel/subchannel-address';
import type {
  ConnectivityStateListener,
  HealthListener,
  SubchannelInterface,
} from '../subchannel/subchannel-interface';
import {
  createChildChannelControlHelper,
  type ChannelControlHelper,
  type LoadBalancer,
  type TypedLoadBalancingConfig,
} from './load-balancer';
import {
  PickResultType,
  QueuePicker,
  UnavailablePicker,
  type CompletePickResult,
  type PickArgs,
  type Picker,
} from './picker';

const TYPE_NAME = 'pick_first';

/** A62's "Connection Attempt Delay": how long one attempt runs alone. */
export const CONNECTION_ATTEMPT_DELAY_MS = 250;

/**
 * Channel option a parent sets (to any truthy value) to make pick_first
 * report TRANSIENT_FAILURE while its connected subchannel is unhealthy.
 * Same name as grpc-js's internal option.
 */
export const REPORT_HEALTH_STATUS_OPTION = 'grpc-node.internal.pick-first.report_health_status';

/** Parsed `pick_first` config: `{"pick_first": {"shuffleAddressList": true}}`. */
export class PickFirstLoadBalancingConfig implements TypedLoadBalancingConfig {
  /** @param shuffleAddressList Randomize the endpoint order on every update. */
  constructor(private readonly shuffleAddressList: boolean = false) {}

  /** `pick_first`. */
  getLoadBalancerName(): string {
    return TYPE_NAME;
  }

  /** The config in service-config JSON form. */
  toJsonObject(): object {
    return { [TYPE_NAME]: { shuffleAddressList: this.shuffleAddressList } };
  }

  /** Whether endpoints are shuffled before use. */
  getShuffleAddressList(): boolean {
    return this.shuffleAddressList;
  }

  /**
   * Parses the JSON config.
   * @param obj The value under `pick_first`; absent means all defaults.
   * @throws Error if it is not an object or `shuffleAddressList` is not a boolean.
   */
  static createFromJson(obj: unknown): PickFirstLoadBalancingConfig {
    if (obj === undefined || obj === null) return new PickFirstLoadBalancingConfig();
    if (typeof obj !== 'object' || Array.isArray(obj)) {
      throw new Error('pick_first config must be an object');
    }
    const { shuffleAddressList } = obj as { shuffleAddressList?: unknown };
    if (shuffleAddressList !== undefined && typeof shuffleAddressList !== 'boolean') {
      throw new Error('pick_first config field shuffleAddressList must be a boolean if provided');
    }
    return new PickFirstLoadBalancingConfig(shuffleAddressList === true);
  }
}

/** The READY picker: every call goes to the one connected subchannel. */
class PickFirstPicker implements Picker {
  constructor(private readonly subchannel: SubchannelInterface) {}

  pick(_pickArgs: PickArgs): CompletePickResult {
    return {
      pickResultType: PickResultType.COMPLETE,
      subchannel: this.subchannel,
      status: null,
      onCallStarted: null,
      onCallEnded: null,
    };
  }
}

/**
 * A copy of `list` in uniformly random order (Fisher–Yates).
 * @param list The input; not modified.
 * @param random Source of numbers in [0, 1); `Math.random` by default.
 */
export function shuffled<T>(list: readonly T[], random: () => number = Math.random): T[] {
  const result = list.slice();
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j], result[i]];
  }
  return result;
}

function isIPv6Address(address: SubchannelAddress): boolean {
  return isTcpSubchannelAddress(address) && isIPv6(address.host);
}

/**
 * RFC 8305 §4: alternate address families, starting with the family of the
 * first address, so that a broken family costs one attempt delay rather than
 * one per address. Unix sockets and host names count with IPv4.
 * @param addresses Addresses in resolver order.
 */
export function interleaveAddressFamilies(addresses: SubchannelAddress[]): SubchannelAddress[] {
  if (addresses.length === 0) return [];
  const firstIsV6 = isIPv6Address(addresses[0]);
  const first = addresses.filter((a) => isIPv6Address(a) === firstIsV6);
  const second = addresses.filter((a) => isIPv6Address(a) !== firstIsV6);
  const result: SubchannelAddress[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) {
    if (i < first.length) result.push(first[i]);
    if (i < second.length) result.push(second[i]);
  }
  return result;
}

// One subchannel per address: the same address twice (e.g. in two
// endpoints) would otherwise share a subchannel and be counted twice.
function withoutDuplicates(addresses: SubchannelAddress[]): SubchannelAddress[] {
  return addresses.filter(
    (address, i) => addresses.findIndex((other) => subchannelAddressEqual(address, other)) === i,
  );
}

/** Test hooks: the clock for the attempt delay and the shuffle's randomness. */
export interface PickFirstOptions {
  /** Clock for the Connection Attempt Delay; the system clock by default. */
  clock?: Clock;
  /** Source of numbers in [0, 1) for `shuffleAddressList`; `Math.random` by default. */
  random?: () => number;
}

interface Child {
  subchannel: SubchannelInterface;
  /**
   * Failed during the first pass, or (after it) since the last time every
   * address had failed: when all children have it, the policy reports the
   * latest error and asks for re-resolution.
   */
  failed: boolean;
}

/**
 * The pick_first policy (gRFC A62). Register-compatible with grpc-js's
 * `PickFirstLoadBalancer`.
 */
export class PickFirstLoadBalancer implements LoadBalancer {
  /** Subchannels of the current address list, in connection order. */
  private children: Child[] = [];
  /** The connected subchannel calls go to; non-null only while it is READY. */
  private currentPick: SubchannelInterface | null = null;
  private currentState = ConnectivityState.IDLE;
  /** The pick reported with the last READY state, to skip identical reports. */
  private reportedPick: SubchannelInterface | null = null;
  /** Index in `children` of the most recently started attempt. */
  private attemptIndex = 0;
  private attemptDelayTimer: TimerHandle | null = null;
  /** The Happy Eyeballs pass over the list is running. */
  private firstPass = false;
  /** Every address failed: report TRANSIENT_FAILURE until one connects (A62). */
  private stickyTransientFailure = false;
  private reportHealthStatus = false;
  private lastError: string | null = null;
  private latestAddressList: SubchannelAddress[] | null = null;
  private latestOptions: ChannelOptions = {};
  private latestResolutionNote = '';
  private destroyed = false;
  private readonly clock: Clock;
  private readonly random: () => number;

  private readonly stateListener: ConnectivityStateListener = (
    subchannel,
    _previousState,
    newState,
    _keepaliveTime,
    errorMessage,
  ) => this.onSubchannelState(subchannel, newState, errorMessage);

  private readonly healthListener: HealthListener = () => this.reportState();

  /**
   * @param channelControlHelper The owner's helper.
   * @param options Test hooks; omit in production.
   */
  constructor(
    private readonly channelControlHelper: ChannelControlHelper,
    options: PickFirstOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  /**
   * Takes a new resolution result. An error is only reported when there is
   * nothing to serve calls with; an empty list drops every connection.
   */
  updateAddressList(
    maybeEndpointList: StatusOr<Endpoint[]>,
    lbConfig: TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(lbConfig instanceof PickFirstLoadBalancingConfig) || this.destroyed) return false;
    if (!maybeEndpointList.ok) {
      // Keep using what we have: a resolver hiccup is no reason to drop a
      // working connection or a connection attempt in progress.
      if (this.children.length === 0 && this.currentPick === null) {
        const error = maybeEndpointList.error;
        this.publish(
          ConnectivityState.TRANSIENT_FAILURE,
          new UnavailablePicker(error),
          error.details,
        );
      }
      return true;
    }
    this.reportHealthStatus = Boolean(options[REPORT_HEALTH_STATUS_OPTION]);
    this.latestOptions = options;
    this.latestResolutionNote = resolutionNote;
    const endpoints = lbConfig.getShuffleAddressList()
      ? shuffled(maybeEndpointList.value, this.random)
      : maybeEndpointList.value;
    const addresses = interleaveAddressFamilies(
      withoutDuplicates(endpoints.flatMap((endpoint) => endpoint.addresses)),
    );
    const idleAfterUse =
      this.latestAddressList !== null &&
      this.currentState === ConnectivityState.IDLE &&
      this.currentPick === null &&
      this.children.length === 0;
    this.latestAddressList = addresses;
    if (addresses.length === 0) {
      this.lastError = 'No addresses resolved';
      this.releaseChildren();
      this.dropCurrentPick();
      this.stickyTransientFailure = false;
      this.reportState();
      return false;
    }
    // Lost the connection and nobody needed a new one yet: remember the
    // list and stay IDLE; the next call's pick triggers exitIdle.
    if (!idleAfterUse) this.connectToAddressList(addresses);
    return true;
  }

  /** Reconnects after the connection was lost, when a call needs it. */
  exitIdle(): void {
    if (
      this.currentState === ConnectivityState.IDLE &&
      this.children.length === 0 &&
      this.currentPick === null &&
      this.latestAddressList !== null &&
      this.latestAddressList.length > 0
    ) {
      this.connectToAddressList(this.latestAddressList);
    }
  }

  /** Nothing to reset: the backoff is each subchannel's own. */
  resetBackoff(): void {}

  /** Releases every subchannel; no helper call is made afterwards. */
  destroy(): void {
    this.destroyed = true;
    this.releaseChildren();
    this.dropCurrentPick();
  }

  /** `pick_first`. */
  getTypeName(): string {
    return TYPE_NAME;
  }

  private connectToAddressList(addresses: SubchannelAddress[]): void {
    const children: Child[] = addresses.map((address) => ({
      subchannel: this.channelControlHelper.createSubchannel(address, this.latestOptions),
      failed: false,
    }));
    // Ref the new list before releasing the old one: a subchannel in both
    // must not drop to zero references (and disconnect) in between.
    for (const { subchannel } of children) {
      subchannel.ref();
      this.channelControlHelper.addChannelzChild(subchannel.getChannelzRef());
    }
    this.releaseChildren();
    this.children = children;
    // An address already connected (shared with the previous list or another
    // user of the subchannel) wins at once.
    const ready = children.find(
      ({ subchannel }) => subchannel.getConnectivityState() === ConnectivityState.READY,
    );
    if (ready !== undefined) {
      this.pick(ready.subchannel);
      return;
    }
    for (const child of children) {
      child.subchannel.addConnectivityStateListener(this.stateListener);
      if (child.subchannel.getConnectivityState() === ConnectivityState.TRANSIENT_FAILURE) {
        child.failed = true;
      }
    }
    this.firstPass = true;
    // Report before starting: a subchannel may change state synchronously
    // inside startConnecting, and its report must come after this one.
    this.reportState();
    this.startNextAttempt(0);
  }

  /** Starts the first address from `start` on that can still be tried. */
  private startNextAttempt(start: number): void {
    this.clearAttemptDelay();
    for (let i = start; i < this.children.length; i++) {
      const state = this.children[i].subchannel.getConnectivityState();
      if (state === ConnectivityState.IDLE || state === ConnectivityState.CONNECTING) {
        this.startAttempt(i);
        return;
      }
    }
    this.maybeFinishFirstPass();
  }

  private startAttempt(index: number): void {
    this.attemptIndex = index;
    // Armed before startConnecting, which may report READY synchronously;
    // picking cancels the delay.
    const timer = this.clock.setTimeout(() => {
      if (this.attemptDelayTimer !== timer) return;
      this.attemptDelayTimer = null;
      if (this.firstPass) this.startNextAttempt(index + 1);
    }, CONNECTION_ATTEMPT_DELAY_MS);
    // The connection attempt keeps the process alive if anything should;
    // the delay before the next one is no reason to.
    timer.unref?.();
    this.attemptDelayTimer = timer;
    const { subchannel } = this.children[index];
    if (subchannel.getConnectivityState() === ConnectivityState.IDLE) subchannel.startConnecting();
  }

  private clearAttemptDelay(): void {
    if (this.attemptDelayTimer === null) return;
    this.clock.clearTimeout(this.attemptDelayTimer);
    this.attemptDelayTimer = null;
  }

  /** Ends the first pass once every address has failed: sticky TF (A62). */
  private maybeFinishFirstPass(): void {
    if (!this.firstPass || !this.children.every((child) => child.failed)) return;
    this.firstPass = false;
    this.clearAttemptDelay();
    this.stickyTransientFailure = true;
    this.onAllFailed();
    // From now on every address is retried as soon as its backoff allows.
    const children = this.children;
    for (const child of children) {
      // A synchronous READY replaces the list; stop touching released ones.
      if (this.children !== children) return;
      child.subchannel.startConnecting();
    }
  }

  /** Every address failed (again): report the latest error and re-resolve. */
  private onAllFailed(): void {
    for (const child of this.children) child.failed = false;
    this.channelControlHelper.requestReresolution();
    this.reportState();
  }

  private onSubchannelState(
    subchannel: SubchannelInterface,
    newState: ConnectivityState,
    errorMessage: string | undefined,
  ): void {
    if (this.destroyed) return;
    if (this.currentPick !== null && this.currentPick.realSubchannelEquals(subchannel)) {
      if (newState !== ConnectivityState.READY) {
        // Connection lost: go IDLE (no reconnect until a call needs one) and
        // let the resolver check whether the backends moved.
        this.dropCurrentPick();
        this.channelControlHelper.requestReresolution();
        this.reportState();
      }
      return;
    }
    const index = this.children.findIndex((child) =>
      subchannel.realSubchannelEquals(child.subchannel),
    );
    // Not ours (any more): a listener call already under way when we let go.
    if (index < 0) return;
    const child = this.children[index];
    switch (newState) {
      case ConnectivityState.READY:
        this.pick(child.subchannel);
        return;
      case ConnectivityState.TRANSIENT_FAILURE:
        child.failed = true;
        if (errorMessage) this.lastError = errorMessage;
        if (this.firstPass) {
          // A failed attempt does not wait out the delay: try the next now.
          if (index === this.attemptIndex) this.startNextAttempt(index + 1);
          else this.maybeFinishFirstPass();
        } else {
          // Sticky TF: reconnect once this subchannel's backoff ends.
          child.subchannel.startConnecting();
          if (this.children.every((c) => c.failed)) this.onAllFailed();
        }
        return;
      case ConnectivityState.IDLE:
        // After the first pass every address is retried; during it, only an
        // attempt that ended without failing (a failed one waits for the
        // pass to end, as A62 prescribes).
        if (!this.firstPass || (index <= this.attemptIndex && !child.failed)) {
          child.subchannel.startConnecting();
        }
        return;
      default:
        return;
    }
  }

  /** Makes `subchannel` (READY) the one every call uses and drops the rest. */
  private pick(subchannel: SubchannelInterface): void {
    this.clearAttemptDelay();
    this.firstPass = false;
    this.stickyTransientFailure = false;
    // Ref first so that releasing the list (which holds it too) cannot drop
    // it to zero references.
    subchannel.ref();
    this.channelControlHelper.addChannelzChild(subchannel.getChannelzRef());
    this.dropCurrentPick();
    this.releaseChildren();
    this.currentPick = subchannel;
    subchannel.addConnectivityStateListener(this.stateListener);
    subchannel.addHealthStateWatcher(this.healthListener);
    this.reportState();
  }

  private dropCurrentPick(): void {
    const pick = this.currentPick;
    if (pick === null) return;
    this.currentPick = null;
    pick.removeConnectivityStateListener(this.stateListener);
    pick.removeHealthStateWatcher(this.healthListener);
    this.channelControlHelper.removeChannelzChild(pick.getChannelzRef());
    // Last: dropping the last reference may shut it down and notify listeners.
    pick.unref();
  }

  private releaseChildren(): void {
    this.clearAttemptDelay();
    this.firstPass = false;
    const children = this.children;
    this.children = [];
    this.attemptIndex = 0;
    for (const { subchannel } of children) {
      subchannel.removeConnectivityStateListener(this.stateListener);
      this.channelControlHelper.removeChannelzChild(subchannel.getChannelzRef());
      subchannel.unref();
    }
  }

  private failureMessage(): string {
    return `No connection established. Last error: ${this.lastError}. Resolution note: ${this.latestResolutionNote}`;
  }

  /** Reports the state implied by the fields above. */
  private reportState(): void {
    if (this.destroyed) return;
    const pick = this.currentPick;
    if (pick !== null) {
      if (this.reportHealthStatus && !pick.isHealthy()) {
        const message = `Picked subchannel ${pick.getAddress()} is unhealthy`;
        this.publish(
          ConnectivityState.TRANSIENT_FAILURE,
          new UnavailablePicker({ details: message }),
          message,
        );
      } else if (this.currentState !== ConnectivityState.READY || this.reportedPick !== pick) {
        this.reportedPick = pick;
        this.publish(ConnectivityState.READY, new PickFirstPicker(pick), null);
      }
    } else if (
      (this.latestAddressList !== null && this.latestAddressList.length === 0) ||
      (this.children.length > 0 && this.stickyTransientFailure)
    ) {
      const message = this.failureMessage();
      this.publish(
        ConnectivityState.TRANSIENT_FAILURE,
        new UnavailablePicker({ details: message }),
        message,
      );
    } else if (this.children.length === 0) {
      if (this.currentState !== ConnectivityState.IDLE) {
        this.publish(ConnectivityState.IDLE, new QueuePicker(this), null);
      }
    } else if (this.currentState !== ConnectivityState.CONNECTING) {
      this.publish(ConnectivityState.CONNECTING, new QueuePicker(this), null);
    }
  }

  private publish(state: ConnectivityState, picker: Picker, errorMessage: string | null): void {
    if (state !== ConnectivityState.READY) this.reportedPick = null;
    if (isTracerEnabled('pick_first') && state !== this.currentState) {
      trace(
        LogVerbosity.DEBUG,
        'pick_first',
        `${ConnectivityState[this.currentState]} -> ${ConnectivityState[state]}`,
      );
    }
    this.currentState = state;
    this.channelControlHelper.updateState(state, picker, errorMessage);
  }
}

const LEAF_CONFIG = new PickFirstLoadBalancingConfig(false);

/**
 * pick_first over one endpoint's addresses, with an API shaped for parents
 * that keep one child per endpoint (round_robin, weighted policies): it
 * remembers its latest state and picker for the parent to aggregate. Same
 * API as grpc-js's `LeafLoadBalancer`.
 */
export class LeafLoadBalancer {
  private readonly pickFirstBalancer: PickFirstLoadBalancer;
  private latestState = ConnectivityState.IDLE;
  private latestPicker: Picker;
  private started = false;

  /**
   * @param endpoint The endpoint whose addresses to connect to.
   * @param channelControlHelper The parent's helper; state reports go through it.
   * @param options Channel options for the subchannels.
   * @param resolutionNote The resolver's note, for error messages.
   * @param pickFirstOptions Test hooks for the inner pick_first.
   */
  constructor(
    private endpoint: Endpoint,
    channelControlHelper: ChannelControlHelper,
    private options: ChannelOptions,
    private resolutionNote: string,
    pickFirstOptions: PickFirstOptions = {},
  ) {
    const helper = createChildChannelControlHelper(channelControlHelper, {
      updateState: (state, picker, errorMessage) => {
        this.latestState = state;
        this.latestPicker = picker;
        channelControlHelper.updateState(state, picker, errorMessage);
      },
    });
    this.pickFirstBalancer = new PickFirstLoadBalancer(helper, pickFirstOptions);
    this.latestPicker = new QueuePicker(this.pickFirstBalancer);
  }

  /** Starts connecting to the endpoint. */
  startConnecting(): void {
    this.started = true;
    this.pickFirstBalancer.updateAddressList(
      statusOrFromValue([this.endpoint]),
      LEAF_CONFIG,
      // Health checking applies per endpoint under a parent policy: an
      // unhealthy backend must look failed to the parent.
      { ...this.options, [REPORT_HEALTH_STATUS_OPTION]: 1 },
      this.resolutionNote,
    );
  }

  /**
   * Replaces the endpoint (same backend, possibly different addresses). Does
   * not start connecting if the child was never started.
   * @param newEndpoint The updated endpoint.
   * @param newOptions Updated channel options.
   */
  updateEndpoint(newEndpoint: Endpoint, newOptions: ChannelOptions): void {
    this.endpoint = newEndpoint;
    this.options = newOptions;
    if (this.started) this.startConnecting();
  }

  /** The latest state the inner pick_first reported. */
  getConnectivityState(): ConnectivityState {
    return this.latestState;
  }

  /** The latest picker the inner pick_first reported. */
  getPicker(): Picker {
    return this.latestPicker;
  }

  /** The endpoint this child connects to. */
  getEndpoint(): Endpoint {
    return this.endpoint;
  }

  /** Reconnects if the inner pick_first went IDLE. */
  exitIdle(): void {
    this.pickFirstBalancer.exitIdle();
  }

  /** Releases the inner pick_first's subchannels. */
  destroy(): void {
    this.pickFirstBalancer.destroy();
  }
}
