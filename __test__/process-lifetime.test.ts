// Process lifetime, as a user's script sees it: a program that makes calls and
// never calls `client.close()` exits by itself once nothing is in flight, as it
// does on @grpc/grpc-js (an idle READY connection, keepalive pings, the idle
// timer, backoff and re-resolution timers never hold the process); a call in
// flight, a queued wait-for-ready call and an open stream do hold it.
// Each case runs __test__/helpers/lifetime-child.ts in its own process.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { deadPort } from './helpers/backends';
import { startTlsServer, testPki } from './helpers/certs';
import { clientName } from './helpers/fixture';
import { startInteropServer, type InteropServer } from './helpers/interop-server';

const CHILD = path.join(__dirname, 'helpers', 'lifetime-child.ts');
/** How long after its last callback the child may take to exit. */
const EXIT_WITHIN_MS = 1000;

interface ChildRun {
  /** The line after `DONE `, or null if none was printed. */
  done: string | null;
  /** ms from the DONE line to the process's exit. */
  exitAfterDoneMs: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

interface Child {
  /** Resolves once the child printed `STARTED`. */
  started: Promise<void>;
  /** Resolves when the process has exited (killed after `hardTimeoutMs`). */
  exited: Promise<ChildRun>;
  alive(): boolean;
  kill(): void;
}

function startChild(mode: string, args: object, hardTimeoutMs = 10_000): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let done: string | null = null;
  let doneAt = 0;
  let stderr = '';
  let onStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'STARTED') onStarted();
    if (line.startsWith('DONE ')) {
      done = line.slice(5);
      doneAt = Date.now();
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const hard = setTimeout(() => child.kill('SIGKILL'), hardTimeoutMs);
  const exited = new Promise<ChildRun>((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(hard);
      // Let readline deliver the last lines before reporting.
      setImmediate(() =>
        resolve({
          done,
          exitAfterDoneMs: done === null ? NaN : Date.now() - doneAt,
          code,
          signal,
          stderr,
        }),
      );
    });
  });
  return {
    started,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: () => child.kill('SIGKILL'),
  };
}

let server: InteropServer;
const backends: InteropServer[] = [];

test.before(async () => {
  server = await startInteropServer();
  for (let i = 0; i < 3; i++) backends.push(await startInteropServer());
});

test.after.always(async () => {
  await Promise.all([server, ...backends].map((s) => s?.stop()));
});

function exitsByItself(mode: string, expected: RegExp, args: () => Promise<object> | object) {
  test(`${mode}: exits by itself after its last callback, without close()`, async (t) => {
    const run = await startChild(mode, { target: server.address, ...(await args()) }).exited;
    t.log(`${clientName}: ${run.done}, exit ${run.code ?? run.signal} ${run.exitAfterDoneMs} ms`);
    t.regex(run.done ?? `(no DONE line) ${run.stderr}`, expected);
    t.is(run.signal, null, `still running: ${run.stderr}`);
    t.is(run.code, 0, run.stderr);
    t.true(
      run.exitAfterDoneMs < EXIT_WITHIN_MS,
      `exited ${run.exitAfterDoneMs} ms after its last callback`,
    );
  });
}

exitsByItself('unary', /^OK$/, () => ({}));
exitsByItself('server-stream', /^OK 3$/, () => ({}));
exitsByItself('client-stream', /^OK 200$/, () => ({}));
exitsByItself('bidi', /^OK 2$/, () => ({}));
exitsByItself('unavailable', /^ERR 14$/, async () => ({ target: `127.0.0.1:${await deadPort()}` }));
exitsByItself('cancelled', /^ERR 1$/, () => ({}));
exitsByItself('deadline', /^ERR 4$/, () => ({}));
exitsByItself('keepalive', /^OK$/, () => ({}));
exitsByItself('round-robin', /^OK(,OK){5}$/, () => ({ targets: backends.map((b) => b.address) }));
exitsByItself('server-gone', /^OK then state (IDLE|CONNECTING|TRANSIENT_FAILURE)$/, () => ({}));
exitsByItself('wait-for-ready-deadline', /^ERR 4$/, async () => ({
  target: `127.0.0.1:${await deadPort()}`,
}));

test('tls: exits by itself after its last callback, without close()', async (t) => {
  const pki = testPki();
  const tls = await startTlsServer(pki.server);
  t.teardown(() => tls.stop());
  const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'h2grpc-lifetime-')), 'ca.pem');
  writeFileSync(caFile, pki.ca);
  const run = await startChild('tls', { target: `localhost:${tls.port}`, caFile }).exited;
  t.is(run.done, 'OK', run.stderr);
  t.is(run.code, 0, run.stderr);
  t.true(run.exitAfterDoneMs < EXIT_WITHIN_MS, `exited ${run.exitAfterDoneMs} ms after`);
});

if (clientName === 'h2grpc') {
  exitsByItself('modern', /^OK 2$/, () => ({}));
}

test('a call in flight keeps the process alive until it ends', async (t) => {
  const child = startChild('in-flight', { target: server.address });
  await child.started;
  await new Promise((r) => setTimeout(r, 1500));
  t.true(child.alive(), 'the process exited while its call was in flight');
  const run = await child.exited;
  t.is(run.done, 'OK', run.stderr);
  t.true(run.exitAfterDoneMs < EXIT_WITHIN_MS, `exited ${run.exitAfterDoneMs} ms after`);
});

for (const [mode, what] of [
  ['wait-for-ready-queued', 'a wait-for-ready call queued on a down server'],
  ['open-stream', 'an open server stream'],
] as const) {
  test(`${what} keeps the process alive`, async (t) => {
    const target = mode === 'open-stream' ? server.address : `127.0.0.1:${await deadPort()}`;
    const child = startChild(mode, { target });
    t.teardown(() => child.kill());
    await child.started;
    await new Promise((r) => setTimeout(r, 2000));
    t.true(child.alive(), `the process exited: ${(await child.exited).stderr}`);
  });
}
