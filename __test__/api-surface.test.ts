// The drop-in promise, checked mechanically: every runtime export of
// @grpc/grpc-js (and every method of its client-side classes) exists in
// h2grpc, except the few listed below with the reason they are absent.
import test from 'ava';
import * as grpcJs from '@grpc/grpc-js';
import * as h2grpc from '../ts/index';

// experimental exports that belong to grpc-js's internals or server side and
// that no client library uses; see README "Compatibility".
const ABSENT_EXPERIMENTAL = new Set([
  'CHANNEL_ARGS_CONFIG_SELECTOR_KEY',
  'BaseFilter',
  'FilterStackFactory',
  'registerAdminService',
  'createServerCredentialsWithInterceptors',
  'createCertificateProviderServerCredentials',
  'FileWatcherCertificateProvider',
  'createCertificateProviderChannelCredentials',
  'SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX',
]);

// Private in grpc-js's TypeScript API (argument juggling helpers), so no
// typed caller can reach them.
const PRIVATE_METHODS = new Set(['checkOptionalUnaryResponseArguments', 'checkMetadataAndOptions']);

function protoMethods(ctor: unknown): Set<string> {
  const names = new Set<string>();
  let proto = (ctor as { prototype: object }).prototype;
  while (proto !== null && proto !== Object.prototype) {
    for (const n of Object.getOwnPropertyNames(proto)) names.add(n);
    proto = Object.getPrototypeOf(proto) as object;
  }
  return names;
}

test('every top-level export of @grpc/grpc-js exists', (t) => {
  const missing = Object.keys(grpcJs).filter((k) => !(k in h2grpc));
  t.deepEqual(missing, []);
});

test('client-side classes have every grpc-js method', (t) => {
  const gj = grpcJs as unknown as Record<string, unknown>;
  const ours = h2grpc as unknown as Record<string, unknown>;
  for (const name of ['Metadata', 'Client', 'Channel', 'ChannelCredentials', 'CallCredentials']) {
    const theirs = protoMethods(gj[name]);
    const mine = protoMethods(ours[name]);
    t.deepEqual(
      [...theirs].filter((m) => !mine.has(m) && !PRIVATE_METHODS.has(m)),
      [],
      `${name} methods`,
    );
    const statics = Object.getOwnPropertyNames(gj[name] as object).filter(
      (s) => !(s in (ours[name] as object)),
    );
    t.deepEqual(statics, [], `${name} statics`);
  }
});

test('credentials, status, enums and experimental match', (t) => {
  t.deepEqual(
    Object.keys(grpcJs.credentials).filter((k) => !(k in h2grpc.credentials)),
    [],
  );
  t.deepEqual({ ...h2grpc.status }, { ...grpcJs.status });
  t.deepEqual({ ...h2grpc.connectivityState }, { ...grpcJs.connectivityState });
  t.deepEqual({ ...h2grpc.propagate }, { ...grpcJs.propagate });
  t.deepEqual({ ...h2grpc.logVerbosity }, { ...grpcJs.logVerbosity });
  t.deepEqual({ ...h2grpc.compressionAlgorithms }, { ...grpcJs.compressionAlgorithms });
  const missing = Object.keys(grpcJs.experimental).filter(
    (k) => !(k in h2grpc.experimental) && !ABSENT_EXPERIMENTAL.has(k),
  );
  t.deepEqual(missing, []);
});
