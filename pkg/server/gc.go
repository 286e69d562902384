package server

import (
	"os"
	"runtime/debug"
	"sync"
)

// servingGCPercent is the garbage collector's target while dpa serves: the request path
// allocates per call, and 400 bought ≈ +24 % data-plane throughput at concurrency 16 over Go's
// 100 (docs/benchmarks.md, round 1).
const servingGCPercent = 400

// gcPolicy keeps Go's default target (100) while dpa starts and returns what switches to
// servingGCPercent, which the server calls once the route table holds every stored object.
// Loading the objects makes garbage in one burst — decoding them for the watch cache, the
// informer and the readiness list — and with 400 the heap grows to five times what is live
// meanwhile: a restart on 10,000 DataPlaneServices peaked at ~540 MiB resident with 400 and
// ~290 MiB with 100, ready in about the same time (docs/benchmarks.md, round 4). With GOGC set
// both are left to it (GOMEMLIMIT applies as always).
func gcPolicy() (serving func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	debug.SetGCPercent(100)
	return sync.OnceFunc(func() { debug.SetGCPercent(servingGCPercent) })
}
