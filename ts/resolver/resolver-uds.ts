// Unix domain socket targets from gRPC's naming doc:
//   unix:path            relative or absolute path
//   unix:///abs/path     absolute path (the authority must be empty)
//   unix-abstract:name   Linux abstract namespace; Node (and the kernel)
//                        mark an abstract name with a leading NUL byte
import type { ChannelOptions } from '../channel';
import { Status } from '../constants';
import { statusOrFromError, statusOrFromValue, type StatusOr } from '../status-or';
import type { Endpoint } from '../subchannel/subchannel-address';
import type { ResolverListener } from './resolver';
import { StaticResolver } from './static-resolver';
import { uriToString, type GrpcUri } from './uri-parser';

/** The scheme for filesystem unix sockets. */
export const UNIX_SCHEME = 'unix';
/** The scheme for Linux abstract-namespace unix sockets. */
export const UNIX_ABSTRACT_SCHEME = 'unix-abstract';

function socketEndpoints(target: GrpcUri): StatusOr<Endpoint[]> {
  // `scheme:///x` parses as authority '' and path 'x'; the URI's real path
  // is '/x'. A non-empty authority names a host, which sockets do not have.
  if (target.authority !== undefined && target.authority !== '') {
    return statusOrFromError({
      code: Status.UNAVAILABLE,
      details: `Invalid unix socket target ${uriToString(target)}: the authority must be empty`,
    });
  }
  const path = target.authority === '' ? `/${target.path}` : target.path;
  const abstract = target.scheme?.toLowerCase() === UNIX_ABSTRACT_SCHEME;
  return statusOrFromValue([{ addresses: [{ path: abstract ? `\0${path}` : path }] }]);
}

/** Resolves `unix:` and `unix-abstract:` targets to their one socket address. */
export class UdsResolver extends StaticResolver {
  /**
   * @param target A `unix:` or `unix-abstract:` target.
   * @param listener Where to report.
   * @param _channelOptions Unused: a socket path needs no settings.
   */
  constructor(target: GrpcUri, listener: ResolverListener, _channelOptions: ChannelOptions) {
    super(listener, socketEndpoints(target));
  }

  /**
   * Always `localhost`: a socket path is not a host name (gRPC core, grpc-go
   * and grpc-js agree).
   * @param _target A `unix:` or `unix-abstract:` target.
   */
  static getDefaultAuthority(_target: GrpcUri): string {
    return 'localhost';
  }
}
