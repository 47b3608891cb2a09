// grpc-go's ccResolverWrapper: owns the channel's resolver and turns what it
// reports into channel updates. Service config rules (service_config.md, A21):
//   - the resolver's config, when valid, is used;
//   - no config from the resolver → the channel's default (`grpc.service_config`);
//   - an invalid config → keep the last good one; with none, the update is an error.
import { Status } from '../constants';
import type { ChannelOptions } from '../channel';
import { statusOrFromError, statusOrFromValue, type StatusOr } from '../status-or';
import type { ServiceConfig } from '../service-config';
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
    // Resolvers (as in grpc-js) start only when asked.
    this.resolver.updateResolution();
  }

  /** Asks for a fresh resolution (grpc-go `ResolveNow`); the resolver rate-limits it. */
  resolveNow(): void {
    if (!this.closed) this.resolver.updateResolution();
  }

  close(): void {
    this.closed = true;
    this.resolver.destroy();
  }

  private handle(
    endpoints: StatusOr<Endpoint[]>,
    attributes: { [key: string]: unknown },
    serviceConfig: StatusOr<ServiceConfig> | null,
    resolutionNote: string,
  ): boolean {
    if (this.closed) return true;
    let config: ServiceConfig | null;
    if (serviceConfig === null) {
      config = this.defaultConfig;
    } else if (serviceConfig.ok) {
      config = serviceConfig.value;
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
          details: `Invalid service config from the resolver: ${serviceConfig.error.details}`,
        }),
        serviceConfig: null,
        attributes,
        resolutionNote,
      });
    }
    return this.onUpdate({
      endpoints: endpoints.ok ? statusOrFromValue(endpoints.value) : endpoints,
      serviceConfig: config,
      attributes,
      resolutionNote,
    });
  }
}
