import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import test from 'ava';
import { logVerbosity, setLogger, setLogVerbosity } from '../ts/index';
import { experimental } from '../ts/index';
import { getLogger } from '../ts/logging';
import { deadPort } from './helpers/backends';

const CHILD = join(__dirname, 'helpers', 'trace-child.ts');

async function runChild(env: Record<string, string>): Promise<string> {
  const port = await deadPort();
  // An empty GRPC_NODE_* would win over GRPC_* (as in grpc-js), so they are removed.
  const base = { ...process.env };
  for (const k of ['GRPC_TRACE', 'GRPC_VERBOSITY', 'GRPC_NODE_TRACE', 'GRPC_NODE_VERBOSITY'])
    delete base[k];
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, `127.0.0.1:${port}`], {
    env: { ...base, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await once(proc, 'exit');
  return stderr;
}

const LINE = /^D \d{4}-\d\d-\d\dT[\d:.]+Z \| v\d+\.\d+\.\d+\S* \d+ \| (\w+) \| (.*)$/;

test('GRPC_TRACE + GRPC_VERBOSITY=DEBUG print grpc-js formatted trace lines', async (t) => {
  const out = await runChild({
    GRPC_TRACE: 'subchannel,connectivity_state',
    GRPC_VERBOSITY: 'DEBUG',
  });
  const lines = out.split('\n').filter((l) => l.length > 0);
  const parsed = lines.map((l) => LINE.exec(l)).filter((m) => m !== null);
  t.true(parsed.length > 0, out);
  const tracers = new Set(parsed.map((m) => m![1]));
  t.deepEqual([...tracers].sort(), ['connectivity_state', 'subchannel'], out);
  t.true(
    parsed.some((m) => m![1] === 'subchannel' && /IDLE -> CONNECTING/.test(m![2])),
    out,
  );
  t.true(
    parsed.some(
      (m) => m![1] === 'subchannel' && /CONNECTING -> TRANSIENT_FAILURE with error/.test(m![2]),
    ),
    out,
  );
});

test('GRPC_TRACE=all,-subchannel disables one tracer; default verbosity hides DEBUG traces', async (t) => {
  const all = await runChild({ GRPC_TRACE: 'all,-subchannel', GRPC_VERBOSITY: 'debug' });
  t.regex(all, /\| connectivity_state \|/);
  t.notRegex(all, /\| subchannel \|/);
  const quiet = await runChild({ GRPC_TRACE: 'all' });
  t.is(quiet, '');
});

test.serial('setLogger and setLogVerbosity route and filter messages like grpc-js', (t) => {
  const seen: string[] = [];
  const previous = getLogger();
  setLogger({ error: (m: unknown) => seen.push(`error:${String(m)}`) });
  try {
    setLogVerbosity(logVerbosity.DEBUG);
    // A logger without debug/info gets everything on error, as in grpc-js.
    experimental.log(logVerbosity.DEBUG, 'a');
    experimental.log(logVerbosity.ERROR, 'b');
    setLogVerbosity(logVerbosity.ERROR);
    experimental.log(logVerbosity.INFO, 'c');
    setLogVerbosity(logVerbosity.NONE);
    experimental.log(logVerbosity.ERROR, 'd');
    t.deepEqual(seen, ['error:a', 'error:b']);

    const levels: string[] = [];
    setLogger({
      error: (m: unknown) => levels.push(`E${String(m)}`),
      info: (m: unknown) => levels.push(`I${String(m)}`),
      debug: (m: unknown) => levels.push(`D${String(m)}`),
    });
    setLogVerbosity(logVerbosity.DEBUG);
    experimental.log(logVerbosity.DEBUG, 1);
    experimental.log(logVerbosity.INFO, 2);
    experimental.log(logVerbosity.ERROR, 3);
    t.deepEqual(levels, ['D1', 'I2', 'E3']);
  } finally {
    setLogVerbosity(logVerbosity.ERROR);
    setLogger(previous);
  }
});
