// Metadata: the grpc-js API and its validation rules, plus fromWire, which
// the transport uses to build incoming metadata from raw header fields.
import test from 'ava';
import { Metadata as GrpcJsMetadata } from '@grpc/grpc-js';
import { Metadata } from '../ts/metadata';

test('set replaces, add appends, get returns all values in order', (t) => {
  const md = new Metadata();
  md.set('key', 'a');
  md.add('key', 'b');
  t.deepEqual(md.get('key'), ['a', 'b']);
  md.set('key', 'c');
  t.deepEqual(md.get('key'), ['c']);
});

test('keys are normalized to lowercase everywhere', (t) => {
  const md = new Metadata();
  md.set('X-Custom', 'v');
  md.add('x-CUSTOM', 'w');
  t.deepEqual(md.get('X-CUSTOM'), ['v', 'w']);
  t.deepEqual(Object.keys(md.getMap()), ['x-custom']);
  md.remove('X-Custom');
  t.deepEqual(md.get('x-custom'), []);
});

test('get of a missing key is an empty array; remove of one is a no-op', (t) => {
  const md = new Metadata();
  t.deepEqual(md.get('nothing'), []);
  t.notThrows(() => md.remove('nothing'));
});

test('binary keys take Buffers', (t) => {
  const md = new Metadata();
  md.set('data-bin', Buffer.from([0, 1, 2]));
  md.add('data-bin', Buffer.from([255]));
  t.deepEqual(md.get('data-bin'), [Buffer.from([0, 1, 2]), Buffer.from([255])]);
});

test('a -bin key with a string value is rejected with the grpc-js message', (t) => {
  const md = new Metadata();
  t.throws(() => md.set('data-bin', 'text'), {
    message: "keys that end with '-bin' must have Buffer values",
  });
});

test('a plain key with a Buffer value is rejected with the grpc-js message', (t) => {
  const md = new Metadata();
  t.throws(() => md.add('data', Buffer.from('x')), {
    message: "keys that don't end with '-bin' must have String values",
  });
});

test('illegal key characters are rejected', (t) => {
  const md = new Metadata();
  t.throws(() => md.set('bad key', 'v'), {
    message: 'Metadata key "bad key" contains illegal characters',
  });
  t.throws(() => md.set('', 'v'), { message: 'Metadata key "" contains illegal characters' });
  t.throws(() => md.set('k\u00e9y', 'v'), {
    message: 'Metadata key "k\u00e9y" contains illegal characters',
  });
  // Uppercase is fine: it is normalized before validation.
  t.notThrows(() => md.set('Legal_Key.1-x', 'v'));
});

test('non-printable string values are rejected', (t) => {
  const md = new Metadata();
  t.throws(() => md.set('k', 'line\nbreak'), {
    message: 'Metadata string value "line\nbreak" contains illegal characters',
  });
  t.throws(() => md.set('k', 'caf\u00e9'), {
    message: 'Metadata string value "caf\u00e9" contains illegal characters',
  });
  t.notThrows(() => md.set('k', ' !"~ printable ascii '));
  t.notThrows(() => md.set('k', ''));
});

test('a failed set or add leaves existing values alone', (t) => {
  const md = new Metadata();
  md.set('k', 'keep');
  t.throws(() => md.set('k', 'bad\u0000'));
  t.throws(() => md.add('k', Buffer.from('x')));
  t.deepEqual(md.get('k'), ['keep']);
});

test('getMap holds the first value per key, with Buffers copied', (t) => {
  const md = new Metadata();
  const buf = Buffer.from([1, 2, 3]);
  md.add('a', '1');
  md.add('a', '2');
  md.set('b-bin', buf);
  const map = md.getMap();
  t.deepEqual(map, { a: '1', 'b-bin': Buffer.from([1, 2, 3]) });
  (map['b-bin'] as Buffer)[0] = 99;
  t.is(buf[0], 1);
});

test('clone is deep for Buffers and independent for keys', (t) => {
  const md = new Metadata({ waitForReady: true });
  const buf = Buffer.from([7]);
  md.set('k', 'v');
  md.set('k-bin', buf);
  const copy = md.clone();
  t.deepEqual(copy.toJSON(), md.toJSON());
  t.deepEqual(copy.getOptions(), { waitForReady: true });
  copy.add('k', 'w');
  copy.set('other', 'x');
  (copy.get('k-bin')[0] as Buffer)[0] = 0;
  t.deepEqual(md.get('k'), ['v']);
  t.deepEqual(md.get('other'), []);
  t.is(buf[0], 7);
});

test('merge appends the other values after existing ones and leaves the other intact', (t) => {
  const a = new Metadata();
  a.add('shared', '1');
  a.add('only-a', 'a');
  const b = new Metadata();
  b.add('shared', '2');
  b.add('shared', '3');
  b.set('only-b-bin', Buffer.from('b'));
  a.merge(b);
  t.deepEqual(a.get('shared'), ['1', '2', '3']);
  t.deepEqual(a.get('only-a'), ['a']);
  t.deepEqual(a.get('only-b-bin'), [Buffer.from('b')]);
  a.add('only-b-bin', Buffer.from('c'));
  t.deepEqual(b.get('only-b-bin'), [Buffer.from('b')]);
  t.deepEqual(b.get('shared'), ['2', '3']);
});

test('toJSON maps keys to value arrays, which JSON.stringify uses', (t) => {
  const md = new Metadata();
  md.add('a', '1');
  md.add('a', '2');
  md.set('z', 'last');
  t.deepEqual(md.toJSON(), { a: ['1', '2'], z: ['last'] });
  t.is(JSON.stringify(md), '{"a":["1","2"],"z":["last"]}');
});

test('options: default empty, settable', (t) => {
  const md = new Metadata();
  t.deepEqual(md.getOptions(), {});
  md.setOptions({ idempotentRequest: true, corked: false });
  t.deepEqual(md.getOptions(), { idempotentRequest: true, corked: false });
});

test('opaque data is kept but is not metadata', (t) => {
  const md = new Metadata();
  t.is(md.getOpaque('x'), undefined);
  md.setOpaque('x', { any: 'thing' });
  t.deepEqual(md.getOpaque('x'), { any: 'thing' });
  t.deepEqual(md.toJSON(), {});
});

test('internalRepr is the storage the transport reads', (t) => {
  const md = new Metadata();
  md.add('a', '1');
  md.add('a', '2');
  t.deepEqual([...md.internalRepr], [['a', ['1', '2']]]);
});

test('fromWire: plain values, repeated keys, order kept', (t) => {
  const md = Metadata.fromWire(['a', '1', 'b', 'x', 'a', '2']);
  t.deepEqual(md.toJSON(), { a: ['1', '2'], b: ['x'] });
});

test('fromWire: -bin values are base64-decoded, padded or not', (t) => {
  const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]);
  const padded = bytes.toString('base64');
  t.true(padded.endsWith('='));
  const unpadded = padded.replace(/=+$/, '');
  const md = Metadata.fromWire(['x-bin', padded, 'x-bin', unpadded]);
  t.deepEqual(md.get('x-bin'), [bytes, bytes]);
  t.true(Buffer.isBuffer(md.get('x-bin')[0]));
});

test('fromWire: comma-joined -bin values become separate values', (t) => {
  const one = Buffer.from('one');
  const two = Buffer.from([1, 2, 3, 4]);
  const md = Metadata.fromWire(['x-bin', `${one.toString('base64')}, ${two.toString('base64')}`]);
  t.deepEqual(md.get('x-bin'), [one, two]);
});

test('fromWire: an empty -bin value is an empty Buffer', (t) => {
  const md = Metadata.fromWire(['e-bin', '']);
  t.deepEqual(md.get('e-bin'), [Buffer.alloc(0)]);
});

test('fromWire: illegal pairs and pseudo-headers are skipped, not thrown', (t) => {
  const md = Metadata.fromWire([
    ':status',
    '200',
    'bad key',
    'v',
    'UPPER',
    'v',
    'ok',
    'fine',
    'ctl',
    'a\u0001b',
    'latin1',
    'caf\u00e9',
    'ok',
    'again',
  ]);
  t.deepEqual(md.toJSON(), { ok: ['fine', 'again'] });
});

test('fromWire: a trailing key without a value is ignored', (t) => {
  const md = Metadata.fromWire(['a', '1', 'dangling']);
  t.deepEqual(md.toJSON(), { a: ['1'] });
});

test('fromWire: an empty list gives empty metadata with default options', (t) => {
  const md = Metadata.fromWire([]);
  t.deepEqual(md.toJSON(), {});
  t.deepEqual(md.getOptions(), {});
});

test('fromWire output behaves like user-built metadata', (t) => {
  const md = Metadata.fromWire(['a', '1']);
  md.add('a', '2');
  t.deepEqual(md.get('a'), ['1', '2']);
  t.throws(() => md.add('a', Buffer.from('x')));
});

test('toHttp2Headers and fromHttp2Headers match grpc-js', (t) => {
  const ours = new Metadata();
  const theirs = new GrpcJsMetadata();
  for (const m of [ours, theirs]) {
    m.add('k', 'v1');
    m.add('k', 'v2');
    m.set('single', 'x');
    m.add('data-bin', Buffer.from([0, 1, 2, 250]));
  }
  t.deepEqual(ours.toHttp2Headers(), theirs.toHttp2Headers());

  const headers = {
    ':status': '200',
    'content-type': 'application/grpc',
    a: ['1', '2'],
    'x-bin': 'AAEC, AwQ=',
    'grpc-status-details-bin': 'CAUSBGRldGFpbA',
    bad: 'é',
  };
  const fromOurs = Metadata.fromHttp2Headers(headers);
  const fromTheirs = GrpcJsMetadata.fromHttp2Headers(headers);
  t.deepEqual(fromOurs.toJSON(), fromTheirs.toJSON() as unknown as ReturnType<Metadata['toJSON']>);
  t.deepEqual(fromOurs.get('x-bin'), [Buffer.from([0, 1, 2]), Buffer.from([3, 4])]);
});
