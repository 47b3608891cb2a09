// CallOptions.parent / propagate_flags: a call made from inside a (grpc-js)
// server handler inherits the handler call's deadline and cancellation, as
// with grpc-js's client. Both clients run against the same real server.
import test from 'ava';
import * as grpcJs from '@grpc/grpc-js';
import * as h2grpc from '../ts/index';

const id = (b: Buffer): Buffer => b;

function method(path: string): grpcJs.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  };
}

interface Seen {
  childDeadline: number;
  childCancelled: boolean;
  childError: string;
}

async function run(lib: typeof grpcJs, flags: number | undefined, cancelOuter: boolean) {
  const seen: Seen = { childDeadline: NaN, childCancelled: false, childError: '' };
  let childDone!: () => void;
  const childFinished = new Promise<void>((r) => (childDone = r));
  let port = 0;
  const server = new grpcJs.Server();
  server.addService(
    { Outer: method('/p.S/Outer'), Inner: method('/p.S/Inner') },
    {
      Outer: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, cb: grpcJs.sendUnaryData<Buffer>) => {
        const client = new lib.Client(`127.0.0.1:${port}`, lib.credentials.createInsecure());
        const options: grpcJs.CallOptions = { parent: call };
        if (flags !== undefined) options.propagate_flags = flags;
        client.makeUnaryRequest(
          '/p.S/Inner',
          id,
          id,
          Buffer.alloc(0),
          new lib.Metadata() as grpcJs.Metadata,
          options,
          (err) => {
            seen.childError = err ? `${err.code}` : 'ok';
            client.close();
            childDone();
            cb(null, Buffer.alloc(0));
          },
        );
      },
      Inner: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, cb: grpcJs.sendUnaryData<Buffer>) => {
        const d = call.getDeadline();
        seen.childDeadline = d instanceof Date ? d.getTime() : d;
        let answered = false;
        call.on('cancelled', () => {
          // grpc-js servers also emit 'cancelled' when a finished call closes.
          if (!answered) seen.childCancelled = true;
        });
        setTimeout(() => {
          answered = true;
          cb(null, Buffer.alloc(0));
        }, 1500);
      },
    },
  );
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const outer = new grpcJs.Client(`127.0.0.1:${port}`, grpcJs.credentials.createInsecure());
  const deadline = Date.now() + 5000;
  const call = outer.makeUnaryRequest(
    '/p.S/Outer',
    id,
    id,
    Buffer.alloc(0),
    new grpcJs.Metadata(),
    { deadline },
    () => {},
  );
  if (cancelOuter) setTimeout(() => call.cancel(), 300);
  await childFinished;
  // The child's RST_STREAM reaches the server after the child's own status.
  await new Promise((r) => setTimeout(r, 300));
  outer.close();
  server.forceShutdown();
  return { seen, deadline };
}

for (const [name, lib] of [
  ['h2grpc', h2grpc as unknown as typeof grpcJs],
  ['grpc-js', grpcJs],
] as const) {
  test(`${name}: default flags inherit the parent's deadline and cancellation`, async (t) => {
    const { seen, deadline } = await run(lib, undefined, true);
    // The grpc-timeout header has millisecond granularity and is rounded up.
    t.true(Math.abs(seen.childDeadline - deadline) < 250, `${seen.childDeadline} vs ${deadline}`);
    t.true(seen.childCancelled);
    t.is(seen.childError, String(grpcJs.status.CANCELLED));
  });

  test(`${name}: propagate_flags without DEADLINE and CANCELLATION inherit neither`, async (t) => {
    const { seen } = await run(lib, 0, true);
    t.is(seen.childDeadline, Infinity);
    t.false(seen.childCancelled);
    t.is(seen.childError, 'ok');
  });
}
