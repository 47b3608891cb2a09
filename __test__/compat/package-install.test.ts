// The packed h2grpc as a user installs it (the tarball in __test__/compat).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { COMPAT_DIR, compatRequire, compatTest } from './helpers/compat';

const test = compatTest('package install');
const INSTALLED = path.join(COMPAT_DIR, 'node_modules', 'h2grpc');

test('the installed package has dist/ and the addon, and no TypeScript sources', (t) => {
  t.true(existsSync(path.join(INSTALLED, 'dist', 'index.js')));
  t.false(existsSync(path.join(INSTALLED, 'ts')));
  const addons = readdirSync(INSTALLED).filter((f) => /^h2grpc\..+\.node$/.test(f));
  t.is(addons.length, 1, addons.join(','));
});

test('its install script uses the bundled addon without cargo or tsc', (t) => {
  // npm 11 skips dependencies' install scripts unless allowed, so the bundled
  // addon must work without it; when the script does run, it must not need a
  // Rust toolchain or the TypeScript sources. PATH without cargo proves it.
  const run = spawnSync(process.execPath, [path.join(INSTALLED, 'scripts', 'install.js')], {
    cwd: INSTALLED,
    encoding: 'utf8',
    env: { ...process.env, PATH: path.dirname(process.execPath) },
  });
  t.is(run.status, 0, run.stdout + run.stderr);
  t.regex(run.stdout, /using the bundled native addon/);
  t.notRegex(run.stdout, /cargo build|compiling TypeScript/);
});

test('the installed package makes a call', async (t) => {
  const grpc = compatRequire('h2grpc');
  const real = compatRequire('h2grpc-grpc-js-server');
  const server = new real.Server();
  const service = {
    Ping: {
      path: '/compat.Ping/Ping',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  };
  server.addService(service, {
    Ping: (call: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      real.ServerCredentials.createInsecure(),
      (e: Error | null, p: number) => (e ? reject(e) : resolve(p)),
    ),
  );
  t.teardown(() => server.forceShutdown());
  const Client = grpc.makeGenericClientConstructor(service, 'Ping');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const reply = await new Promise<Buffer>((resolve, reject) =>
    client.Ping(Buffer.from('pong'), (e: Error | null, r: Buffer) => (e ? reject(e) : resolve(r))),
  );
  t.is(reply.toString(), 'pong');
  t.true(grpc.nativeStats().streamsStarted >= 1);
});
