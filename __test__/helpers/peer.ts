// Runs the interop server as a child process (a real, separately scheduled peer
// that tests can kill and restart), and guarantees it is cleaned up.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SERVER_MAIN = path.join(__dirname, 'interop-server-main.ts');

/** The part of an ava ExecutionContext used here. */
export interface TeardownContext {
  teardown(fn: () => void | Promise<void>): void;
  log?(...values: unknown[]): void;
}

export interface SpawnOptions {
  /** Port to listen on (default: any free port). Ignored when `address` is given. */
  port?: number;
  /** Full listen address, e.g. `unix:/tmp/x.sock`, `127.0.0.1:50051` or `[::1]:0`. */
  address?: string;
  /** What UnaryCall reports for `fill_server_id` (default: the server's address). */
  serverId?: string;
  /** Registers `stop()` with `t.teardown`. Strongly recommended. */
  t?: TeardownContext;
  /** How long to wait for `LISTENING` (default 30 s; tsx startup can be slow on busy CI). */
  startTimeoutMs?: number;
}

export interface InteropPeer {
  port: number;
  /** Target for clients: `127.0.0.1:<port>`, `[::1]:<port>` or the unix address. */
  address: string;
  /** What UnaryCall reports for `fill_server_id` (the same across restarts). */
  serverId: string;
  /** The server process's pid (changes on restart). */
  readonly pid: number | undefined;
  /** Every stdout line the server printed so far, across restarts. */
  readonly lines: string[];
  /** Resolves with the first line (past or future) matching `re`; rejects after timeoutMs. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal and waits until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a new server process on the same port/address (kills the current one first if alive). */
  restart(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s). Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function spawnInteropServer(opts: SpawnOptions = {}): Promise<InteropPeer> {
  installExitHook();
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const lines: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  let listenArg = opts.address ?? (opts.port !== undefined ? String(opts.port) : '0');
  // The host a TCP listen address names (`127.0.0.1` unless `address` says otherwise).
  const tcpHost =
    opts.address === undefined || opts.address.startsWith('unix:')
      ? '127.0.0.1'
      : opts.address.slice(0, opts.address.lastIndexOf(':'));
  let serverId = opts.serverId;
  let child: ChildProcess | undefined;
  let stopped = false;

  const onLine = (line: string) => {
    lines.push(line);
    for (const w of [...lineWaiters]) w(line);
  };

  const start = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', SERVER_MAIN, listenArg], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...process.env, NODE_OPTIONS: '', H2GRPC_SERVER_ID: serverId ?? '' },
      });
      child = proc;
      live.add(proc);
      let stderr = '';
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (d: string) => {
        stderr += d;
        if (stderr.length > 16_384) stderr = stderr.slice(-16_384);
      });
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`interop server did not start within ${startTimeoutMs} ms\n${stderr}`));
      }, startTimeoutMs);
      readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^LISTENING (\S+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
        onLine(line);
      });
      proc.once('exit', (code, signal) => {
        live.delete(proc);
        clearTimeout(timer);
        reject(new Error(`interop server exited (code ${code}, signal ${signal})\n${stderr}`));
      });
      // The IPC channel only exists so the child exits when we die; don't let it hold us.
      proc.channel?.unref();
    });

  const listening = await start();
  const address = listening.startsWith('unix:') ? listening : `${tcpHost}:${listening}`;
  const port = listening.startsWith('unix:') ? 0 : Number(listening);
  // Restarts listen on the same port (and keep reporting the same server id).
  if (!opts.address) listenArg = String(port);
  else if (!opts.address.startsWith('unix:')) listenArg = address;
  serverId ??= address;

  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const proc = child;
    if (!proc) return;
    proc.kill(signal);
    await exited(proc);
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const force = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.kill('SIGTERM');
    await exited(proc);
    clearTimeout(force);
  };

  const peer: InteropPeer = {
    port,
    address,
    serverId,
    get pid() {
      return child?.pid;
    },
    lines,
    waitForLine(re, timeoutMs = 5000) {
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = (line: string) => {
          if (!re.test(line)) return;
          lineWaiters.delete(w);
          clearTimeout(timer);
          resolve(line);
        };
        const timer = setTimeout(() => {
          lineWaiters.delete(w);
          reject(new Error(`no server output line matched ${re} within ${timeoutMs} ms`));
        }, timeoutMs);
        lineWaiters.add(w);
      });
    },
    kill,
    async restart() {
      if (stopped) throw new Error('peer was stopped');
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) await kill('SIGTERM');
      await start();
    },
    stop,
  };
  opts.t?.teardown(stop);
  return peer;
}

/** The part of ava's `test` that {@link shareInteropPeer} uses. */
interface HookableTest {
  before(fn: (t: { log(...values: unknown[]): void }) => Promise<void>): void;
  after: { always(fn: () => Promise<void>): void };
}

/**
 * One interop server for a whole test file: started before its tests (the
 * client under test is logged), stopped after them, handed over via `set`.
 */
export function shareInteropPeer(
  test: HookableTest,
  describe: () => string,
  set: (peer: InteropPeer) => void,
): void {
  let peer: InteropPeer | undefined;
  test.before(async (t) => {
    t.log(describe());
    peer = await spawnInteropServer();
    set(peer);
  });
  test.after.always(async () => {
    await peer?.stop();
  });
}
