// Helpers for the channel tests (__test__/channel/): several real interop servers at
// once, calls that report which backend answered, and connectivity-state watching on
// a client's channel.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type * as GrpcJs from '@grpc/grpc-js';
import { grpc, md, unaryOutcome, within, type ServiceError } from './fixture';
import type { TestServiceClient } from './client-under-test';
import {
  spawnInteropServer,
  type InteropPeer,
  type SpawnOptions,
  type TeardownContext,
} from './peer';
import type { SimpleResponse } from './interop-server';

/** Starts `n` interop servers on loopback in parallel (each stopped on teardown). */
export function spawnBackends(
  t: TeardownContext,
  n: number,
  opts: Omit<SpawnOptions, 't'> = {},
): Promise<InteropPeer[]> {
  return Promise.all(Array.from({ length: n }, () => spawnInteropServer({ ...opts, t })));
}

/**
 * A loopback TCP port with nothing listening on it: bound, then released. (Another
 * process could take it in between; on a test machine that is vanishingly rare.)
 */
export function deadPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `ipv4:` target listing the given ports on 127.0.0.1, in order. */
export function ipv4Target(ports: number[]): string {
  return `ipv4:${ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
}

/** The outcome of one UnaryCall that asked for the server id. */
export interface Answer {
  /** The answering backend's id (its address by default), or null if the call failed. */
  serverId: string | null;
  error: ServiceError | null;
  /** Milliseconds from start to completion. */
  ms: number;
}

export interface AskOptions {
  /** Wait for ready (Metadata option) instead of failing fast. */
  waitForReady?: boolean;
  /** Call deadline, ms from now (default 10 s). */
  deadlineMs?: number;
  /** Extra request metadata. */
  metadata?: Record<string, string>;
}

/** One UnaryCall with `fill_server_id`: which backend answered, or the error. */
export async function ask(client: TestServiceClient, opts: AskOptions = {}): Promise<Answer> {
  const metadata = md(opts.metadata ?? {});
  if (opts.waitForReady !== undefined) metadata.setOptions({ waitForReady: opts.waitForReady });
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const start = Date.now();
  const out = await within(
    unaryOutcome<SimpleResponse>((cb) =>
      client.UnaryCall({ fill_server_id: true }, metadata, { deadline: start + deadlineMs }, cb),
    ),
    deadlineMs + 10_000,
    'UnaryCall asking for the server id',
  );
  return {
    serverId: out.error === null ? (out.response?.server_id ?? '') : null,
    error: out.error,
    ms: Date.now() - start,
  };
}

/** `n` calls started together; resolves once all have ended. */
export function askMany(
  client: TestServiceClient,
  n: number,
  opts: AskOptions = {},
): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, () => ask(client, opts)));
}

/** How many answers each server id gave (failed calls under `error:<code>`). */
export function tally(answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const key = a.serverId ?? `error:${a.error?.code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Asks until every id in `ids` has answered at least once (round_robin: every backend
 * connected). Rejects after `timeoutMs`.
 */
export async function untilAllAnswered(
  client: TestServiceClient,
  ids: string[],
  timeoutMs = 15_000,
): Promise<void> {
  const seen = new Set<string>();
  const end = Date.now() + timeoutMs;
  while (!ids.every((id) => seen.has(id))) {
    if (Date.now() > end) {
      throw new Error(`only ${[...seen].join(', ')} answered within ${timeoutMs} ms`);
    }
    for (const a of await askMany(client, ids.length)) if (a.serverId) seen.add(a.serverId);
  }
}

/** Asks until `id` answers; resolves with how long that took. Rejects after `timeoutMs`. */
export async function untilAnsweredBy(
  client: TestServiceClient,
  id: string,
  timeoutMs = 15_000,
  opts: AskOptions = {},
): Promise<number> {
  const start = Date.now();
  for (;;) {
    const a = await ask(client, opts);
    if (a.serverId === id) return Date.now() - start;
    if (Date.now() - start > timeoutMs) {
      throw new Error(
        `${id} did not answer within ${timeoutMs} ms; last answer: ${a.serverId ?? a.error?.message}`,
      );
    }
    if (a.error) await new Promise((r) => setTimeout(r, 20));
  }
}

type Channel = ReturnType<GrpcJs.Client['getChannel']>;
type State = GrpcJs.connectivityState;

/** The name of a connectivity state, for messages. */
export function stateName(state: State): string {
  return grpc.connectivityState[state];
}

/** Resolves with the next state after `current` (or rejects after `timeoutMs`). */
export function nextState(channel: Channel, current: State, timeoutMs = 10_000): Promise<State> {
  return new Promise((resolve, reject) => {
    channel.watchConnectivityState(current, Date.now() + timeoutMs, (err) => {
      if (err) reject(new Error(`state stayed ${stateName(current)} for ${timeoutMs} ms`));
      else resolve(channel.getConnectivityState(false));
    });
  });
}

/** Waits until the channel is in `want`, without asking it to connect. */
export async function untilState(channel: Channel, want: State, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let state = channel.getConnectivityState(false);
  while (state !== want) {
    const left = end - Date.now();
    if (left <= 0) {
      throw new Error(`channel did not reach ${stateName(want)} within ${timeoutMs} ms`);
    }
    try {
      state = await nextState(channel, state, left);
    } catch {
      throw new Error(
        `channel did not reach ${stateName(want)} within ${timeoutMs} ms (stuck in ${stateName(state)})`,
      );
    }
  }
}

/**
 * Records every state the channel goes through from now on (starting with the current
 * one) until `stop()` is called.
 */
export function recordStates(channel: Channel): { states: State[]; stop(): void } {
  const states: State[] = [channel.getConnectivityState(false)];
  let stopped = false;
  const watch = (current: State): void => {
    if (stopped || current === grpc.connectivityState.SHUTDOWN) return;
    channel.watchConnectivityState(current, Infinity, () => {
      if (stopped) return;
      const state = channel.getConnectivityState(false);
      states.push(state);
      watch(state);
    });
  };
  watch(states[0]);
  return {
    states,
    stop() {
      stopped = true;
    },
  };
}

/** A running `channel-child.ts` process. */
export interface ChannelChild {
  /** Stdout lines so far. */
  readonly lines: string[];
  /** Stderr so far (for failure messages). */
  stderr(): string;
  /** Resolves with the first stdout line matching `re` (or null if the child exits first). */
  line(re: RegExp): Promise<string | null>;
  /** Resolves with the exit code once the child has exited. */
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
}

/** Starts `__test__/helpers/channel-child.ts <mode> <port>`; killed on teardown. */
export function runChannelChild(t: TeardownContext, mode: string, port: number): ChannelChild {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'channel-child.ts'), mode, String(port)],
    {
      cwd: path.resolve(__dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  t.teardown(() => {
    if (!hasExited()) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      resolve(code);
      for (const w of [...waiters]) w();
    }),
  );
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  return {
    lines,
    stderr: () => stderr,
    exited,
    hasExited,
    line(re) {
      return new Promise((resolve) => {
        const check = () => {
          const hit = lines.find((l) => re.test(l));
          if (hit !== undefined || hasExited()) {
            waiters.delete(check);
            resolve(hit ?? null);
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}
