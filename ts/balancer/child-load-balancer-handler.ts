// Graceful policy switching (grpc-go's gracefulswitch balancer): when the
// service config changes the policy type, the new policy starts as
// "pending" next to the current one, which keeps serving calls until the
// new one is READY, or until the current one is not READY itself (then
// there is nothing to protect and waiting would only delay calls). Same API
// as grpc-js's `ChildLoadBalancerHandler`, which parent policies also use to
// host their child policy.
import type { ChannelOptions } from '../channel';
import { ConnectivityState } from '../constants';
import type { StatusOr } from '../status-or';
import type { Endpoint, SubchannelAddress } from '../subchannel/subchannel-address';
import type { SubchannelInterface } from '../subchannel/subchannel-interface';
import {
  createLoadBalancer,
  type ChannelControlHelper,
  type LoadBalancer,
  type TypedLoadBalancingConfig,
} from './load-balancer';
import { QueuePicker, type Picker } from './picker';

const TYPE_NAME = 'child_load_balancer_helper';

/** One child policy and the last state it reported. */
class Child {
  // A child that has not reported yet counts as CONNECTING (as in grpc-go):
  // it exists because a config asked for it, so it is about to connect.
  state = ConnectivityState.CONNECTING;
  picker: Picker | null = null;
  errorMessage: string | null = null;

  constructor(readonly balancer: LoadBalancer) {}
}

/**
 * Hosts one child policy, built from a config through the registry, and
 * switches policies gracefully when the config names another type.
 */
export class ChildLoadBalancerHandler implements LoadBalancer {
  private current: Child | null = null;
  private pending: Child | null = null;
  private latestConfig: TypedLoadBalancingConfig | null = null;

  /** @param channelControlHelper The helper the children's calls go to. */
  constructor(private readonly channelControlHelper: ChannelControlHelper) {}

  /**
   * Whether moving from `oldConfig` to `newConfig` needs a new child
   * instance: by default when the policy type changes. Subclasses may also
   * switch on option changes the child cannot apply in place.
   * @param oldConfig The config the latest child was given.
   * @param newConfig The incoming config.
   */
  protected configUpdateRequiresNewPolicyInstance(
    oldConfig: TypedLoadBalancingConfig,
    newConfig: TypedLoadBalancingConfig,
  ): boolean {
    return oldConfig.getLoadBalancerName() !== newConfig.getLoadBalancerName();
  }

  /**
   * Passes the update to the latest child, first creating one (current, or
   * pending next to the current) if there is none or the type changed.
   * @throws Error if `lbConfig`'s policy is not registered.
   */
  updateAddressList(
    endpointList: StatusOr<Endpoint[]>,
    lbConfig: TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    let target: Child;
    if (
      this.current === null ||
      this.latestConfig === null ||
      this.configUpdateRequiresNewPolicyInstance(this.latestConfig, lbConfig)
    ) {
      target = this.createChild(lbConfig);
      if (this.current === null) {
        this.current = target;
      } else {
        // A pending child of an older config is superseded. Replace it before
        // destroying it, so that anything it reports while closing is ignored.
        const superseded = this.pending;
        this.pending = target;
        superseded?.balancer.destroy();
      }
    } else {
      target = this.pending ?? this.current;
    }
    this.latestConfig = lbConfig;
    return target.balancer.updateAddressList(endpointList, lbConfig, options, resolutionNote);
  }

  /** Forwarded to both children. */
  exitIdle(): void {
    this.current?.balancer.exitIdle();
    this.pending?.balancer.exitIdle();
  }

  /** Forwarded to both children. */
  resetBackoff(): void {
    this.current?.balancer.resetBackoff();
    this.pending?.balancer.resetBackoff();
  }

  /** Destroys both children; nothing they report afterwards is forwarded. */
  destroy(): void {
    const { current, pending } = this;
    this.current = null;
    this.pending = null;
    current?.balancer.destroy();
    pending?.balancer.destroy();
  }

  /** `child_load_balancer_helper`. */
  getTypeName(): string {
    return TYPE_NAME;
  }

  private createChild(config: TypedLoadBalancingConfig): Child {
    // Assigned once the balancer exists; a report from inside its
    // constructor comes before it is current or pending and would be ignored anyway.
    let child: Child | undefined;
    const parent = this.channelControlHelper;
    const helper: ChannelControlHelper = {
      createSubchannel: (address: SubchannelAddress, args: ChannelOptions): SubchannelInterface =>
        parent.createSubchannel(address, args),
      updateState: (state, picker, errorMessage) => {
        if (child !== undefined) this.onChildState(child, state, picker, errorMessage);
      },
      // Only the latest child's config is in force; an outgoing child's
      // failures say nothing about what the resolver should return.
      requestReresolution: () => {
        if (child !== undefined && child === (this.pending ?? this.current)) {
          parent.requestReresolution();
        }
      },
      addChannelzChild: (ref) => parent.addChannelzChild(ref),
      removeChannelzChild: (ref) => parent.removeChannelzChild(ref),
    };
    const balancer = createLoadBalancer(config, helper);
    if (balancer === null) {
      throw new Error(`No load balancer registered for policy ${config.getLoadBalancerName()}`);
    }
    child = new Child(balancer);
    return child;
  }

  private onChildState(
    child: Child,
    state: ConnectivityState,
    picker: Picker,
    errorMessage: string | null,
  ): void {
    child.state = state;
    child.picker = picker;
    child.errorMessage = errorMessage;
    if (child === this.pending) {
      // Keep serving on a READY current policy until the new one is READY too.
      if (this.current?.state === ConnectivityState.READY && state !== ConnectivityState.READY) {
        return;
      }
      this.swap(child);
    } else if (child === this.current) {
      // The current policy lost READY: nothing left to protect, switch now.
      if (this.pending !== null && state !== ConnectivityState.READY) this.swap(this.pending);
      else this.forward(child);
    }
    // Otherwise a destroyed child: ignore.
  }

  /** Makes the pending child current, destroys the old one, reports the new one's state. */
  private swap(next: Child): void {
    const old = this.current;
    this.current = next;
    this.pending = null;
    old?.balancer.destroy();
    this.forward(next);
  }

  private forward(child: Child): void {
    const picker = child.picker ?? new QueuePicker(child.balancer);
    this.channelControlHelper.updateState(child.state, picker, child.errorMessage);
  }
}
