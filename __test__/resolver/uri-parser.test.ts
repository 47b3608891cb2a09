// Target parsing per gRPC's naming doc: every target form splits into the
// scheme, authority and path the resolvers expect, and back.
import test from 'ava';
import {
  addressToAuthority,
  combineHostPort,
  parseUri,
  splitHostPort,
  uriToString,
  type GrpcUri,
} from '../../ts/resolver/uri-parser';

const parseCases: Array<[string, GrpcUri | null]> = [
  ['dns:///localhost:50051', { scheme: 'dns', authority: '', path: 'localhost:50051' }],
  [
    'dns://8.8.8.8/example.com:443',
    { scheme: 'dns', authority: '8.8.8.8', path: 'example.com:443' },
  ],
  ['dns:example.com', { scheme: 'dns', path: 'example.com' }],
  ['dns:[::1]:50051', { scheme: 'dns', path: '[::1]:50051' }],
  ['unix:relative/sock', { scheme: 'unix', path: 'relative/sock' }],
  ['unix:/abs/sock', { scheme: 'unix', path: '/abs/sock' }],
  ['unix:///abs/sock', { scheme: 'unix', authority: '', path: 'abs/sock' }],
  ['unix-abstract:name', { scheme: 'unix-abstract', path: 'name' }],
  ['ipv4:10.0.0.1:80,10.0.0.2:81', { scheme: 'ipv4', path: '10.0.0.1:80,10.0.0.2:81' }],
  ['ipv6:[::1]:80,[fe80::1]:81', { scheme: 'ipv6', path: '[::1]:80,[fe80::1]:81' }],
  ['passthrough:///host:1', { scheme: 'passthrough', authority: '', path: 'host:1' }],
  // Bare targets: a host name before the colon reads as a scheme (the
  // registry sorts that out), IP literals have none.
  ['localhost:50051', { scheme: 'localhost', path: '50051' }],
  ['example.com', { path: 'example.com' }],
  ['127.0.0.1:50051', { path: '127.0.0.1:50051' }],
  ['[::1]:50051', { path: '[::1]:50051' }],
  ['::1', { path: '::1' }],
  // Nothing to resolve.
  ['', null],
  ['dns:', null],
  ['dns://8.8.8.8', null],
  ['dns://8.8.8.8/', null],
];

for (const [input, expected] of parseCases) {
  test(`parseUri(${JSON.stringify(input)})`, (t) => {
    t.deepEqual(parseUri(input), expected);
    if (expected !== null) t.is(uriToString(expected), input, 'uriToString is the inverse');
  });
}

const splitCases: Array<[string, ReturnType<typeof splitHostPort>]> = [
  ['example.com', { host: 'example.com' }],
  ['example.com:443', { host: 'example.com', port: 443 }],
  ['10.0.0.1:0', { host: '10.0.0.1', port: 0 }],
  [':50051', { host: '', port: 50051 }],
  ['[::1]', { host: '::1' }],
  ['[::1]:50051', { host: '::1', port: 50051 }],
  ['::1', { host: '::1' }],
  ['fe80::1:2', { host: 'fe80::1:2' }],
  ['host:http', null],
  ['host:65536', null],
  ['host:', null],
  ['[::1', null],
  ['[::1]x', null],
  ['[::1]:', null],
  ['[host]:1', null],
];

for (const [input, expected] of splitCases) {
  test(`splitHostPort(${JSON.stringify(input)})`, (t) => {
    t.deepEqual(splitHostPort(input), expected);
  });
}

test('combineHostPort brackets IPv6 hosts only when a port follows', (t) => {
  t.is(combineHostPort({ host: 'example.com', port: 443 }), 'example.com:443');
  t.is(combineHostPort({ host: '::1', port: 443 }), '[::1]:443');
  t.is(combineHostPort({ host: '::1' }), '::1');
  t.is(combineHostPort({ host: 'example.com' }), 'example.com');
});

test('combineHostPort undoes splitHostPort', (t) => {
  for (const text of ['example.com:1', '[::1]:2', 'example.com', '10.0.0.1:3']) {
    const parts = splitHostPort(text);
    t.not(parts, null);
    if (parts !== null) t.is(combineHostPort(parts), text);
  }
});

test('addressToAuthority keeps the spelling but brackets a bare IPv6 literal', (t) => {
  t.is(addressToAuthority('Example.com:50051'), 'Example.com:50051');
  t.is(addressToAuthority('example.com'), 'example.com');
  t.is(addressToAuthority('[::1]:50051'), '[::1]:50051');
  t.is(addressToAuthority('[::1]'), '[::1]');
  t.is(addressToAuthority('::1'), '[::1]');
  t.is(addressToAuthority(':50051'), 'localhost:50051');
  t.is(addressToAuthority('host:http'), 'host:http', 'unparsable: left alone');
});
