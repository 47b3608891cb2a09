// Runs grpc-go's interop test server (google.golang.org/grpc/interop/server, installed by
// scripts/ensure-go-interop.sh) as a child process on a free loopback port, plaintext.
// It prints nothing useful when ready, so readiness is a TCP connect that succeeds.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TeardownContext } from './peer';

export const GRPC_GO_VERSION = 'v1.85.0';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Where scripts/ensure-go-interop.sh puts the binary. */
export const GO_INTEROP_SERVER_BIN = path.join(
  REPO_ROOT,
  '.cache',
  'go-bin',
  `grpc-go-interop-server-${GRPC_GO_VERSION}`,
);

export interface GoInteropServer {
  port: number;
  /** Target for clients: `127.0.0.1:<port>`. */
  address: string;
  /** The server's stdout and stderr so far (the last 16 KiB). */
  output(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

export interface GoSpawnOptions {
  /** Registers `stop()` with `t.teardown`. */
  t?: TeardownContext;
  /** How long to wait for the port to accept connections (default 15 s). */
  startTimeoutMs?: number;
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

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function exited(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A port that was free a moment ago (the OS picks it; we release it for the server). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true if a TCP connection to 127.0.0.1:port succeeds within timeoutMs. */
function canConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function startOnce(port: number, startTimeoutMs: number): Promise<GoInteropServer> {
  const child = spawn(GO_INTEROP_SERVER_BIN, [`-port=${port}`, '-use_tls=false'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  const collect = (d: Buffer) => {
    out += d.toString('utf8');
    if (out.length > 16_384) out = out.slice(-16_384);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (!isRunning(child)) return;
      const force = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.kill('SIGTERM');
      await exited(child);
      clearTimeout(force);
    })();
    return stopped;
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (spawnError) throw spawnError;
    if (!isRunning(child)) {
      throw new Error(
        `grpc-go interop server exited before accepting connections ` +
          `(code ${child.exitCode}, signal ${child.signalCode})\n${out}`,
      );
    }
    if (await canConnect(port, 500)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `grpc-go interop server did not accept connections on port ${port} ` +
          `within ${startTimeoutMs} ms\n${out}`,
      );
    }
    await sleep(25);
  }

  return { port, address: `127.0.0.1:${port}`, output: () => out, stop };
}

/**
 * Starts grpc-go's interop server (`-port=<free port> -use_tls=false`) and resolves once
 * it accepts TCP connections. Retries on a fresh port if the chosen one was taken
 * meanwhile (the server then exits at once).
 */
export async function spawnGoInteropServer(opts: GoSpawnOptions = {}): Promise<GoInteropServer> {
  if (!fs.existsSync(GO_INTEROP_SERVER_BIN)) {
    throw new Error(
      `${path.relative(REPO_ROOT, GO_INTEROP_SERVER_BIN)} is missing: run ` +
        '`bash scripts/ensure-go-interop.sh` (npm test does so in pretest; it needs Go)',
    );
  }
  installExitHook();
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      const server = await startOnce(port, startTimeoutMs);
      opts.t?.teardown(server.stop);
      return server;
    } catch (err) {
      lastError = err;
      // Only a lost race for the port is worth another try: the process exited early.
      if (!/exited before accepting/.test(String(err))) break;
    }
  }
  throw lastError;
}
