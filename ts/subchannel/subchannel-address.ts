// Addresses as resolvers produce them and balancers consume them. The shapes
// are grpc-js's (`{host, port}` for TCP, `{path}` for unix sockets) so that
// resolvers and balancers written against grpc-js's experimental API pass
// their values through unchanged.
import { isIPv6 } from 'node:net';

/** A TCP address: an IP literal (or host name) and a port. */
export interface TcpSubchannelAddress {
  host: string;
  port: number;
}

/** A unix domain socket address. */
export interface IpcSubchannelAddress {
  path: string;
}

/** One backend address to connect to. */
export type SubchannelAddress = TcpSubchannelAddress | IpcSubchannelAddress;

/**
 * One backend as a resolver sees it: a server reachable at any of several
 * addresses (e.g. its IPv4 and IPv6 addresses). Balancers such as
 * round_robin spread load over endpoints, not over addresses (gRFC A61).
 */
export interface Endpoint {
  /** The addresses of one server, in preference order. */
  addresses: SubchannelAddress[];
}

/**
 * Whether `address` is a TCP address.
 * @param address The address to test.
 */
export function isTcpSubchannelAddress(
  address: SubchannelAddress,
): address is TcpSubchannelAddress {
  return 'port' in address;
}

/**
 * Whether two addresses are the same. Two missing addresses are equal, as in
 * grpc-js, so optional fields can be compared directly.
 * @param a First address.
 * @param b Second address.
 */
export function subchannelAddressEqual(a?: SubchannelAddress, b?: SubchannelAddress): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (isTcpSubchannelAddress(a)) {
    return isTcpSubchannelAddress(b) && a.host === b.host && a.port === b.port;
  }
  return !isTcpSubchannelAddress(b) && a.path === b.path;
}

/**
 * The address as text: `host:port`, `[v6]:port`, or the socket path. IPv6
 * hosts are bracketed so the port stays unambiguous.
 * @param address The address to format.
 */
export function subchannelAddressToString(address: SubchannelAddress): string {
  if (!isTcpSubchannelAddress(address)) return address.path;
  return isIPv6(address.host)
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * The endpoint as text, e.g. `[10.0.0.1:443, [::1]:443]`, for logs and
 * error messages.
 * @param endpoint The endpoint to format.
 */
export function endpointToString(endpoint: Endpoint): string {
  return `[${endpoint.addresses.map(subchannelAddressToString).join(', ')}]`;
}

/**
 * Whether `address` is one of the endpoint's addresses.
 * @param endpoint The endpoint to search.
 * @param address The address to look for.
 */
export function endpointHasAddress(endpoint: Endpoint, address: SubchannelAddress): boolean {
  return endpoint.addresses.some((candidate) => subchannelAddressEqual(candidate, address));
}

/**
 * Whether two endpoints list the same addresses in the same order.
 * @param a First endpoint.
 * @param b Second endpoint.
 */
export function endpointEqual(a: Endpoint, b: Endpoint): boolean {
  return (
    a.addresses.length === b.addresses.length &&
    a.addresses.every((address, i) => subchannelAddressEqual(address, b.addresses[i]))
  );
}

// Map keys ignore address order: a resolver may return the same backend's
// addresses in a different order from one resolution to the next, and that
// must not look like a new backend (which would drop its connection).
function endpointEqualUnordered(a: Endpoint, b: Endpoint): boolean {
  return (
    a.addresses.length === b.addresses.length &&
    a.addresses.every((address) => endpointHasAddress(b, address))
  );
}

interface EndpointMapEntry<V> {
  key: Endpoint;
  value: V;
}

/**
 * A map keyed by endpoint, where two endpoints with the same addresses in any
 * order are the same key. Balancers use it to keep per-backend state (a
 * child balancer, weights) across resolver updates.
 *
 * Lookups are linear: endpoint lists are small and the comparison is
 * structural, so hashing would buy little.
 */
export class EndpointMap<V> {
  private readonly entries_: EndpointMapEntry<V>[] = [];

  /** Number of entries. */
  get size(): number {
    return this.entries_.length;
  }

  private find(endpoint: Endpoint): EndpointMapEntry<V> | undefined {
    return this.entries_.find((entry) => endpointEqualUnordered(entry.key, endpoint));
  }

  /**
   * The value of the entry whose endpoint has `address`, if any.
   * @param address The address to look for.
   */
  getForSubchannelAddress(address: SubchannelAddress): V | undefined {
    return this.entries_.find((entry) => endpointHasAddress(entry.key, address))?.value;
  }

  /**
   * Removes every entry whose endpoint is not in `endpoints`.
   * @param endpoints The endpoints to keep.
   * @returns The removed values, so the caller can dispose of them.
   */
  deleteMissing(endpoints: Endpoint[]): V[] {
    const removed: V[] = [];
    for (let i = this.entries_.length - 1; i >= 0; i--) {
      const entry = this.entries_[i];
      if (!endpoints.some((endpoint) => endpointEqualUnordered(endpoint, entry.key))) {
        removed.unshift(entry.value);
        this.entries_.splice(i, 1);
      }
    }
    return removed;
  }

  /**
   * The value for `endpoint`, if any.
   * @param endpoint The key.
   */
  get(endpoint: Endpoint): V | undefined {
    return this.find(endpoint)?.value;
  }

  /**
   * Sets the value for `endpoint`, replacing any value for an equal endpoint
   * (the original key object is kept).
   * @param endpoint The key.
   * @param value The value.
   */
  set(endpoint: Endpoint, value: V): void {
    const entry = this.find(endpoint);
    if (entry === undefined) this.entries_.push({ key: endpoint, value });
    else entry.value = value;
  }

  /**
   * Removes the entry for `endpoint`, if any.
   * @param endpoint The key.
   */
  delete(endpoint: Endpoint): void {
    const index = this.entries_.findIndex((entry) => endpointEqualUnordered(entry.key, endpoint));
    if (index >= 0) this.entries_.splice(index, 1);
  }

  /**
   * Whether there is an entry for `endpoint`.
   * @param endpoint The key.
   */
  has(endpoint: Endpoint): boolean {
    return this.find(endpoint) !== undefined;
  }

  /** Removes every entry. */
  clear(): void {
    this.entries_.length = 0;
  }

  /** The keys, in insertion order. */
  *keys(): IterableIterator<Endpoint> {
    for (const entry of [...this.entries_]) yield entry.key;
  }

  /** The values, in insertion order. */
  *values(): IterableIterator<V> {
    for (const entry of [...this.entries_]) yield entry.value;
  }

  /** `[endpoint, value]` pairs, in insertion order. */
  *entries(): IterableIterator<[Endpoint, V]> {
    for (const entry of [...this.entries_]) yield [entry.key, entry.value];
  }
}
