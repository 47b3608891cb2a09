'use strict';
// grpc.testing.BenchmarkService on @grpc/grpc-js, for `npm run bench --
// --server=grpc-js`. Same behaviour as grpc-go's benchmark server (replies
// carry response_size zero bytes; StreamingCall is ping-pong, or with the
// `unconstrained-streaming` header streams replies until cancelled), plus
// StreamingFromServer, which grpc-go's server does not implement.
//
//   node bench/servers/grpc-js-server.js [--port=N]
// Reports { type: 'listening', port } over IPC (or prints it) and exits when
// its parent goes away.

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { parseArgs, PROTO_DIR, PROTO_FILE } = require('../util');

const args = parseArgs(process.argv.slice(2));
const MAX = 64 * 1024 * 1024;

const def = protoLoader.loadSync(PROTO_FILE, {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const pkg = grpc.loadPackageDefinition(def);

const replies = new Map();
function reply(size) {
  let r = replies.get(size);
  if (!r) {
    r = { payload: { type: 'COMPRESSABLE', body: Buffer.alloc(size) } };
    replies.set(size, r);
  }
  return r;
}

/** Writes `msg` until the call is cancelled, respecting backpressure. */
function streamUntilCancelled(call, msg) {
  let stopped = false;
  const stop = () => (stopped = true);
  call.on('cancelled', stop);
  call.on('error', stop);
  const pump = () => {
    while (!stopped) {
      if (!call.write(msg)) {
        call.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

const server = new grpc.Server({
  'grpc.max_receive_message_length': MAX,
  'grpc.max_send_message_length': MAX,
});

server.addService(pkg.grpc.testing.BenchmarkService.service, {
  UnaryCall(call, cb) {
    cb(null, reply(call.request.response_size));
  },
  StreamingCall(call) {
    const unconstrained = call.metadata.get('unconstrained-streaming').length > 0;
    let started = false;
    call.on('data', (req) => {
      if (!unconstrained) call.write(reply(req.response_size));
      else if (!started) {
        started = true;
        streamUntilCancelled(call, reply(req.response_size));
      }
    });
    call.on('end', () => call.end());
    call.on('error', () => {});
  },
  StreamingFromServer(call) {
    streamUntilCancelled(call, reply(call.request.response_size));
  },
  StreamingFromClient(call, cb) {
    let last = null;
    call.on('data', (req) => (last = req));
    call.on('end', () => cb(null, reply(last ? last.response_size : 0)));
  },
  StreamingBothWays(call) {
    call.on('data', (req) => call.write(reply(req.response_size)));
    call.on('end', () => call.end());
    call.on('error', () => {});
  },
});

server.bindAsync(
  `0.0.0.0:${Number(args.port ?? 0)}`,
  grpc.ServerCredentials.createInsecure(),
  (err, port) => {
    if (err) {
      process.stderr.write(`grpc-js server: ${err.message}\n`);
      process.exit(1);
    }
    if (process.send) process.send({ type: 'listening', port });
    else process.stdout.write(`listening on ${port}\n`);
  },
);

if (process.send) process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
