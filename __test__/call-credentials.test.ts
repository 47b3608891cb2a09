// Call credentials against a real grpc-js TLS server: metadata from channel
// and per-call credentials reaches the server in grpc-js's order, the
// generator sees grpc-js's options, and generator failures end the call with
// grpc-js's status.
import test from 'ava';
import type * as GrpcJs from '@grpc/grpc-js';
import { startTlsServer, testPki, type TlsServer } from './helpers/certs';
import { grpc, md, TestService, unaryOutcome, within, isGrpcJs } from './helpers/fixture';
import type { TestServiceClient } from './helpers/client-under-test';
import { ECHO_ALL_KEY, startInteropServer, type InteropServer } from './helpers/interop-server';

const pki = testPki();
let tlsServer!: TlsServer;
let plainServer!: InteropServer;

test.before(async () => {
  tlsServer = await startTlsServer(pki.server);
  plainServer = await startInteropServer();
});

test.after.always(async () => {
  await tlsServer?.stop();
  await plainServer?.stop();
});

type Generator = (
  options: { service_url: string; method_name: string },
  cb: (err: Error | null, metadata?: GrpcJs.Metadata) => void,
) => void;

function adding(key: string, value: string, seen?: unknown[]): GrpcJs.CallCredentials {
  const gen: Generator = (options, cb) => {
    seen?.push(options);
    cb(null, md({ [key]: value }));
  };
  return grpc.credentials.createFromMetadataGenerator(gen);
}

function secureClient(t: { teardown(fn: () => void): void }, creds: GrpcJs.ChannelCredentials) {
  const c = new TestService(`localhost:${tlsServer.port}`, creds, {});
  t.teardown(() => c.close());
  return c;
}

function call(c: TestServiceClient, options: GrpcJs.CallOptions = {}) {
  return within(
    unaryOutcome<object>((cb) => c.UnaryCall({}, md({ [ECHO_ALL_KEY]: '1' }), options, cb)),
    15_000,
    'UnaryCall',
  );
}

test('channel call credentials reach the server, generator sees grpc-js options', async (t) => {
  const seen: unknown[] = [];
  const creds = grpc.credentials.combineChannelCredentials(
    grpc.credentials.createSsl(pki.ca),
    adding('authorization', 'Bearer channel-token', seen),
  );
  const out = await call(secureClient(t, creds));
  t.is(out.error, null, out.error?.message);
  t.deepEqual(out.headers?.get('authorization'), ['Bearer channel-token']);
  t.deepEqual(seen, [
    {
      service_url: 'https://localhost/grpc.testing.TestService',
      method_name: '/grpc.testing.TestService/UnaryCall',
    },
  ]);
});

test('per-call credentials come before the channel credentials', async (t) => {
  const creds = grpc.credentials.createSsl(pki.ca).compose(adding('x-order', 'channel'));
  const out = await call(secureClient(t, creds), { credentials: adding('x-order', 'call') });
  t.is(out.error, null, out.error?.message);
  // Node's HTTP/2 server joins repeated request headers with ", ".
  t.is(out.headers?.get('x-order').join(', '), 'call, channel');
});

test('combineCallCredentials merges in argument order', async (t) => {
  const combined = grpc.credentials.combineCallCredentials(
    adding('x-order', 'a'),
    adding('x-order', 'b'),
    adding('x-order', 'c'),
  );
  const creds = grpc.credentials.combineChannelCredentials(
    grpc.credentials.createSsl(pki.ca),
    combined,
  );
  const out = await call(secureClient(t, creds));
  t.is(out.error, null, out.error?.message);
  t.is(out.headers?.get('x-order').join(', '), 'a, b, c');
});

test('a generator error ends the call UNKNOWN with the plugin message', async (t) => {
  const failing = grpc.credentials.createFromMetadataGenerator((_o, cb) => cb(new Error('boom')));
  const creds = grpc.credentials.createSsl(pki.ca).compose(failing);
  const c = secureClient(t, creds);
  const out = await call(c, { credentials: adding('x-other', 'ok') });
  t.is(out.error?.code, grpc.status.UNKNOWN);
  t.is(out.error?.details, 'Getting metadata from plugin failed with error: boom');
});

test('a generator error code passes through, control-plane codes become INTERNAL', async (t) => {
  const withCode = (code: number) =>
    grpc.credentials.createFromMetadataGenerator((_o, cb) =>
      cb(Object.assign(new Error('denied'), { code })),
    );
  const c = secureClient(t, grpc.credentials.createSsl(pki.ca));
  const unauth = await call(c, { credentials: withCode(grpc.status.UNAUTHENTICATED) });
  t.is(unauth.error?.code, grpc.status.UNAUTHENTICATED);
  t.is(unauth.error?.details, 'Getting metadata from plugin failed with error: denied');
  const bad = await call(c, { credentials: withCode(grpc.status.INVALID_ARGUMENT) });
  t.is(bad.error?.code, grpc.status.INTERNAL);
  t.is(
    bad.error?.details,
    'Invalid status from control plane: 3 INVALID_ARGUMENT Getting metadata from plugin failed with error: denied',
  );
});

test('two authorization values fail the call INTERNAL', async (t) => {
  const c = secureClient(
    t,
    grpc.credentials.createSsl(pki.ca).compose(adding('authorization', 'Bearer a')),
  );
  const out = await call(c, { credentials: adding('authorization', 'Bearer b') });
  t.is(out.error?.code, grpc.status.INTERNAL);
  t.is(out.error?.details, '"authorization" metadata cannot have multiple values');
});

test('createFromGoogleCredential uses getRequestHeaders(service_url)', async (t) => {
  const urls: string[] = [];
  const google = grpc.credentials.createFromGoogleCredential({
    getRequestHeaders: async (url?: string) => {
      urls.push(url ?? '');
      return { authorization: 'Bearer google' };
    },
  });
  const c = secureClient(t, grpc.credentials.createSsl(pki.ca).compose(google));
  const out = await call(c);
  t.is(out.error, null, out.error?.message);
  t.deepEqual(out.headers?.get('authorization'), ['Bearer google']);
  t.deepEqual(urls, ['https://localhost/grpc.testing.TestService']);
});

test('per-call credentials apply on insecure channels too, as in grpc-js 1.14', async (t) => {
  const c = new TestService(plainServer.address, grpc.credentials.createInsecure(), {});
  t.teardown(() => c.close());
  const out = await call(c, { credentials: adding('x-call', 'yes') });
  t.is(out.error, null, out.error?.message);
  t.deepEqual(out.headers?.get('x-call'), ['yes']);
});

test('a slow generator is bounded by the call deadline', async (t) => {
  const never = grpc.credentials.createFromMetadataGenerator(() => {});
  const c = secureClient(t, grpc.credentials.createSsl(pki.ca));
  const out = await call(c, { credentials: never, deadline: Date.now() + 300 });
  t.is(out.error?.code, grpc.status.DEADLINE_EXCEEDED);
});

test('createFromSecureContext explains the alternative', (t) => {
  if (isGrpcJs) {
    t.pass();
    return;
  }
  t.throws(() => grpc.credentials.createFromSecureContext({} as never), {
    message: /createSsl/,
  });
});

test('a connection lost while the generator runs makes the call pick again', async (t) => {
  const own = await startTlsServer(pki.server);
  t.teardown(() => own.stop());
  const c = new TestService(`localhost:${own.port}`, grpc.credentials.createSsl(pki.ca), {});
  t.teardown(() => c.close());
  t.is((await call(c)).error, null);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const slow = grpc.credentials.createFromMetadataGenerator((_o, cb) => {
    void gate.then(() => cb(null, md({ 'x-late': '1' })));
  });
  const pending = call(c, { credentials: slow });
  await new Promise((r) => setTimeout(r, 200));
  await own.stop();
  const again = await startTlsServer(pki.server, undefined, own.port);
  t.teardown(() => again.stop());
  await new Promise((r) => setTimeout(r, 300));
  release();
  // The picked connection is gone: the call is picked again and runs on a
  // new connection to the restarted server, instead of failing on the dead one.
  const out = await pending;
  t.is(out.error, null, out.error?.message);
  t.deepEqual(out.headers?.get('x-late'), ['1']);
});
