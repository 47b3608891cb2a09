#!/usr/bin/env bash
# Installs the system packages the tests and the main job need, if they are missing:
#   grpc-proto        (/usr/share/grpc-proto: the gRPC interop test protos)
#   openssl           (the CLI: TLS tests generate their CA and certificates with it)
# and with --compat, for the compat tests (__test__/compat):
#   etcd-server       (etcd, which the etcd3 compat test starts on loopback)
#   protobuf-compiler (protoc, for scripts/gen-ts-proto.sh)
# Used by .ci/run and by the `pretest`/`prestart` npm scripts. Does nothing when all is present.
set -euo pipefail

PROTO=/usr/share/grpc-proto/grpc/testing/test.proto
MISSING=()

[ -f "$PROTO" ] || MISSING+=(grpc-proto)
command -v openssl >/dev/null 2>&1 || MISSING+=(openssl)
if [ "${1:-}" = "--compat" ]; then
  command -v etcd >/dev/null 2>&1 || MISSING+=(etcd-server)
  command -v protoc >/dev/null 2>&1 || MISSING+=(protobuf-compiler)
fi

if [ "${#MISSING[@]}" -eq 0 ]; then
  exit 0
fi

echo "ensure-system-deps: missing ${MISSING[*]}; installing" >&2

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "ensure-system-deps: need root to run: apt-get update && apt-get install -y ${MISSING[*]}" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: apt-get not found; install ${MISSING[*]} (Debian package names) by hand" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends "${MISSING[@]}"

if [ ! -f "$PROTO" ]; then
  echo "ensure-system-deps: grpc-proto installed but $PROTO is still missing" >&2
  exit 1
fi
