// round_robin per gRFC A61: one pick_first child per endpoint, so a backend
// with several addresses is one backend; calls rotate over the children that
// are READY. Every child is kept connected: one that goes IDLE is told to
// reconnect at once rather than when a call needs it.
import type { ChannelOptions } from '../channel';
import { ConnectivityState, LogVerbosity } from '../constants';
import { isTracerEnabled, trace } from '../logging';
import type { StatusOr } from '../status-or';
import { EndpointMap, endpointEqual, type Endpoint } from '../subchannel/subchannel-address';
import {
  createChildChannelControlHelper,
  type ChannelControlHelper,
  type LoadBalancer,
  type TypedLoadBalancingConfig,
} from './load-balancer';
import { LeafLoadBalancer, type PickFirstOptions } from './pick-first';
import {
  QueuePicker,
  UnavailablePicker,
  type PickArgs,
  type PickResult,
  type Picker,
} from './picker';

const TYPE_NAME = 'round_robin';

/** Parsed `round_robin` config; the policy has no options. */
export class RoundRobinLoadBalancingConfig implements TypedLoadBalancingConfig {
  /** `round_robin`. */
  getLoadBalancerName(): string {
    return TYPE_NAME;
  }

  /** The config in service-config JSON form: `{"round_robin": {}}`. */
  toJsonObject(): object {
    return { [TYPE_NAME]: {} };
  }

  /**
   * Parses the JSON config; any object is accepted (unknown fields are ignored).
   * @param obj The value under `round_robin`.
   * @throws Error if it is present but not an object.
   */
  static createFromJson(obj: unknown): RoundRobinLoadBalancingConfig {
    if (obj !== undefined && obj !== null && (typeof obj !== 'object' || Array.isArray(obj))) {
      throw new Error('round_robin config must be an object');
    }
    return new RoundRobinLoadBalancingConfig();
  }
}

interface ReadyChild {
  endpoint: Endpoint;
  picker: Picker;
}

/** Rotates over the READY children, delegating each pick to the child's picker. */
class RoundRobinPicker implements Picker {
  constructor(
    private readonly children: ReadyChild[],
    private nextIndex: number,
  ) {}

  pick(pickArgs: PickArgs): PickResult {
    const child = this.children[this.nextIndex];
    this.nextIndex = (this.nextIndex + 1) % this.children.length;
    return child.picker.pick(pickArgs);
  }

  /** The endpoint the next pick goes to, so a replacement picker can continue the rotation. */
  peekNextEndpoint(): Endpoint {
    return this.children[this.nextIndex].endpoint;
  }
}

/**
 * The round_robin policy (gRFC A61). Register-compatible with grpc-js's
 * `RoundRobinLoadBalancer`.
 */
export class RoundRobinLoadBalancer implements LoadBalancer {
  /** Children in resolver order, which is the rotation order. */
  private children: LeafLoadBalancer[] = [];
  private readonly childByEndpoint = new EndpointMap<LeafLoadBalancer>();
  /** Children not destroyed yet; reports from any other child are stale. */
  private readonly live = new Set<LeafLoadBalancer>();
  private currentState = ConnectivityState.IDLE;
  private currentReadyPicker: RoundRobinPicker | null = null;
  private reportedError: string | null = null;
  /** Set while changing children, so their reports make one update at the end. */
  private updatesPaused = false;
  private lastError: string | null = null;
  private destroyed = false;
  private readonly random: () => number;

  /**
   * @param channelControlHelper The owner's helper.
   * @param options Test hooks passed to the pick_first children; `random`
   *   also picks where the rotation starts.
   */
  constructor(
    private readonly channelControlHelper: ChannelControlHelper,
    private readonly options: PickFirstOptions = {},
  ) {
    this.random = options.random ?? Math.random;
  }

  /**
   * Takes a new resolution result: keeps the children of endpoints still
   * present, adds and starts children for new ones, drops the rest.
   */
  updateAddressList(
    maybeEndpointList: StatusOr<Endpoint[]>,
    lbConfig: TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(lbConfig instanceof RoundRobinLoadBalancingConfig) || this.destroyed) return false;
    if (!maybeEndpointList.ok) {
      // Keep serving with the endpoints we have; fail only if there are none.
      if (this.children.length === 0) {
        const error = maybeEndpointList.error;
        this.publish(
          ConnectivityState.TRANSIENT_FAILURE,
          new UnavailablePicker(error),
          error.details,
        );
      }
      return true;
    }
    const endpoints = maybeEndpointList.value;
    if (endpoints.length === 0) {
      this.replaceChildren([]);
      const message = `No addresses resolved. Resolution note: ${resolutionNote}`;
      this.publish(
        ConnectivityState.TRANSIENT_FAILURE,
        new UnavailablePicker({ details: message }),
        message,
      );
      return false;
    }
    this.updatesPaused = true;
    try {
      const children: LeafLoadBalancer[] = [];
      for (const endpoint of endpoints) {
        let child = this.childByEndpoint.get(endpoint);
        if (child !== undefined && children.includes(child)) continue; // listed twice
        if (child === undefined) {
          child = this.createChild(endpoint, options, resolutionNote);
          this.childByEndpoint.set(endpoint, child);
          child.startConnecting();
        } else {
          child.updateEndpoint(endpoint, options);
        }
        children.push(child);
      }
      // New children were created (and took their subchannel references)
      // before old ones are destroyed, so a shared address stays connected.
      this.replaceChildren(children);
    } finally {
      this.updatesPaused = false;
    }
    this.updateAggregateState();
    return true;
  }

  /** Wakes children that went IDLE. */
  exitIdle(): void {
    for (const child of [...this.children]) {
      if (child.getConnectivityState() === ConnectivityState.IDLE) child.exitIdle();
    }
  }

  /** Nothing to reset: the backoff is each subchannel's own. */
  resetBackoff(): void {}

  /** Destroys every child; no helper call is made afterwards. */
  destroy(): void {
    this.destroyed = true;
    this.replaceChildren([]);
  }

  /** `round_robin`. */
  getTypeName(): string {
    return TYPE_NAME;
  }

  private createChild(
    endpoint: Endpoint,
    options: ChannelOptions,
    resolutionNote: string,
  ): LeafLoadBalancer {
    const helper = createChildChannelControlHelper(this.channelControlHelper, {
      updateState: (state, _picker, errorMessage) => {
        if (this.destroyed || !this.live.has(child)) return;
        if (state === ConnectivityState.TRANSIENT_FAILURE && errorMessage) {
          this.lastError = errorMessage;
        }
        if (!this.updatesPaused) this.updateAggregateState();
      },
      // A child's re-resolution request (its backend failed or went away)
      // goes up unless the child has been dropped meanwhile.
      requestReresolution: () => {
        if (!this.destroyed && this.live.has(child))
          this.channelControlHelper.requestReresolution();
      },
    });
    const child: LeafLoadBalancer = new LeafLoadBalancer(
      endpoint,
      helper,
      options,
      resolutionNote,
      this.options,
    );
    this.live.add(child);
    return child;
  }

  private replaceChildren(children: LeafLoadBalancer[]): void {
    const removed = this.children.filter((child) => !children.includes(child));
    this.children = children;
    this.childByEndpoint.clear();
    for (const child of children) this.childByEndpoint.set(child.getEndpoint(), child);
    for (const child of removed) {
      this.live.delete(child);
      child.destroy();
    }
  }

  /** Recomputes the aggregate state (A61) and publishes it with a new picker. */
  private updateAggregateState(): void {
    // round_robin keeps every backend connected: reconnect idle children
    // now. Their reports while doing so are folded into this one update.
    this.updatesPaused = true;
    try {
      this.exitIdle();
    } finally {
      this.updatesPaused = false;
    }
    const count = (state: ConnectivityState): number =>
      this.children.filter((child) => child.getConnectivityState() === state).length;
    if (count(ConnectivityState.READY) > 0) {
      this.publishReady();
    } else if (count(ConnectivityState.CONNECTING) > 0) {
      if (this.currentState !== ConnectivityState.CONNECTING) {
        this.publish(ConnectivityState.CONNECTING, new QueuePicker(this), null);
      }
    } else if (count(ConnectivityState.IDLE) > 0) {
      if (this.currentState !== ConnectivityState.IDLE) {
        this.publish(ConnectivityState.IDLE, new QueuePicker(this), null);
      }
    } else {
      const message = `round_robin: No connection established. Last error: ${this.lastError}`;
      if (
        this.currentState !== ConnectivityState.TRANSIENT_FAILURE ||
        this.reportedError !== message
      ) {
        this.publish(
          ConnectivityState.TRANSIENT_FAILURE,
          new UnavailablePicker({ details: message }),
          message,
        );
      }
    }
  }

  private publishReady(): void {
    const ready = this.children.filter(
      (child) => child.getConnectivityState() === ConnectivityState.READY,
    );
    const picker = new RoundRobinPicker(
      ready.map((child) => ({ endpoint: child.getEndpoint(), picker: child.getPicker() })),
      this.rotationStart(ready),
    );
    this.publish(ConnectivityState.READY, picker, null);
  }

  /**
   * Where the new picker starts: where the previous one would have gone
   * next (or the first READY child after it), so a backend connecting or
   * disconnecting does not restart the rotation; random the first time, so
   * that many clients do not all start on the same backend.
   */
  private rotationStart(ready: LeafLoadBalancer[]): number {
    const next = this.currentReadyPicker?.peekNextEndpoint();
    const position =
      next === undefined
        ? -1
        : this.children.findIndex((child) => endpointEqual(child.getEndpoint(), next));
    if (position < 0) return Math.floor(this.random() * ready.length);
    for (let i = 0; i < this.children.length; i++) {
      const index = ready.indexOf(this.children[(position + i) % this.children.length]);
      if (index >= 0) return index;
    }
    return 0;
  }

  private publish(state: ConnectivityState, picker: Picker, errorMessage: string | null): void {
    if (isTracerEnabled('round_robin') && state !== this.currentState) {
      trace(
        LogVerbosity.DEBUG,
        'round_robin',
        `${ConnectivityState[this.currentState]} -> ${ConnectivityState[state]}`,
      );
    }
    this.currentState = state;
    this.currentReadyPicker = picker instanceof RoundRobinPicker ? picker : null;
    this.reportedError = errorMessage;
    this.channelControlHelper.updateState(state, picker, errorMessage);
  }
}
