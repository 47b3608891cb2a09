// Child process for the logging tests: GRPC_TRACE and GRPC_VERBOSITY are read
// once at load, so each setting needs a fresh process. Makes one call to the
// address in argv[2] (a port nothing listens on is fine: the subchannel and
// connectivity tracers still report the attempt) and exits.
import { Client, credentials, Metadata } from '../../ts/index';

const client = new Client(process.argv[2], credentials.createInsecure(), {
  'grpc.initial_reconnect_backoff_ms': 50,
});
client.makeUnaryRequest(
  '/grpc.testing.TestService/EmptyCall',
  (b: Buffer) => b,
  (b: Buffer) => b,
  Buffer.alloc(0),
  new Metadata(),
  { deadline: Date.now() + 300 },
  () => {
    client.close();
  },
);
