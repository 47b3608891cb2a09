// Target strings as gRPC's naming doc writes them: `scheme:[//authority/]path`.
// This is deliberately not a general RFC 3986 parser: gRPC targets are not
// percent-decoded and have no query or fragment, and `host:port` must survive
// intact in the path (WHATWG `URL` would lowercase hosts and reject
// `[::1]:50051` in some positions). Same shapes and names as grpc-js's
// `uri-parser`, so resolvers written for grpc-js can use these unchanged.

/**
 * A parsed target. `scheme` is absent for bare targets such as `[::1]:50051`;
 * `authority` is absent when the target has no `//` part and is the empty
 * string for `scheme:///path`.
 */
export interface GrpcUri {
  /** The scheme before `:`, if any. */
  scheme?: string;
  /** The authority between `//` and the next `/`, if given. */
  authority?: string;
  /** Everything after the scheme and authority. */
  path: string;
}

// RFC 3986 scheme syntax: a letter, then letters, digits, `+`, `-` or `.`.
// Requiring the leading letter keeps `127.0.0.1:50051` from parsing as
// scheme `127.0.0.1`, so IPv4 `host:port` targets stay bare.
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/**
 * Splits a target into scheme, authority and path.
 * @param uriString The target as the user wrote it.
 * @returns The parts, or null when there is no path to resolve (e.g. `dns:`
 *   or `dns://8.8.8.8`).
 */
export function parseUri(uriString: string): GrpcUri | null {
  let rest = uriString;
  let scheme: string | undefined;
  const colon = rest.indexOf(':');
  if (colon > 0 && SCHEME.test(rest.slice(0, colon))) {
    scheme = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
  }
  let authority: string | undefined;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    // `//authority` with no `/path` has nothing to resolve.
    if (slash === -1) return null;
    authority = rest.slice(2, slash);
    rest = rest.slice(slash + 1);
  }
  if (rest.length === 0) return null;
  const uri: GrpcUri = { path: rest };
  if (scheme !== undefined) uri.scheme = scheme;
  if (authority !== undefined) uri.authority = authority;
  return uri;
}

/**
 * Rebuilds the target string from its parts; the inverse of {@link parseUri}.
 * @param uri The parsed target.
 */
export function uriToString(uri: GrpcUri): string {
  const scheme = uri.scheme !== undefined ? `${uri.scheme}:` : '';
  const authority = uri.authority !== undefined ? `//${uri.authority}/` : '';
  return `${scheme}${authority}${uri.path}`;
}

/** A host (name or IP literal, IPv6 without brackets) and an optional port. */
export interface HostPort {
  /** Host name or IP literal, without brackets. */
  host: string;
  /** The port, if the string had one. */
  port?: number;
}

const PORT = /^\d{1,5}$/;

function parsePort(text: string): number | null {
  if (!PORT.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

/**
 * Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 literal
 * (several colons and no brackets, so no port).
 * @param path The address part of a target.
 * @returns The parts, or null when the brackets or the port are malformed.
 */
export function splitHostPort(path: string): HostPort | null {
  if (path.startsWith('[')) {
    const close = path.indexOf(']');
    if (close === -1) return null;
    const host = path.slice(1, close);
    // Brackets exist to hold an IPv6 literal's colons; anything else in
    // them is a typo, not a host.
    if (!host.includes(':')) return null;
    const after = path.slice(close + 1);
    if (after.length === 0) return { host };
    if (!after.startsWith(':')) return null;
    const port = parsePort(after.slice(1));
    return port === null ? null : { host, port };
  }
  const first = path.indexOf(':');
  if (first === -1) return { host: path };
  // More than one colon without brackets can only be a bare IPv6 literal,
  // which cannot carry a port.
  if (path.indexOf(':', first + 1) !== -1) return { host: path };
  const port = parsePort(path.slice(first + 1));
  return port === null ? null : { host: path.slice(0, first), port };
}

/**
 * Joins a host and port back into `host:port`, bracketing IPv6 literals
 * (`[::1]:443`). Without a port the host is returned unbracketed, as grpc-js
 * does.
 * @param hostPort The host and optional port.
 */
export function combineHostPort(hostPort: HostPort): string {
  if (hostPort.port === undefined) return hostPort.host;
  const host = hostPort.host.includes(':') ? `[${hostPort.host}]` : hostPort.host;
  return `${host}:${hostPort.port}`;
}

/**
 * The `:authority` for an address written in a target: the text as written
 * (grpc-go and grpc-js both keep the user's spelling, port included only if
 * given), except that a bare IPv6 literal gets brackets, because `::1` alone
 * is not a valid HTTP/2 authority, and an empty host (`:50051`) becomes
 * `localhost`, as grpc-go does.
 * @param address One `host[:port]` entry of a target's path.
 */
export function addressToAuthority(address: string): string {
  const hostPort = splitHostPort(address);
  if (hostPort === null) return address;
  if (hostPort.host === '') return `localhost${address}`;
  if (hostPort.port === undefined && hostPort.host.includes(':') && !address.startsWith('[')) {
    return `[${address}]`;
  }
  return address;
}
