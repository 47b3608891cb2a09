'use strict';
// CPU accounting from /proc, to tell the bench's own load from other
// processes' on a shared machine: while a measurement runs, everything the
// system spent beyond the client, the server and this orchestrator was
// spent by someone else. Returns undefined where there is no /proc.

const fs = require('node:fs');

const TICK_US = 10_000; // USER_HZ is 100 on Linux

/** Busy CPU time of the whole machine so far (µs): all but idle and iowait. */
function systemBusyUs() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [user, nice, system, , , irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return (user + nice + system + irq + softirq + (steal || 0)) * TICK_US;
  } catch {
    return undefined;
  }
}

function ownCpuUs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US; // utime + stime
}

function childPids(pid) {
  const out = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const kids = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {
      /* the thread exited */
    }
  }
  return out;
}

/** CPU time (µs) of a running process and all its descendants. */
function treeCpuUs(pid) {
  try {
    let total = ownCpuUs(pid);
    for (const child of childPids(pid)) total += treeCpuUs(child) ?? 0;
    return total;
  } catch {
    return undefined;
  }
}

/**
 * Starts an accounting window. `end(clientCpuUs)` returns the average
 * number of cores other processes used meanwhile, or undefined.
 */
function othersWindow(serverPid) {
  const t0 = process.hrtime.bigint();
  const sys0 = systemBusyUs();
  const srv0 = serverPid ? treeCpuUs(serverPid) : 0;
  const self0 = process.cpuUsage();
  return {
    end(clientCpuUs) {
      const sys1 = systemBusyUs();
      const srv1 = serverPid ? treeCpuUs(serverPid) : 0;
      if ([sys0, sys1, srv0, srv1, clientCpuUs].some((v) => v === undefined)) return undefined;
      const self = process.cpuUsage(self0);
      const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
      const others = sys1 - sys0 - (srv1 - srv0) - clientCpuUs - (self.user + self.system);
      return Math.max(0, others / wallUs);
    },
  };
}

module.exports = { othersWindow, treeCpuUs, systemBusyUs };
