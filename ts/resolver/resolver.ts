// The resolver plugin API and the scheme registry: grpc-go's `resolver.Builder`
// registry (seed step 3, `getResolver(scheme)`) in the shape of grpc-js's
// `experimental` resolver API, so a resolver class written for grpc-js
// registers and runs here unchanged.
import type { ChannelOptions } from '../channel';
import type { ServiceConfig } from '../service-config';
import type { StatusOr } from '../status-or';
import type { Endpoint } from '../subchannel/subchannel-address';
import { splitHostPort, uriToString, type GrpcUri } from './uri-parser';

/**
 * Receives a resolver's results. Called whenever the resolver has new
 * endpoints or a failure to report; never synchronously from the resolver's
 * constructor or `updateResolution()`.
 *
 * @param endpointList The endpoints, or the status of a failed resolution.
 * @param attributes Arbitrary values passed along to the load balancing policy.
 * @param serviceConfig The service config that came with the endpoints, an
 *   error if the one found was invalid (the channel then keeps its previous
 *   config), or null when there is none.
 * @param resolutionNote Extra context for the status of RPCs that fail
 *   because of this result.
 * @returns Whether the channel accepted the result; a resolver treats false
 *   like a failed resolution and tries again later.
 */
export interface ResolverListener {
  (
    endpointList: StatusOr<Endpoint[]>,
    attributes: { [key: string]: unknown },
    serviceConfig: StatusOr<ServiceConfig> | null,
    resolutionNote: string,
  ): boolean;
}

/**
 * Turns one target into endpoints, for one or more of the schemes of gRPC's
 * naming doc. Created by the channel through {@link createResolver}.
 */
export interface Resolver {
  /**
   * Asks for fresh results. May lead to a listener call (later, never
   * synchronously); resolvers may rate-limit or coalesce requests.
   */
  updateResolution(): void;
  /**
   * Releases everything the resolver holds; no listener call follows until
   * `updateResolution()` is called again, which starts over.
   */
  destroy(): void;
}

/** A resolver class: what {@link registerResolver} takes. */
export interface ResolverConstructor {
  /**
   * @param target The target, with this resolver's scheme.
   * @param listener Where to report results.
   * @param channelOptions The channel's options, for resolver-specific settings.
   */
  new (target: GrpcUri, listener: ResolverListener, channelOptions: ChannelOptions): Resolver;
  /**
   * The `:authority` calls on this target send by default, loosely its host
   * name. Throws if the class cannot parse `target`.
   * @param target The target, with this resolver's scheme.
   */
  getDefaultAuthority(target: GrpcUri): string;
}

// Schemes are case-insensitive (RFC 3986 §3.1; grpc-go lowercases them), so
// `DNS:///host` and `dns:///host` reach the same resolver.
const registry = new Map<string, ResolverConstructor>();
let defaultScheme: string | null = null;
let fallbackScheme: string | null = null;

function lookup(scheme: string | undefined): ResolverConstructor | undefined {
  return scheme === undefined ? undefined : registry.get(scheme.toLowerCase());
}

/**
 * Makes `resolverClass` handle targets with this scheme, replacing any
 * resolver registered for it before.
 * @param scheme A URI scheme, e.g. `dns` (compared case-insensitively).
 * @param resolverClass The class to instantiate for such targets.
 */
export function registerResolver(scheme: string, resolverClass: ResolverConstructor): void {
  registry.set(scheme.toLowerCase(), resolverClass);
}

/**
 * Sets the scheme for targets written without one, such as `host:port`.
 * @param scheme A registered scheme; h2grpc's default is `dns`.
 */
export function registerDefaultScheme(scheme: string): void {
  defaultScheme = scheme;
}

/**
 * Sets the scheme for targets whose scheme has no registered resolver; that
 * resolver gets the whole target as its path. h2grpc sets `passthrough`, as
 * grpc-go does. With none set, such targets go to the default scheme, as in
 * grpc-js.
 * @param scheme A registered scheme, or null for grpc-js's behaviour.
 */
export function registerFallbackScheme(scheme: string | null): void {
  fallbackScheme = scheme;
}

/**
 * Whether a resolver is registered for `scheme`.
 * @param scheme A URI scheme (compared case-insensitively).
 */
export function isResolverRegistered(scheme: string): boolean {
  return registry.has(scheme.toLowerCase());
}

/** The scheme set by {@link registerDefaultScheme}, if any. */
export function getDefaultScheme(): string | null {
  return defaultScheme;
}

/**
 * Creates the resolver for `target`. Apply {@link mapUriDefaultScheme} first
 * so that bare and unknown-scheme targets have a registered scheme.
 * @param target The parsed target.
 * @param listener Where the resolver reports.
 * @param options The channel's options.
 * @throws Error when no resolver is registered for the target's scheme.
 */
export function createResolver(
  target: GrpcUri,
  listener: ResolverListener,
  options: ChannelOptions,
): Resolver {
  const resolverClass = lookup(target.scheme);
  if (resolverClass === undefined) {
    throw new Error(`No resolver could be created for target ${uriToString(target)}`);
  }
  return new resolverClass(target, listener, options);
}

/**
 * The `:authority` for calls on `target` when the channel option
 * `grpc.default_authority` does not override it.
 * @param target The parsed target, after {@link mapUriDefaultScheme}.
 * @throws Error when no resolver is registered for the target's scheme, or
 *   the resolver cannot parse the target.
 */
export function getDefaultAuthority(target: GrpcUri): string {
  const resolverClass = lookup(target.scheme);
  if (resolverClass === undefined) throw new Error(`Invalid target ${uriToString(target)}`);
  return resolverClass.getDefaultAuthority(target);
}

// `localhost:50051` parses with scheme `localhost`, and `[::1]:443` or
// `10.0.0.1:443` could be written without brackets or scheme too: a target
// that as a whole is `host:port` (numeric port) or an IPv6 literal is a bare
// address meant for the default scheme, not an unknown scheme.
function isBareAddress(target: GrpcUri): boolean {
  if (target.authority !== undefined) return false;
  const hostPort = splitHostPort(uriToString(target));
  return hostPort !== null && (hostPort.port !== undefined || hostPort.host.includes(':'));
}

/**
 * Gives every target a registered scheme: a registered one is kept; a bare
 * target (`host`, `host:port`, `[v6]:port`) goes to the default scheme; a
 * target with an unregistered scheme goes, whole, to the fallback scheme
 * (`passthrough`, as in grpc-go), or to the default scheme when no fallback
 * is set (as in grpc-js).
 * @param target The parsed target.
 * @returns The target to resolve, or null when no scheme applies.
 */
export function mapUriDefaultScheme(target: GrpcUri): GrpcUri | null {
  if (lookup(target.scheme) !== undefined) return target;
  const whole = uriToString(target);
  const useFallback =
    target.scheme !== undefined && fallbackScheme !== null && !isBareAddress(target);
  const scheme = useFallback ? fallbackScheme : defaultScheme;
  if (scheme === null || lookup(scheme) === undefined) return null;
  return { scheme, path: whole };
}
