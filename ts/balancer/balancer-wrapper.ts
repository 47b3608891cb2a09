// grpc-go's ccBalancerWrapper: the channel's side of the balancer API. It
// hosts the configured policy in a ChildLoadBalancerHandler (so a policy
// change swaps gracefully), creates subchannels from the shared pool, and
// forwards state and pickers to the channel. It also keeps the channel's
// keepalive time: when a server throttles one subchannel (GOAWAY
// too_many_pings), the channel's other and later subchannels follow, as in
// grpc-js.
import type { ChannelOptions } from '../channel';
import { Status, type ConnectivityState } from '../constants';
import type { ConnectConfig } from '../native/binding';
import type { ServiceConfig } from '../service-config';
import { getLoadBalancingConfigList } from '../service-config';
import type { StatusOr } from '../status-or';
import type { BackoffOptions } from '../subchannel/backoff';
import {
  subchannelAddressToString,
  type SubchannelAddress,
  type Endpoint,
} from '../subchannel/subchannel-address';
import type {
  ConnectivityStateListener,
  SubchannelInterface,
} from '../subchannel/subchannel-interface';
import type { Subchannel } from '../subchannel/subchannel';
import { BaseSubchannelWrapper } from '../subchannel/base-subchannel-wrapper';
import { getSubchannel } from '../subchannel/subchannel-pool';
import { ChildLoadBalancerHandler } from './child-load-balancer-handler';
import {
  getDefaultConfig,
  selectLbConfigFromList,
  type ChannelControlHelper,
} from './load-balancer';
import type { Picker } from './picker';
import { UnavailablePicker } from './picker';

/** What the balancer wrapper reports to the channel. */
export interface BalancerEvents {
  updateState(state: ConnectivityState, picker: Picker, errorMessage: string | null): void;
  requestReresolution(): void;
}

export class BalancerWrapper {
  private readonly handler: ChildLoadBalancerHandler;
  /** The channel's keepalive time: the option's, raised by throttled subchannels. */
  private keepaliveTimeMs: number;
  /** The subchannels the balancer holds a reference to. */
  private readonly held = new Set<ChannelSubchannel>();

  constructor(
    private readonly connectConfig: ConnectConfig,
    private readonly backoff: BackoffOptions,
    private readonly events: BalancerEvents,
  ) {
    this.keepaliveTimeMs = connectConfig.keepaliveTimeMs ?? -1;
    const helper: ChannelControlHelper = {
      createSubchannel: (address: SubchannelAddress, _args: ChannelOptions): SubchannelInterface =>
        this.createSubchannel(address),
      updateState: (state, picker, errorMessage) =>
        this.events.updateState(state, picker, errorMessage),
      requestReresolution: () => this.events.requestReresolution(),
      addChannelzChild: () => {},
      removeChannelzChild: () => {},
    };
    this.handler = new ChildLoadBalancerHandler(helper);
  }

  /**
   * Gives the balancer a resolution. The policy is the first supported entry
   * of the config's `loadBalancingConfig` (or the deprecated
   * `loadBalancingPolicy`), else pick_first. Returns false if it was rejected.
   */
  updateClientConnState(
    endpoints: StatusOr<Endpoint[]>,
    serviceConfig: ServiceConfig | null,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    const configs = serviceConfig === null ? [] : getLoadBalancingConfigList(serviceConfig);
    const lbConfig = configs.length === 0 ? getDefaultConfig() : selectLbConfigFromList(configs);
    if (lbConfig === null) {
      this.events.updateState(
        3 /* TRANSIENT_FAILURE */,
        new UnavailablePicker({
          code: Status.UNAVAILABLE,
          details: 'No supported load balancing policy in the service config',
        }),
        'No supported load balancing policy in the service config',
      );
      return false;
    }
    return this.handler.updateAddressList(endpoints, lbConfig, options, resolutionNote);
  }

  exitIdle(): void {
    this.handler.exitIdle();
  }

  resetBackoff(): void {
    this.handler.resetBackoff();
  }

  close(): void {
    this.handler.destroy();
  }

  private createSubchannel(address: SubchannelAddress): SubchannelInterface {
    const subchannel = getSubchannel(dialAddress(address), this.connectConfig, this.backoff);
    subchannel.throttleKeepalive(this.keepaliveTimeMs);
    return new ChannelSubchannel(subchannel, {
      held: (s) => this.held.add(s),
      released: (s) => this.held.delete(s),
      throttled: (keepaliveTimeMs) => this.throttleKeepalive(keepaliveTimeMs),
    });
  }

  private throttleKeepalive(keepaliveTimeMs: number): void {
    if (keepaliveTimeMs <= this.keepaliveTimeMs) return;
    this.keepaliveTimeMs = keepaliveTimeMs;
    for (const subchannel of this.held) subchannel.throttleKeepalive(keepaliveTimeMs);
  }
}

interface ChannelSubchannelOwner {
  held(subchannel: ChannelSubchannel): void;
  released(subchannel: ChannelSubchannel): void;
  throttled(keepaliveTimeMs: number): void;
}

/**
 * A pool subchannel as one channel's balancer holds it (grpc-js's
 * ChannelSubchannelWrapper): while referenced, it tells the channel of
 * keepalive throttling, and the channel can throttle it. The listener comes
 * off with the last reference, since pool subchannels outlive channels that
 * share them.
 */
class ChannelSubchannel extends BaseSubchannelWrapper {
  private refs = 0;
  private readonly listener: ConnectivityStateListener = (_s, _p, _n, keepaliveTime) =>
    this.owner.throttled(keepaliveTime);

  constructor(
    child: Subchannel,
    private readonly owner: ChannelSubchannelOwner,
  ) {
    super(child);
  }

  override ref(): void {
    super.ref();
    if (this.refs++ > 0) return;
    this.child.addConnectivityStateListener(this.listener);
    this.owner.held(this);
  }

  protected override destroy(): void {
    super.destroy();
    this.refs = 0;
    this.child.removeConnectivityStateListener(this.listener);
    this.owner.released(this);
  }
}

/** The form the native dialer takes: `host:port`, `[v6]:port` or `unix:path`. */
function dialAddress(address: SubchannelAddress): string {
  if ('path' in address) return `unix:${address.path}`;
  return subchannelAddressToString(address);
}
