// `ipv4:addr[:port][,addr[:port]...]` and `ipv6:addr[:port][,...]` (IPv6
// literals in brackets when a port follows) from gRPC's naming doc: a fixed
// list of IP addresses, one endpoint each, no lookups.
import { isIPv4, isIPv6 } from 'node:net';
import type { ChannelOptions } from '../channel';
import { Status } from '../constants';
import { statusOrFromError, statusOrFromValue, type StatusOr } from '../status-or';
import type { Endpoint, SubchannelAddress } from '../subchannel/subchannel-address';
import type { ResolverListener } from './resolver';
import { StaticResolver } from './static-resolver';
import { addressToAuthority, splitHostPort, type GrpcUri } from './uri-parser';

/** The scheme for lists of IPv4 addresses. */
export const IPV4_SCHEME = 'ipv4';
/** The scheme for lists of IPv6 addresses. */
export const IPV6_SCHEME = 'ipv6';

const DEFAULT_PORT = 443;

function parseAddressList(target: GrpcUri): StatusOr<Endpoint[]> {
  const scheme = target.scheme?.toLowerCase();
  const isFamily = scheme === IPV4_SCHEME ? isIPv4 : scheme === IPV6_SCHEME ? isIPv6 : null;
  if (isFamily === null) {
    return statusOrFromError({
      code: Status.UNAVAILABLE,
      details: `Unrecognized scheme ${String(target.scheme)} in IP resolver`,
    });
  }
  const addresses: SubchannelAddress[] = [];
  for (const entry of target.path.split(',')) {
    const hostPort = splitHostPort(entry);
    // One bad entry fails the whole target: silently dropping it would hide
    // a typo behind a channel that works with fewer backends.
    if (hostPort === null || !isFamily(hostPort.host)) {
      return statusOrFromError({
        code: Status.UNAVAILABLE,
        details: `Failed to parse ${scheme} address ${JSON.stringify(entry)}`,
      });
    }
    addresses.push({ host: hostPort.host, port: hostPort.port ?? DEFAULT_PORT });
  }
  return statusOrFromValue(addresses.map((address) => ({ addresses: [address] })));
}

/** Resolves `ipv4:` and `ipv6:` targets to one endpoint per listed address. */
export class IpResolver extends StaticResolver {
  /**
   * @param target An `ipv4:` or `ipv6:` target.
   * @param listener Where to report.
   * @param _channelOptions Unused: the address list needs no settings.
   */
  constructor(target: GrpcUri, listener: ResolverListener, _channelOptions: ChannelOptions) {
    super(listener, parseAddressList(target));
  }

  /**
   * The first address as written (e.g. `10.0.0.1:50051`), as grpc-js does.
   * @param target An `ipv4:` or `ipv6:` target.
   */
  static getDefaultAuthority(target: GrpcUri): string {
    return addressToAuthority(target.path.split(',')[0]);
  }
}
