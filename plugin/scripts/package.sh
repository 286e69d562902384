#!/usr/bin/env bash
# Builds the Grafana app plugin and zips it:
#   dist/ (frontend), dist/plugin.json with %VERSION%/%TODAY% filled,
#   dist/gpx_dataplane_aggregator_app_linux_{amd64,arm64},
#   dataplane-aggregator-app-<version>.zip holding dataplane-aggregator-app/...
# Usage: plugin/scripts/package.sh [version]   (default: version from package.json)
# Env: SKIP_NPM_CI=1 to reuse node_modules; GOARCHES="amd64 arm64" to choose targets.
set -euo pipefail

cd "$(dirname "$0")/.."
PLUGIN_DIR=$(pwd)
ROOT=$(cd .. && pwd)
ID=dataplane-aggregator-app
EXE=gpx_dataplane_aggregator_app
VERSION=${1:-$(node -p "require('./package.json').version")}
TODAY=$(date -u +%Y-%m-%d)

if [[ "${SKIP_NPM_CI:-}" != 1 || ! -d node_modules ]]; then
  # npm ci refuses a lock without other platforms' optional packages (e.g. @swc/core-darwin-*),
  # which a filtering registry mirror cannot resolve; npm install still honours the lock's pins.
  npm install --no-audit --no-fund
fi
npm run build

# Fill placeholders (webpack already did with package.json's version; an explicit version wins).
node -e '
const fs = require("fs");
const [file, version, today] = process.argv.slice(1);
const j = JSON.parse(fs.readFileSync(file, "utf8"));
j.info.version = version;
j.info.updated = today;
let s = JSON.stringify(j, null, 2).replace(/%VERSION%/g, version).replace(/%TODAY%/g, today).replace(/%PLUGIN_ID%/g, j.id);
fs.writeFileSync(file, s + "\n");
' dist/plugin.json "$VERSION" "$TODAY"

for arch in ${GOARCHES:-amd64 arm64}; do
  echo "building backend linux/$arch"
  (cd "$ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w" \
    -o "$PLUGIN_DIR/dist/${EXE}_linux_${arch}" ./plugin/pkg)
done

ZIP="$PLUGIN_DIR/$ID-$VERSION.zip"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R dist "$STAGE/$ID"
rm -f "$ZIP"
if command -v zip >/dev/null 2>&1; then
  (cd "$STAGE" && zip -qr -X "$ZIP" "$ID")
else
  (cd "$STAGE" && python3 -m zipfile -c "$ZIP" "$ID")
fi
echo "wrote $ZIP"
