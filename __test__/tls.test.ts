// Secure channels against real grpc-js TLS servers on loopback: TLS and
// mTLS calls, verification failures and their messages, the name override,
// checkServerIdentity, rejectUnauthorized and credential isolation in the
// subchannel pool.
import test from 'ava';
import type * as GrpcJs from '@grpc/grpc-js';
import * as tls from 'node:tls';
import { startTlsServer, testPki, type KeyPair, type TlsServer } from './helpers/certs';
import {
  grpc,
  md,
  streamOutcome,
  TestService,
  unaryOutcome,
  within,
  zeros,
  isGrpcJs,
} from './helpers/fixture';
import type { TestServiceClient } from './helpers/client-under-test';
import type { SimpleResponse, StreamingOutputCallResponse } from './helpers/interop-server';

const pki = testPki();
const servers = new Map<string, Promise<TlsServer>>();

function server(name: string, pair: KeyPair, clientCa?: Buffer): Promise<TlsServer> {
  let s = servers.get(name);
  if (s === undefined) {
    s = startTlsServer(pair, clientCa);
    servers.set(name, s);
  }
  return s;
}

test.after.always(async () => {
  for (const s of servers.values()) await (await s).stop();
});

function client(
  t: { teardown(fn: () => void): void },
  target: string,
  creds: GrpcJs.ChannelCredentials,
  options: GrpcJs.ClientOptions = {},
): TestServiceClient {
  const c = new TestService(target, creds, options);
  t.teardown(() => c.close());
  return c;
}

function unary(c: TestServiceClient, size = 100) {
  return within(
    unaryOutcome<SimpleResponse>((cb) =>
      c.UnaryCall({ response_size: size, payload: zeros(10) }, md(), {}, cb),
    ),
    15_000,
    'UnaryCall',
  );
}

test('TLS unary call with custom roots', async (t) => {
  const s = await server('plain', pki.server);
  const c = client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.ca));
  const out = await unary(c, 31415);
  t.is(out.error, null, out.error?.message);
  t.is(out.response?.payload?.body?.length, 31415);
});

test('TLS to an IP address verifies the IP SAN', async (t) => {
  const s = await server('plain', pki.server);
  const c = client(t, `127.0.0.1:${s.port}`, grpc.credentials.createSsl(pki.ca));
  const out = await unary(c);
  t.is(out.error, null, out.error?.message);
});

test('TLS server streaming', async (t) => {
  const s = await server('plain', pki.server);
  const c = client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.ca));
  const call = c.StreamingOutputCall(
    { response_parameters: [{ size: 10 }, { size: 70000 }, { size: 3 }] },
    md(),
  );
  const out = await within(streamOutcome<StreamingOutputCallResponse>(call), 15_000, 'stream');
  t.is(out.status?.code, grpc.status.OK, out.status?.details);
  t.deepEqual(
    out.messages.map((m) => m.payload?.body?.length),
    [10, 70000, 3],
  );
});

test('mTLS: a client certificate is accepted', async (t) => {
  const s = await server('mtls', pki.server, pki.ca);
  const creds = grpc.credentials.createSsl(pki.ca, pki.client.key, pki.client.cert);
  const out = await unary(client(t, `localhost:${s.port}`, creds));
  t.is(out.error, null, out.error?.message);
});

test('mTLS: without a client certificate the call fails UNAVAILABLE', async (t) => {
  const s = await server('mtls', pki.server, pki.ca);
  const out = await unary(client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.ca)));
  t.is(out.error?.code, grpc.status.UNAVAILABLE);
});

test('wrong hostname fails UNAVAILABLE with a TLS message', async (t) => {
  const s = await server('other', pki.otherName);
  const out = await unary(client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.ca)));
  t.is(out.error?.code, grpc.status.UNAVAILABLE);
  if (!isGrpcJs)
    t.regex(
      out.error?.details ?? '',
      /TLS handshake failed: .*(not valid for name|NotValidForName)/i,
    );
});

test('grpc.ssl_target_name_override makes the other name verify', async (t) => {
  const s = await server('other', pki.otherName);
  const c = client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.ca), {
    'grpc.ssl_target_name_override': 'override.example',
    'grpc.default_authority': 'override.example',
  });
  const out = await unary(c);
  t.is(out.error, null, out.error?.message);
});

test('a server certificate from an unknown CA fails UNAVAILABLE', async (t) => {
  const s = await server('untrusted', pki.untrusted);
  const out = await unary(client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.ca)));
  t.is(out.error?.code, grpc.status.UNAVAILABLE);
  if (!isGrpcJs) t.regex(out.error?.details ?? '', /TLS handshake failed: .*UnknownIssuer/);
});

test('rejectUnauthorized: false accepts an untrusted server', async (t) => {
  const s = await server('untrusted', pki.untrusted);
  const creds = grpc.credentials.createSsl(pki.ca, null, null, { rejectUnauthorized: false });
  const out = await unary(client(t, `localhost:${s.port}`, creds));
  t.is(out.error, null, out.error?.message);
});

test('checkServerIdentity replaces the name check and sees the certificate', async (t) => {
  const s = await server('other', pki.otherName);
  const seen: Array<[string, string | undefined]> = [];
  const creds = grpc.credentials.createSsl(pki.ca, null, null, {
    checkServerIdentity: (host, cert) => {
      seen.push([host, cert.subjectaltname]);
      return undefined;
    },
  });
  const out = await unary(client(t, `localhost:${s.port}`, creds));
  t.is(out.error, null, out.error?.message);
  t.deepEqual(seen, [['localhost', 'DNS:override.example']]);
});

test('checkServerIdentity returning an Error fails the connection', async (t) => {
  const s = await server('plain', pki.server);
  const creds = grpc.credentials.createSsl(pki.ca, null, null, {
    checkServerIdentity: () => new Error('pinned key mismatch'),
  });
  const out = await unary(client(t, `localhost:${s.port}`, creds));
  t.is(out.error?.code, grpc.status.UNAVAILABLE);
  t.regex(out.error?.details ?? '', /pinned key mismatch/);
});

test('checkServerIdentity still requires a trusted chain', async (t) => {
  const s = await server('untrusted', pki.untrusted);
  let called = false;
  const creds = grpc.credentials.createSsl(pki.ca, null, null, {
    checkServerIdentity: () => {
      called = true;
      return undefined;
    },
  });
  const out = await unary(client(t, `localhost:${s.port}`, creds));
  t.is(out.error?.code, grpc.status.UNAVAILABLE);
  t.false(called);
});

test('channels with different credentials do not share a connection', async (t) => {
  const s = await server('plain', pki.server);
  const good = client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.ca));
  t.is((await unary(good)).error, null);
  const bad = client(t, `localhost:${s.port}`, grpc.credentials.createSsl(pki.unknownCa));
  t.is((await unary(bad)).error?.code, grpc.status.UNAVAILABLE);
  const insecure = client(t, `localhost:${s.port}`, grpc.credentials.createInsecure());
  t.is((await unary(insecure)).error?.code, grpc.status.UNAVAILABLE);
});

for (const [what, alpn] of [
  ['refuses h2 (no_application_protocol alert)', ['http/1.1']],
  ['ignores ALPN', undefined],
] as const) {
  // grpc-js does not check the ALPN result and waits forever on a server that ignores ALPN.
  const run = isGrpcJs && alpn === undefined ? test.skip : test;
  run(`a TLS server that ${what} fails with an ALPN message`, async (t) => {
    await alpnCase(t, alpn === undefined ? undefined : [...alpn]);
  });
}

async function alpnCase(t: import('ava').ExecutionContext, alpn: string[] | undefined) {
  const srv = tls.createServer({ key: pki.server.key, cert: pki.server.cert, ALPNProtocols: alpn });
  srv.on('secureConnection', (sock) => sock.on('error', () => {}));
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  const out = await unary(client(t, `localhost:${port}`, grpc.credentials.createSsl(pki.ca)));
  t.is(out.error?.code, grpc.status.UNAVAILABLE);
  if (!isGrpcJs) t.regex(out.error?.details ?? '', /did not select HTTP\/2 \(ALPN "h2"\)/);
}

test('createSsl validates its arguments like grpc-js', (t) => {
  t.throws(() => grpc.credentials.createSsl('x' as unknown as Buffer), {
    instanceOf: TypeError,
    message: 'Root certificate, if provided, must be a Buffer.',
  });
  t.throws(() => grpc.credentials.createSsl(null, pki.client.key), {
    message: 'Private key must be given with accompanying certificate chain',
  });
  t.throws(() => grpc.credentials.createSsl(null, null, pki.client.cert), {
    message: 'Certificate chain must be given with accompanying private key',
  });
  t.throws(() => grpc.credentials.createInsecure().compose(grpc.credentials.createEmpty()), {
    message: 'Cannot compose insecure credentials',
  });
});

test('with rejectUnauthorized: false a checkServerIdentity Error does not fail the connection', async (t) => {
  const s = await server('untrusted', pki.untrusted);
  const creds = grpc.credentials.createSsl(pki.ca, null, null, {
    rejectUnauthorized: false,
    checkServerIdentity: () => new Error('ignored when not rejecting'),
  });
  const out = await unary(client(t, `localhost:${s.port}`, creds));
  t.is(out.error, null, out.error?.message);
});
