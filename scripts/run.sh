#!/usr/bin/env bash
# `make run`: start dpa with the example plugins and provisioning, apply the example
# DataPlaneServices once it is ready, and keep it in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${DATA_DIR:-./data}
PORT=${PORT:-6443}
BIN=${BIN:-./bin/dpa}

# The example datasources point at dpa itself (examples/provisioning: url: ${DPA_URL}).
DPA_URL="https://127.0.0.1:$PORT" "$BIN" serve --data-dir "$DATA_DIR" --secure-port "$PORT" \
  --plugins-dir examples/plugins --provisioning examples/provisioning "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

for _ in $(seq 1 300); do
  if curl -fsk "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  kill -0 $pid 2>/dev/null || { wait $pid; exit $?; }
  sleep 0.2
done
kubectl --kubeconfig "$DATA_DIR/kubeconfig" apply -f examples/dataplaneservices/
cat <<MSG

dpa is serving on https://127.0.0.1:$PORT (Ctrl-C stops it)
  kubectl --kubeconfig $DATA_DIR/kubeconfig get dataplaneservices
  TOKEN=\$(cat $DATA_DIR/admin-token)
  curl -sk -H "Authorization: Bearer \$TOKEN" https://127.0.0.1:$PORT/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources/example/health
  UI: https://127.0.0.1:$PORT/ui/  (sign in with the token in $DATA_DIR/admin-token)

MSG
wait $pid
