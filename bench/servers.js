'use strict';
// The server every client talks to, in a process of its own:
//   go       grpc-go's benchmark server (default; fast enough not to be the bottleneck)
//   grpc-js  bench/servers/grpc-js-server.js
//   external --target host:port, started by someone else
// `ensure()` before each measurement restarts a local server that died.

const fs = require('node:fs');
const path = require('node:path');
const { spawnTracked, forkTracked, stop, freePort, waitForPort } = require('./procs');
const { BIN } = require('./go-client');

class BenchServer {
  /** kind: go | grpc-js | external; target: host:port for external. */
  constructor(kind, target) {
    this.kind = kind;
    this.externalTarget = target;
    this.child = null;
    this.port = null;
    this.restarts = 0;
    this.testName = `h2grpc-bench-server-${process.pid}`;
  }

  get description() {
    if (this.kind === 'go')
      return 'grpc-go benchmark server v1.85.0 (google.golang.org/grpc/benchmark/server)';
    if (this.kind === 'grpc-js') return 'bench/servers/grpc-js-server.js (@grpc/grpc-js)';
    return `external server at ${this.externalTarget}`;
  }

  /** Clients dial this. */
  get target() {
    return this.kind === 'external' ? this.externalTarget : `127.0.0.1:${this.port}`;
  }

  /** The server's process (for Go: the benchgo wrapper, parent of the server). */
  get pid() {
    return this.alive() ? this.child.pid : undefined;
  }

  alive() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start() {
    if (this.kind === 'external') {
      const m = /^(.*):(\d+)$/.exec(this.externalTarget);
      if (!m) throw new Error(`--target must be host:port, got ${this.externalTarget}`);
      await waitForPort(m[1].replace(/^\[|\]$/g, ''), Number(m[2]), 5000);
      return;
    }
    if (this.kind === 'go') {
      this.port = await freePort();
      // Under benchgo so that it dies with us; SIGINT makes it exit cleanly.
      this.child = spawnTracked(path.join(BIN, 'benchgo'), [
        'exec',
        '--',
        path.join(BIN, 'server'),
        `-port=${this.port}`,
        `-test_name=${this.testName}`,
      ]);
    } else if (this.kind === 'grpc-js') {
      this.port = await freePort();
      this.child = forkTracked(path.join(__dirname, 'servers', 'grpc-js-server.js'), [
        `--port=${this.port}`,
      ]);
    } else {
      throw new Error(`unknown server ${this.kind} (go | grpc-js, or --target host:port)`);
    }
    let log = '';
    this.child.stdout.on('data', (d) => (log = (log + d).slice(-4000)));
    this.child.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
    this.log = () => log;
    await waitForPort('127.0.0.1', this.port, 10_000, () => !this.alive()).catch((e) => {
      throw new Error(`${this.description}: ${e.message}\n${log}`);
    });
  }

  /** Before each measurement: restart a local server that exited. */
  async ensure() {
    if (this.kind === 'external' || this.alive()) return;
    this.restarts++;
    process.stderr.write(
      `bench: the server exited (${this.child?.exitCode ?? this.child?.signalCode}); restarting it\n` +
        `${this.log?.().trim().split('\n').slice(-5).join('\n') ?? ''}\n`,
    );
    await this.start();
  }

  async stop() {
    if (!this.child) return;
    await stop(this.child, this.kind === 'go' ? 'SIGINT' : 'SIGTERM');
    this.child = null;
    for (const ext of ['cpu', 'mem']) fs.rmSync(`/tmp/${this.testName}.${ext}`, { force: true });
  }
}

module.exports = { BenchServer };
