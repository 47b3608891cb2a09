// Rich error details (grpc-status-details-bin) and the ServiceError shape,
// checked side by side with @grpc/grpc-js's client against the same real
// grpc-js server: users match on the message format and read the details
// from the trailers, so both must be identical.
import test from 'ava';
import * as grpcJs from '@grpc/grpc-js';
import * as h2grpc from '../ts/index';

// A google.rpc.Status message, hand-encoded: code=3, message="bad field",
// details=[Any{type_url, value}]; the bytes only have to survive the trip.
const DETAILS = Buffer.from(
  '08031209626164206669656c641a1d0a15747970652e676f6f676c65617069732e636f6d2f78120401020304',
  'hex',
);

interface Outcome {
  message: string;
  code: number;
  details: string;
  detailsBin: unknown[];
  other: unknown[];
  isError: boolean;
}

async function startServer(): Promise<{ server: grpcJs.Server; port: number }> {
  const server = new grpcJs.Server();
  server.addService(
    {
      Fail: {
        path: '/test.Errors/Fail',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      Fail: (_call: unknown, cb: grpcJs.sendUnaryData<Buffer>) => {
        const metadata = new grpcJs.Metadata();
        metadata.set('grpc-status-details-bin', DETAILS);
        metadata.set('x-extra', 'kept');
        cb({ code: grpcJs.status.INVALID_ARGUMENT, details: 'bad field: name', metadata });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port };
}

function call(library: typeof grpcJs | typeof h2grpc, port: number): Promise<Outcome> {
  // Both expose grpc-js's client API; one type lets the call below typecheck.
  const lib = library as typeof grpcJs;
  const client = new lib.Client(`127.0.0.1:${port}`, lib.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/test.Errors/Fail',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      (err: grpcJs.ServiceError | null) => {
        client.close();
        resolve({
          message: err?.message ?? '',
          code: err?.code ?? -1,
          details: err?.details ?? '',
          detailsBin: err?.metadata.get('grpc-status-details-bin') ?? [],
          other: err?.metadata.get('x-extra') ?? [],
          isError: err instanceof Error,
        });
      },
    );
  });
}

test('grpc-status-details-bin reaches ServiceError.metadata; message format equals grpc-js', async (t) => {
  const { server, port } = await startServer();
  try {
    const ours = await call(h2grpc, port);
    const theirs = await call(grpcJs, port);
    t.deepEqual(ours, theirs);
    t.is(ours.message, '3 INVALID_ARGUMENT: bad field: name');
    t.deepEqual(ours.detailsBin, [DETAILS]);
    t.deepEqual(ours.other, ['kept']);
  } finally {
    server.forceShutdown();
  }
});
