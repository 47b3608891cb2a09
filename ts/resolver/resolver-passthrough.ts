// grpc-go's `passthrough` resolver: the target's path is handed to the
// dialer as the address, unresolved, so host names are looked up by the
// native dialer at connect time (getaddrinfo there, not here). h2grpc also
// sends targets whose scheme has no resolver here, whole, as grpc-go's
// `Dial` does.
import type { ChannelOptions } from '../channel';
import { Status } from '../constants';
import { statusOrFromError, statusOrFromValue, type StatusOr } from '../status-or';
import type { Endpoint } from '../subchannel/subchannel-address';
import type { ResolverListener } from './resolver';
import { StaticResolver } from './static-resolver';
import { addressToAuthority, splitHostPort, type GrpcUri } from './uri-parser';

/** The scheme of the pass-through resolver. */
export const PASSTHROUGH_SCHEME = 'passthrough';

const DEFAULT_PORT = 443;

function passthroughEndpoints(target: GrpcUri): StatusOr<Endpoint[]> {
  const hostPort = splitHostPort(target.path);
  if (hostPort === null) {
    return statusOrFromError({
      code: Status.UNAVAILABLE,
      details: `Failed to parse passthrough address ${JSON.stringify(target.path)}`,
    });
  }
  // An empty host (`:50051`) means the local machine, as in Go's net.Dial.
  const host = hostPort.host === '' ? 'localhost' : hostPort.host;
  return statusOrFromValue([{ addresses: [{ host, port: hostPort.port ?? DEFAULT_PORT }] }]);
}

/** Reports the target's path as the one address, without looking it up. */
export class PassthroughResolver extends StaticResolver {
  /**
   * @param target A `passthrough:` target, or any target with an unknown
   *   scheme carried whole in the path.
   * @param listener Where to report.
   * @param _channelOptions Unused.
   */
  constructor(target: GrpcUri, listener: ResolverListener, _channelOptions: ChannelOptions) {
    super(listener, passthroughEndpoints(target));
  }

  /**
   * The address as written, as grpc-go does; `:port` becomes
   * `localhost:port`.
   * @param target A `passthrough:` target.
   */
  static getDefaultAuthority(target: GrpcUri): string {
    return addressToAuthority(target.path);
  }
}
