// Duration helpers: the protobuf JSON form used by service configs, and the
// conversions grpc-js's experimental API offers.
import test from 'ava';
import {
  durationMessageToDuration,
  durationToMs,
  durationToString,
  isDuration,
  isDurationMessage,
  msToDuration,
  parseDuration,
} from '../../ts/duration';

const parseCases: Array<[string, ReturnType<typeof parseDuration>]> = [
  ['1s', { seconds: 1, nanos: 0 }],
  ['1.5s', { seconds: 1, nanos: 500_000_000 }],
  ['0.000000001s', { seconds: 0, nanos: 1 }],
  ['0.123456789s', { seconds: 0, nanos: 123_456_789 }],
  ['30s', { seconds: 30, nanos: 0 }],
  ['1.0000000001s', null],
  ['1', null],
  ['1.s', null],
  ['.5s', null],
  ['-1s', null],
  ['1.5ms', null],
  [' 1s', null],
  ['', null],
];

for (const [input, expected] of parseCases) {
  test(`parseDuration(${JSON.stringify(input)})`, (t) => {
    t.deepEqual(parseDuration(input), expected);
  });
}

test('durationToString uses 0, 3, 6 or 9 fractional digits', (t) => {
  t.is(durationToString({ seconds: 1, nanos: 0 }), '1s');
  t.is(durationToString({ seconds: 1, nanos: 500_000_000 }), '1.500s');
  t.is(durationToString({ seconds: 0, nanos: 50_000_000 }), '0.050s');
  t.is(durationToString({ seconds: 0, nanos: 1_000 }), '0.000001s');
  t.is(durationToString({ seconds: 0, nanos: 1 }), '0.000000001s');
  t.is(durationToString({ seconds: -1, nanos: -500_000_000 }), '-1.500s');
  for (const text of ['1s', '1.500s', '0.000000001s', '0.050s']) {
    const parsed = parseDuration(text);
    t.not(parsed, null);
    if (parsed !== null) t.is(durationToString(parsed), text);
  }
});

test('milliseconds convert both ways', (t) => {
  t.deepEqual(msToDuration(1500), { seconds: 1, nanos: 500_000_000 });
  t.deepEqual(msToDuration(1000.3), { seconds: 1, nanos: 300_000 });
  t.deepEqual(msToDuration(-1500), { seconds: -1, nanos: -500_000_000 });
  t.is(durationToMs({ seconds: 1, nanos: 500_999_999 }), 1500);
  t.is(durationToMs({ seconds: 3_000_000, nanos: 0 }), 3_000_000_000, 'no 32-bit wrap');
});

test('type guards and the proto-loader message form', (t) => {
  t.true(isDuration({ seconds: 1, nanos: 0 }));
  t.false(isDuration({ seconds: '1', nanos: 0 }));
  t.false(isDuration(null));
  t.false(isDuration('1s'));
  t.true(isDurationMessage({ seconds: '1', nanos: 0 }));
  t.false(isDurationMessage({ seconds: 1, nanos: 0 }));
  t.false(isDurationMessage(undefined));
  t.deepEqual(durationMessageToDuration({ seconds: '12', nanos: 5 }), { seconds: 12, nanos: 5 });
});
