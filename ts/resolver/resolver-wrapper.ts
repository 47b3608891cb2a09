// grpc-go's ccResolverWrapper: owns the channel's resolver and turns what it
// reports into channel updates. Service config rules (service_config.md, A21):
//   - the resolver's config, when valid, is used;
//   - no config from the resolver → the channel's default (`grpc.service_config`);
//   - an invalid config → keep the last good one; with none, the update is an error.
//     A config object from a (user) resolver is validated here too: one whose
//     loadBalancingConfig lists only policies this client lacks, or with any
//     field that fails validation, is invalid (service_config.proto), not a
//     reason to fall back to pick_first as grpc-js does. As in grpc-go, an
//     update with an invalid config reports itself rejected (the resolver
//     retries with backoff) even when the previous config carries on.
//
// Re-resolution requests from the balancer are spaced by a backoff (grpc-js's
// resolving load balancer does the same, with the reconnect backoff options):
// pick_first asks again every time all its addresses have failed, and with a
// resolver that answers at once with the same dead addresses, unthrottled
// requests would loop on process.nextTick and starve the event loop.
import { BackoffTimeout } from '../backoff-timeout';
import { Status } from '../constants';
import type { ChannelOptions } from '../channel';
import { statusOrFromError, statusOrFromValue, type StatusOr } from '../status-or';
import { validateServiceConfig, type ServiceConfig } from '../service-config';
import type { Endpoint } from '../subchannel/subchannel-address';
import { createResolver, type Resolver } from './resolver';
import type { GrpcUri } from './uri-parser';

/** One resolution, ready for the balancer. */
export interface ResolverUpdate {
  endpoints: StatusOr<Endpoint[]>;
  serviceConfig: ServiceConfig | null;
  attributes: { [key: string]: unknown };
  resolutionNote: string;
}

export class ResolverWrapper {
  private readonly resolver: Resolver;
  private lastGoodConfig: ServiceConfig | null = null;
  private closed = false;
  /** Runs while further re-resolution requests must wait. */
  private readonly reresolutionBackoff: BackoffTimeout;
  /** A request came while waiting: serve it when the backoff ends. */
  private reresolutionPending = false;

  /**
   * @param onUpdate Receives each resolution; returns false if the balancer
   *   rejected it, which makes the resolver retry with backoff.
   */
  constructor(
    target: GrpcUri,
    options: ChannelOptions,
    private readonly defaultConfig: ServiceConfig | null,
    private readonly onUpdate: (update: ResolverUpdate) => boolean,
  ) {
    this.resolver = createResolver(
      target,
      (endpoints, attributes, serviceConfig, resolutionNote) =>
        this.handle(endpoints, attributes, serviceConfig, resolutionNote),
      options,
    );
    const num = (key: string): number | undefined => {
      const v = options[key];
      return typeof v === 'number' ? v : undefined;
    };
    this.reresolutionBackoff = new BackoffTimeout(
      () => {
        if (!this.reresolutionPending) return;
        this.reresolutionPending = false;
        this.resolveNow();
      },
      {
        initialDelay: num('grpc.initial_reconnect_backoff_ms'),
        maxDelay: num('grpc.max_reconnect_backoff_ms'),
      },
    );
    this.reresolutionBackoff.unref();
    // Resolvers (as in grpc-js) start only when asked.
    this.resolver.updateResolution();
  }

  /**
   * Asks for a fresh resolution (grpc-go `ResolveNow`), at once unless the
   * previous request was too recent; then when the backoff ends.
   */
  resolveNow(): void {
    if (this.closed) return;
    if (this.reresolutionBackoff.isRunning()) {
      this.reresolutionPending = true;
      return;
    }
    this.reresolutionBackoff.runOnce();
    this.resolver.updateResolution();
  }

  /** The channel works again: the next request goes out without waiting. */
  resetReresolutionBackoff(): void {
    this.reresolutionBackoff.reset();
  }

  close(): void {
    this.closed = true;
    this.reresolutionBackoff.stop();
    this.resolver.destroy();
  }

  private handle(
    endpoints: StatusOr<Endpoint[]>,
    attributes: { [key: string]: unknown },
    serviceConfig: StatusOr<ServiceConfig> | null,
    resolutionNote: string,
  ): boolean {
    if (this.closed) return true;
    const checked = serviceConfig === null ? null : validated(serviceConfig);
    let config: ServiceConfig | null;
    if (checked === null) {
      config = this.defaultConfig;
    } else if (checked.ok) {
      config = checked.value;
      this.lastGoodConfig = config;
    } else if (this.lastGoodConfig !== null) {
      config = this.lastGoodConfig;
    } else if (this.defaultConfig !== null) {
      config = this.defaultConfig;
    } else {
      // Nothing trustworthy to route with: the channel goes to TRANSIENT_FAILURE.
      return this.onUpdate({
        endpoints: statusOrFromError({
          code: Status.UNAVAILABLE,
          details: `Invalid service config from the resolver: ${checked.error.details}`,
        }),
        serviceConfig: null,
        attributes,
        resolutionNote,
      });
    }
    const accepted = this.onUpdate({
      endpoints: endpoints.ok ? statusOrFromValue(endpoints.value) : endpoints,
      serviceConfig: config,
      attributes,
      resolutionNote,
    });
    return accepted && (checked === null || checked.ok);
  }
}

/** Validation results by the config object a resolver reported (resolvers often repeat one). */
const checkedConfigs = new WeakMap<ServiceConfig, StatusOr<ServiceConfig>>();

/** A resolver's config, validated (the same result object for the same input). */
function validated(config: StatusOr<ServiceConfig>): StatusOr<ServiceConfig> {
  if (!config.ok) return config;
  let checked = checkedConfigs.get(config.value);
  if (checked === undefined) {
    try {
      checked = statusOrFromValue(validateServiceConfig(config.value));
    } catch (e) {
      checked = statusOrFromError({
        code: Status.UNAVAILABLE,
        details: e instanceof Error ? e.message : String(e),
      });
    }
    checkedConfigs.set(config.value, checked);
  }
  return checked;
}
