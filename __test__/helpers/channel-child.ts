// Child process for channel tests whose failure mode is the whole process misbehaving
// (exiting too early, or a starved event loop that no in-process timeout can catch):
//
//   node --import tsx __test__/helpers/channel-child.ts wait-for-ready <port>
//     One wait-for-ready EmptyCall without a deadline to 127.0.0.1:<port>, where nothing
//     listens yet. Prints `STARTED`, then `OK` once the call succeeds (exit 0) or
//     `FAILED <code> <details>` (exit 1). Nothing else keeps the event loop alive, so
//     the process only lives as long as the channel keeps it alive.
//
//   node --import tsx __test__/helpers/channel-child.ts deadline <port>
//     The same call with a 1 s deadline, and the client left open: prints `STARTED`,
//     then `FAILED 4 …` at the deadline, after which the process must exit by itself.
//
//   node --import tsx __test__/helpers/channel-child.ts eager-resolver <port>
//     A user resolver that answers every updateResolution() at once (next tick) with
//     127.0.0.1:<port> (dead), and one wait-for-ready call with a 3 s deadline. Prints
//     `RESULT {"code":…,"ms":…,"ticks":…,"requests":…}` and exits.
//
// Whatever happens, the process kills itself after 60 s: a watchdog thread does it, so
// even a starved event loop (or a parent killed before its teardown ran) leaves no
// orphan behind.
import { Worker } from 'node:worker_threads';
import { grpc, TestService } from './fixture';

new Worker('setTimeout(() => process.kill(process.pid, "SIGKILL"), 60_000);', {
  eval: true,
}).unref();

const [mode, portArg] = process.argv.slice(2);
const port = Number(portArg);

function waitForReady(deadline: number, close: boolean): void {
  const client = new TestService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  process.stdout.write('STARTED\n');
  client.EmptyCall({}, new grpc.Metadata({ waitForReady: true }), { deadline }, (err) => {
    if (err) {
      process.stdout.write(`FAILED ${err.code} ${err.details}\n`);
      process.exitCode = 1;
    } else {
      process.stdout.write('OK\n');
    }
    if (close) client.close();
  });
}

function eagerResolver(): void {
  let requests = 0;
  type Listener = Parameters<typeof grpc.experimental.createResolver>[1];
  class EagerResolver {
    constructor(
      _target: unknown,
      private readonly listener: Listener,
    ) {}
    updateResolution(): void {
      requests++;
      process.nextTick(() =>
        this.listener(
          grpc.experimental.statusOrFromValue([{ addresses: [{ host: '127.0.0.1', port }] }]),
          {},
          null,
          '',
        ),
      );
    }
    destroy(): void {}
    static getDefaultAuthority(): string {
      return 'localhost';
    }
  }
  grpc.experimental.registerResolver('eager', EagerResolver);
  const client = new TestService('eager:///backend', grpc.credentials.createInsecure());
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 50);
  const start = Date.now();
  const metadata = new grpc.Metadata({ waitForReady: true });
  client.EmptyCall({}, metadata, { deadline: start + 3000 }, (err) => {
    clearInterval(ticker);
    const result = { code: err?.code ?? 0, ms: Date.now() - start, ticks, requests };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    client.close();
    process.exit(0);
  });
}

if (mode === 'wait-for-ready') waitForReady(Infinity, true);
else if (mode === 'deadline') waitForReady(Date.now() + 1000, false);
else if (mode === 'eager-resolver') eagerResolver();
else throw new Error(`unknown mode ${mode}`);
