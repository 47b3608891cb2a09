#!/usr/bin/env bash
# Installs __test__/compat: packs h2grpc exactly as `npm publish` would ship it
# (dist/ plus the native addon built for this machine), then runs
# `npm install` in __test__/compat, whose package.json overrides
# @grpc/grpc-js with that tarball, so the unchanged libraries there (etcd3,
# OpenTelemetry, nice-grpc, @grpc/reflection, ...) run on h2grpc.
# The compat tests skip, saying so, until this has run (CI: .ci/run runs it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
COMPAT="$ROOT/__test__/compat"
PACK="$COMPAT/.pack"

# The tarball must carry an up-to-date dist/ and the addon. install.js builds
# the addon with cargo (honouring CARGO_TARGET_DIR) and compiles the
# TypeScript; skipped when both are newer than every source (CI has just built
# them in `npm ci`).
if ! ls h2grpc.*.node >/dev/null 2>&1 || [ ! -f dist/index.js ] ||
  [ -n "$(find ts crates Cargo.toml Cargo.lock -newer dist/index.js -type f -not -path '*/node_modules/*' -print -quit)" ]; then
  node scripts/install.js
fi

rm -rf "$PACK"
mkdir -p "$PACK"
npm pack --silent --pack-destination "$PACK" >/dev/null
mv "$PACK"/h2grpc-*.tgz "$PACK/h2grpc.tgz"

cd "$COMPAT"
# The committed lock pins the libraries; the tarball's integrity changes with
# every pack, so the lock leaves it out and --no-save keeps the lock as it is.
rm -rf node_modules/h2grpc node_modules/@grpc/grpc-js
npm install --no-save --no-audit --no-fund --loglevel=error

# Read by the tests: proves setup ran against this tarball.
sha256sum "$PACK/h2grpc.tgz" | cut -d' ' -f1 >node_modules/.h2grpc-compat-setup
echo "setup-compat: __test__/compat installed with @grpc/grpc-js -> $(node -p "require('@grpc/grpc-js/package.json').name") (packed from $ROOT)"
