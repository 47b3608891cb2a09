// Child-process entry point for the interop server:
//
//   node --import tsx __test__/helpers/interop-server-main.ts [PORT | HOST:PORT | unix:/path]
//
// Listens (default 127.0.0.1:0), prints `LISTENING <port>` (or `LISTENING unix:/path`)
// on stdout, then one `CANCELLED <method> tag=<tag>` line per call whose handler saw
// it cancelled. Exits on SIGTERM/SIGINT, and when its IPC parent goes away.
//
// HOST may be an IPv6 literal in brackets (`[::1]:0`). The environment variable
// H2GRPC_SERVER_ID, when set, is what UnaryCall reports for `fill_server_id`.
import * as fs from 'node:fs';
import { startInteropServer, type InteropServer } from './interop-server';

function addressFromArg(arg: string | undefined): string {
  if (!arg) return '127.0.0.1:0';
  if (/^\d+$/.test(arg)) return `127.0.0.1:${arg}`;
  return arg;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function listen(address: string): Promise<InteropServer> {
  // A SIGKILLed predecessor leaves its unix socket file behind.
  if (address.startsWith('unix:')) {
    const file = address.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    try {
      if (fs.statSync(file).isSocket()) fs.unlinkSync(file);
    } catch {
      // absent: fine
    }
  }
  // After a SIGKILLed predecessor the port may linger briefly; retry for a few seconds.
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await startInteropServer(address, {
        serverId: process.env.H2GRPC_SERVER_ID || undefined,
      });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

async function main(): Promise<void> {
  const address = addressFromArg(process.argv[2]);
  const srv = await listen(address);
  srv.service.on('cancelled', (ev: { method: string; tag: string }) => {
    process.stdout.write(`CANCELLED ${ev.method} tag=${ev.tag}\n`);
  });
  const shown = address.startsWith('unix:') ? address : String(srv.port);
  process.stdout.write(`LISTENING ${shown}\n`);

  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    const force = setTimeout(() => process.exit(code), 1500);
    force.unref();
    srv.stop().then(() => process.exit(code));
  };
  process.on('SIGTERM', () => exit(0));
  process.on('SIGINT', () => exit(0));
  if (process.send) process.on('disconnect', () => exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`interop server failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
