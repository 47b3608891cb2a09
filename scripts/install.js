#!/usr/bin/env node
// `npm install` hook: make sure a native addon for this platform exists, then
// make sure the TypeScript is compiled (in a git checkout; the published
// package ships dist/). An installed package uses the addon it carries when
// that loads on this machine. Otherwise, with a Rust toolchain and the crate
// sources present, the addon is (re)built from source (CARGO_TARGET_DIR is
// honoured, so a shared target/ makes that quick; in a checkout cargo makes it
// a no-op when up to date). Without cargo, a prebuilt per-platform package
// (`@h2grpc/<platform>`) must be installed.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

const { platformSuffixes } = require('./platform');

function suffix() {
  return platformSuffixes()[0];
}

function libName() {
  if (process.platform === 'win32') return 'h2grpc_napi.dll';
  if (process.platform === 'darwin') return 'libh2grpc_napi.dylib';
  return 'libh2grpc_napi.so';
}

function hasCargo() {
  return spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;
}

function prebuiltAvailable() {
  try {
    require.resolve(`@h2grpc/${suffix()}`, { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

function buildNative() {
  const manifest = path.join(root, 'crates', 'h2grpc-napi', 'Cargo.toml');
  console.log('h2grpc: building the native addon from source (cargo build --release)…');
  execFileSync('cargo', ['build', '--release', '--manifest-path', manifest, '-p', 'h2grpc-napi'], {
    cwd: root,
    stdio: 'inherit',
  });
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  const built = path.join(targetDir, 'release', libName());
  const dest = path.join(root, `h2grpc.${suffix()}.node`);
  // Copy to a temporary name and rename, so a running process that has the
  // old addon loaded keeps a valid file.
  fs.copyFileSync(built, `${dest}.tmp`);
  fs.renameSync(`${dest}.tmp`, dest);
  console.log(`h2grpc: native addon ready at ${path.relative(root, dest)}`);
}

function buildTypeScript() {
  const tsconfig = path.join(root, 'tsconfig.build.json');
  if (!fs.existsSync(tsconfig) || !fs.existsSync(path.join(root, 'ts'))) return;
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  } catch {
    if (fs.existsSync(path.join(root, 'dist', 'index.js'))) return;
    throw new Error('h2grpc: dist/ is missing and TypeScript is not installed to build it');
  }
  console.log('h2grpc: compiling TypeScript (tsc -p tsconfig.build.json)…');
  execFileSync(process.execPath, [tsc, '-p', tsconfig], { cwd: root, stdio: 'inherit' });
}

// An installed package (no ts/: not a git checkout) may carry an addon built
// for this platform (`npm pack` includes h2grpc.*.node). Using it saves a
// full Rust build on install; it is loaded once here so that a binary that
// does not fit this machine (e.g. another libc) falls back to building.
function bundledAddonWorks() {
  if (fs.existsSync(path.join(root, 'ts')) || process.env.H2GRPC_FORCE_NATIVE_BUILD === '1') {
    return false;
  }
  const addon = path.join(root, `h2grpc.${suffix()}.node`);
  if (!fs.existsSync(addon)) return false;
  try {
    require(addon);
    console.log(`h2grpc: using the bundled native addon ${path.basename(addon)}`);
    return true;
  } catch (e) {
    console.log(`h2grpc: the bundled addon does not load here (${e.message}); building instead`);
    return false;
  }
}

function main() {
  const haveSources = fs.existsSync(path.join(root, 'crates', 'h2grpc-napi', 'Cargo.toml'));
  if (bundledAddonWorks()) {
    // Nothing to build.
  } else if (haveSources && hasCargo() && process.env.H2GRPC_SKIP_NATIVE_BUILD !== '1') {
    buildNative();
  } else if (!prebuiltAvailable() && !fs.existsSync(path.join(root, `h2grpc.${suffix()}.node`))) {
    throw new Error(
      `h2grpc: no prebuilt binary for ${suffix()} and no Rust toolchain to build one. ` +
        'Install Rust (https://rustup.rs) and run `npm install` again.',
    );
  }
  buildTypeScript();
}

try {
  main();
} catch (e) {
  console.error(e && e.message ? e.message : e);
  process.exit(1);
}
