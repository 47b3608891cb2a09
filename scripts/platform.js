// Which native addon fits this machine: the suffix of `h2grpc.<suffix>.node`
// and of the `@h2grpc/<suffix>` prebuilt packages. Plain CommonJS because the
// install hook needs it before the TypeScript is compiled; the runtime loader
// (ts/native/binding.ts) requires this same file, so the two cannot disagree.
'use strict';
const fs = require('node:fs');

// Telling glibc from musl: reading ldd (a shell script on glibc, a symlink to
// the musl loader on musl) takes microseconds, while process.report costs
// several milliseconds at every cold start, so it is only the fallback.
function isMusl() {
  try {
    const ldd = fs.readFileSync('/usr/bin/ldd', 'latin1');
    if (ldd.includes('musl')) return true;
    if (ldd.includes('GNU C Library') || ldd.includes('glibc')) return false;
  } catch {
    // No ldd: ask the runtime below.
  }
  const report = process.report && process.report.getReport();
  return !(report && report.header && report.header.glibcVersionRuntime);
}

/** Suffixes to try, best first. */
function platformSuffixes() {
  const { platform, arch } = process;
  if (platform === 'linux') return [`linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`];
  if (platform === 'win32') return [`win32-${arch}-msvc`];
  if (platform === 'darwin') return [`darwin-${arch}`, 'darwin-universal'];
  return [`${platform}-${arch}`];
}

module.exports = { platformSuffixes };
