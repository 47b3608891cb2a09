// @grpc/reflection and grpc-health-check (unchanged) registered on a Server
// from the overridden @grpc/grpc-js (h2grpc's delegate), queried by h2grpc's
// client through the same override.
import * as path from 'node:path';
import { compatRequire, compatTest, grpcSeenBy, nativeCalls } from './helpers/compat';

const test = compatTest('reflection/health');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const TEST_PROTO = '/usr/share/grpc-proto/grpc/testing/test.proto';
let server: Any;
let port = 0;
let health: Any;
let grpc: Any;
let protoLoader: Any;

test.before(async () => {
  grpc = compatRequire('@grpc/grpc-js');
  protoLoader = compatRequire('@grpc/proto-loader');
  const { ReflectionService } = compatRequire('@grpc/reflection');
  const { HealthImplementation } = compatRequire('grpc-health-check');
  const testPkg = protoLoader.loadSync(TEST_PROTO, { includeDirs: ['/usr/share/grpc-proto'] });
  server = new grpc.Server();
  new ReflectionService(testPkg).addToServer(server);
  health = new HealthImplementation({ '': 'SERVING', 'grpc.testing.TestService': 'NOT_SERVING' });
  health.addToServer(server);
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      grpc.ServerCredentials.createInsecure(),
      (e: Error | null, p: number) => (e ? reject(e) : resolve(p)),
    ),
  );
});

test.after.always(() => server?.forceShutdown());

function clientFor(protoPath: string, includeDirs: string[], ctorPath: string[]): Any {
  const def = protoLoader.loadSync(protoPath, { includeDirs, enums: String, keepCase: true });
  let ctor: Any = grpc.loadPackageDefinition(def);
  for (const p of ctorPath) ctor = ctor[p];
  return new ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

test('the libraries load h2grpc as @grpc/grpc-js', (t) => {
  grpcSeenBy(t, '@grpc/reflection');
  t.is(
    grpcSeenBy(t, 'grpc-health-check'),
    grpc,
    'one h2grpc instance for the test and the libraries',
  );
});

test('reflection: list services and the file containing a symbol', async (t) => {
  const before = nativeCalls(grpc);
  const reflectionProto = path.join(
    path.dirname(compatRequire.resolve('@grpc/reflection/package.json')),
    'build/proto/grpc/reflection/v1/reflection.proto',
  );
  const client = clientFor(reflectionProto, [], ['grpc', 'reflection', 'v1', 'ServerReflection']);
  t.teardown(() => client.close());
  const call = client.ServerReflectionInfo();
  const responses: Any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (r: Any) => {
      responses.push(r);
      if (responses.length === 2) call.end();
    });
    call.on('end', resolve);
    call.on('error', reject);
  });
  call.write({ list_services: '' });
  call.write({ file_containing_symbol: 'grpc.testing.TestService' });
  await done;

  const names = responses[0].list_services_response.service.map((s: Any) => s.name);
  t.true(names.includes('grpc.testing.TestService'), names.join(','));
  t.true(names.includes('grpc.testing.UnimplementedService'), names.join(','));

  const files = responses[1].file_descriptor_response.file_descriptor_proto as Buffer[];
  t.true(files.length >= 1);
  const { FileDescriptorProto } = compatRequire('protobufjs/ext/descriptor');
  const decoded = files.map((b) => FileDescriptorProto.decode(b));
  // @grpc/reflection names synthesized files after the package.
  const testFile = decoded.find((f: Any) => f.service.some((s: Any) => s.name === 'TestService'));
  t.truthy(testFile, decoded.map((f: Any) => f.name).join(','));
  t.is(testFile.package, 'grpc.testing');
  const svc = testFile.service.find((s: Any) => s.name === 'TestService');
  t.true(
    svc.method.some(
      (m: Any) => m.name === 'FullDuplexCall' && m.clientStreaming && m.serverStreaming,
    ),
  );
  t.true(nativeCalls(grpc) > before, 'the call went through h2grpc');
});

test('health: Check reports SERVING / NOT_SERVING, unknown service is NOT_FOUND', async (t) => {
  const { protoPath } = compatRequire('grpc-health-check');
  const client = clientFor(protoPath, [], ['grpc', 'health', 'v1', 'Health']);
  t.teardown(() => client.close());
  const check = (service: string): Promise<Any> =>
    new Promise((resolve) => client.Check({ service }, (e: Any, r: Any) => resolve(e ?? r)));
  t.is((await check('')).status, 'SERVING');
  t.is((await check('grpc.testing.TestService')).status, 'NOT_SERVING');
  const unknown = await check('no.such.Service');
  t.is(unknown.code, grpc.status.NOT_FOUND);
});

test('health: Watch sees a status change', async (t) => {
  const { protoPath } = compatRequire('grpc-health-check');
  const client = clientFor(protoPath, [], ['grpc', 'health', 'v1', 'Health']);
  t.teardown(() => client.close());
  const call = client.Watch({ service: 'compat.Watched' });
  const seen: string[] = [];
  const ended = new Promise<void>((resolve) => {
    call.on('data', (r: Any) => {
      seen.push(r.status);
      if (seen.length === 1) health.setStatus('compat.Watched', 'SERVING');
      else if (seen.length === 2) health.setStatus('compat.Watched', 'NOT_SERVING');
      else call.cancel();
    });
    call.on('error', (e: Any) => {
      t.is(e.code, grpc.status.CANCELLED);
      resolve();
    });
  });
  await ended;
  t.deepEqual(seen, ['SERVICE_UNKNOWN', 'SERVING', 'NOT_SERVING']);
});
