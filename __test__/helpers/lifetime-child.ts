// Child process for the process-lifetime tests (__test__/process-lifetime.test.ts):
// a user's script that makes calls and never calls `client.close()`.
//
//   node --import tsx __test__/helpers/lifetime-child.ts <mode> <json args>
//
// Modes that end print `DONE <what>` after their last callback; the parent then
// expects the process to exit by itself, as it does on @grpc/grpc-js. Modes that
// must keep the process alive print `STARTED` once their call is under way.
// Nothing here calls `close()` or `process.exit()`, except the watchdog: a worker
// thread kills the process after 60 s, so a hang never leaves an orphan behind.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type * as GrpcJs from '@grpc/grpc-js';
import { grpc, TestService, clientName } from './fixture';
import { loadTestProto } from './interop-server';

new Worker('setTimeout(() => process.kill(process.pid, "SIGKILL"), 60_000);', {
  eval: true,
}).unref();

/** What the parent passes: server targets and, for TLS, the CA's PEM file. */
interface Args {
  target: string;
  targets?: string[];
  caFile?: string;
}

const [mode, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}') as Args;
const insecure = grpc.credentials.createInsecure();

function done(what: string): void {
  process.stdout.write(`DONE ${what}\n`);
}

function started(): void {
  process.stdout.write('STARTED\n');
}

function outcome(err: GrpcJs.ServiceError | null): string {
  return err ? `ERR ${err.code}` : 'OK';
}

function client(options?: GrpcJs.ClientOptions, target = args.target, creds = insecure) {
  return new TestService(target, creds, options);
}

const modes: Record<string, () => void | Promise<void>> = {
  unary() {
    client().UnaryCall({}, new grpc.Metadata(), {}, (err) => done(outcome(err)));
  },
  'server-stream'() {
    const call = client().StreamingOutputCall(
      {
        response_parameters: [{ size: 10 }, { size: 10 }, { size: 10 }],
      },
      new grpc.Metadata(),
    );
    let n = 0;
    call.on('data', () => n++);
    call.on('error', (err: GrpcJs.ServiceError) => done(outcome(err)));
    call.on('status', (s: GrpcJs.StatusObject) => {
      if (s.code === 0) done(`OK ${n}`);
    });
  },
  'client-stream'() {
    const call = client().StreamingInputCall(new grpc.Metadata(), {}, (err, res) =>
      done(err ? outcome(err) : `OK ${res?.aggregated_payload_size}`),
    );
    call.write({ payload: { body: Buffer.alloc(100) } });
    call.write({ payload: { body: Buffer.alloc(100) } });
    call.end();
  },
  bidi() {
    const call = client().FullDuplexCall(new grpc.Metadata());
    let n = 0;
    call.on('data', () => n++);
    call.on('error', (err: GrpcJs.ServiceError) => done(outcome(err)));
    call.on('status', (s: GrpcJs.StatusObject) => {
      if (s.code === 0) done(`OK ${n}`);
    });
    call.write({ response_parameters: [{ size: 5 }] });
    call.write({ response_parameters: [{ size: 5 }] });
    call.end();
  },
  unavailable() {
    // Fails fast: nothing listens at the target, and a backoff timer is then pending.
    client().UnaryCall({}, new grpc.Metadata(), {}, (err) => done(outcome(err)));
  },
  cancelled() {
    const call = client().StreamingOutputCall(
      {
        response_parameters: [{ size: 10 }, { size: 10, interval_us: 5_000_000 }],
      },
      new grpc.Metadata(),
    );
    call.on('data', () => call.cancel());
    call.on('error', (err: GrpcJs.ServiceError) => done(outcome(err)));
  },
  deadline() {
    const call = client().StreamingOutputCall(
      { response_parameters: [{ size: 10, interval_us: 5_000_000 }] },
      new grpc.Metadata(),
      { deadline: Date.now() + 300 },
    );
    call.on('data', () => {});
    call.on('error', (err: GrpcJs.ServiceError) => done(outcome(err)));
  },
  tls() {
    const ca = readFileSync(args.caFile ?? '');
    const c = client({}, args.target, grpc.credentials.createSsl(ca));
    c.UnaryCall({}, new grpc.Metadata(), {}, (err) => done(outcome(err)));
  },
  keepalive() {
    // Pings every second while calls run (and, permitted, without calls): the
    // native pings must not hold the process.
    const c = client({
      'grpc.keepalive_time_ms': 1000,
      'grpc.keepalive_timeout_ms': 1000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    c.UnaryCall({}, new grpc.Metadata(), {}, (err) => done(outcome(err)));
  },
  'round-robin'() {
    const target = `ipv4:${(args.targets ?? []).join(',')}`;
    const c = client(
      { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) },
      target,
    );
    let left = 6;
    const results: string[] = [];
    for (let i = 0; i < 6; i++) {
      c.UnaryCall({}, new grpc.Metadata(), {}, (err) => {
        results.push(outcome(err));
        if (--left === 0) done(results.join(','));
      });
    }
  },
  async 'server-gone'() {
    // A server in this process serves one call, then goes away: the channel is
    // left reconnecting with backoff, which must not hold the process.
    const grpcJs = require('@grpc/grpc-js') as typeof GrpcJs;
    const { startInteropServer } = await import('./interop-server');
    const server = await startInteropServer();
    const c = client({}, server.address);
    c.UnaryCall({}, new grpc.Metadata(), {}, (err) => {
      const first = outcome(err);
      server.server.forceShutdown();
      const channel = c.getChannel();
      const wait = (): void => {
        const state = channel.getConnectivityState(false);
        if (state !== grpcJs.connectivityState.READY) {
          done(`${first} then state ${grpcJs.connectivityState[state]}`);
          return;
        }
        channel.watchConnectivityState(state, Date.now() + 10_000, wait);
      };
      wait();
    });
  },
  'wait-for-ready-deadline'() {
    client().UnaryCall(
      {},
      new grpc.Metadata({ waitForReady: true }),
      { deadline: Date.now() + 300 },
      (err) => done(outcome(err)),
    );
  },
  async modern() {
    const h2grpc = require('../../ts/index') as typeof import('../../ts/index');
    const pkg = h2grpc.loadPackageDefinition(loadTestProto()) as unknown as {
      grpc: { testing: { TestService: Parameters<typeof h2grpc.createClient>[0] } };
    };
    const c = h2grpc.createClient(pkg.grpc.testing.TestService, args.target) as unknown as {
      unaryCall(req: object): Promise<unknown>;
      streamingOutputCall(req: object): AsyncIterable<unknown>;
    };
    await c.unaryCall({});
    let n = 0;
    for await (const _ of c.streamingOutputCall({
      response_parameters: [{ size: 1 }, { size: 1 }],
    })) {
      n++;
    }
    done(`OK ${n}`);
  },

  // The opposite: each of these must keep the process alive.
  'in-flight'() {
    // One response after 3 s: the process lives until it arrives, then exits.
    const call = client().StreamingOutputCall(
      {
        response_parameters: [{ size: 10, interval_us: 3_000_000 }],
      },
      new grpc.Metadata(),
    );
    call.on('data', () => {});
    call.on('error', (err: GrpcJs.ServiceError) => done(outcome(err)));
    call.on('status', (s: GrpcJs.StatusObject) => {
      if (s.code === 0) done('OK');
    });
    started();
  },
  'wait-for-ready-queued'() {
    client().UnaryCall({}, new grpc.Metadata({ waitForReady: true }), {}, (err) =>
      done(outcome(err)),
    );
    started();
  },
  'open-stream'() {
    // A bidi stream the client never ends: the server keeps it open.
    const call = client().FullDuplexCall(new grpc.Metadata());
    call.on('data', () => {});
    call.on('error', (err: GrpcJs.ServiceError) => done(outcome(err)));
    call.write({ response_parameters: [{ size: 1 }] });
    call.once('data', () => started());
  },
};

const run = modes[mode];
if (run === undefined) throw new Error(`lifetime-child: unknown mode ${mode} (${clientName})`);
void run();
