// Child process for the receive-backpressure tests (__test__/backpressure.test.ts):
// a client that reads a fast server stream (helpers/bulk-server.ts) slowly, and
// reports its own memory, so the test process's heap does not blur the figures.
//
//   node --import tsx __test__/helpers/slow-consumer-child.ts <mode> <port>
//
// Prints one line `RESULT <json>` and exits. Modes:
//   pause         read 4 messages, pause() the Readable for 5 s, then read the rest
//   sleepy        `for await` over the Readable, sleeping 10 ms per message, for 5 s
//   sleepy-modern the same with the modern API's async iterator (h2grpc only)
//   two-streams   four streams stop reading; another on the same channel downloads
//                 256 MiB before and during that; reports both durations
//   destroy       read 4 messages, then destroy() the Readable
//   hold          read 256 000 messages of 512 B, keeping every 256th alive, then
//                 report what stays allocated after a GC (run with --expose-gc)
import { Worker } from 'node:worker_threads';
import type * as GrpcJs from '@grpc/grpc-js';
import { grpc } from './fixture';
import { BULK_SERVICE, type DownloadStats } from './bulk-server';

new Worker('setTimeout(() => process.kill(process.pid, "SIGKILL"), 120_000);', {
  eval: true,
}).unref();

const MESSAGE = 64 * 1024;
/** 1 GiB of 64 KiB messages. */
const GIB_MESSAGES = 16 * 1024;

const [mode, portArg] = process.argv.slice(2);
const target = `127.0.0.1:${portArg}`;

interface BulkClient extends GrpcJs.Client {
  download(request: Buffer): GrpcJs.ClientReadableStream<Buffer>;
  stats(request: Buffer, callback: (err: GrpcJs.ServiceError | null, res?: Buffer) => void): void;
}
const Bulk = grpc.makeGenericClientConstructor(BULK_SERVICE, 'Bulk') as unknown as new (
  address: string,
  credentials: GrpcJs.ChannelCredentials,
) => BulkClient;
const client = new Bulk(target, grpc.credentials.createInsecure());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const rss = (): number => process.memoryUsage.rss();

function download(count: number, tag: string, size = MESSAGE): GrpcJs.ClientReadableStream<Buffer> {
  return client.download(Buffer.from(JSON.stringify({ count, size, tag })));
}

function serverStats(tag: string): Promise<DownloadStats> {
  return new Promise((resolve, reject) =>
    client.stats(Buffer.from(JSON.stringify({ tag })), (err, res) =>
      err ? reject(err) : resolve(JSON.parse((res as Buffer).toString()) as DownloadStats),
    ),
  );
}

/** Samples RSS every 20 ms; `peak()` is the highest seen since `start`. */
function rssSampler(): { peak: () => number; stop: () => void } {
  let peak = rss();
  const timer = setInterval(() => (peak = Math.max(peak, rss())), 20);
  return { peak: () => Math.max(peak, rss()), stop: () => clearInterval(timer) };
}

/** Resolves once `n` messages were read; the stream is then paused, so none is lost. */
function firstMessages(call: GrpcJs.ClientReadableStream<Buffer>, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const onData = (): void => {
      if (++seen === n) {
        call.pause();
        call.off('data', onData);
        resolve();
      }
    };
    call.on('data', onData);
    call.once('error', reject);
  });
}

function readToEnd(call: GrpcJs.ClientReadableStream<Buffer>): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    call.on('data', (m: Buffer) => (bytes += m.length));
    call.once('error', reject);
    call.once('end', () => resolve(bytes));
    call.resume();
  });
}

/** A `for await` body that sleeps 10 ms per message, for 5 s; then the download's server side. */
async function readSleepily(responses: AsyncIterable<Buffer>, tag: string): Promise<object> {
  const base = rss();
  const sampler = rssSampler();
  const start = Date.now();
  let read = 0;
  for await (const _ of responses) {
    read++;
    await sleep(10);
    if (Date.now() - start > 5000) break;
  }
  const server = await serverStats(tag);
  sampler.stop();
  return { peak: sampler.peak() - base, read, server };
}

const modes: Record<string, () => Promise<object>> = {
  async pause() {
    const call = download(GIB_MESSAGES, 'pause');
    await firstMessages(call, 4);
    const base = rss();
    const sampler = rssSampler();
    await sleep(5000);
    const duringPause = await serverStats('pause');
    const peakPaused = sampler.peak() - base;
    const bytes = await readToEnd(call);
    sampler.stop();
    return { peakPaused, peak: sampler.peak() - base, bytes, duringPause };
  },
  sleepy: () => readSleepily(download(GIB_MESSAGES, 'sleepy'), 'sleepy'),
  'sleepy-modern'() {
    const h2grpc = require('../../ts/index') as typeof import('../../ts/index');
    const modern = h2grpc.createClient(
      Bulk as unknown as Parameters<typeof h2grpc.createClient>[0],
      target,
    ) as unknown as { download(request: Buffer): AsyncIterable<Buffer> };
    const request = Buffer.from(JSON.stringify({ count: GIB_MESSAGES, size: MESSAGE, tag: 'm' }));
    return readSleepily(modern.download(request), 'm');
  },
  async 'two-streams'() {
    const quarterGib = GIB_MESSAGES / 4;
    // The reading stream's speed alone, on the same (warm) channel.
    let start = Date.now();
    await readToEnd(download(quarterGib, 'alone'));
    const alone = Date.now() - start;
    // Four streams that stop reading, each holding a (BDP-grown) window of
    // unread data: together more than the connection window.
    const stalled = [0, 1, 2, 3].map((i) => download(GIB_MESSAGES, `stalled${i}`));
    await Promise.all(stalled.map((call) => firstMessages(call, 4)));
    await sleep(500);
    start = Date.now();
    const bytes = await readToEnd(download(quarterGib, 'beside'));
    const beside = Date.now() - start;
    const stalledServers = await Promise.all([0, 1, 2, 3].map((i) => serverStats(`stalled${i}`)));
    for (const call of stalled) {
      call.on('error', () => {});
      call.cancel();
    }
    return { alone, beside, bytes, stalledServers };
  },
  async hold() {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error('run with --expose-gc');
    const retained = (): number => {
      gc();
      gc();
      const m = process.memoryUsage();
      return m.external + m.arrayBuffers;
    };
    const before = retained();
    const held: Buffer[] = [];
    const call = download(256_000, 'hold', 512);
    let n = 0;
    call.on('data', (m: Buffer) => {
      if (n++ % 256 === 0) held.push(m);
    });
    await new Promise<void>((resolve, reject) => {
      call.once('end', resolve);
      call.once('error', reject);
    });
    const after = retained();
    return { held: held.length, heldBytes: held.length * 512, retained: after - before };
  },
  async destroy() {
    const call = download(GIB_MESSAGES, 'destroy');
    await firstMessages(call, 4);
    let errors = 0;
    call.on('error', () => errors++);
    call.destroy();
    await sleep(1000);
    const first = await serverStats('destroy');
    await sleep(500);
    const later = await serverStats('destroy');
    return { first, later, errors };
  },
};

const run = modes[mode];
if (run === undefined) throw new Error(`slow-consumer-child: unknown mode ${mode}`);
run().then(
  (result) => {
    // Not a process-lifetime test: grpc-js keeps a destroyed stream's call
    // running, so exit explicitly once the result is out.
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
  },
  (err: unknown) => {
    process.stdout.write(`FAILED ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
