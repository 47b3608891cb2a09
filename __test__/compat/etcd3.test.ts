// etcd3 (unchanged) on h2grpc through the npm override, against a real etcd
// (Debian's etcd-server) started on loopback for this file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compatRequire, compatTest, freePort, grpcSeenBy, nativeCalls } from './helpers/compat';

const test = compatTest('etcd3');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
let etcd: ChildProcess | undefined;
let dataDir = '';
let endpoint = '';
let client: Any;

async function startEtcd(): Promise<void> {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'h2grpc-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  etcd = spawn(
    'etcd',
    [
      '--name=compat',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=compat=${peer}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`etcd did not start in 20 s:\n${log}`)),
      20_000,
    );
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('ready to serve client requests')) {
        clearTimeout(timer);
        resolve();
      }
    };
    etcd!.stdout!.on('data', onData);
    etcd!.stderr!.on('data', onData);
    etcd!.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run etcd (install Debian's etcd-server): ${e.message}`));
    });
    etcd!.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`etcd exited with ${code}:\n${log}`));
    });
  });
}

test.before(async () => {
  await startEtcd();
  const { Etcd3 } = compatRequire('etcd3');
  client = new Etcd3({ hosts: endpoint });
});

test.after.always(async () => {
  client?.close();
  etcd?.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test.serial('etcd3 loads h2grpc as @grpc/grpc-js', (t) => {
  grpcSeenBy(t, 'etcd3');
});

test.serial('put, get, range by prefix, delete', async (t) => {
  const grpc = grpcSeenBy(t, 'etcd3');
  const before = nativeCalls(grpc);
  await client.put('kv/a').value('1');
  await client.put('kv/b').value('2');
  await client.put('other').value('3');
  t.is(await client.get('kv/a').string(), '1');
  t.deepEqual(await client.getAll().prefix('kv/').strings(), { 'kv/a': '1', 'kv/b': '2' });
  t.is(await client.getAll().prefix('kv/').count(), 2);
  await client.delete().key('kv/a');
  t.is(await client.get('kv/a').string(), null);
  await client.delete().prefix('kv/');
  t.deepEqual(await client.getAll().prefix('kv/').keys(), []);
  t.is(await client.get('other').string(), '3');
  t.true(nativeCalls(grpc) - before >= 10, 'the calls went through h2grpc');
});

test.serial('transaction: if/then/else', async (t) => {
  await client.put('txn').value('a');
  const hit = await client
    .if('txn', 'Value', '==', 'a')
    .then(client.put('txn').value('b'))
    .else(client.put('txn').value('never'))
    .commit();
  t.true(hit.succeeded);
  t.is(await client.get('txn').string(), 'b');
  const miss = await client
    .if('txn', 'Value', '==', 'a')
    .then(client.put('txn').value('never'))
    .else(client.put('txn').value('c'))
    .commit();
  t.false(miss.succeeded);
  t.is(await client.get('txn').string(), 'c');
});

test.serial('lease: grant, keepalive holds the key, expiry removes it', async (t) => {
  // etcd's minimum TTL is 2 s with default timing.
  const kept = client.lease(2);
  let keepalives = 0;
  kept.on('keepaliveSucceeded', () => keepalives++);
  const keptId = await kept.grant();
  t.truthy(keptId);
  await kept.put('lease/kept').value('x');

  const dying = client.lease(2, { autoKeepAlive: false });
  await dying.grant();
  await dying.put('lease/dying').value('y');

  await sleep(4500);
  t.true(keepalives >= 2, `keepalives: ${keepalives}`);
  t.is(await client.get('lease/kept').string(), 'x');
  t.is(await client.get('lease/dying').string(), null, 'the unrenewed lease expired');

  await kept.revoke();
  t.is(await client.get('lease/kept').string(), null, 'revoking deletes the key');
});

test.serial('watch sees puts and deletes', async (t) => {
  const watcher = await client.watch().prefix('watch/').create();
  const seen: string[] = [];
  const done = new Promise<void>((resolve) => {
    watcher.on('put', (kv: Any) => {
      seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`);
    });
    watcher.on('delete', (kv: Any) => {
      seen.push(`delete ${kv.key.toString()}`);
      if (seen.length === 3) resolve();
    });
  });
  await client.put('watch/x').value('1');
  await client.put('watch/x').value('2');
  await client.delete().key('watch/x');
  await done;
  t.deepEqual(seen, ['put watch/x=1', 'put watch/x=2', 'delete watch/x']);
  await watcher.cancel();
});

test.serial('lock: a second contender gets the lock once the first releases it', async (t) => {
  const { Etcd3, EtcdLockFailedError } = compatRequire('etcd3');
  // Two clients, as two processes would have: each its own channel.
  const other = new Etcd3({ hosts: endpoint });
  t.teardown(() => other.close());
  const first = client.lock('compat-lock');
  await first.acquire();
  let releasedAt = 0;
  setTimeout(() => {
    releasedAt = Date.now();
    void first.release();
  }, 300);
  // etcd3's lock does not queue: while held, acquire fails, so contend by retrying.
  let refusals = 0;
  const second = other.lock('compat-lock');
  for (;;) {
    try {
      await second.acquire();
      break;
    } catch (e) {
      t.true(e instanceof EtcdLockFailedError, String(e));
      refusals++;
      await sleep(50);
    }
  }
  t.true(refusals > 0, 'the held lock refused the second contender');
  t.true(releasedAt > 0, 'the second contender got it only after the release');
  await second.release();
});
