// makeClientConstructor / loadPackageDefinition against a real proto-loader
// definition of grpc.testing.TestService, with a fake channel standing in for
// the transport so that dispatch can be checked without a network.
import test from 'ava';
import * as grpcJs from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  ClientDuplexStream,
  ClientReadableStream,
  ClientUnaryCall,
  ClientWritableStream,
} from '../ts/call/client-calls';
import { Client } from '../ts/client';
import { credentials } from '../ts/credentials';
import {
  loadPackageDefinition,
  makeClientConstructor,
  type GrpcObject,
  type MethodDefinition,
  type PackageDefinition,
  type ServiceClientConstructor,
  type ServiceDefinition,
} from '../ts/make-client';
import { Metadata } from '../ts/metadata';
import * as h2grpc from '../ts/index';
import { FakeChannel } from './helpers/fake-call';

const packageDefinition = protoLoader.loadSync('grpc/testing/test.proto', {
  includeDirs: ['/usr/share/grpc-proto'],
});

function testService(): ServiceClientConstructor {
  const root = loadPackageDefinition(packageDefinition as PackageDefinition);
  const testing = (root.grpc as GrpcObject).testing as GrpcObject;
  return testing.TestService as ServiceClientConstructor;
}

function newClient() {
  const channel = new FakeChannel();
  const TestService = testService();
  const client = new TestService('ignored:1', credentials.createInsecure(), {
    channelOverride: channel,
  });
  return { channel, client };
}

const noop = () => {};

test('loadPackageDefinition nests services and types by package', (t) => {
  const root = loadPackageDefinition(packageDefinition as PackageDefinition);
  t.deepEqual(Object.keys(root), ['grpc']);
  const testing = (root.grpc as GrpcObject).testing as GrpcObject;
  for (const name of ['TestService', 'UnimplementedService', 'ReconnectService']) {
    t.is(typeof testing[name], 'function', name);
  }
  const simpleRequest = testing.SimpleRequest as h2grpc.ProtobufTypeDefinition;
  t.is(typeof simpleRequest.format, 'string');
  t.is<unknown, unknown>(simpleRequest, packageDefinition['grpc.testing.SimpleRequest']);
});

test('loadPackageDefinition has the same shape as grpc-js', (t) => {
  const shape = (obj: object): unknown =>
    Object.fromEntries(
      Object.entries(obj).map(([key, value]) => [
        key,
        typeof value === 'function'
          ? Object.getOwnPropertyNames(value.prototype).sort()
          : 'format' in value
            ? 'type'
            : shape(value),
      ]),
    );
  const ours = loadPackageDefinition(packageDefinition as PackageDefinition);
  const theirs = grpcJs.loadPackageDefinition(packageDefinition);
  t.deepEqual(shape(ours), shape(theirs));
});

test('a service class is a Client subclass with service and serviceName', (t) => {
  const TestService = testService();
  t.true(TestService.prototype instanceof Client);
  t.is(TestService.serviceName, 'TestService');
  t.is(TestService.service, packageDefinition['grpc.testing.TestService'] as ServiceDefinition);
});

test('methods exist under both the proto name and originalName, carrying the definition', (t) => {
  const TestService = testService();
  const proto = TestService.prototype as unknown as Record<string, Record<string, unknown>>;
  t.is(proto.UnaryCall, proto.unaryCall);
  t.is(proto.FullDuplexCall, proto.fullDuplexCall);
  t.is(proto.UnaryCall.path, '/grpc.testing.TestService/UnaryCall');
  t.is(proto.UnaryCall.requestStream, false);
  t.is(proto.StreamingInputCall.requestStream, true);
  t.is(proto.StreamingInputCall.responseStream, false);
  t.is(typeof proto.UnaryCall.requestSerialize, 'function');
  t.is(typeof proto.UnaryCall.responseDeserialize, 'function');
});

test('unary method: one start carrying the serialized request and the half-close', (t) => {
  const { channel, client } = newClient();
  const request = { response_size: 3, payload: { body: Buffer.from('abc') } };
  const md = new Metadata();
  md.set('x-key', 'v');
  const call = client.UnaryCall(request, md, noop);
  t.true(call instanceof ClientUnaryCall);
  const fake = channel.last;
  t.is(fake.args.method, '/grpc.testing.TestService/UnaryCall');
  t.is(fake.startCount, 1);
  t.is(fake.startMetadata, md);
  t.true(fake.startOptions?.halfClose);
  const definition = packageDefinition['grpc.testing.TestService'] as ServiceDefinition;
  t.deepEqual(fake.startOptions?.message, definition.UnaryCall.requestSerialize(request));
  t.deepEqual(fake.sent, []);
  t.false(fake.halfClosed);
});

test('unary method: metadata and options may be left out', (t) => {
  const { channel, client } = newClient();
  client.EmptyCall({}, noop);
  t.true(channel.last.startMetadata instanceof Metadata);
  t.is(channel.last.args.deadline, Infinity);
  const deadline = new Date(Date.now() + 1000);
  client.EmptyCall({}, { deadline }, noop);
  t.is(channel.last.args.deadline, deadline);
  client.EmptyCall({}, new Metadata(), noop);
  t.is(channel.last.startCount, 1);
  t.throws(() => client.EmptyCall({}, new Metadata(), 'not options', 'not a callback'), {
    message: 'Incorrect arguments passed',
  });
});

test('unary method: the response goes to the callback', async (t) => {
  const { channel, client } = newClient();
  const definition = packageDefinition['grpc.testing.TestService'] as ServiceDefinition;
  const response = await new Promise<unknown>((resolve, reject) => {
    client.UnaryCall({}, (err: Error | null, value: unknown) =>
      err ? reject(err) : resolve(value),
    );
    const fake = channel.last;
    fake.headers();
    fake.message(definition.UnaryCall.responseSerialize({ payload: { body: Buffer.from('hi') } }));
    fake.finish();
  });
  t.deepEqual((response as { payload: { body: Buffer } }).payload.body, Buffer.from('hi'));
});

test('server-streaming method: one start with the request and half-close; a Readable', (t) => {
  const { channel, client } = newClient();
  const call = client.StreamingOutputCall({ response_parameters: [{ size: 1 }] });
  t.true(call instanceof ClientReadableStream);
  const fake = channel.last;
  t.is(fake.args.method, '/grpc.testing.TestService/StreamingOutputCall');
  t.is(fake.startCount, 1);
  t.true(fake.startOptions?.halfClose);
  t.true(Buffer.isBuffer(fake.startOptions?.message));
});

test('client-streaming method: start without a message, then one sendMessage per write', async (t) => {
  const { channel, client } = newClient();
  const call = client.StreamingInputCall(noop);
  t.true(call instanceof ClientWritableStream);
  const fake = channel.last;
  t.is(fake.args.method, '/grpc.testing.TestService/StreamingInputCall');
  t.is(fake.startOptions, undefined);
  call.write({ payload: { body: Buffer.alloc(2) } });
  call.write({ payload: { body: Buffer.alloc(3) } });
  await new Promise<void>((resolve) => call.end(resolve));
  t.is(fake.sent.length, 2);
  t.true(fake.halfClosed);
});

test('bidi method: start without a message; a Duplex', (t) => {
  const { channel, client } = newClient();
  const call = client.FullDuplexCall(new Metadata(), { host: 'example.test' });
  t.true(call instanceof ClientDuplexStream);
  const fake = channel.last;
  t.is(fake.args.method, '/grpc.testing.TestService/FullDuplexCall');
  t.is(fake.args.host, 'example.test');
  t.is(fake.startOptions, undefined);
});

test('makeGenericClientConstructor is makeClientConstructor', (t) => {
  t.is(h2grpc.makeGenericClientConstructor, makeClientConstructor);
  t.is(h2grpc.makeClientConstructor, makeClientConstructor);
  t.is(h2grpc.loadPackageDefinition, loadPackageDefinition);
});

function method(
  path: string,
  requestStream: boolean,
  responseStream: boolean,
): MethodDefinition<Buffer, Buffer> {
  const identity = (value: Buffer) => value;
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

test('makeClientConstructor dispatches each streaming shape to the right request maker', (t) => {
  const Ctor = makeClientConstructor(
    {
      unary: method('/s/unary', false, false),
      server: method('/s/server', false, true),
      client: method('/s/client', true, false),
      bidi: method('/s/bidi', true, true),
    },
    'S',
  );
  t.is(Ctor.serviceName, 'S');
  const channel = new FakeChannel();
  const client = new Ctor('x', credentials.createInsecure(), { channelOverride: channel });
  t.true(client.unary(Buffer.from('u'), noop) instanceof ClientUnaryCall);
  t.deepEqual(channel.last.startOptions?.message, Buffer.from('u'));
  t.true(client.server(Buffer.from('s')) instanceof ClientReadableStream);
  t.true(client.client(noop) instanceof ClientWritableStream);
  t.true(client.bidi() instanceof ClientDuplexStream);
  t.deepEqual(
    channel.calls.map((c) => c.args.method),
    ['/s/unary', '/s/server', '/s/client', '/s/bidi'],
  );
});

test('makeClientConstructor rejects method names starting with $', (t) => {
  t.throws(() => makeClientConstructor({ $bad: method('/s/bad', false, false) }, 'S'), {
    message: 'Method names cannot start with $',
  });
});

test('makeClientConstructor ignores names that would pollute prototypes', (t) => {
  const methods = Object.create(null) as Record<string, MethodDefinition<Buffer, Buffer>>;
  methods.__proto__ = method('/s/proto', false, false);
  methods.ok = { ...method('/s/ok', false, false), originalName: 'constructor' };
  const Ctor = makeClientConstructor(methods, 'S');
  const proto = Ctor.prototype as unknown as Record<string, unknown>;
  t.is(Object.getPrototypeOf(proto), Client.prototype);
  t.is(proto.constructor, Ctor);
  t.is(typeof proto.ok, 'function');
});

test('loadPackageDefinition skips names that would pollute prototypes', (t) => {
  const definition = {
    'pkg.__proto__.Evil': { m: method('/e/m', false, false) },
    'constructor.Evil': { m: method('/e/m', false, false) },
    'pkg.Good': { m: method('/pkg.Good/m', false, false) },
  } as unknown as PackageDefinition;
  const root = loadPackageDefinition(definition);
  t.deepEqual(Object.keys(root), ['pkg']);
  t.deepEqual(Object.keys(root.pkg as GrpcObject), ['Good']);
  t.is(Object.getPrototypeOf(root.pkg), Object.prototype);
});

test('a client gets its channel from channelFactoryOverride without client-only options', (t) => {
  const channel = new FakeChannel();
  let seen: unknown;
  const client = new Client('addr:1', credentials.createInsecure(), {
    'grpc.some_option': 5,
    interceptors: [],
    channelFactoryOverride: (address, creds, options) => {
      seen = { address, secure: creds._isSecure(), options };
      return channel;
    },
  });
  t.is(client.getChannel(), channel);
  t.deepEqual(seen, { address: 'addr:1', secure: false, options: { 'grpc.some_option': 5 } });
});

test('interceptors and interceptor_providers together are rejected as in grpc-js', (t) => {
  t.throws(
    () =>
      new Client('x', credentials.createInsecure(), {
        channelOverride: new FakeChannel(),
        // Never called: the constructor rejects the combination first.
        interceptors: [noop as unknown as h2grpc.Interceptor],
        interceptor_providers: [noop as unknown as h2grpc.InterceptorProvider],
      }),
    {
      message:
        'Both interceptors and interceptor_providers were passed as options to the client constructor. Only one of these is allowed.',
    },
  );
});
