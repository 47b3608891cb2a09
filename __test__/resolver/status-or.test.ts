// StatusOr: the value-or-status wrapper resolvers report through.
import test from 'ava';
import { Status } from '../../ts/constants';
import { Metadata } from '../../ts/metadata';
import { statusOrFromError, statusOrFromValue } from '../../ts/status-or';

test('statusOrFromValue wraps a value', (t) => {
  t.deepEqual(statusOrFromValue([1, 2]), { ok: true, value: [1, 2] });
});

test('statusOrFromError fills in empty metadata and keeps given metadata', (t) => {
  const bare = statusOrFromError<number>({ code: Status.UNAVAILABLE, details: 'down' });
  t.false(bare.ok);
  if (!bare.ok) {
    t.is(bare.error.code, Status.UNAVAILABLE);
    t.is(bare.error.details, 'down');
    t.true(bare.error.metadata instanceof Metadata);
  }
  const metadata = new Metadata();
  metadata.set('k', 'v');
  const full = statusOrFromError<number>({ code: Status.INTERNAL, details: 'x', metadata });
  if (!full.ok) t.is(full.error.metadata, metadata);
});
