// Channel options that shape the HTTP/2 connection, observed from a raw
// node:http2 server: what SETTINGS and connection window the client grants.
import http2 from 'node:http2';
import test from 'ava';
import { Client, credentials } from '../ts/index';

interface Seen {
  streamWindow: number;
  connWindow: number;
}

async function observe(options: Record<string, unknown>): Promise<Seen> {
  const server = http2.createServer();
  const seen = new Promise<Seen>((resolve) => {
    server.on('stream', (stream, _headers) => {
      const session = stream.session!;
      resolve({
        streamWindow: session.remoteSettings.initialWindowSize ?? -1,
        connWindow: session.state.remoteWindowSize ?? -1,
      });
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' },
        {
          endStream: true,
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), options);
  await new Promise<void>((resolve) =>
    client.makeUnaryRequest(
      '/s.S/M',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      () => resolve(),
    ),
  );
  client.close();
  await new Promise((r) => server.close(r));
  return seen;
}

test('defaults: 64 KiB stream window, 16 MiB connection window', async (t) => {
  const seen = await observe({});
  t.is(seen.streamWindow, 65535);
  t.true(seen.connWindow >= 16 * 1024 * 1024 - 65535, String(seen.connWindow));
});

test('grpc-node.flow_control_window sets both windows, as in grpc-js', async (t) => {
  const seen = await observe({ 'grpc-node.flow_control_window': 1024 * 1024 });
  t.is(seen.streamWindow, 1024 * 1024);
  t.true(Math.abs(seen.connWindow - 1024 * 1024) <= 65535, String(seen.connWindow));
});

test('grpc-node.max_session_memory caps the connection window', async (t) => {
  const seen = await observe({ 'grpc-node.max_session_memory': 2 });
  t.true(seen.connWindow <= 2 * 1024 * 1024, String(seen.connWindow));
  t.true(seen.connWindow > 1024 * 1024, String(seen.connWindow));
});

test('unknown options are ignored, as grpc-js does', async (t) => {
  const seen = await observe({ 'grpc.no_such_option': 1, 'x.y': 'z' });
  t.is(seen.streamWindow, 65535);
});
