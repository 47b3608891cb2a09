// The DNS resolver: real lookups of localhost and IP literals, then
// rate limiting, backoff and TXT service configs against a scripted DNS
// backend and a fake clock (no network beyond the local resolver).
import test from 'ava';
import { hostname } from 'node:os';
import type { ChannelOptions } from '../../ts/channel';
import { Status } from '../../ts/constants';
import {
  createResolver,
  DnsResolver,
  mapUriDefaultScheme,
  parseUri,
  type DnsBackend,
  type ResolverListener,
} from '../../ts/resolver';
import type { ServiceConfig } from '../../ts/service-config';
import type { StatusOr } from '../../ts/status-or';
import {
  isTcpSubchannelAddress,
  type Endpoint,
  type TcpSubchannelAddress,
} from '../../ts/subchannel/subchannel-address';
import { FakeClock, flush } from './fake-clock';
import { startLoopbackDns } from './loopback-dns-server';

interface Report {
  endpoints: StatusOr<Endpoint[]>;
  serviceConfig: StatusOr<ServiceConfig> | null;
}

/** A listener that records every report and answers `accept`. */
function recorder(accept: () => boolean = () => true): {
  reports: Report[];
  listener: ResolverListener;
} {
  const reports: Report[] = [];
  const listener: ResolverListener = (endpoints, _attributes, serviceConfig) => {
    reports.push({ endpoints, serviceConfig });
    return accept();
  };
  return { reports, listener };
}

function uri(target: string) {
  const parsed = parseUri(target);
  const mapped = parsed === null ? null : mapUriDefaultScheme(parsed);
  if (mapped === null) throw new Error(`unusable test target ${target}`);
  return mapped;
}

function hosts(result: StatusOr<Endpoint[]>): string[] {
  if (!result.ok) throw new Error(`resolution failed: ${result.error.details}`);
  return result.value.map((endpoint) => {
    const [address] = endpoint.addresses;
    if (!isTcpSubchannelAddress(address)) throw new Error('not a TCP address');
    return `${address.host}|${address.port}`;
  });
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A DNS backend whose answers the test scripts; counts queries. */
class ScriptedDns implements DnsBackend {
  hostQueries: string[] = [];
  txtQueries: string[] = [];
  answer: () => Promise<string[]> = () => Promise.resolve(['10.0.0.1', '2001:db8::1']);
  txt: () => Promise<string[][]> = () =>
    Promise.reject(Object.assign(new Error('queryTxt ENODATA'), { code: 'ENODATA' }));

  lookupHost(hostname: string): Promise<string[]> {
    this.hostQueries.push(hostname);
    return this.answer();
  }

  lookupTxt(name: string): Promise<string[][]> {
    this.txtQueries.push(name);
    return this.txt();
  }
}

function fakeResolver(
  target: string,
  options: ChannelOptions = {},
  accept?: () => boolean,
): { dns: ScriptedDns; clock: FakeClock; resolver: DnsResolver; reports: Report[] } {
  const dns = new ScriptedDns();
  const clock = new FakeClock();
  const { reports, listener } = recorder(accept);
  // random() = 0.5: no jitter, and a percentage draw of 50.
  const resolver = new DnsResolver(uri(target), listener, options, {
    backend: dns,
    clock,
    random: () => 0.5,
  });
  return { dns, clock, resolver, reports };
}

const NO_TXT: ChannelOptions = { 'grpc.service_config_disable_resolution': 1 };

test('localhost resolves through the system resolver to loopback addresses', async (t) => {
  const { reports, listener } = recorder();
  const resolver = createResolver(uri('dns:///localhost:50051'), listener, NO_TXT);
  resolver.updateResolution();
  await waitFor(() => reports.length > 0, 'the localhost lookup');
  const result = reports[0].endpoints;
  t.true(result.ok);
  if (!result.ok) return;
  t.true(result.value.length > 0);
  for (const endpoint of result.value) {
    t.is(endpoint.addresses.length, 1, 'one address per endpoint');
    const address = endpoint.addresses[0] as TcpSubchannelAddress;
    t.is(address.port, 50051);
    t.true(['127.0.0.1', '::1'].includes(address.host), address.host);
  }
  resolver.destroy();
});

test('a bare localhost:port target goes to DNS too', async (t) => {
  const { reports, listener } = recorder();
  const target = uri('localhost:50051');
  t.is(target.scheme, 'dns');
  const resolver = createResolver(target, listener, NO_TXT);
  resolver.updateResolution();
  await waitFor(() => reports.length > 0, 'the localhost lookup');
  t.true(reports[0].endpoints.ok);
  resolver.destroy();
});

for (const [target, expected] of [
  ['dns:127.0.0.1:50051', ['127.0.0.1|50051']],
  ['dns:///[::1]:50051', ['::1|50051']],
  ['10.1.2.3', ['10.1.2.3|443']],
  ['[2001:db8::5]:8080', ['2001:db8::5|8080']],
] as const) {
  test(`IP literal target ${target} resolves without any lookup`, async (t) => {
    const { dns, resolver, reports } = fakeResolver(target);
    resolver.updateResolution();
    t.is(reports.length, 0, 'not synchronously');
    await flush();
    t.deepEqual(hosts(reports[0].endpoints), [...expected]);
    t.is(reports[0].serviceConfig, null);
    t.deepEqual(dns.hostQueries, []);
    t.deepEqual(dns.txtQueries, []);
    resolver.updateResolution();
    await flush();
    t.is(reports.length, 1, 'an IP literal is reported once');
  });
}

test('every address becomes its own endpoint, in the order returned, with the port', async (t) => {
  const { dns, resolver, reports } = fakeResolver('dns:///backend.test:8443', NO_TXT);
  dns.answer = () => Promise.resolve(['2001:db8::1', '10.0.0.1', '2001:db8::2']);
  resolver.updateResolution();
  await flush();
  t.deepEqual(dns.hostQueries, ['backend.test']);
  t.deepEqual(hosts(reports[0].endpoints), [
    '2001:db8::1|8443',
    '10.0.0.1|8443',
    '2001:db8::2|8443',
  ]);
});

test('the port defaults to 443 and an empty host means localhost', async (t) => {
  const a = fakeResolver('dns:backend.test', NO_TXT);
  a.resolver.updateResolution();
  await flush();
  t.deepEqual(hosts(a.reports[0].endpoints), ['10.0.0.1|443', '2001:db8::1|443']);
  const b = fakeResolver('dns:///:50051', NO_TXT);
  b.resolver.updateResolution();
  await flush();
  t.deepEqual(b.dns.hostQueries, ['localhost']);
});

test('an unparsable dns target reports UNAVAILABLE naming the target', async (t) => {
  const { dns, resolver, reports } = fakeResolver('dns:backend.test:http');
  resolver.updateResolution();
  await flush();
  const result = reports[0].endpoints;
  t.false(result.ok);
  if (!result.ok) {
    t.is(result.error.code, Status.UNAVAILABLE);
    t.is(result.error.details, 'Failed to parse DNS address dns:backend.test:http');
  }
  t.deepEqual(dns.hostQueries, []);
});

test('re-resolution within 30 s is deferred to the end of the window, not dropped', async (t) => {
  const { dns, clock, resolver, reports } = fakeResolver('dns:backend.test', NO_TXT);
  resolver.updateResolution();
  await flush();
  t.is(dns.hostQueries.length, 1);
  t.is(reports.length, 1);

  clock.advance(10_000);
  resolver.updateResolution();
  resolver.updateResolution(); // coalesced with the first request
  await flush();
  t.is(dns.hostQueries.length, 1, 'inside the window: deferred');

  clock.advance(19_999);
  await flush();
  t.is(dns.hostQueries.length, 1);
  clock.advance(1);
  await flush();
  t.is(dns.hostQueries.length, 2, 'at the end of the window: resolved');
  t.is(reports.length, 2);

  clock.advance(120_000);
  await flush();
  t.is(dns.hostQueries.length, 2, 'nothing more without a request');

  resolver.updateResolution();
  await flush();
  t.is(dns.hostQueries.length, 3, 'outside the window: at once');
});

test('grpc.dns_min_time_between_resolutions_ms sets the window', async (t) => {
  const { dns, clock, resolver } = fakeResolver('dns:backend.test', {
    ...NO_TXT,
    'grpc.dns_min_time_between_resolutions_ms': 5000,
  });
  resolver.updateResolution();
  await flush();
  resolver.updateResolution();
  clock.advance(4999);
  await flush();
  t.is(dns.hostQueries.length, 1);
  clock.advance(1);
  await flush();
  t.is(dns.hostQueries.length, 2);
});

test('a failed lookup reports UNAVAILABLE and retries with exponential backoff', async (t) => {
  const { dns, clock, resolver, reports } = fakeResolver('dns:///backend.test:50051', NO_TXT);
  let failures = 3;
  dns.answer = () =>
    failures-- > 0
      ? Promise.reject(new Error('getaddrinfo ENOTFOUND backend.test'))
      : Promise.resolve(['10.0.0.9']);
  resolver.updateResolution();
  await flush();
  t.is(dns.hostQueries.length, 1);
  const first = reports[0].endpoints;
  t.false(first.ok);
  if (!first.ok) {
    t.is(first.error.code, Status.UNAVAILABLE);
    t.is(
      first.error.details,
      'Name resolution failed for target dns:///backend.test:50051: getaddrinfo ENOTFOUND backend.test',
    );
  }

  // Asking during the backoff does not start a lookup early.
  resolver.updateResolution();
  await flush();
  t.is(dns.hostQueries.length, 1);

  // Delays: 1 s, then 1.6 s, then 2.56 s (random() = 0.5 means no jitter).
  for (const [delay, queries] of [
    [1000, 2],
    [1600, 3],
    [2560, 4],
  ]) {
    clock.advance(delay - 1);
    await flush();
    t.is(dns.hostQueries.length, queries - 1, `not before ${delay} ms`);
    clock.advance(1);
    await flush();
    t.is(dns.hostQueries.length, queries, `after ${delay} ms`);
  }
  t.deepEqual(hosts(reports[3].endpoints), ['10.0.0.9|50051']);
  clock.advance(600_000);
  await flush();
  t.is(dns.hostQueries.length, 4, 'success ends the retries');
});

test('after success the backoff starts over from 1 s', async (t) => {
  const { dns, clock, resolver } = fakeResolver('dns:backend.test', NO_TXT);
  let fail = true;
  dns.answer = () => (fail ? Promise.reject(new Error('down')) : Promise.resolve(['10.0.0.1']));
  resolver.updateResolution();
  await flush();
  clock.advance(1000);
  await flush();
  clock.advance(1600);
  await flush();
  t.is(dns.hostQueries.length, 3);
  fail = false;
  clock.advance(2560);
  await flush();
  t.is(dns.hostQueries.length, 4);
  fail = true;
  clock.advance(30_000); // leave the rate-limit window
  resolver.updateResolution();
  await flush();
  t.is(dns.hostQueries.length, 5);
  clock.advance(1000);
  await flush();
  t.is(dns.hostQueries.length, 6, 'first retry after 1 s again');
});

test('backoff delays honour grpc.initial/max_reconnect_backoff_ms', async (t) => {
  const { dns, clock, resolver } = fakeResolver('dns:backend.test', {
    ...NO_TXT,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 150,
  });
  dns.answer = () => Promise.reject(new Error('down'));
  resolver.updateResolution();
  await flush();
  for (const delay of [100, 150, 150]) {
    const before = dns.hostQueries.length;
    clock.advance(delay);
    await flush();
    t.is(dns.hostQueries.length, before + 1, `retry after ${delay} ms`);
  }
  resolver.destroy();
});

test('a result the channel rejects is retried with backoff', async (t) => {
  let accept = false;
  const { dns, clock, resolver, reports } = fakeResolver('dns:backend.test', NO_TXT, () => accept);
  resolver.updateResolution();
  await flush();
  t.is(reports.length, 1);
  accept = true;
  clock.advance(1000);
  await flush();
  t.is(dns.hostQueries.length, 2);
  t.is(reports.length, 2);
  clock.advance(600_000);
  await flush();
  t.is(dns.hostQueries.length, 2);
});

test('a listener that asks again from inside every report does not cause a lookup loop', async (t) => {
  const dns = new ScriptedDns();
  const clock = new FakeClock();
  let resolver: DnsResolver | null = null;
  let reports = 0;
  const listener: ResolverListener = () => {
    reports++;
    resolver?.updateResolution();
    return true;
  };
  resolver = new DnsResolver(uri('dns:backend.test'), listener, NO_TXT, { backend: dns, clock });
  resolver.updateResolution();
  await flush();
  await flush();
  t.is(dns.hostQueries.length, 1, 'success: the request waits for the window');
  clock.advance(30_000);
  await flush();
  t.is(dns.hostQueries.length, 2, 'and is served when it ends');

  dns.answer = () => Promise.reject(new Error('down'));
  clock.advance(30_000);
  await flush();
  await flush();
  t.is(dns.hostQueries.length, 3, 'failure: the request waits for the backoff');
  t.is(reports, 3);
  resolver.destroy();
});

test('an empty address list counts as a failure', async (t) => {
  const { dns, resolver, reports } = fakeResolver('dns:backend.test', NO_TXT);
  dns.answer = () => Promise.resolve([]);
  resolver.updateResolution();
  await flush();
  t.false(reports[0].endpoints.ok);
});

test('destroy stops timers and drops answers in flight; updateResolution starts over', async (t) => {
  const { dns, clock, resolver, reports } = fakeResolver('dns:backend.test', NO_TXT);
  let release: (hosts: string[]) => void = () => {};
  dns.answer = () => new Promise((resolve) => (release = resolve));
  resolver.updateResolution();
  resolver.destroy();
  release(['10.0.0.1']);
  await flush();
  t.is(reports.length, 0, 'the answer to a destroyed lookup is dropped');
  t.is(clock.pending(), 0);

  dns.answer = () => Promise.resolve(['10.0.0.2']);
  resolver.updateResolution();
  await flush();
  t.deepEqual(hosts(reports[0].endpoints), ['10.0.0.2|443']);
  resolver.destroy();
  t.is(clock.pending(), 0, 'the rate-limit timer is gone');
});

// Service config in DNS (gRFC A2).

function grpcConfig(choices: unknown): () => Promise<string[][]> {
  const text = `grpc_config=${JSON.stringify(choices)}`;
  // Long TXT values arrive split into several strings of one record.
  return () => Promise.resolve([['unrelated=1'], [text.slice(0, 20), text.slice(20)]]);
}

// Configs told apart by a method timeout; load balancing names are avoided
// because their validity depends on which balancers are registered.
function timeoutConfig(seconds: number): object {
  return { methodConfig: [{ name: [{ service: 'pkg.Svc' }], timeout: `${seconds}s` }] };
}

/** The marker timeout of a config built by timeoutConfig, or null. */
function timeoutOf(config: StatusOr<ServiceConfig> | null | undefined): number | null {
  if (config === null || config === undefined || !config.ok) return null;
  return config.value.methodConfig[0]?.timeout?.seconds ?? null;
}

const CONFIG = timeoutConfig(7);

test('the TXT record at _grpc_config.<host> supplies the service config', async (t) => {
  const { dns, resolver, reports } = fakeResolver('dns:backend.test:50051');
  dns.txt = grpcConfig([{ serviceConfig: CONFIG }]);
  resolver.updateResolution();
  await flush();
  t.deepEqual(dns.txtQueries, ['_grpc_config.backend.test']);
  const last = reports.at(-1);
  t.true(last?.endpoints.ok);
  t.is(timeoutOf(last?.serviceConfig), 7);
});

test('service config choices are selected by language and percentage', async (t) => {
  const { dns, resolver, reports } = fakeResolver('dns:backend.test');
  dns.txt = grpcConfig([
    { clientLanguage: ['go', 'java'], serviceConfig: timeoutConfig(1) },
    // The draw is 50: a 50 % choice does not include this client.
    { percentage: 50, serviceConfig: timeoutConfig(2) },
    { clientHostname: ['not-this-machine.invalid'], serviceConfig: timeoutConfig(3) },
    {
      clientLanguage: ['NODE'],
      percentage: 51,
      clientHostname: [hostname()],
      serviceConfig: CONFIG,
    },
    { serviceConfig: timeoutConfig(4) },
  ]);
  resolver.updateResolution();
  await flush();
  t.is(timeoutOf(reports.at(-1)?.serviceConfig), 7);
});

test('no matching choice, no grpc_config record or no TXT record means no service config', async (t) => {
  for (const txt of [
    grpcConfig([{ clientLanguage: ['go'], serviceConfig: CONFIG }]),
    () => Promise.resolve([['v=spf1 -all']]),
    () => Promise.reject(Object.assign(new Error('queryTxt ENOTFOUND'), { code: 'ENOTFOUND' })),
  ]) {
    const { dns, resolver, reports } = fakeResolver('dns:backend.test');
    dns.txt = txt;
    resolver.updateResolution();
    await flush();
    t.is(reports.length, 1);
    t.true(reports[0].endpoints.ok);
    t.is(reports[0].serviceConfig, null);
  }
});

test('an invalid TXT service config is reported as an error config with the endpoints', async (t) => {
  for (const txt of [
    () => Promise.resolve([['grpc_config=not json']]),
    grpcConfig({ serviceConfig: CONFIG }),
    grpcConfig([{ serviceConfig: CONFIG, colour: 'blue' }]),
    grpcConfig([{ serviceConfig: { methodConfig: 'nope' } }]),
  ]) {
    const { dns, resolver, reports } = fakeResolver('dns:backend.test');
    dns.txt = txt;
    resolver.updateResolution();
    await flush();
    const last = reports.at(-1);
    t.true(last?.endpoints.ok, 'the addresses are still good');
    const config = last?.serviceConfig;
    t.false(config?.ok ?? true);
    if (config && !config.ok) {
      t.is(config.error.code, Status.UNAVAILABLE);
      t.regex(config.error.details, /^Invalid service config for target dns:backend\.test: /);
    }
  }
});

test('addresses are not held back for a slow TXT answer, which is reported when it comes', async (t) => {
  const { dns, resolver, reports } = fakeResolver('dns:backend.test');
  let releaseTxt: (records: string[][]) => void = () => {};
  dns.txt = () => new Promise((resolve) => (releaseTxt = resolve));
  resolver.updateResolution();
  await flush();
  t.is(reports.length, 1);
  t.is(reports[0].serviceConfig, null);
  releaseTxt([[`grpc_config=${JSON.stringify([{ serviceConfig: CONFIG }])}`]]);
  await flush();
  t.is(reports.length, 2);
  t.deepEqual(hosts(reports[1].endpoints), hosts(reports[0].endpoints));
  t.is(timeoutOf(reports[1].serviceConfig), 7);
  t.is(dns.hostQueries.length, 1);
});

test('a transient TXT failure keeps the previous config; an unchanged one is not re-reported', async (t) => {
  const { dns, clock, resolver, reports } = fakeResolver('dns:backend.test');
  dns.txt = grpcConfig([{ serviceConfig: CONFIG }]);
  resolver.updateResolution();
  await flush();
  const reportsAfterFirst = reports.length;
  t.is(timeoutOf(reports.at(-1)?.serviceConfig), 7);

  dns.txt = () =>
    Promise.reject(Object.assign(new Error('queryTxt ETIMEOUT'), { code: 'ETIMEOUT' }));
  clock.advance(30_000);
  resolver.updateResolution();
  await flush();
  t.is(reports.length, reportsAfterFirst + 1, 'one report for the new addresses');
  t.is(timeoutOf(reports.at(-1)?.serviceConfig), 7, 'the previous config still applies');
});

test('service config lookup is off when grpc.service_config_disable_resolution is 1', async (t) => {
  const { dns, resolver, reports } = fakeResolver('dns:backend.test', NO_TXT);
  dns.txt = grpcConfig([{ serviceConfig: CONFIG }]);
  resolver.updateResolution();
  await flush();
  t.deepEqual(dns.txtQueries, []);
  t.is(reports[0].serviceConfig, null);
});

test('an invalid DNS server authority is reported, not thrown', async (t) => {
  const { reports, listener } = recorder();
  const resolver = new DnsResolver(uri('dns://not-an-ip/backend.test'), listener, NO_TXT);
  resolver.updateResolution();
  await flush();
  const result = reports[0].endpoints;
  t.false(result.ok);
  if (!result.ok) t.regex(result.error.details, /^Invalid DNS server "not-an-ip" in target/);
});

test('a target naming a DNS server asks that server, IPv6 addresses first', async (t) => {
  const server = await startLoopbackDns({
    'backend.test': { a: ['10.0.0.7', '10.0.0.8'], aaaa: ['2001:db8::7'] },
    'v4only.test': { a: ['10.0.0.9'] },
  });
  t.teardown(() => server.close());
  for (const [name, expected] of [
    ['backend.test', ['2001:db8::7|50051', '10.0.0.7|50051', '10.0.0.8|50051']],
    ['v4only.test', ['10.0.0.9|50051']],
  ] as const) {
    const { reports, listener } = recorder();
    const target = uri(`dns://${server.address}/${name}:50051`);
    const resolver = new DnsResolver(target, listener, NO_TXT);
    resolver.updateResolution();
    await waitFor(() => reports.length > 0, `the lookup of ${name}`);
    t.deepEqual(hosts(reports[0].endpoints), [...expected]);
    resolver.destroy();
  }
  const { reports, listener } = recorder();
  const resolver = new DnsResolver(uri(`dns://${server.address}/missing.test`), listener, NO_TXT);
  resolver.updateResolution();
  await waitFor(() => reports.length > 0, 'the failed lookup');
  t.false(reports[0].endpoints.ok);
  resolver.destroy();
  t.true(server.queries() >= 6);
});
