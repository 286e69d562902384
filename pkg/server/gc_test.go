package server

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestGCPolicy: Go's default target while starting, servingGCPercent once serving; GOGC, when
// set, decides alone.
func TestGCPolicy(t *testing.T) {
	percent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	defer debug.SetGCPercent(percent())

	old, had := os.LookupEnv("GOGC")
	os.Unsetenv("GOGC")
	defer func() {
		if had {
			os.Setenv("GOGC", old)
		}
	}()
	debug.SetGCPercent(250)
	serving := gcPolicy()
	if p := percent(); p != 100 {
		t.Errorf("starting: GC percent %d, want 100", p)
	}
	serving()
	if p := percent(); p != servingGCPercent {
		t.Errorf("serving: GC percent %d, want %d", p, servingGCPercent)
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	serving = gcPolicy()
	serving()
	if p := percent(); p != 150 {
		t.Errorf("with GOGC=150: GC percent %d", p)
	}
}
