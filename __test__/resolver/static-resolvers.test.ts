// ipv4:, ipv6:, unix:, unix-abstract: and passthrough: resolve from the
// target text alone: the right endpoints (or a parse error), reported once,
// never synchronously.
import test from 'ava';
import { Status } from '../../ts/constants';
import {
  createResolver,
  mapUriDefaultScheme,
  parseUri,
  type ResolverListener,
} from '../../ts/resolver';
import type { StatusOr } from '../../ts/status-or';
import type { Endpoint } from '../../ts/subchannel/subchannel-address';
import { flush } from './fake-clock';

interface Harness {
  results: Array<StatusOr<Endpoint[]>>;
  resolver: ReturnType<typeof createResolver>;
}

function start(target: string): Harness {
  const uri = parseUri(target);
  const mapped = uri === null ? null : mapUriDefaultScheme(uri);
  if (mapped === null) throw new Error(`unusable test target ${target}`);
  const results: Array<StatusOr<Endpoint[]>> = [];
  const listener: ResolverListener = (endpoints) => {
    results.push(endpoints);
    return true;
  };
  return { results, resolver: createResolver(mapped, listener, {}) };
}

async function resolveOnce(target: string): Promise<StatusOr<Endpoint[]>> {
  const h = start(target);
  h.resolver.updateResolution();
  await flush();
  if (h.results.length !== 1) throw new Error(`expected one result, got ${h.results.length}`);
  return h.results[0];
}

function tcp(host: string, port: number): Endpoint {
  return { addresses: [{ host, port }] };
}

const endpointCases: Array<[string, Endpoint[]]> = [
  ['ipv4:10.0.0.1:50051', [tcp('10.0.0.1', 50051)]],
  ['ipv4:10.0.0.1', [tcp('10.0.0.1', 443)]],
  ['ipv4:10.0.0.1:1,10.0.0.2:2', [tcp('10.0.0.1', 1), tcp('10.0.0.2', 2)]],
  ['ipv6:[::1]:50051', [tcp('::1', 50051)]],
  ['ipv6:::1', [tcp('::1', 443)]],
  ['ipv6:[::1]:1,[fe80::2]:2', [tcp('::1', 1), tcp('fe80::2', 2)]],
  ['unix:relative/sock', [{ addresses: [{ path: 'relative/sock' }] }]],
  ['unix:/abs/sock', [{ addresses: [{ path: '/abs/sock' }] }]],
  ['unix:///abs/sock', [{ addresses: [{ path: '/abs/sock' }] }]],
  ['unix-abstract:name', [{ addresses: [{ path: '\0name' }] }]],
  ['passthrough:///backend.internal:50051', [tcp('backend.internal', 50051)]],
  ['passthrough:backend.internal', [tcp('backend.internal', 443)]],
  ['passthrough:///:50051', [tcp('localhost', 50051)]],
];

for (const [target, expected] of endpointCases) {
  test(`${target} resolves to ${JSON.stringify(expected)}`, async (t) => {
    t.deepEqual(await resolveOnce(target), { ok: true, value: expected });
  });
}

const errorCases: Array<[string, string]> = [
  ['ipv4:10.0.0.1:1,::1', 'Failed to parse ipv4 address "::1"'],
  ['ipv4:10.0.0.1:1,', 'Failed to parse ipv4 address ""'],
  ['ipv4:example.com:1', 'Failed to parse ipv4 address "example.com:1"'],
  ['ipv6:10.0.0.1:1', 'Failed to parse ipv6 address "10.0.0.1:1"'],
  ['ipv6:[::1]:99999', 'Failed to parse ipv6 address "[::1]:99999"'],
  ['unix://host/sock', 'Invalid unix socket target unix://host/sock: the authority must be empty'],
  // Unknown scheme: passthrough gets the whole target, which is no address.
  ['foo:bar', 'Failed to parse passthrough address "foo:bar"'],
];

for (const [target, details] of errorCases) {
  test(`${target} reports UNAVAILABLE: ${details}`, async (t) => {
    const result = await resolveOnce(target);
    t.false(result.ok);
    if (!result.ok) {
      t.is(result.error.code, Status.UNAVAILABLE);
      t.is(result.error.details, details);
      t.deepEqual(result.error.metadata.getMap(), {});
    }
  });
}

test('a fixed result is reported asynchronously, once, and again after destroy', async (t) => {
  const h = start('ipv4:10.0.0.1:1');
  h.resolver.updateResolution();
  t.is(h.results.length, 0, 'not synchronously');
  await flush();
  t.is(h.results.length, 1);
  h.resolver.updateResolution();
  await flush();
  t.is(h.results.length, 1, 'asking again changes nothing');
  h.resolver.destroy();
  h.resolver.updateResolution();
  await flush();
  t.is(h.results.length, 2, 'a destroyed resolver starts over');
});

test('destroy drops a report that was queued but not yet delivered', async (t) => {
  const h = start('unix:/tmp/sock');
  h.resolver.updateResolution();
  h.resolver.destroy();
  await flush();
  t.is(h.results.length, 0);
});
