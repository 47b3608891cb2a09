// The scheme registry: built-ins are registered on import, bare targets go
// to dns, unknown schemes go whole to passthrough, each scheme derives its
// default :authority, and user resolvers are found by scheme.
import test from 'ava';
import {
  createResolver,
  getDefaultAuthority,
  getDefaultScheme,
  isResolverRegistered,
  mapUriDefaultScheme,
  parseUri,
  registerAll,
  registerResolver,
  type GrpcUri,
  type Resolver,
  type ResolverListener,
} from '../../ts/resolver';
import { statusOrFromValue } from '../../ts/status-or';
import type { Endpoint } from '../../ts/subchannel/subchannel-address';
import type { ChannelOptions } from '../../ts/channel';
import { flush } from './fake-clock';

function mapped(target: string): GrpcUri | null {
  const uri = parseUri(target);
  if (uri === null) throw new Error(`unparsable test target ${target}`);
  return mapUriDefaultScheme(uri);
}

test('the built-in schemes are registered on import, dns is the default', (t) => {
  for (const scheme of ['dns', 'ipv4', 'ipv6', 'unix', 'unix-abstract', 'passthrough']) {
    t.true(isResolverRegistered(scheme), scheme);
  }
  t.is(getDefaultScheme(), 'dns');
});

const mappingCases: Array<[string, GrpcUri]> = [
  // Registered schemes are kept as parsed.
  ['dns:///example.com:443', { scheme: 'dns', authority: '', path: 'example.com:443' }],
  ['unix:/tmp/s', { scheme: 'unix', path: '/tmp/s' }],
  ['ipv4:10.0.0.1:1', { scheme: 'ipv4', path: '10.0.0.1:1' }],
  // Scheme names are case-insensitive.
  ['DNS:example.com', { scheme: 'DNS', path: 'example.com' }],
  // Bare targets go to the default scheme, whole.
  ['example.com', { scheme: 'dns', path: 'example.com' }],
  ['localhost:50051', { scheme: 'dns', path: 'localhost:50051' }],
  ['my-host.internal:8080', { scheme: 'dns', path: 'my-host.internal:8080' }],
  ['127.0.0.1:50051', { scheme: 'dns', path: '127.0.0.1:50051' }],
  ['[::1]:50051', { scheme: 'dns', path: '[::1]:50051' }],
  ['fe80::1', { scheme: 'dns', path: 'fe80::1' }],
  // Unknown schemes go whole to passthrough, as in grpc-go.
  ['foo:bar', { scheme: 'passthrough', path: 'foo:bar' }],
  ['xds:///service', { scheme: 'passthrough', path: 'xds:///service' }],
];

for (const [target, expected] of mappingCases) {
  test(`mapUriDefaultScheme(${JSON.stringify(target)})`, (t) => {
    t.deepEqual(mapped(target), expected);
  });
}

const authorityCases: Array<[string, string]> = [
  ['dns:///example.com:50051', 'example.com:50051'],
  ['dns:example.com', 'example.com'],
  ['dns://8.8.8.8/example.com:50051', 'example.com:50051'],
  ['dns:///:50051', 'localhost:50051'],
  ['dns:[::1]:50051', '[::1]:50051'],
  ['localhost:50051', 'localhost:50051'],
  ['example.com', 'example.com'],
  ['127.0.0.1:50051', '127.0.0.1:50051'],
  ['::1', '[::1]'],
  ['unix:/tmp/sock', 'localhost'],
  ['unix:///tmp/sock', 'localhost'],
  ['unix-abstract:name', 'localhost'],
  ['ipv4:10.0.0.1:50051,10.0.0.2:50051', '10.0.0.1:50051'],
  ['ipv4:10.0.0.1', '10.0.0.1'],
  ['ipv6:[::1]:50051,[::2]:50051', '[::1]:50051'],
  ['ipv6:::1', '[::1]'],
  ['passthrough:///backend:50051', 'backend:50051'],
  ['foo:bar', 'foo:bar'],
];

for (const [target, authority] of authorityCases) {
  test(`default authority of ${JSON.stringify(target)} is ${JSON.stringify(authority)}`, (t) => {
    const uri = mapped(target);
    t.not(uri, null);
    if (uri !== null) t.is(getDefaultAuthority(uri), authority);
  });
}

test('createResolver and getDefaultAuthority refuse an unregistered scheme', (t) => {
  const uri: GrpcUri = { scheme: 'not-registered', path: 'x' };
  t.throws(() => createResolver(uri, () => true, {}), {
    message: 'No resolver could be created for target not-registered:x',
  });
  t.throws(() => getDefaultAuthority(uri), { message: 'Invalid target not-registered:x' });
});

// A resolver written against grpc-js's experimental API, unchanged: a class
// with the (target, listener, options) constructor and a static
// getDefaultAuthority.
class StaticListResolver implements Resolver {
  static created: Array<{ target: GrpcUri; options: ChannelOptions }> = [];

  constructor(
    private readonly target: GrpcUri,
    private readonly listener: ResolverListener,
    options: ChannelOptions,
  ) {
    StaticListResolver.created.push({ target, options });
  }

  updateResolution(): void {
    const endpoints: Endpoint[] = this.target.path
      .split(',')
      .map((port) => ({ addresses: [{ host: '127.0.0.1', port: Number(port) }] }));
    setImmediate(() => this.listener(statusOrFromValue(endpoints), { source: 'static' }, null, ''));
  }

  destroy(): void {}

  static getDefaultAuthority(target: GrpcUri): string {
    return `static-${target.path}`;
  }
}

test('a user resolver is found by its scheme and its results flow to the listener', async (t) => {
  registerResolver('static-list', StaticListResolver);
  const uri = mapped('static-list:1001,1002');
  t.deepEqual(uri, { scheme: 'static-list', path: '1001,1002' });
  if (uri === null) return;
  t.is(getDefaultAuthority(uri), 'static-1001,1002');
  const seen: Array<Parameters<ResolverListener>> = [];
  const resolver = createResolver(uri, (...args) => (seen.push(args), true), { 'grpc.x': 1 });
  t.deepEqual(StaticListResolver.created.at(-1)?.options, { 'grpc.x': 1 });
  resolver.updateResolution();
  await flush();
  t.is(seen.length, 1);
  const [endpoints, attributes] = seen[0];
  t.deepEqual(endpoints, {
    ok: true,
    value: [
      { addresses: [{ host: '127.0.0.1', port: 1001 }] },
      { addresses: [{ host: '127.0.0.1', port: 1002 }] },
    ],
  });
  t.deepEqual(attributes, { source: 'static' });
});

test('a user resolver registered for a built-in scheme replaces it, and registerAll keeps it', (t) => {
  class UserDns extends StaticListResolver {}
  registerResolver('ipv4', UserDns);
  registerAll();
  const uri = mapped('ipv4:1');
  t.truthy(uri);
  if (uri !== null) t.true(createResolver(uri, () => true, {}) instanceof UserDns);
});
