'use strict';
// Child processes of the bench: every one is tracked and killed (its whole
// process group) when the bench exits, fails or is interrupted. Node
// children also exit when their IPC channel to us closes, and Go children
// run under `benchgo`, which dies with its parent (PR_SET_PDEATHSIG), so
// even a SIGKILLed bench leaves no strays.

const { spawn, fork } = require('node:child_process');
const net = require('node:net');

const live = new Set();

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // detached: the child leads its own group
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function killAll(signal = 'SIGKILL') {
  for (const child of live) killGroup(child, signal);
}

let installed = false;
function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping child processes\n`);
      killAll('SIGKILL');
      process.exit(130);
    });
  }
}

function track(child) {
  installCleanup();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** A tracked child process (own process group); stdout/stderr piped. */
function spawnTracked(cmd, args, opts = {}) {
  return track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts }));
}

/** A tracked Node child with an IPC channel. */
function forkTracked(file, args, opts = {}) {
  return track(
    fork(file, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true, ...opts }),
  );
}

/**
 * Runs a child to its end. Resolves with { code, signal, stdout, stderr,
 * messages } (IPC messages for forked children); kills it after timeoutMs.
 */
function collect(child, timeoutMs, label) {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    const messages = [];
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('message', (m) => messages.push(m));
    const timer = setTimeout(() => {
      timedOut = true;
      process.stderr.write(`bench: ${label} ran over ${timeoutMs} ms, killing it\n`);
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      stderr += `\n${err.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, messages, timedOut });
    });
  });
}

/** Stops a child: `signal` first, SIGKILL after graceMs. */
function stop(child, signal = 'SIGTERM', graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    killGroup(child, signal);
  });
}

/** A TCP port that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once host:port accepts TCP connections; rejects after timeoutMs. */
function waitForPort(host, port, timeoutMs, isDead = () => false) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (isDead()) return reject(new Error(`server exited before listening on ${port}`));
      const sock = net.connect({ host, port });
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${host}:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

module.exports = {
  spawnTracked,
  forkTracked,
  collect,
  stop,
  killAll,
  freePort,
  waitForPort,
  installCleanup,
};
