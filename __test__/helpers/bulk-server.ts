// A @grpc/grpc-js server, run as its own process, that streams bulk data as
// fast as its HTTP/2 stream takes it and records what backpressure it saw:
//
//   node --import tsx __test__/helpers/bulk-server.ts
//     prints `LISTENING <port>` on 127.0.0.1, serves until killed.
//
// `/bulk.Bulk/Download` (server streaming): request JSON `{count, size, tag}`;
//   writes `count` messages of `size` bytes, waiting for 'drain' whenever
//   `write()` returns false.
// `/bulk.Bulk/Stats` (unary): request JSON `{tag}`; answers JSON
//   `{sent, blockedWrites, blockedNow, cancelled, done}` for that download.
// Messages are raw bytes (identity serializers), so no proto is involved.
import * as grpc from '@grpc/grpc-js';

/** What the server saw of one download. */
export interface DownloadStats {
  /** Bytes handed to `write()`. */
  sent: number;
  /** How many times `write()` returned false. */
  blockedWrites: number;
  /** Waiting for 'drain' right now. */
  blockedNow: boolean;
  /** The client cancelled the call. */
  cancelled: boolean;
  /** Every message was written and the call ended. */
  done: boolean;
}

const identity = (b: Buffer): Buffer => b;

/** The service definition, shared by this server and the clients that call it. */
export const BULK_SERVICE = {
  download: {
    path: '/bulk.Bulk/Download',
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  stats: {
    path: '/bulk.Bulk/Stats',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

function serve(): void {
  const stats = new Map<string, DownloadStats>();
  const server = new grpc.Server();
  server.addService(BULK_SERVICE, {
    download(call: grpc.ServerWritableStream<Buffer, Buffer>) {
      const { count, size, tag } = JSON.parse(call.request.toString()) as {
        count: number;
        size: number;
        tag: string;
      };
      const st: DownloadStats = {
        sent: 0,
        blockedWrites: 0,
        blockedNow: false,
        cancelled: false,
        done: false,
      };
      stats.set(tag, st);
      const payload = Buffer.alloc(size, 7);
      let written = 0;
      call.on('cancelled', () => (st.cancelled = true));
      const pump = (): void => {
        st.blockedNow = false;
        while (written < count && !st.cancelled) {
          written++;
          st.sent += size;
          if (!call.write(payload)) {
            st.blockedWrites++;
            st.blockedNow = true;
            call.once('drain', pump);
            return;
          }
        }
        if (written === count && !st.cancelled) {
          st.done = true;
          call.end();
        }
      };
      pump();
    },
    stats(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const { tag } = JSON.parse(call.request.toString()) as { tag: string };
      callback(null, Buffer.from(JSON.stringify(stats.get(tag) ?? null)));
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(`LISTENING ${port}\n`);
  });
}

if (require.main === module) serve();
