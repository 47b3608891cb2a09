// HTTP CONNECT proxy selection, with grpc-js's semantics (http_proxy.ts):
// `grpc_proxy`, then `https_proxy`, then `http_proxy` name the proxy;
// `no_grpc_proxy` (or `no_proxy`) lists hosts, suffixes and IPv4 CIDRs that
// bypass it; channel option `grpc.enable_http_proxy: 0` turns it off. A
// proxied channel resolves the proxy's name instead of the target's, and
// every connection asks the proxy (natively, crates/h2core/src/proxy.rs) for
// a tunnel to the real `host:port`.
import { isIPv4 } from 'node:net';
import type { ProxyConfig } from './native/binding';
import { mapUriDefaultScheme } from './resolver/resolver';
import { DEFAULT_PORT } from './resolver/resolver-dns';
import {
  combineHostPort,
  parseUri,
  splitHostPort,
  type GrpcUri,
  type HostPort,
} from './resolver/uri-parser';

/** The channel's target after proxy mapping, and the tunnel its connections request. */
export interface ProxyMapResult {
  /** What the resolver resolves: the proxy's address when proxied, else the target. */
  target: GrpcUri;
  /**
   * Set when connections go through a proxy; its `target` (the real server's
   * `host:port`) is also the name TLS verifies.
   */
  proxy?: ProxyConfig;
}

interface ProxyInfo {
  address: string;
  creds?: string;
}

function getProxyInfo(): ProxyInfo | null {
  const value = process.env.grpc_proxy || process.env.https_proxy || process.env.http_proxy;
  if (!value) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // grpc-js logs and connects directly; so do we (without the log).
    return null;
  }
  if (url.protocol !== 'http:') return null;
  let creds: string | undefined;
  if (url.username) {
    creds = url.password ? decodeURIComponent(`${url.username}:${url.password}`) : url.username;
  }
  // The proxy URL is `http:`, whose default port is 80, not gRPC's 443.
  return { address: `${url.hostname}:${url.port === '' ? '80' : url.port}`, creds };
}

function noProxyList(): string[] {
  const value = process.env.no_grpc_proxy || process.env.no_proxy;
  return value ? value.split(',') : [];
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => (acc << 8) + parseInt(octet, 10), 0);
}

function inCidr(cidr: string, host: string): boolean {
  const parts = cidr.split('/');
  if (parts.length !== 2 || !isIPv4(parts[0]) || !isIPv4(host)) return false;
  const prefix = parseInt(parts[1], 10);
  if (Number.isNaN(prefix) || prefix < 0 || prefix > 32) return false;
  const mask = -1 << (32 - prefix);
  return (ipToInt(host) & mask) === (ipToInt(parts[0]) & mask);
}

function bypassesProxy(host: string): boolean {
  // Suffix matching, as grpc-js does: `example.com` also covers `api.example.com`.
  return noProxyList().some((entry) => inCidr(entry, host) || host.endsWith(entry));
}

function basicAuth(creds: string): string {
  return 'Basic ' + Buffer.from(creds).toString('base64');
}

/** The CONNECT request target for a gRPC target's host: `host:port`, port 443 by default. */
function connectTarget(hostPort: HostPort): string {
  return combineHostPort({ host: hostPort.host, port: hostPort.port ?? DEFAULT_PORT });
}

/**
 * An explicit `grpc.http_connect_target`, read with the channel target's rules
 * (a bare `host:port` is a dns target, not scheme `host`), as the tunnel's
 * `host:port`. The one place the option is parsed: the channel takes the TLS
 * name from the result too.
 */
function parseConnectTarget(target: string): string | null {
  const parsed = parseUri(target);
  const mapped = parsed === null ? null : mapUriDefaultScheme(parsed);
  const hostPort = mapped === null ? null : splitHostPort(mapped.path);
  return hostPort === null ? null : connectTarget(hostPort);
}

/**
 * Decides whether a channel uses an HTTP CONNECT proxy.
 * @param target The channel's target after default-scheme mapping.
 * @param options Channel options: `grpc.enable_http_proxy`, and an explicit
 *   `grpc.http_connect_target` (+ `grpc.http_connect_creds`) which makes the
 *   target itself the proxy, as in grpc-js.
 */
export function mapProxyName(
  target: GrpcUri,
  options: Record<string, string | number | undefined>,
): ProxyMapResult {
  const explicit = options['grpc.http_connect_target'];
  if (typeof explicit === 'string') {
    const to = parseConnectTarget(explicit);
    if (to === null) return { target };
    const creds = options['grpc.http_connect_creds'];
    return {
      target,
      proxy: { target: to, authHeader: typeof creds === 'string' ? basicAuth(creds) : undefined },
    };
  }
  if ((options['grpc.enable_http_proxy'] ?? 1) === 0) return { target };
  if (target.scheme === 'unix') return { target };
  const info = getProxyInfo();
  if (info === null) return { target };
  const hostPort = splitHostPort(target.path);
  if (hostPort === null || bypassesProxy(hostPort.host)) return { target };
  const to = connectTarget(hostPort);
  return {
    target: { scheme: 'dns', path: info.address },
    proxy: {
      target: to,
      authHeader: info.creds === undefined ? undefined : basicAuth(info.creds),
    },
  };
}
