#!/usr/bin/env bash
# Builds the Go programs `npm run bench` compares against, into bench/.bin/
# (gitignored), when they are missing:
#   server   grpc-go's benchmark server  (google.golang.org/grpc/benchmark/server)
#   client   grpc-go's benchmark client  (google.golang.org/grpc/benchmark/client)
#   benchgo  bench/go: server streaming, 10k streams, cold start, CPU wrapper
# bench/run.js calls this itself. `--force` rebuilds all three.
# Needs Go (PATH or /usr/local/go/bin) and the Go module proxy.
set -euo pipefail

GRPC_GO_VERSION=v1.85.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bench/.bin"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

GO="$(command -v go || true)"
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then
  GO=/usr/local/go/bin/go
fi
if [ -z "$GO" ]; then
  echo "ensure-go-bench: Go is not installed (looked in PATH and /usr/local/go/bin)" >&2
  exit 1
fi

mkdir -p "$BIN"
export GOBIN="$BIN"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

for prog in server client; do
  if [ "$FORCE" = 1 ] || [ ! -x "$BIN/$prog" ]; then
    echo "ensure-go-bench: go install google.golang.org/grpc/benchmark/$prog@$GRPC_GO_VERSION" >&2
    "$GO" install "google.golang.org/grpc/benchmark/$prog@$GRPC_GO_VERSION"
  fi
done

# benchgo is ours: rebuild when a source is newer than the binary.
stale=$FORCE
if [ ! -x "$BIN/benchgo" ]; then
  stale=1
else
  for f in "$ROOT"/bench/go/*.go "$ROOT"/bench/go/go.mod "$ROOT"/bench/go/go.sum; do
    if [ "$f" -nt "$BIN/benchgo" ]; then stale=1; fi
  done
fi
if [ "$stale" = 1 ]; then
  echo "ensure-go-bench: building bench/go -> bench/.bin/benchgo" >&2
  (cd "$ROOT/bench/go" && "$GO" build -o "$BIN/benchgo" .)
fi
