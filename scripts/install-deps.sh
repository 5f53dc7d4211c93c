#!/usr/bin/env bash
# Installs every Debian package Gatehouse needs to build, run and test.
# Idempotent and quiet when everything is already present.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config ninja-build
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsodium-dev libsqlite3-dev libpq-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libhiredis-dev
  liboath-dev libqrencode-dev libcurl4-openssl-dev zlib1g-dev
)
# oathtool and zbarimg (zbar-tools) are the independent TOTP and QR peers of tests/interop.
TEST_PKGS=(openssl curl postgresql redis-server sqlite3 procps oathtool zbar-tools)
# The interop tests (tests/interop) run on Node.js. A node already on PATH is used as it is:
# a vendor's nodejs package bundles npm, and Debian's npm package would conflict with it.
if ! command -v node >/dev/null 2>&1; then
  TEST_PKGS+=(nodejs npm)
fi
# The bench's Node.js peer (bench/node-peer) uses the node that TEST_PKGS provides; it needs
# Node.js >= 20, which bench/run.sh checks.
BENCH_PKGS=(nginx-light wrk util-linux iproute2)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${TEST_PKGS[@]}") ;;
  bench) want+=("${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root or install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
