// The load-balancing layer's entry point. Importing it registers the
// built-in policies (pick_first as the default, and round_robin), so any
// module that parses or selects policies imports from here rather than from
// load-balancer.ts directly, and the registry is never seen empty.
import { registerDefaultLoadBalancerType, registerLoadBalancerType } from './load-balancer';
import { PickFirstLoadBalancer, PickFirstLoadBalancingConfig } from './pick-first';
import { RoundRobinLoadBalancer, RoundRobinLoadBalancingConfig } from './round-robin';

registerLoadBalancerType('pick_first', PickFirstLoadBalancer, PickFirstLoadBalancingConfig);
registerDefaultLoadBalancerType('pick_first');
registerLoadBalancerType('round_robin', RoundRobinLoadBalancer, RoundRobinLoadBalancingConfig);

export {
  createChildChannelControlHelper,
  createLoadBalancer,
  getDefaultConfig,
  isLoadBalancerNameRegistered,
  parseLoadBalancingConfig,
  registerDefaultLoadBalancerType,
  registerLoadBalancerType,
  selectLbConfigFromList,
  type ChannelControlHelper,
  type LoadBalancer,
  type LoadBalancerConstructor,
  type TypedLoadBalancingConfig,
  type TypedLoadBalancingConfigConstructor,
} from './load-balancer';
export {
  PickResultType,
  QueuePicker,
  UnavailablePicker,
  type CompletePickResult,
  type DropCallPickResult,
  type ExitIdleTarget,
  type OnCallEnded,
  type PickArgs,
  type PickResult,
  type Picker,
  type QueuePickResult,
  type TransientFailurePickResult,
} from './picker';
export {
  CONNECTION_ATTEMPT_DELAY_MS,
  LeafLoadBalancer,
  PickFirstLoadBalancer,
  PickFirstLoadBalancingConfig,
  REPORT_HEALTH_STATUS_OPTION,
  interleaveAddressFamilies,
  shuffled,
  type PickFirstOptions,
} from './pick-first';
export { RoundRobinLoadBalancer, RoundRobinLoadBalancingConfig } from './round-robin';
export { ChildLoadBalancerHandler } from './child-load-balancer-handler';
