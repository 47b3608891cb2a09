// Target strings to one dialable address. This is the interim single-address
// form; issue 5 replaces it with the gRPC naming doc's full target parsing and
// resolvers, keeping this function's output shape.

/** A target reduced to one address the native transport can dial. */
export interface SimpleTarget {
  /** `host:port`, `[v6]:port` or `unix:/path`, as the native dialer accepts. */
  address: string;
  /** Default `:authority` for calls. */
  authority: string;
}

const DEFAULT_PORT = 443;

function splitHostPort(hostPort: string): { host: string; port: number | undefined } {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close === -1) throw new Error(`h2grpc: invalid target address ${JSON.stringify(hostPort)}`);
    const host = hostPort.slice(1, close);
    const rest = hostPort.slice(close + 1);
    return { host, port: rest.startsWith(':') ? Number(rest.slice(1)) : undefined };
  }
  const colons = hostPort.split(':').length - 1;
  if (colons === 1) {
    const i = hostPort.indexOf(':');
    return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
  }
  // Zero colons: no port. Several: a bare IPv6 literal without brackets.
  return { host: hostPort, port: undefined };
}

function tcpTarget(hostPort: string): SimpleTarget {
  const { host, port } = splitHostPort(hostPort);
  const p = port ?? DEFAULT_PORT;
  if (host.length === 0 || !Number.isInteger(p) || p < 0 || p > 65535) {
    throw new Error(`h2grpc: invalid target address ${JSON.stringify(hostPort)}`);
  }
  const hostForUri = host.includes(':') ? `[${host}]` : host;
  return {
    address: `${hostForUri}:${p}`,
    authority: port === undefined ? hostForUri : `${hostForUri}:${p}`,
  };
}

/** Parses `host:port`, `dns:`, `ipv4:`, `ipv6:` (first address) and `unix:` targets. */
export function parseSimpleTarget(target: string): SimpleTarget {
  if (target.startsWith('unix:')) {
    const path = target.startsWith('unix://')
      ? target.slice('unix://'.length)
      : target.slice('unix:'.length);
    return { address: `unix:${path}`, authority: 'localhost' };
  }
  if (target.startsWith('dns:')) {
    let rest = target.slice('dns:'.length);
    if (rest.startsWith('//')) rest = rest.slice(rest.indexOf('/', 2) + 1);
    return tcpTarget(rest);
  }
  if (target.startsWith('ipv4:') || target.startsWith('ipv6:')) {
    return tcpTarget(target.slice(5).split(',')[0]);
  }
  return tcpTarget(target);
}
