#!/usr/bin/env bash
# Installs the npm packages of the interop tests (tests/interop) from their lock file.
# Quiet when node_modules is already newer than the lock file; `npm ci` otherwise, so the
# installed tree is exactly the locked one.
set -euo pipefail
cd "$(dirname "$0")/../tests/interop"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-node-deps: '$tool' not found; install the Debian packages nodejs and npm" \
      "(scripts/install-deps.sh test does)" >&2
    exit 1
  fi
done

# npm ci writes node_modules/.package-lock.json last: it marks a complete install.
marker=node_modules/.package-lock.json
if [ -f "$marker" ] && [ ! package-lock.json -nt "$marker" ]; then
  exit 0
fi

echo "install-node-deps: installing tests/interop dependencies"
if ! npm ci --no-audit --no-fund --loglevel=error >/dev/null; then
  echo "install-node-deps: npm ci failed in tests/interop" >&2
  exit 1
fi
