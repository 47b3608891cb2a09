// The naming layer's entry point: importing it registers the built-in
// resolvers, so the channel (and users of the experimental API) find `dns`,
// `ipv4`, `ipv6`, `unix`, `unix-abstract` and `passthrough` without setup.
import { DNS_SCHEME, DnsResolver } from './resolver-dns';
import { IPV4_SCHEME, IPV6_SCHEME, IpResolver } from './resolver-ip';
import { PASSTHROUGH_SCHEME, PassthroughResolver } from './resolver-passthrough';
import { UNIX_ABSTRACT_SCHEME, UNIX_SCHEME, UdsResolver } from './resolver-uds';
import {
  getDefaultScheme,
  isResolverRegistered,
  registerDefaultScheme,
  registerFallbackScheme,
  registerResolver,
  type ResolverConstructor,
} from './resolver';

export {
  createResolver,
  getDefaultAuthority,
  getDefaultScheme,
  isResolverRegistered,
  mapUriDefaultScheme,
  registerDefaultScheme,
  registerFallbackScheme,
  registerResolver,
  type Resolver,
  type ResolverConstructor,
  type ResolverListener,
} from './resolver';
export {
  addressToAuthority,
  combineHostPort,
  parseUri,
  splitHostPort,
  uriToString,
  type GrpcUri,
  type HostPort,
} from './uri-parser';
export { DnsResolver, DEFAULT_PORT, type DnsResolverHooks } from './resolver-dns';
export type { DnsBackend } from './dns-backend';
export { IpResolver } from './resolver-ip';
export { PassthroughResolver } from './resolver-passthrough';
export { UdsResolver } from './resolver-uds';

const BUILT_INS: ReadonlyArray<[string, ResolverConstructor]> = [
  [DNS_SCHEME, DnsResolver],
  [IPV4_SCHEME, IpResolver],
  [IPV6_SCHEME, IpResolver],
  [UNIX_SCHEME, UdsResolver],
  [UNIX_ABSTRACT_SCHEME, UdsResolver],
  [PASSTHROUGH_SCHEME, PassthroughResolver],
];

let builtInsRegistered = false;

/**
 * Registers the built-in resolvers, `dns` as the default scheme for bare
 * targets and `passthrough` for targets with an unregistered scheme. Runs
 * when this module loads; calling it again is harmless. Registrations made
 * earlier are kept, so a user resolver registered before h2grpc's channel
 * code loaded this module still wins over the built-in for its scheme.
 */
export function registerAll(): void {
  if (builtInsRegistered) return;
  builtInsRegistered = true;
  for (const [scheme, resolverClass] of BUILT_INS) {
    if (!isResolverRegistered(scheme)) registerResolver(scheme, resolverClass);
  }
  if (getDefaultScheme() === null) registerDefaultScheme(DNS_SCHEME);
  registerFallbackScheme(PASSTHROUGH_SCHEME);
}

registerAll();
