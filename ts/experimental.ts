/**
 * Plugin API for resolvers and load balancers, shaped like `@grpc/grpc-js`'s
 * `experimental` export so plugins written for grpc-js run unchanged.
 *
 * Differences from grpc-js: no channelz (the channelz hooks of
 * `ChannelControlHelper` are accepted and ignored; `getChannelzRef` returns a
 * plain `{kind, id, name}`), no `ConfigSelector`, filters, admin services,
 * certificate providers or outlier detection yet.
 * @packageDocumentation
 */
export {
  type Resolver,
  type ResolverListener,
  type ResolverConstructor,
  registerResolver,
  registerDefaultScheme,
  createResolver,
  getDefaultAuthority,
  mapUriDefaultScheme,
} from './resolver/resolver';
export {
  type GrpcUri,
  type HostPort,
  parseUri,
  uriToString,
  splitHostPort,
  combineHostPort,
} from './resolver/uri-parser';
export { type Duration, durationToMs, parseDuration, msToDuration, isDuration } from './duration';
export { BackoffTimeout, type BackoffOptions } from './backoff-timeout';
export {
  type LoadBalancer,
  type TypedLoadBalancingConfig,
  type ChannelControlHelper,
  createChildChannelControlHelper,
  registerLoadBalancerType,
  registerDefaultLoadBalancerType,
  selectLbConfigFromList,
  parseLoadBalancingConfig,
  isLoadBalancerNameRegistered,
  createLoadBalancer,
} from './balancer/load-balancer';
export { LeafLoadBalancer } from './balancer/pick-first';
export { ChildLoadBalancerHandler } from './balancer/child-load-balancer-handler';
export {
  type Picker,
  type PickResult,
  type PickArgs,
  PickResultType,
  UnavailablePicker,
  QueuePicker,
} from './balancer/picker';
export {
  type SubchannelAddress,
  type Endpoint,
  subchannelAddressToString,
  endpointToString,
  endpointHasAddress,
  EndpointMap,
} from './subchannel/subchannel-address';
export type {
  SubchannelInterface,
  ConnectivityStateListener,
  HealthListener,
} from './subchannel/subchannel-interface';
export { BaseSubchannelWrapper } from './subchannel/base-subchannel-wrapper';
export { type StatusOr, statusOrFromValue, statusOrFromError } from './status-or';
export type { ServiceConfig, MethodConfig, LoadBalancingConfig } from './service-config';
export { trace, log, isTracerEnabled } from './logging';
// Server-side parts, delegated to a real @grpc/grpc-js (ts/server.ts).
export {
  createServerCredentialsWithInterceptors,
  createCertificateProviderServerCredentials,
  registerAdminService,
} from './server';
