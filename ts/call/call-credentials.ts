// Applies call credentials to a call once a connection is picked, the way
// grpc-js's load-balancing call does: the call's own credentials, then the
// channel's, all generators at once, their metadata merged after the
// request metadata. Only calls that have call credentials come here.
import { Status } from '../constants';
import { isEmptyCallCredentials, type CallCredentials } from '../credentials';
import { Metadata } from '../metadata';
import { splitHostPort } from '../resolver/uri-parser';
import { encodeMetadata } from '../transport/metadata-codec';

/** Why applying call credentials failed: the status the call ends with. */
export interface CredentialsFailure {
  code: Status;
  details: string;
}

/** Codes a metadata plugin may not produce (gRPC A54); grpc-js turns them into INTERNAL. */
const INAPPROPRIATE_CONTROL_PLANE_CODES: readonly Status[] = [
  Status.OK,
  Status.INVALID_ARGUMENT,
  Status.NOT_FOUND,
  Status.ALREADY_EXISTS,
  Status.FAILED_PRECONDITION,
  Status.ABORTED,
  Status.OUT_OF_RANGE,
  Status.DATA_LOSS,
];

/** `/pkg.Service/Method` → `pkg.Service`, as grpc-js's `extractServiceName`. */
function serviceName(method: string): string {
  const first = method.indexOf('/');
  if (first === -1) return '';
  const second = method.indexOf('/', first + 1);
  return second === -1 ? method.substring(first + 1) : method.substring(first + 1, second);
}

/** The `service_url` a generator sees: `https://<host of authority>/<service>`. */
export function computeServiceUrl(authority: string, method: string): string {
  const host = splitHostPort(authority)?.host ?? 'localhost';
  return `https://${host}/${serviceName(method)}`;
}

function failure(err: unknown): CredentialsFailure {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const code = typeof e?.code === 'number' ? (e.code as Status) : Status.UNKNOWN;
  const details = `Getting metadata from plugin failed with error: ${String(e?.message)}`;
  if (INAPPROPRIATE_CONTROL_PLANE_CODES.includes(code)) {
    return {
      code: Status.INTERNAL,
      details: `Invalid status from control plane: ${code} ${Status[code]} ${details}`,
    };
  }
  return { code, details };
}

/**
 * Produces the call's final metadata, encoded for `startCall`.
 * @param callCredentials The call's own (`CallOptions.credentials`), or null.
 * @param channelCredentials The channel credentials' call credentials, if any.
 * @param authority The call's `:authority`, for `service_url`.
 * @param method Full method path.
 * @param metadata The request metadata (not modified).
 * @param done Called once: a failure status, or null and the encoded metadata.
 */
export function applyCallCredentials(
  callCredentials: CallCredentials | null,
  channelCredentials: CallCredentials | undefined,
  authority: string,
  method: string,
  metadata: Metadata,
  done: (failure: CredentialsFailure | null, encoded: string | null) => void,
): void {
  let creds = callCredentials ?? channelCredentials;
  if (callCredentials !== null && channelCredentials !== undefined) {
    creds = callCredentials.compose(channelCredentials);
  }
  if (creds === undefined || isEmptyCallCredentials(creds)) {
    done(null, encodeMetadata(metadata));
    return;
  }
  let generated: Promise<Metadata>;
  try {
    generated = creds.generateMetadata({
      method_name: method,
      service_url: computeServiceUrl(authority, method),
    });
  } catch (e) {
    done(failure(e), null);
    return;
  }
  generated.then(
    (extra) => {
      let encoded: string | null;
      try {
        const final = metadata.clone();
        final.merge(extra);
        if (final.get('authorization').length > 1) {
          done(
            {
              code: Status.INTERNAL,
              details: '"authorization" metadata cannot have multiple values',
            },
            null,
          );
          return;
        }
        encoded = encodeMetadata(final);
      } catch (e) {
        done(
          {
            code: Status.INTERNAL,
            details: `Call credentials produced unusable metadata: ${e instanceof Error ? e.message : String(e)}`,
          },
          null,
        );
        return;
      }
      done(null, encoded);
    },
    (err: unknown) => done(failure(err), null),
  );
}
