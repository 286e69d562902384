package server

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadGate: /readyz's dpa-routes check opens once the reconciler holds every stored
// object, lists in the background, lists again to drop objects deleted meanwhile, and stays
// open.
func TestLoadGate(t *testing.T) {
	stored := map[string]struct{}{"a": {}, "b": {}, "c": {}}
	held := map[string]bool{}
	lists := 0
	var queued []func()
	g := &loadGate{
		list: func() (map[string]struct{}, error) {
			lists++
			out := map[string]struct{}{}
			for k := range stored {
				out[k] = struct{}{}
			}
			return out, nil
		},
		holds:       func(name string) bool { return held[name] },
		relistAfter: time.Hour,
		spawn:       func(f func()) { queued = append(queued, f) },
	}
	run := func() {
		for len(queued) > 0 {
			f := queued[0]
			queued = queued[1:]
			f()
		}
	}
	expect := func(want string) {
		t.Helper()
		err := g.check()
		switch {
		case want == "" && err != nil:
			t.Fatalf("check: %v, want ready", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("check: %v, want %q", err, want)
		}
	}

	expect("listing the stored")
	expect("listing the stored") // a second probe does not list again
	if len(queued) != 1 {
		t.Fatalf("%d listings started, want 1", len(queued))
	}
	run()
	expect("3 DataPlaneServices to go")
	held["a"], held["b"] = true, true
	expect("1 DataPlaneServices to go")

	// c is deleted before the reconciler ever holds it: the next listing drops it.
	delete(stored, "c")
	g.relistAfter = 0
	expect("1 DataPlaneServices to go")
	run()
	expect("")
	if lists != 2 {
		t.Fatalf("%d listings, want 2", lists)
	}
	// Open stays open.
	held["a"] = false
	expect("")

	// A failed listing is reported, and tried again on the next probe.
	failing := &loadGate{
		list:  func() (map[string]struct{}, error) { return nil, errors.New("boom") },
		holds: func(string) bool { return true },
		spawn: func(f func()) { queued = append(queued, f) },
	}
	_ = failing.check()
	run()
	if err := failing.check(); err == nil || !strings.Contains(err.Error(), "boom") || len(queued) != 1 {
		t.Fatalf("failed listing: %v (%d listings queued, want 1)", err, len(queued))
	}
}

// TestLoadGateWaitOpen: the gate is checked without any probe, and loaded runs once it opens
// (it switches the garbage collector to its serving target), not before.
func TestLoadGateWaitOpen(t *testing.T) {
	var held atomic.Bool
	g := &loadGate{
		list:        func() (map[string]struct{}, error) { return map[string]struct{}{"a": {}}, nil },
		holds:       func(string) bool { return held.Load() },
		relistAfter: time.Hour,
		spawn:       func(f func()) { go f() },
	}
	loaded := make(chan struct{})
	go g.waitOpen(context.Background(), func() { close(loaded) })
	select {
	case <-loaded:
		t.Fatal("loaded before the reconciler held the stored object")
	case <-time.After(300 * time.Millisecond):
	}
	held.Store(true)
	select {
	case <-loaded:
	case <-time.After(5 * time.Second):
		t.Fatal("loaded did not run after the gate could open")
	}
	if g.check() != nil {
		t.Error("the gate is not open after loaded ran")
	}
}
