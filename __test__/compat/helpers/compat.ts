// Shared by the compat tests: loads libraries from __test__/compat's own
// node_modules (installed by scripts/setup-compat.sh with @grpc/grpc-js
// overridden by the packed h2grpc) and proves the override is in effect, so a
// test cannot pass by quietly running on the real grpc-js.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';

/** The compat npm project. */
export const COMPAT_DIR = path.resolve(__dirname, '..');
const REPO_ROOT = path.resolve(COMPAT_DIR, '..', '..');
const STAMP = path.join(COMPAT_DIR, 'node_modules', '.h2grpc-compat-setup');

/** `require` as seen from the compat project (its node_modules, its override). */
export const compatRequire = createRequire(path.join(COMPAT_DIR, 'package.json'));

/** Why the compat tests cannot run, or undefined when the setup script has run. */
export const setupMissing: string | undefined = existsSync(STAMP)
  ? undefined
  : 'scripts/setup-compat.sh has not been run (it packs h2grpc and installs __test__/compat)';

/**
 * `test` when the compat project is installed, `test.skip` otherwise. Without
 * the setup a file also registers one test that says so, which fails in CI
 * (where .ci/run always runs the setup) rather than skipping.
 */
export function compatTest(library: string): typeof test {
  if (setupMissing === undefined) {
    return test;
  }
  if (process.env.CI) {
    test(`${library}: compat setup missing`, (t) => t.fail(setupMissing));
  } else {
    test.skip(`${library}: skipped because ${setupMissing}`, () => {});
  }
  return skippingTest();
}

// `test` with every test skipped and every hook dropped (so that a hook never
// starts a server for tests that do not run).
function skippingTest(): typeof test {
  const skip = (title: string): void => test.skip(title, () => {});
  const noop = (): void => {};
  const hook = Object.assign(noop, { always: noop, skip: noop });
  return Object.assign(skip, {
    serial: Object.assign(skip, { skip }),
    skip,
    before: hook,
    after: hook,
    beforeEach: hook,
    afterEach: hook,
  }) as unknown as typeof test;
}

/** The package.json directory of the package that `file` belongs to. */
function packageRoot(file: string): string {
  let dir = path.dirname(file);
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${file}`);
    dir = up;
  }
  return dir;
}

/**
 * Fails the test unless `@grpc/grpc-js`, resolved from where `library` is
 * installed, is h2grpc; returns that module (the instance the library uses).
 */
export function grpcSeenBy(t: ExecutionContext, library: string): H2grpcModule {
  const libDir = path.join(COMPAT_DIR, 'node_modules', library);
  const resolved = require.resolve('@grpc/grpc-js', { paths: [libDir] });
  const pkg = JSON.parse(readFileSync(path.join(packageRoot(resolved), 'package.json'), 'utf8'));
  t.is(pkg.name, 'h2grpc', `${library} must load h2grpc as @grpc/grpc-js, got ${resolved}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(resolved) as H2grpcModule;
}

/** The parts of h2grpc's exports the compat tests use (typed loosely: it is loaded at run time). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type H2grpcModule = typeof import('../../../ts/index') & Record<string, any>;

/**
 * The real @grpc/grpc-js (the repository's devDependency) for test servers
 * that must not depend on h2grpc's delegation.
 */
export function realGrpcJs(): typeof import('@grpc/grpc-js') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(REPO_ROOT, 'node_modules', '@grpc', 'grpc-js'));
}

/** A TCP port that was free a moment ago, for servers that need one up front. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Calls made through h2grpc's native transport so far (proves the transport carried a library's calls). */
export function nativeCalls(grpc: H2grpcModule): number {
  return grpc.nativeStats().streamsStarted;
}
