#!/usr/bin/env bash
# Installs everything weft's build and tests need: Debian packages (apt-get)
# and the npm packages of the test clients. Quick when all is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential pkg-config clang libclang-rt-dev
  libssl-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler libyaml-dev
  libcmocka-dev
  python3 python3-pytest python3-h2
  nodejs npm
  curl nghttp2-client nghttp2-server iproute2 procps prometheus
  nftables openssl tshark python3-cryptography
  haproxy nginx-light libnginx-mod-stream iperf3
  bpftool libbpf-dev llvm
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# node and npm may come from outside Debian's packages; accept working ones
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm test clients (@grpc/grpc-js, @grpc/grpc-js-xds), pinned by package-lock.json
# A symlinked node_modules (a git worktree sharing the main checkout's) is
# left alone: npm ci would empty the directory it points to.
if [[ -L node_modules ]]; then
  [[ -d node_modules/@grpc/grpc-js-xds ]] || echo "deps: node_modules is a symlink without @grpc/grpc-js-xds; run make deps where it points" >&2
elif [[ ! -d node_modules/@grpc/grpc-js-xds || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "deps: ok"
