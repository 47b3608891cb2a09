#!/usr/bin/env bash
# Installs grpc-go's interop test server (google.golang.org/grpc/interop/server)
# for __test__/interop-go.test.ts, when it is missing, as
#   .cache/go-bin/grpc-go-interop-server-<version>   (.cache/ is gitignored)
# The version is in the name, so bumping GRPC_GO_VERSION installs the new one.
# Used by .ci/run and by the `pretest` npm script; quick when the binary exists.
# Needs Go (PATH or /usr/local/go/bin) and the Go module proxy (or a warm module cache).
# GOMODCACHE/GOCACHE are left at Go's defaults. (bench/ has its own script,
# scripts/ensure-go-bench.sh, which installs into bench/.bin/.)
set -euo pipefail

GRPC_GO_VERSION=v1.85.0
PKG=google.golang.org/grpc/interop/server
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/go-bin"
BIN="$CACHE/grpc-go-interop-server-$GRPC_GO_VERSION"

if [ -x "$BIN" ]; then
  exit 0
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "ensure-go-interop: Go is not installed (looked in PATH and /usr/local/go/bin)." >&2
  echo "ensure-go-interop: __test__/interop-go.test.ts needs grpc-go's interop server," >&2
  echo "ensure-go-interop: built with: go install $PKG@$GRPC_GO_VERSION" >&2
  echo "ensure-go-interop: install Go (https://go.dev/dl/) and run npm test again." >&2
  exit 1
fi

echo "ensure-go-interop: go install $PKG@$GRPC_GO_VERSION -> ${BIN#"$ROOT"/}" >&2
mkdir -p "$CACHE"
# go install names the binary after the package (`server`); install into a private
# directory, then move it to its versioned name, so a half-written binary never
# counts as present.
TMP="$(mktemp -d "$CACHE/.install.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
GOBIN="$TMP" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install "$PKG@$GRPC_GO_VERSION"
mv -f "$TMP/server" "$BIN"
echo "ensure-go-interop: installed ${BIN#"$ROOT"/}" >&2
