// HTTP CONNECT proxying against a tiny proxy written here (node:http
// 'connect' handler) that counts the tunnels it opens: selection by
// environment variable, `grpc.enable_http_proxy: 0`, `no_grpc_proxy`, Basic
// credentials from the proxy URL, TLS through the tunnel, and refusals.
import test from 'ava';
import * as http from 'node:http';
import * as net from 'node:net';
import { startTlsServer, testPki, type TlsServer } from './helpers/certs';
import { grpc, md, TestService, unaryOutcome, within, isGrpcJs } from './helpers/fixture';
import { startInteropServer, type InteropServer } from './helpers/interop-server';
import type * as GrpcJs from '@grpc/grpc-js';

interface Proxy {
  port: number;
  tunnels: Array<{ url: string; auth: string | undefined }>;
  /** When set, CONNECT is answered with this status instead of a tunnel. */
  refuseWith?: number;
  close(): void;
}

async function startProxy(): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  const proxy: Proxy = {
    port: 0,
    tunnels: [],
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('error', () => {});
    proxy.tunnels.push({ url: req.url ?? '', auth: req.headers['proxy-authorization'] });
    if (proxy.refuseWith !== undefined) {
      client.end(`HTTP/1.1 ${proxy.refuseWith} Nope\r\n\r\n`);
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}

const PROXY_ENV = ['grpc_proxy', 'https_proxy', 'http_proxy', 'no_grpc_proxy', 'no_proxy'];

/** Creates a client while `env` is in effect (channels read the proxy settings when created). */
function clientWithEnv(
  t: { teardown(fn: () => void): void },
  env: Record<string, string>,
  target: string,
  creds: GrpcJs.ChannelCredentials = grpc.credentials.createInsecure(),
  options: GrpcJs.ClientOptions = {},
) {
  const saved = PROXY_ENV.map((k) => [k, process.env[k]] as const);
  for (const k of PROXY_ENV) delete process.env[k];
  Object.assign(process.env, env);
  try {
    const c = new TestService(target, creds, options);
    t.teardown(() => c.close());
    return c;
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

let plain!: InteropServer;
let secure!: TlsServer;
let proxy!: Proxy;
const pki = testPki();

test.before(async () => {
  plain = await startInteropServer();
  secure = await startTlsServer(pki.server);
  proxy = await startProxy();
});

test.after.always(async () => {
  proxy?.close();
  await plain?.stop();
  await secure?.stop();
});

function unary(c: ReturnType<typeof clientWithEnv>) {
  return within(
    unaryOutcome<object>((cb) => c.UnaryCall({}, md(), {}, cb)),
    15_000,
    'UnaryCall',
  );
}

test.serial(
  'grpc_proxy routes the connection through a CONNECT tunnel with Basic auth',
  async (t) => {
    proxy.tunnels = [];
    const target = `localhost:${plain.port}`;
    const c = clientWithEnv(
      t,
      { grpc_proxy: `http://user:p%40ss@127.0.0.1:${proxy.port}` },
      target,
    );
    const out = await unary(c);
    t.is(out.error, null, out.error?.message);
    t.is(proxy.tunnels.length, 1);
    t.is(proxy.tunnels[0].url, target);
    t.is(proxy.tunnels[0].auth, `Basic ${Buffer.from('user:p@ss').toString('base64')}`);
  },
);

test.serial('http_proxy is used when grpc_proxy is unset', async (t) => {
  proxy.tunnels = [];
  const c = clientWithEnv(
    t,
    { http_proxy: `http://127.0.0.1:${proxy.port}` },
    `localhost:${plain.port}`,
  );
  const out = await unary(c);
  t.is(out.error, null, out.error?.message);
  t.is(proxy.tunnels.length, 1);
  t.is(proxy.tunnels[0].auth, undefined);
});

test.serial('grpc.enable_http_proxy: 0 connects directly', async (t) => {
  proxy.tunnels = [];
  const c = clientWithEnv(
    t,
    { grpc_proxy: `http://127.0.0.1:${proxy.port}` },
    `localhost:${plain.port}`,
    grpc.credentials.createInsecure(),
    { 'grpc.enable_http_proxy': 0 },
  );
  const out = await unary(c);
  t.is(out.error, null, out.error?.message);
  t.is(proxy.tunnels.length, 0);
});

test.serial('no_grpc_proxy suffixes and CIDRs bypass the proxy', async (t) => {
  proxy.tunnels = [];
  const byName = clientWithEnv(
    t,
    { grpc_proxy: `http://127.0.0.1:${proxy.port}`, no_grpc_proxy: 'example.com,host' },
    `localhost:${plain.port}`,
  );
  t.is((await unary(byName)).error, null);
  const byCidr = clientWithEnv(
    t,
    { grpc_proxy: `http://127.0.0.1:${proxy.port}`, no_proxy: '10.0.0.0/8,127.0.0.0/8' },
    `127.0.0.1:${plain.port}`,
  );
  t.is((await unary(byCidr)).error, null);
  t.is(proxy.tunnels.length, 0);
});

test.serial('TLS runs end to end through the tunnel', async (t) => {
  proxy.tunnels = [];
  const c = clientWithEnv(
    t,
    { https_proxy: `http://127.0.0.1:${proxy.port}` },
    `localhost:${secure.port}`,
    grpc.credentials.createSsl(pki.ca),
  );
  const out = await unary(c);
  t.is(out.error, null, out.error?.message);
  t.deepEqual(
    proxy.tunnels.map((x) => x.url),
    [`localhost:${secure.port}`],
  );
});

test.serial('a proxy refusing the tunnel fails the call UNAVAILABLE', async (t) => {
  proxy.tunnels = [];
  proxy.refuseWith = 407;
  t.teardown(() => (proxy.refuseWith = undefined));
  const c = clientWithEnv(
    t,
    { grpc_proxy: `http://127.0.0.1:${proxy.port}` },
    `localhost:${plain.port}`,
  );
  const out = await unary(c);
  t.is(out.error?.code, grpc.status.UNAVAILABLE);
  t.true(proxy.tunnels.length >= 1);
  if (!isGrpcJs) t.regex(out.error?.details ?? '', /proxy refused the tunnel with status 407/);
});

test.serial(
  'an explicit grpc.http_connect_target makes the channel target the proxy',
  async (t) => {
    proxy.tunnels = [];
    const c = clientWithEnv(t, {}, `127.0.0.1:${proxy.port}`, grpc.credentials.createSsl(pki.ca), {
      'grpc.http_connect_target': `dns:///localhost:${secure.port}`,
      'grpc.http_connect_creds': 'alice:secret',
    });
    const out = await unary(c);
    t.is(out.error, null, out.error?.message);
    t.deepEqual(proxy.tunnels, [
      {
        url: `localhost:${secure.port}`,
        auth: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
      },
    ]);
  },
);

test.serial(
  'grpc.http_connect_target without a scheme: the tunnel and the TLS name both use its host',
  async (t) => {
    if (isGrpcJs) {
      // grpc-js parses `localhost:<port>` as scheme `localhost`, path `<port>`: its
      // TLS setup throws "Invalid target" from inside the balancer (an uncaught
      // exception), so this is not run against it.
      t.pass();
      return;
    }
    proxy.tunnels = [];
    const c = clientWithEnv(t, {}, `127.0.0.1:${proxy.port}`, grpc.credentials.createSsl(pki.ca), {
      'grpc.http_connect_target': `localhost:${secure.port}`,
    });
    const out = await unary(c);
    // h2grpc reads the option once, with the channel target's rules (a bare
    // `host:port` is a dns target), for both the tunnel and the TLS name.
    t.is(out.error, null, out.error?.message);
    t.deepEqual(
      proxy.tunnels.map((tunnel) => tunnel.url),
      [`localhost:${secure.port}`],
    );
  },
);
