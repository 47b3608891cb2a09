// Target schemes of gRPC's naming doc against real servers: `dns:///localhost:port` and
// bare `localhost:port`, `ipv4:`, `ipv6:[::1]:port`, `unix:/path`, `unix:///abs/path`
// and `unix-abstract:name`.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { spawn } from 'node:child_process';
import test from 'ava';
import { describeClient, grpc, isGrpcJs, newClient } from '../helpers/fixture';
import { ask, askMany, spawnBackends, tally } from '../helpers/backends';
import { spawnInteropServer } from '../helpers/peer';

test.before((t) => {
  t.log(describeClient());
});

/** Whether this machine can listen on IPv6 loopback. */
function ipv6LoopbackWorks(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

let socketCounter = 0;
/** A fresh socket path under the temp dir, removed on teardown. */
function socketPath(t: { teardown(fn: () => void): void }): string {
  socketCounter += 1;
  const file = path.join(os.tmpdir(), `h2grpc-chan-${process.pid}-${socketCounter}.sock`);
  t.teardown(() => fs.rmSync(file, { force: true }));
  return file;
}

async function callsWork(
  t: { is(a: unknown, b: unknown, m?: string): void; deepEqual(a: unknown, b: unknown): void },
  target: string,
  serverId: string,
  client: ReturnType<typeof newClient>,
): Promise<void> {
  const first = await ask(client);
  t.is(first.error, null, `${target}: ${first.error?.message}`);
  t.is(first.serverId, serverId);
  t.deepEqual(tally(await askMany(client, 10)), { [serverId]: 10 });
  t.is(client.getChannel().getConnectivityState(false), grpc.connectivityState.READY);
}

test('dns:///localhost:<port> and localhost:<port>', async (t) => {
  t.timeout(60_000);
  const [backend] = await spawnBackends(t, 1);
  for (const target of [`dns:///localhost:${backend.port}`, `localhost:${backend.port}`]) {
    await callsWork(t, target, backend.serverId, newClient(t, target));
  }
});

test('dns:///127.0.0.1:<port> and ipv4:127.0.0.1:<port> (IP literals, no lookup)', async (t) => {
  t.timeout(60_000);
  const [backend] = await spawnBackends(t, 1);
  for (const target of [`dns:///127.0.0.1:${backend.port}`, `ipv4:127.0.0.1:${backend.port}`]) {
    await callsWork(t, target, backend.serverId, newClient(t, target));
  }
});

test('ipv6:[::1]:<port> and [::1]:<port>', async (t) => {
  t.timeout(60_000);
  if (!(await ipv6LoopbackWorks())) {
    t.log('IPv6 loopback is not available on this machine: skipped');
    t.pass();
    return;
  }
  const backend = await spawnInteropServer({ t, address: '[::1]:0' });
  t.is(backend.address, `[::1]:${backend.port}`);
  for (const target of [`ipv6:[::1]:${backend.port}`, `[::1]:${backend.port}`]) {
    await callsWork(t, target, backend.serverId, newClient(t, target));
  }
});

test('unix:/abs/path and unix:///abs/path', async (t) => {
  t.timeout(60_000);
  const file = socketPath(t);
  const backend = await spawnInteropServer({ t, address: `unix:${file}` });
  for (const target of [`unix:${file}`, `unix://${file}`]) {
    await callsWork(t, target, backend.serverId, newClient(t, target));
  }
});

test('unix:relative/path (relative to the working directory)', async (t) => {
  t.timeout(60_000);
  const file = socketPath(t);
  const backend = await spawnInteropServer({ t, address: `unix:${file}` });
  const relative = path.relative(process.cwd(), file);
  t.false(path.isAbsolute(relative));
  await callsWork(t, `unix:${relative}`, backend.serverId, newClient(t, `unix:${relative}`));
});

// A TCP ⇄ abstract-socket bridge in Python. Node cannot serve this test itself: Node 20
// binds an abstract name padded with NULs to the full sun_path (108 bytes), so
// `\0name` in Node is not the socket `name` that gRPC core, grpc-go, Python and
// h2grpc's dialer (exact-length names) connect to.
const ABSTRACT_BRIDGE = `
import os, socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
# Exit when the test process goes away (stdin closes), even without a teardown.
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(b"\\0" + name.encode())
srv.listen(16)
print("LISTENING", flush=True)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", port))
    print("ACCEPTED", flush=True)
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
`;

/** Starts the bridge; resolves with its output lines, or null when python3 is missing. */
async function abstractBridge(
  t: { teardown(fn: () => void): void },
  name: string,
  port: number,
): Promise<string[] | null> {
  const proc = spawn('python3', ['-c', ABSTRACT_BRIDGE, name, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    proc.once('error', () => resolve(null)); // ENOENT: no python3
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.once('exit', (code) => reject(new Error(`bridge exited (${code}): ${stderr}`)));
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      lines.push(line);
      if (line === 'LISTENING') resolve(lines);
    });
  });
}

test('unix-abstract:name (Linux abstract socket, bridged to a real server)', async (t) => {
  t.timeout(60_000);
  if (isGrpcJs) {
    t.log('grpc-js clients have no unix-abstract: scheme: skipped');
    t.pass();
    return;
  }
  if (process.platform !== 'linux') {
    t.log('abstract unix sockets exist on Linux only: skipped');
    t.pass();
    return;
  }
  const [backend] = await spawnBackends(t, 1);
  const name = `h2grpc-chan-${process.pid}-abstract`;
  const bridge = await abstractBridge(t, name, backend.port);
  if (bridge === null) {
    t.log('python3 is not available for the abstract-socket bridge: skipped');
    t.pass();
    return;
  }
  const client = newClient(t, `unix-abstract:${name}`);
  await callsWork(t, `unix-abstract:${name}`, backend.serverId, client);
  t.deepEqual(bridge, ['LISTENING', 'ACCEPTED'], 'one connection through the abstract socket');
});
