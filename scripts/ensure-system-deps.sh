#!/usr/bin/env bash
# Installs the system packages the tests and the main job need, if they are missing:
#   grpc-proto  (/usr/share/grpc-proto: the gRPC interop test protos)
#   openssl     (the CLI: TLS tests generate their CA and certificates with it)
# Used by .ci/run and by the `pretest` npm script. Does nothing when all is present.
set -euo pipefail

PROTO=/usr/share/grpc-proto/grpc/testing/test.proto

PACKAGES=()
[ -f "$PROTO" ] || PACKAGES+=(grpc-proto)
command -v openssl >/dev/null 2>&1 || PACKAGES+=(openssl)

if [ "${#PACKAGES[@]}" -eq 0 ]; then
  exit 0
fi

echo "ensure-system-deps: installing ${PACKAGES[*]}" >&2

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "ensure-system-deps: need root to run: apt-get update && apt-get install -y ${PACKAGES[*]}" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: apt-get not found; install ${PACKAGES[*]} by hand" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y "${PACKAGES[@]}"

if [ ! -f "$PROTO" ]; then
  echo "ensure-system-deps: grpc-proto installed but $PROTO is still missing" >&2
  exit 1
fi
