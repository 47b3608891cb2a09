// Child process for option-edges.test.ts: a retried or hedged call waits on a
// server's pushback timer when it ends, on a client that is never closed; the process
// must then exit by itself (the timer belongs to the call, not to the process).
//
//   node --import tsx __test__/helpers/retry-timer-child.ts <policy> <end> <port>
//     policy: `retry` (retryPolicy) or `hedging` (hedgingPolicy, 20 s hedging delay).
//     end:    `cancel` (the call is cancelled after 500 ms) or `deadline` (1.5 s).
//   The server at 127.0.0.1:<port> (`/edge.E/Fail`) fails the first attempt with
//   `grpc-retry-pushback-ms: 30000` (`/edge.E/Echo` warms the connection up first).
//   Prints `RESULT <status name> <ms>` when the call ends.
//
// Whatever happens, a watchdog thread kills the process after 60 s.
import { Worker } from 'node:worker_threads';
import { grpc } from './fixture';

new Worker('setTimeout(() => process.kill(process.pid, "SIGKILL"), 60_000);', {
  eval: true,
}).unref();

const [policy, end, portArg] = process.argv.slice(2);
const codes = ['UNAVAILABLE'];
const methodConfig =
  policy === 'retry'
    ? {
        retryPolicy: {
          maxAttempts: 2,
          initialBackoff: '0.01s',
          maxBackoff: '0.01s',
          backoffMultiplier: 1,
          retryableStatusCodes: codes,
        },
      }
    : { hedgingPolicy: { maxAttempts: 2, hedgingDelay: '20s', nonFatalStatusCodes: codes } };
const serviceConfig = { methodConfig: [{ name: [{ service: 'edge.E' }], ...methodConfig }] };

const client = new grpc.Client(`127.0.0.1:${portArg}`, grpc.credentials.createInsecure(), {
  'grpc.service_config': JSON.stringify(serviceConfig),
});
const id = (b: Buffer): Buffer => b;

/** One unary call; resolves with its status name. */
function call(
  path: string,
  metadata: InstanceType<typeof grpc.Metadata>,
  deadline: number,
  cancelAfterMs?: number,
): Promise<string> {
  return new Promise((resolve) => {
    const started = client.makeUnaryRequest(
      path,
      id,
      id,
      Buffer.alloc(0),
      metadata,
      { deadline },
      (err) => resolve(grpc.status[err?.code ?? grpc.status.OK]),
    );
    if (cancelAfterMs !== undefined) setTimeout(() => started.cancel(), cancelAfterMs);
  });
}

async function main(): Promise<void> {
  // Connected first, so that the first attempt's failure surely comes back before
  // the call ends, even on a busy machine.
  const warm = new grpc.Metadata();
  warm.set('x-key', `child-warm-${process.pid}`);
  await call('/edge.E/Echo', warm, Infinity);

  const metadata = new grpc.Metadata();
  metadata.set('x-key', `child-${process.pid}`);
  metadata.set('x-pushback', '30000');
  const start = Date.now();
  const name =
    end === 'cancel'
      ? await call('/edge.E/Fail', metadata, Infinity, 500)
      : await call('/edge.E/Fail', metadata, start + 1500);
  process.stdout.write(`RESULT ${name} ${Date.now() - start}\n`);
}

void main();
