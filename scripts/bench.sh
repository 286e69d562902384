#!/usr/bin/env bash
# `make bench`: data-plane performance, measured (not asserted). Builds dpa and the example
# plugins into a temp dir, then in one run compares direct gRPC calls to the example plugin
# with the same calls through a real `dpa serve` (concurrency 1 and 16), times route lookup
# with 1 vs 10,000 registrations and 1 vs 10,000 datasources, apply → route-live latency,
# memory, two replicas on PostgreSQL (apply on A → live on B, idle database load), the same
# query end to end with 1 vs 10,000 datasources and DataPlaneServices and during provisioning
# reloads (scale section), and the topology hops (a plugin query through a real kube-apiserver's aggregator to dpa, and a
# request the kube-apiserver serves itself through dpa as its front proxy; `make kube-bins`
# builds them into bin/ first). See docs/benchmarks.md.
#
# Environment: DURATION (per scenario, default 3s), LIVE_REPS (default 20),
# DPA_LOG_LEVEL (dpa's --log-level during the run, default info), BENCH_OUT (also write the
# report to this file), BENCH_ARGS (more driver flags, e.g. "-http2", "-only compare,floor",
# "-dpa-profile /tmp/prof" for a CPU profile of dpa per scenario; see go run ./test/bench -h),
# KUBE_BINS=0 (do not run `make kube-bins`: the topology section uses bin/kube-apiserver and
# bin/etcd as they are, or prints "skipped: …" without them).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-3s}
LIVE_REPS=${LIVE_REPS:-20}
DPA_LOG_LEVEL=${DPA_LOG_LEVEL:-info}
GOOS=$(go env GOOS)
GOARCH=$(go env GOARCH)

work=$(mktemp -d "${TMPDIR:-/tmp}/dpa-bench-build-XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "building dpa, the example plugins and the benchmark driver..." >&2
go build -o "$work/dpa" ./cmd/dpa
go build -o "$work/bench" ./test/bench
for p in datasource:example-datasource app:example-app; do
  dir=${p%%:*} id=${p#*:}
  mkdir -p "$work/plugins/$dir"
  cp "examples/plugins/$dir/plugin.json" "$work/plugins/$dir/"
  go build -o "$work/plugins/$dir/gpx_${id}_${GOOS}_${GOARCH}" "./examples/plugins/$dir"
done
if [ "${KUBE_BINS:-1}" != 0 ]; then
  echo "building the kube-apiserver and etcd (make kube-bins) for the topology section..." >&2
  if ! make --no-print-directory kube-bins >&2; then
    echo "bench: make kube-bins failed; the topology section runs on bin/ as it is (or is skipped)" >&2
  fi
fi

{
  echo "# $(uname -srm), $(nproc) CPUs, $(go version | awk '{print $3}'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
  "$work/bench" -dpa "$work/dpa" -plugins "$work/plugins" -duration "$DURATION" \
    -live-reps "$LIVE_REPS" -dpa-log-level "$DPA_LOG_LEVEL" \
    -kube-apiserver "$PWD/bin/kube-apiserver" -etcd "$PWD/bin/etcd" ${BENCH_ARGS:-}
  echo
  echo "## pkg/dataplane BenchmarkLookup (route table lookup + match only)"
  go test ./pkg/dataplane -run '^$' -bench '^BenchmarkLookup$' -benchmem -benchtime 200000x | grep -E '^Benchmark'
  echo
  echo "## pkg/app BenchmarkReconcileList: a start-up's events (1,000 / 10,000 objects, 10 informer workers) into a real route table"
  go test ./pkg/app -run '^$' -bench '^BenchmarkReconcileList$' -benchmem -benchtime 1x -count 3 | grep -E '^Benchmark'
  echo
  echo "## pkg/provisioning: datasource lookup and a full reload, 1 vs 10,000 datasources (reload runs beside the request path)"
  go test ./pkg/provisioning -run '^$' -bench '^BenchmarkDatasourceLookup$' -benchmem | grep -E '^Benchmark'
  go test ./pkg/provisioning -run '^$' -bench '^BenchmarkReload$' -benchmem -benchtime 5x | grep -E '^Benchmark'
} | if [ -n "${BENCH_OUT:-}" ]; then tee "$BENCH_OUT"; else cat; fi
