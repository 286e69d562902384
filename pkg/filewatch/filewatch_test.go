package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSum: a change of name, size, modification time or presence changes the sum; reading
// or rewriting the same bytes with the same time does not.
func TestSum(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "datasources")
	file := filepath.Join(sub, "a.yaml")
	missing := filepath.Join(dir, "plugins")
	sum := func() uint64 { return Sum(sub, missing) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(sub, 0o700))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(p, content string, mtime time.Time) {
		t.Helper()
		must(os.WriteFile(p, []byte(content), 0o600))
		must(os.Chtimes(p, mtime, mtime))
		must(os.Chtimes(sub, base, base))
	}
	write(file, "one", base)
	prev := sum()
	for _, step := range []struct {
		name    string
		do      func()
		changed bool
	}{
		{"nothing", func() {}, false},
		{"same bytes, same time", func() { write(file, "one", base) }, false},
		{"size", func() { write(file, "three", base) }, true},
		{"modification time", func() { write(file, "three", base.Add(time.Second)) }, true},
		{"a new file", func() { write(filepath.Join(sub, "b.yaml"), "x", base) }, true},
		{"a missing directory appears", func() { must(os.Mkdir(missing, 0o700)) }, true},
		{"a file removed", func() { must(os.Remove(filepath.Join(sub, "b.yaml"))); must(os.Chtimes(sub, base, base)) }, true},
	} {
		step.do()
		got := sum()
		if (got != prev) != step.changed {
			t.Errorf("%s: changed=%v, want %v", step.name, got != prev, step.changed)
		}
		prev = got
	}
}

// TestWatch: reload runs once per change, not on quiet checks, and not after ctx ends.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(file, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	reloads := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, 5*time.Millisecond, []string{file}, func() { reloads <- struct{}{} })
		close(done)
	}()
	time.Sleep(30 * time.Millisecond)
	if len(reloads) != 0 {
		t.Fatalf("%d reloads without a change", len(reloads))
	}
	if err := os.WriteFile(file, []byte("ab"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reloads:
	case <-time.After(5 * time.Second):
		t.Fatal("no reload after the file changed")
	}
	time.Sleep(30 * time.Millisecond)
	if len(reloads) != 0 {
		t.Errorf("%d more reloads after one change", len(reloads))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after ctx ended")
	}
}
