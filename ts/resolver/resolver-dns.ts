// `dns:[//dns-server/]host[:port]` from gRPC's naming doc, and the default
// scheme for bare `host:port` targets. Behaviour follows grpc-go's DNS
// resolver, with grpc-js's option names:
//
// - An IP-literal host is reported as is, without any lookup.
// - A name is looked up for both address families; every address becomes
//   its own endpoint, in the order returned (pick_first interleaves the
//   families itself, happy-eyeballs style).
// - After a successful resolution, requests to resolve again within
//   `grpc.dns_min_time_between_resolutions_ms` (30 s) are deferred to the
//   end of that window, not dropped: a balancer that saw every backend fail
//   gets fresh addresses as soon as DNS may be asked again.
// - A failed lookup (or a result the channel rejects) is reported and
//   retried by itself with exponential backoff until one succeeds.
// - Unless `grpc.service_config_disable_resolution` is 1, the TXT record at
//   `_grpc_config.<host>` supplies the service config. Addresses are never
//   held back for it: they are reported as soon as they arrive, with the
//   latest known config, and reported again if the TXT answer arrives later
//   with a different config.
import { isIP } from 'node:net';
import type { ChannelOptions } from '../channel';
import { BackoffTimeout } from '../backoff-timeout';
import { systemClock, type Clock, type TimerHandle } from '../clock';
import { LogVerbosity, Status } from '../constants';
import { trace } from '../logging';
import { extractAndSelectServiceConfig, type ServiceConfig } from '../service-config';
import { statusOrFromError, statusOrFromValue, type StatusOr } from '../status-or';
import type { Endpoint } from '../subchannel/subchannel-address';
import { serverDnsBackend, systemDnsBackend, type DnsBackend } from './dns-backend';
import type { Resolver, ResolverListener } from './resolver';
import { addressToAuthority, splitHostPort, uriToString, type GrpcUri } from './uri-parser';

/** The scheme of the DNS resolver. */
export const DNS_SCHEME = 'dns';

/** The TCP port used when a target does not name one. */
export const DEFAULT_PORT = 443;

/** Default for `grpc.dns_min_time_between_resolutions_ms`, as in grpc-go and grpc-js. */
export const DEFAULT_MIN_TIME_BETWEEN_RESOLUTIONS_MS = 30_000;

/**
 * Where a host's service config TXT record lives: `_grpc_config.<host>`
 * (gRFC A2, and grpc-go). grpc-js queries `<host>` itself instead.
 */
export const SERVICE_CONFIG_TXT_PREFIX = '_grpc_config.';

/** Replaceable dependencies of {@link DnsResolver}, for tests. */
export interface DnsResolverHooks {
  /** Where queries go; defaults to the system resolver (or the target's DNS server). */
  backend?: DnsBackend;
  /** Time source for the rate limit and backoff timers. */
  clock?: Clock;
  /** Uniform random source in [0, 1), for backoff jitter and the percentage draw. */
  random?: () => number;
}

function numberOption(options: ChannelOptions, key: string): number | undefined {
  const value = options[key];
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

// TXT "no such record" answers mean "no service config"; any other error is
// treated as transient and keeps the config already in use.
function isNoRecordError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENODATA' || code === 'ENOTFOUND';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// A fingerprint of a service config result, to tell whether a late TXT
// answer changes what the channel was given.
function configKey(config: StatusOr<ServiceConfig> | null): string {
  if (config === null) return 'none';
  return config.ok ? `ok:${JSON.stringify(config.value)}` : `error:${config.error.details}`;
}

/** What the target names: fixed endpoints, a name to look up, or a parse failure. */
type DnsTarget =
  | { kind: 'fixed'; result: StatusOr<Endpoint[]> }
  | { kind: 'name'; hostname: string; port: number };

function parseDnsTarget(target: GrpcUri): DnsTarget {
  const hostPort = splitHostPort(target.path);
  if (hostPort === null) {
    return {
      kind: 'fixed',
      result: statusOrFromError({
        code: Status.UNAVAILABLE,
        details: `Failed to parse DNS address ${uriToString(target)}`,
      }),
    };
  }
  // An empty host (`dns:///:50051`) means this machine, as in grpc-go.
  const host = hostPort.host === '' ? 'localhost' : hostPort.host;
  const port = hostPort.port ?? DEFAULT_PORT;
  if (isIP(host) !== 0) {
    return { kind: 'fixed', result: statusOrFromValue([{ addresses: [{ host, port }] }]) };
  }
  return { kind: 'name', hostname: host, port };
}

/** Resolves `dns:` and bare targets by DNS lookup. */
export class DnsResolver implements Resolver {
  private readonly description: string;
  private readonly parsed: DnsTarget;
  private readonly backend: DnsBackend | null;
  private readonly clock: Clock;
  private readonly serviceConfigEnabled: boolean;
  private readonly minTimeBetweenResolutionsMs: number;
  /**
   * This channel's draw in [0, 100) for `percentage` service config choices,
   * made once so the chosen config does not flap between re-resolutions.
   */
  private readonly percentage: number;
  private readonly backoff: BackoffTimeout;

  /** Bumped by destroy(): answers to queries started before it are dropped. */
  private generation = 0;
  /** A fixed result (IP literal or parse failure) was reported. */
  private reportedFixed = false;
  private lookupInFlight = false;
  private txtInFlight = false;
  /** Ends the rate-limit window that follows a successful resolution. */
  private rateLimitTimer: TimerHandle | null = null;
  /** updateResolution() was called inside the window: resolve when it ends. */
  private deferredRequest = false;
  /** The endpoints of the last successful lookup, for re-reporting with a late TXT answer. */
  private latestEndpoints: Endpoint[] | null = null;
  private latestServiceConfig: StatusOr<ServiceConfig> | null = null;
  /** The config the channel was last given along with `latestEndpoints`. */
  private reportedConfigKey = configKey(null);

  /**
   * @param target A `dns:` target (bare targets are mapped to one first).
   * @param listener Where to report.
   * @param channelOptions Reads `grpc.dns_min_time_between_resolutions_ms`,
   *   `grpc.service_config_disable_resolution`,
   *   `grpc.initial_reconnect_backoff_ms` and `grpc.max_reconnect_backoff_ms`.
   * @param hooks Replacement dependencies, for tests.
   */
  constructor(
    target: GrpcUri,
    private readonly listener: ResolverListener,
    channelOptions: ChannelOptions,
    hooks: DnsResolverHooks = {},
  ) {
    this.description = uriToString(target);
    this.clock = hooks.clock ?? systemClock;
    const random = hooks.random ?? Math.random;
    let parsed = parseDnsTarget(target);
    let backend: DnsBackend | null = hooks.backend ?? systemDnsBackend;
    if (hooks.backend === undefined && target.authority !== undefined && target.authority !== '') {
      try {
        backend = serverDnsBackend(target.authority);
      } catch (err) {
        backend = null;
        parsed = {
          kind: 'fixed',
          result: statusOrFromError({
            code: Status.UNAVAILABLE,
            details: `Invalid DNS server ${JSON.stringify(target.authority)} in target ${this.description}: ${errorMessage(err)}`,
          }),
        };
      }
    }
    this.parsed = parsed;
    this.backend = backend;
    this.serviceConfigEnabled = channelOptions['grpc.service_config_disable_resolution'] !== 1;
    this.minTimeBetweenResolutionsMs =
      numberOption(channelOptions, 'grpc.dns_min_time_between_resolutions_ms') ??
      DEFAULT_MIN_TIME_BETWEEN_RESOLUTIONS_MS;
    this.percentage = random() * 100;
    this.backoff = new BackoffTimeout(() => this.startResolution(), {
      initialDelay: numberOption(channelOptions, 'grpc.initial_reconnect_backoff_ms'),
      maxDelay: numberOption(channelOptions, 'grpc.max_reconnect_backoff_ms'),
      clock: this.clock,
      random,
    });
    // Resolver timers must not keep an otherwise finished process alive.
    this.backoff.unref();
  }

  /**
   * Resolves now, or at the end of the rate-limit window if one is open. A
   * request while a lookup or a backoff retry is pending is already covered
   * by that.
   */
  updateResolution(): void {
    if (this.parsed.kind === 'fixed') {
      this.reportFixed(this.parsed.result);
      return;
    }
    if (this.lookupInFlight || this.backoff.isRunning()) return;
    if (this.rateLimitTimer !== null) {
      this.deferredRequest = true;
      return;
    }
    this.startResolution();
  }

  /** Stops timers and drops answers still in flight; `updateResolution()` starts over. */
  destroy(): void {
    this.generation++;
    this.reportedFixed = false;
    this.lookupInFlight = false;
    this.txtInFlight = false;
    this.deferredRequest = false;
    this.latestEndpoints = null;
    this.latestServiceConfig = null;
    this.reportedConfigKey = configKey(null);
    this.backoff.stop();
    this.backoff.reset();
    this.stopRateLimit();
  }

  /**
   * The target's address as written (`example.com:50051`, or `example.com`
   * without a port), as grpc-go and grpc-js do; `:port` becomes
   * `localhost:port`.
   * @param target A `dns:` target.
   */
  static getDefaultAuthority(target: GrpcUri): string {
    return addressToAuthority(target.path);
  }

  private reportFixed(result: StatusOr<Endpoint[]>): void {
    if (this.reportedFixed) return;
    this.reportedFixed = true;
    const generation = this.generation;
    // Never call the listener synchronously inside updateResolution().
    process.nextTick(() => {
      if (generation === this.generation) this.listener(result, {}, null, '');
    });
  }

  private startResolution(): void {
    if (this.parsed.kind !== 'name' || this.backend === null || this.lookupInFlight) return;
    const { hostname, port } = this.parsed;
    const backend = this.backend;
    const generation = this.generation;
    this.deferredRequest = false;
    this.lookupInFlight = true;
    // A TXT answer that arrives before this lookup's must not be re-reported
    // with the previous round's endpoints.
    this.latestEndpoints = null;
    backend.lookupHost(hostname).then(
      (hosts) => {
        if (generation === this.generation) this.onAddresses(hosts, port);
      },
      (err: unknown) => {
        if (generation === this.generation) this.onLookupFailure(errorMessage(err));
      },
    );
    // A TXT query still pending from an earlier round serves this one too.
    if (this.serviceConfigEnabled && !this.txtInFlight) {
      this.txtInFlight = true;
      backend.lookupTxt(SERVICE_CONFIG_TXT_PREFIX + hostname).then(
        (records) => {
          if (generation === this.generation) this.onTxt(records);
        },
        (err: unknown) => {
          if (generation === this.generation) this.onTxtFailure(err);
        },
      );
    }
  }

  private onAddresses(hosts: string[], port: number): void {
    this.lookupInFlight = false;
    if (hosts.length === 0) {
      this.onLookupFailure('no addresses');
      return;
    }
    const endpoints = hosts.map((host) => ({ addresses: [{ host, port }] }));
    trace(LogVerbosity.DEBUG, 'dns_resolver', `Resolved ${this.description} to ${hosts.join(',')}`);
    this.latestEndpoints = endpoints;
    this.reportedConfigKey = configKey(this.latestServiceConfig);
    // The window opens before the report, so that a re-resolution request
    // the listener makes synchronously (a balancer that finds every address
    // unusable) waits for it instead of looping straight into a new lookup.
    this.startRateLimit();
    const accepted = this.listener(statusOrFromValue(endpoints), {}, this.latestServiceConfig, '');
    this.afterReport(accepted);
  }

  private onLookupFailure(message: string): void {
    this.lookupInFlight = false;
    this.latestEndpoints = null;
    trace(LogVerbosity.DEBUG, 'dns_resolver', `Resolving ${this.description} failed: ${message}`);
    // Started before the report for the same reason as the rate-limit
    // window: a synchronous request from the listener must wait for it.
    this.backoff.runOnce();
    this.listener(
      statusOrFromError({
        code: Status.UNAVAILABLE,
        details: `Name resolution failed for target ${this.description}: ${message}`,
      }),
      {},
      this.latestServiceConfig,
      '',
    );
  }

  // Accepted: the backoff sequence starts over. Rejected: it counts as a
  // failure and is retried after backoff, as grpc-go does when the balancer
  // refuses an update.
  private afterReport(accepted: boolean): void {
    if (accepted) {
      this.backoff.stop();
      this.backoff.reset();
    } else if (!this.backoff.isRunning()) {
      this.backoff.runOnce();
    }
  }

  private onTxt(records: string[][]): void {
    this.txtInFlight = false;
    let config: StatusOr<ServiceConfig> | null;
    try {
      const chosen = extractAndSelectServiceConfig(records, this.percentage);
      config = chosen === null ? null : statusOrFromValue(chosen);
    } catch (err) {
      config = statusOrFromError({
        code: Status.UNAVAILABLE,
        details: `Invalid service config for target ${this.description}: ${errorMessage(err)}`,
      });
    }
    this.updateServiceConfig(config);
  }

  private onTxtFailure(err: unknown): void {
    this.txtInFlight = false;
    if (isNoRecordError(err)) this.updateServiceConfig(null);
  }

  private updateServiceConfig(config: StatusOr<ServiceConfig> | null): void {
    this.latestServiceConfig = config;
    // Only a config that differs from the one already given with the
    // current endpoints is worth another report.
    if (this.latestEndpoints === null || configKey(config) === this.reportedConfigKey) return;
    this.reportedConfigKey = configKey(config);
    const accepted = this.listener(statusOrFromValue(this.latestEndpoints), {}, config, '');
    // The lookup already opened the rate-limit window; only a rejection
    // needs handling, the same way as for the lookup's own report.
    if (!accepted) this.afterReport(false);
  }

  private startRateLimit(): void {
    this.stopRateLimit();
    if (this.minTimeBetweenResolutionsMs === 0) return;
    this.rateLimitTimer = this.clock.setTimeout(() => {
      this.rateLimitTimer = null;
      if (this.deferredRequest) this.updateResolution();
    }, this.minTimeBetweenResolutionsMs);
    this.rateLimitTimer.unref?.();
  }

  private stopRateLimit(): void {
    if (this.rateLimitTimer !== null) {
      this.clock.clearTimeout(this.rateLimitTimer);
      this.rateLimitTimer = null;
    }
  }
}
