// The load-balancer plugin API and its registry (grpc-go's balancer package;
// seed steps 5–7). A balancer gets resolved endpoints from the channel,
// creates subchannels through a ChannelControlHelper, and reports its state
// with a picker. Names and signatures are grpc-js's `experimental` ones so
// balancers written for grpc-js register and run here unchanged.
import type { ChannelOptions } from '../channel';
import type { ConnectivityState } from '../constants';
import type { LoadBalancingConfig } from '../service-config';
import type { StatusOr } from '../status-or';
import type { Endpoint, SubchannelAddress } from '../subchannel/subchannel-address';
import type { SubchannelInterface } from '../subchannel/subchannel-interface';
import type { Picker } from './picker';

/**
 * What a load balancer may ask of its owner (the channel, or a parent
 * balancer that wraps some of these to observe or rewrite them).
 */
export interface ChannelControlHelper {
  /**
   * Returns a subchannel for `subchannelAddress`. Subchannels are shared:
   * asking twice for the same address may return the same connection.
   * @param subchannelAddress The address to connect to.
   * @param subchannelArgs Channel options for the subchannel.
   */
  createSubchannel(
    subchannelAddress: SubchannelAddress,
    subchannelArgs: ChannelOptions,
  ): SubchannelInterface;
  /**
   * Publishes the balancer's new state and the picker calls should use.
   * @param connectivityState The balancer's aggregate state.
   * @param picker Decides where each call goes until the next update.
   * @param errorMessage Why the balancer is failing, or null.
   */
  updateState(
    connectivityState: ConnectivityState,
    picker: Picker,
    errorMessage: string | null,
  ): void;
  /** Asks the resolver to resolve again (e.g. after backends went away). */
  requestReresolution(): void;
  /** Registers a channelz child; h2grpc has no channelz yet, so this may be a no-op. */
  addChannelzChild(child: unknown): void;
  /** Unregisters a channelz child. */
  removeChannelzChild(child: unknown): void;
}

/**
 * Builds a helper that forwards to `parent` except for the methods given in
 * `overrides`. Parent balancers use it to intercept a child's state reports
 * without knowing every helper method.
 * @param parent The helper to forward to.
 * @param overrides The methods to replace (called with `overrides` as `this`).
 */
export function createChildChannelControlHelper(
  parent: ChannelControlHelper,
  overrides: Partial<ChannelControlHelper>,
): ChannelControlHelper {
  return {
    createSubchannel:
      overrides.createSubchannel?.bind(overrides) ?? parent.createSubchannel.bind(parent),
    updateState: overrides.updateState?.bind(overrides) ?? parent.updateState.bind(parent),
    requestReresolution:
      overrides.requestReresolution?.bind(overrides) ?? parent.requestReresolution.bind(parent),
    addChannelzChild:
      overrides.addChannelzChild?.bind(overrides) ?? parent.addChannelzChild.bind(parent),
    removeChannelzChild:
      overrides.removeChannelzChild?.bind(overrides) ?? parent.removeChannelzChild.bind(parent),
  };
}

/**
 * A load-balancing policy instance: turns endpoint lists into subchannels and
 * subchannel states into pickers.
 */
export interface LoadBalancer {
  /**
   * Gives the balancer a new resolution result. It starts using the new
   * endpoints but keeps serving on existing connections until new ones are up.
   * @param endpointList The endpoints, or the resolver's error.
   * @param lbConfig This balancer's parsed config.
   * @param channelOptions Channel options plus resolver attributes.
   * @param resolutionNote A note from the resolver to include in errors.
   * @returns false when the update was rejected (e.g. no endpoints), which
   *   makes the channel ask for re-resolution with backoff.
   */
  updateAddressList(
    endpointList: StatusOr<Endpoint[]>,
    lbConfig: TypedLoadBalancingConfig,
    channelOptions: ChannelOptions,
    resolutionNote: string,
  ): boolean;
  /** Starts connecting if the balancer is IDLE. */
  exitIdle(): void;
  /** Resets connection backoff, where the balancer owns one. */
  resetBackoff(): void;
  /** Releases every subchannel; no helper method is called afterwards. */
  destroy(): void;
  /** The name the balancer's class was registered under. */
  getTypeName(): string;
}

/** A load balancer class, as passed to {@link registerLoadBalancerType}. */
export interface LoadBalancerConstructor {
  new (channelControlHelper: ChannelControlHelper): LoadBalancer;
}

/** A parsed, validated load-balancing config for one policy. */
export interface TypedLoadBalancingConfig {
  /** The policy name, e.g. `pick_first`. */
  getLoadBalancerName(): string;
  /** The config in service-config JSON form: `{[name]: {...}}`. */
  toJsonObject(): object;
}

/** A config class, as passed to {@link registerLoadBalancerType}. */
export interface TypedLoadBalancingConfigConstructor {
  // `never[]` because each policy's constructor takes its own arguments; the
  // registry only ever builds configs through `createFromJson`.
  new (...args: never[]): TypedLoadBalancingConfig;
  /**
   * Parses the policy's JSON config (the value under its name).
   * @throws Error when the config is invalid.
   */
  createFromJson(obj: unknown): TypedLoadBalancingConfig;
}

interface RegisteredType {
  LoadBalancer: LoadBalancerConstructor;
  LoadBalancingConfig: TypedLoadBalancingConfigConstructor;
}

// Process-wide, as in grpc-go and grpc-js: a policy registered once is
// available to every channel.
const registry = new Map<string, RegisteredType>();
let defaultTypeName: string | null = null;

/**
 * Makes a policy available under `typeName` in service configs. Registering
 * an existing name replaces it.
 * @param typeName The policy name used in `loadBalancingConfig`.
 * @param loadBalancerType The balancer class.
 * @param loadBalancingConfigType The config class, with `createFromJson`.
 */
export function registerLoadBalancerType(
  typeName: string,
  loadBalancerType: LoadBalancerConstructor,
  loadBalancingConfigType: TypedLoadBalancingConfigConstructor,
): void {
  registry.set(typeName, {
    LoadBalancer: loadBalancerType,
    LoadBalancingConfig: loadBalancingConfigType,
  });
}

/**
 * Names the policy used when a service config selects none (pick_first).
 * @param typeName An already registered policy name.
 */
export function registerDefaultLoadBalancerType(typeName: string): void {
  defaultTypeName = typeName;
}

/**
 * Instantiates the balancer for `config`'s policy.
 * @param config A config from {@link parseLoadBalancingConfig} or similar.
 * @param channelControlHelper The helper the new balancer will use.
 * @returns The balancer, or null if the policy is not registered.
 */
export function createLoadBalancer(
  config: TypedLoadBalancingConfig,
  channelControlHelper: ChannelControlHelper,
): LoadBalancer | null {
  const type = registry.get(config.getLoadBalancerName());
  return type === undefined ? null : new type.LoadBalancer(channelControlHelper);
}

/**
 * Whether a policy is registered under `typeName`.
 * @param typeName The policy name.
 */
export function isLoadBalancerNameRegistered(typeName: string): boolean {
  return registry.has(typeName);
}

/**
 * Parses one `loadBalancingConfig` entry, `{policy_name: config}`.
 * @param rawConfig The entry, with exactly one key.
 * @throws Error if the entry does not have exactly one key, the policy is not
 *   registered, or its config class rejects the config.
 */
export function parseLoadBalancingConfig(rawConfig: LoadBalancingConfig): TypedLoadBalancingConfig {
  const keys = Object.keys(rawConfig);
  if (keys.length !== 1) {
    throw new Error(
      `Load balancing config must have exactly one policy name, got ${keys.length} (${keys.join(', ')})`,
    );
  }
  const typeName = keys[0];
  const type = registry.get(typeName);
  if (type === undefined) {
    throw new Error(`Unrecognized load balancing config name ${typeName}`);
  }
  try {
    return type.LoadBalancingConfig.createFromJson(rawConfig[typeName]);
  } catch (e) {
    throw new Error(`${typeName}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The default policy's config with all its options at their defaults.
 * @throws Error if no default policy was registered.
 */
export function getDefaultConfig(): TypedLoadBalancingConfig {
  const type = defaultTypeName === null ? undefined : registry.get(defaultTypeName);
  if (type === undefined) {
    throw new Error('No default load balancer type registered');
  }
  // Built from an empty JSON config rather than the constructor, whose
  // arguments differ per policy: every option then takes its documented default.
  return type.LoadBalancingConfig.createFromJson({});
}

/**
 * Picks the policy to use from a service config's `loadBalancingConfig`
 * list: the first entry whose policy is registered and whose config parses,
 * as grpc-js does. Unknown policies are skipped, so a config can list a new
 * policy followed by a fallback for older clients.
 * @param configs The list, in preference order.
 * @param fallbackTodefault Return the default policy's config when no entry
 *   qualifies, instead of null.
 * @returns The chosen config, or null when none qualifies (and no fallback).
 */
export function selectLbConfigFromList(
  configs: LoadBalancingConfig[],
  fallbackTodefault = false,
): TypedLoadBalancingConfig | null {
  for (const config of configs) {
    try {
      return parseLoadBalancingConfig(config);
    } catch {
      // Not usable here: try the next one, as the list is in fallback order.
    }
  }
  if (!fallbackTodefault || defaultTypeName === null) return null;
  return getDefaultConfig();
}
