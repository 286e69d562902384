package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes an exclusive lock on <data-dir>/dpa.lock for the life of the process: two
// dpa processes must never share one data dir (its SQLite file, sockets and certificates).
// The lock goes away with the process, however it ends.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "dpa.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another dpa (pid %s); use another --data-dir", dir, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("locking data dir: %w", err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
