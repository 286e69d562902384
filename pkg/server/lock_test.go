package server

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockDataDir: while one lock on a data dir is held, a second fails with an error that
// names the dir, the holder's pid and the way out; once released, the dir can be locked again.
// flock locks belong to open files, so two locks in one process conflict as two processes do.
func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	release, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			release()
		}
	})
	b, err := os.ReadFile(filepath.Join(dir, "dpa.lock"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(os.Getpid())
	if strings.TrimSpace(string(b)) != pid {
		t.Errorf("dpa.lock holds %q, want this process's pid %s", b, pid)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dpa.lock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dpa.lock mode: %v %v, want 0600", fi.Mode().Perm(), err)
	}

	second, err := lockDataDir(dir)
	if err == nil {
		second()
		t.Fatal("a second lock on a held data dir succeeded")
	}
	for _, want := range []string{dir, "in use by another dpa", "pid " + pid + ")", "--data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// The failed attempt must not have taken the pid file from the holder.
	if b, _ := os.ReadFile(filepath.Join(dir, "dpa.lock")); strings.TrimSpace(string(b)) != pid {
		t.Errorf("after a failed lock dpa.lock holds %q", b)
	}

	release()
	released = true
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

// TestLockDataDirMissingDir: a data dir that does not exist is an error, not a lock.
func TestLockDataDirMissingDir(t *testing.T) {
	if release, err := lockDataDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		release()
		t.Fatal("locked a data dir that does not exist")
	}
}
