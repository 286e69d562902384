#!/usr/bin/env bash
# Builds the standalone UI bundle into pkg/ui/dist (embedded by `go build ./cmd/dpa`).
# Usage: plugin/scripts/build-ui.sh   (SKIP_NPM_CI=1 reuses node_modules)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${SKIP_NPM_CI:-}" != 1 || ! -d node_modules ]]; then
  # npm ci refuses a lock without other platforms' optional packages (e.g. @swc/core-darwin-*),
  # which a filtering registry mirror cannot resolve; npm install still honours the lock's pins.
  npm install --no-audit --no-fund
fi
npm run build:standalone
test -f ../pkg/ui/dist/index.html
echo "standalone UI bundle in $(cd ../pkg/ui/dist && pwd)"
