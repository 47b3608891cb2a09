// grpc-go's ccBalancerWrapper: the channel's side of the balancer API. It
// hosts the configured policy in a ChildLoadBalancerHandler (so a policy
// change swaps gracefully), creates subchannels from the shared pool, and
// forwards state and pickers to the channel.
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
import type { SubchannelInterface } from '../subchannel/subchannel-interface';
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

  constructor(
    private readonly connectConfig: ConnectConfig,
    private readonly backoff: BackoffOptions,
    private readonly events: BalancerEvents,
  ) {
    const helper: ChannelControlHelper = {
      createSubchannel: (address: SubchannelAddress, _args: ChannelOptions): SubchannelInterface =>
        getSubchannel(dialAddress(address), this.connectConfig, this.backoff),
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
}

/** The form the native dialer takes: `host:port`, `[v6]:port` or `unix:path`. */
function dialAddress(address: SubchannelAddress): string {
  if ('path' in address) return `unix:${address.path}`;
  return subchannelAddressToString(address);
}
