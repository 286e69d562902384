#!/usr/bin/env bash
# `make test-ui-e2e`: the UI in real headless Chromium (Debian's chromium) against a real
# `dpa serve` with the example plugins. Screenshots land in test-output/ui.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1 || { echo "chromium not found: apt-get install chromium" >&2; exit 1; }

data=$(mktemp -d /tmp/dpa-ui-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 16999)
# A Viewer of org 1 besides the admin token: the UI must show them no write actions.
viewer_token="viewer-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s,viewer,viewer,"grafana:org:1:Viewer"\n' "$viewer_token" >"$data/tokens.csv"
# --timeout query=45s: the console waits past 30 s (its old client limit) for a slow query;
# probes every second: a frozen plugin shows as NotResponding within seconds.
# As `make run`: the example datasources point at dpa itself (examples/provisioning: ${DPA_URL}).
DPA_URL="https://127.0.0.1:$port" ./bin/dpa serve --data-dir "$data" --secure-port "$port" --log-level warn --token-auth-file "$data/tokens.csv" \
  --plugins-dir examples/plugins --provisioning examples/provisioning \
  --timeout query=45s --plugin-probe-interval 1s --plugin-probe-timeout 1s >"$data/dpa.log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM $pid 2>/dev/null && wait $pid || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -fsk "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$data/dpa.log"; exit 1; }
  sleep 0.2
done

cd plugin
KUBECONFIG="$data/kubeconfig" DPA_URL="https://127.0.0.1:$port" DPA_TOKEN="$(cat "$data/admin-token")" DPA_VIEWER_TOKEN="$viewer_token" \
  TEST_OUTPUT_DIR="${TEST_OUTPUT_DIR:-$PWD/../test-output/ui}" node e2e/ui.e2e.mjs
DPA_URL="https://127.0.0.1:$port" DPA_TOKEN="$(cat "$data/admin-token")" DPA_VIEWER_TOKEN="$viewer_token" TEST_OUTPUT_DIR="${TEST_OUTPUT_DIR:-$PWD/../test-output/ui}" node e2e/console.e2e.mjs
# Last: it adds 10,000 services to this server (the list at scale, issue 24).
DPA_URL="https://127.0.0.1:$port" DPA_TOKEN="$(cat "$data/admin-token")" DPA_VIEWER_TOKEN="$viewer_token" TEST_OUTPUT_DIR="${TEST_OUTPUT_DIR:-$PWD/../test-output/ui}" node e2e/scale.e2e.mjs
