// h2grpc's server-side exports (Server, ServerCredentials, ...) under the npm
// override: they come from the real @grpc/grpc-js that h2grpc installs under
// the alias h2grpc-grpc-js-server, and they accept h2grpc's Metadata.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMPAT_DIR, compatRequire, compatTest, type H2grpcModule } from './helpers/compat';

const test = compatTest('server delegation');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const identity = (b: Buffer): Buffer => b;
function method(name: string, requestStream: boolean, responseStream: boolean): Any {
  return {
    path: `/compat.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}
const echoService = {
  Echo: method('Echo', false, false),
  Fail: method('Fail', false, false),
  Stream: method('Stream', false, true),
};

/** What a program sees as `require('@grpc/grpc-js')` under the override. */
function overridden(): H2grpcModule {
  return compatRequire('@grpc/grpc-js');
}

async function startServer(
  grpc: H2grpcModule,
  handlers: Any,
): Promise<{ server: Any; port: number }> {
  const server = new grpc.Server();
  server.addService(echoService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      grpc.ServerCredentials.createInsecure(),
      (e: Error | null, p: number) => (e ? reject(e) : resolve(p)),
    ),
  );
  return { server, port };
}

test('the override module is h2grpc and its Server is the delegate grpc-js class', (t) => {
  const grpc = overridden();
  t.is(compatRequire('@grpc/grpc-js/package.json').name, 'h2grpc');
  const real = compatRequire('h2grpc-grpc-js-server');
  t.is(compatRequire('h2grpc-grpc-js-server/package.json').name, '@grpc/grpc-js');
  const server = new grpc.Server();
  t.true(server instanceof grpc.Server);
  t.true(server instanceof real.Server, 'constructs the real class');
  t.true(Object.getPrototypeOf(server) instanceof real.Server, 'a subclass of the real Server');
  t.is(
    grpc.ServerCredentials.createInsecure().constructor,
    real.ServerCredentials.createInsecure().constructor,
  );
  class MyServer extends grpc.Server {
    mine(): string {
      return 'mine';
    }
  }
  const mine = new MyServer();
  t.true(mine instanceof real.Server);
  t.is(mine.mine(), 'mine');
  t.is(typeof grpc.addAdminServicesToServer, 'function');
  t.is(typeof grpc.experimental.createServerCredentialsWithInterceptors, 'function');
  server.forceShutdown();
  mine.forceShutdown();
});

test('a delegated Server answers the h2grpc client; h2grpc Metadata works in server handlers', async (t) => {
  const grpc = overridden();
  const { server, port } = await startServer(grpc, {
    Echo(call: Any, callback: Any) {
      // As with grpc-js alone, the request metadata is the package's Metadata.
      t.true(call.metadata instanceof grpc.Metadata);
      t.is(call.metadata.get('x-request')[0], 'from-client');
      t.deepEqual(call.metadata.get('x-request-bin')[0], Buffer.from([0, 1, 2]));
      const headers = new grpc.Metadata();
      headers.set('x-header', 'h2grpc-md');
      headers.add('x-multi', 'a');
      headers.add('x-multi', 'b');
      headers.set('x-header-bin', Buffer.from([255, 0, 7]));
      call.sendMetadata(headers);
      const trailers = new grpc.Metadata();
      trailers.set('x-trailer', 'done');
      callback(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailers);
    },
    Fail(_call: Any, callback: Any) {
      const trailers = new grpc.Metadata();
      trailers.set('x-why', 'because');
      callback({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: trailers });
    },
    Stream(call: Any) {
      call.sendMetadata(new grpc.Metadata());
      for (let i = 0; i < 3; i++) call.write(Buffer.from([i]));
      const trailers = new grpc.Metadata();
      trailers.set('x-count', '3');
      call.end(trailers);
    },
  });
  t.teardown(() => server.forceShutdown());

  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());

  const md = new grpc.Metadata();
  md.set('x-request', 'from-client');
  md.set('x-request-bin', Buffer.from([0, 1, 2]));
  let headers: Any;
  let trailers: Any;
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const call = client.Echo(Buffer.from('hi'), md, (e: Error | null, r: Buffer) =>
      e ? reject(e) : resolve(r),
    );
    call.on('metadata', (m: Any) => (headers = m));
    call.on('status', (s: Any) => (trailers = s.metadata));
  });
  t.is(reply.toString(), 'echo:hi');
  t.deepEqual(headers.get('x-header'), ['h2grpc-md']);
  t.deepEqual(headers.get('x-multi').join(',').split(/, ?/), ['a', 'b']);
  t.deepEqual(headers.get('x-header-bin'), [Buffer.from([255, 0, 7])]);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(trailers.get('x-trailer'), ['done']);

  const err = await new Promise<Any>((resolve) =>
    client.Fail(Buffer.alloc(0), (e: Error | null) => resolve(e)),
  );
  t.is(err.code, grpc.status.NOT_FOUND);
  t.is(err.details, 'no such thing');
  t.deepEqual(err.metadata.get('x-why'), ['because']);

  const got: number[] = [];
  const status = await new Promise<Any>((resolve, reject) => {
    const stream = client.Stream(Buffer.alloc(0));
    stream.on('data', (b: Buffer) => got.push(b[0]));
    stream.on('status', resolve);
    stream.on('error', reject);
  });
  t.deepEqual(got, [0, 1, 2]);
  t.is(status.code, grpc.status.OK);
  t.deepEqual(status.metadata.get('x-count'), ['3']);
});

test('without the delegate, using Server throws an Error that says why and how to fix it', (t) => {
  // A copy of the installed server module where the alias cannot resolve.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'h2grpc-nodelegate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The installed package's compiled files and package.json (read for the
  // version), outside any node_modules tree.
  const installed = path.join(COMPAT_DIR, 'node_modules', 'h2grpc');
  cpSync(path.join(installed, 'dist'), path.join(dir, 'dist'), { recursive: true });
  cpSync(path.join(installed, 'package.json'), path.join(dir, 'package.json'));
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const s = require(${JSON.stringify(path.join(dir, 'dist', 'server.js'))});
       // Reading the export must not throw (libraries copy all exports at load).
       if (typeof s.Server !== 'function') throw new Error('Server is ' + typeof s.Server);
       try { new s.Server(); console.log('no error'); } catch (e) { console.log(e.message); }
       try { s.ServerCredentials.createInsecure(); } catch (e) { console.log('again: ' + e.message); }`,
    ],
    { encoding: 'utf8', cwd: dir },
  );
  t.regex(
    out,
    /h2grpc is a gRPC client; its server-side exports .* "h2grpc-grpc-js-server", which could not be loaded: Cannot find module 'h2grpc-grpc-js-server'/,
  );
  t.regex(out, /Reinstall h2grpc/);
  t.regex(out, /again: h2grpc is a gRPC client/);
  t.notRegex(out, /no error/);
});

test('the packed package lists the delegate as an aliased dependency', (t) => {
  const pkg = JSON.parse(
    readFileSync(path.join(COMPAT_DIR, 'node_modules', 'h2grpc', 'package.json'), 'utf8'),
  );
  t.regex(pkg.dependencies['h2grpc-grpc-js-server'], /^npm:@grpc\/grpc-js@/);
});

test('a delegated server handler forwards its incoming grpc-js Metadata to an h2grpc client call', async (t) => {
  // A gateway: the incoming call's metadata (a grpc-js Metadata, made by the
  // delegate) is passed as-is to an outgoing h2grpc call, as with grpc-js alone.
  const grpc = overridden();
  const backend = await startServer(grpc, {
    Echo(call: Any, callback: Any) {
      callback(null, Buffer.from(String(call.metadata.get('x-forwarded')[0] ?? 'missing')));
    },
    Fail: (_c: Any, cb: Any) => cb(null, Buffer.alloc(0)),
    Stream: (call: Any) => call.end(),
  });
  t.teardown(() => backend.server.forceShutdown());
  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const toBackend = new Client(`127.0.0.1:${backend.port}`, grpc.credentials.createInsecure());
  t.teardown(() => toBackend.close());
  const gateway = await startServer(grpc, {
    Echo(call: Any, callback: Any) {
      toBackend.Echo(call.request, call.metadata, { deadline: Date.now() + 5000 }, callback);
    },
    Fail(call: Any, callback: Any) {
      toBackend.Echo(call.request, call.metadata, callback);
    },
    Stream: (call: Any) => call.end(),
  });
  t.teardown(() => gateway.server.forceShutdown());
  const client = new Client(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const md = new grpc.Metadata();
  md.set('x-forwarded', 'through-the-gateway');
  for (const method of ['Echo', 'Fail']) {
    const reply = await new Promise<Buffer>((resolve, reject) =>
      client[method](Buffer.alloc(0), md, (e: Error | null, r: Buffer) =>
        e ? reject(e) : resolve(r),
      ),
    );
    t.is(reply.toString(), 'through-the-gateway', method);
  }
});

test('requiring h2grpc does not load the delegate; the first use of Server does', (t) => {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const grpc = require('@grpc/grpc-js');
       const loaded = () => Object.keys(require.cache).some((f) => f.includes('h2grpc-grpc-js-server'));
       const atLoad = loaded();
       const copy = { ...grpc }; // libraries that copy all exports must not trigger it either
       const afterCopy = loaded();
       new grpc.Server().forceShutdown();
       console.log(JSON.stringify({ atLoad, afterCopy, afterUse: loaded(), copied: typeof copy.Server }));`,
    ],
    { encoding: 'utf8', cwd: COMPAT_DIR },
  );
  t.deepEqual(JSON.parse(out), {
    atLoad: false,
    afterCopy: false,
    afterUse: true,
    copied: 'function',
  });
});
