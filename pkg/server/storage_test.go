package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shortDataDir is a data dir whose kine socket path fits a unix socket (t.TempDir's paths,
// named after the test, can be too long).
func shortDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dpa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if len(filepath.Join(dir, "kine.sock")) > 100 {
		t.Skipf("the temp dir %s is too long for kine's unix socket", dir)
	}
	return dir
}

// putGet writes key=value through an etcd client of s, unless value is "", and returns what
// s then holds for key ("" when nothing).
func putGet(t *testing.T, s *storage, key, value string) string {
	t.Helper()
	c, err := s.etcdClient()
	if err != nil {
		t.Fatal(err)
	}
	// Closed before the caller stops kine: its graceful stop waits for open connections.
	defer c.Close()
	// A bound on a broken backend, not an assertion: the calls take milliseconds.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if value != "" {
		if _, err := c.Put(ctx, key, value); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	resp, err := c.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// TestStartStorageSQLite: by default storage is kine on SQLite in the data dir, reached over
// a unix socket there. An etcd client can write and read; stop shuts kine down (its socket
// accepts no more connections), and a second start on the same dir serves what the first
// stored.
//
// The second start passes the default SQLite file as a DSN with a short busy timeout: kine
// leaves SQLite connections of a stopped backend open in the process (a process restart
// closes them), and its start-up WAL checkpoint waits the default 30 s busy timeout for them.
func TestStartStorageSQLite(t *testing.T) {
	dir := shortDataDir(t)
	first, err := startStorage(context.Background(), StorageOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			first.stop()
		}
	})
	db := filepath.Join(dir, "state.db")
	if want := "kine on SQLite " + db; first.desc != want {
		t.Errorf("desc = %q, want %q", first.desc, want)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("no SQLite file in the data dir: %v", err)
	}
	sock := filepath.Join(dir, "kine.sock")
	if len(first.transport.ServerList) != 1 || !strings.Contains(first.transport.ServerList[0], sock) {
		t.Errorf("servers = %v, want kine's socket %s", first.transport.ServerList, sock)
	}
	if got := putGet(t, first, "/dpa/test/key", "value-1"); got != "value-1" {
		t.Fatalf("read back %q, want value-1", got)
	}

	first.stop()
	stopped = true
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		t.Fatal("kine's socket still accepts connections after stop")
	}

	dsn := "sqlite://" + db + "?" + strings.Replace(sqliteParams, "_busy_timeout=30000", "_busy_timeout=100", 1)
	second, err := startStorage(context.Background(), StorageOptions{DataDir: dir, DSN: dsn})
	if err != nil {
		t.Fatalf("second start on the same data dir: %v", err)
	}
	t.Cleanup(second.stop)
	if want := "kine on " + dsn; second.desc != want {
		t.Errorf("desc = %q, want %q", second.desc, want)
	}
	if got := putGet(t, second, "/dpa/test/key", ""); got != "value-1" {
		t.Errorf("after a restart the key holds %q, want value-1", got)
	}
	if got := putGet(t, second, "/dpa/test/other", "value-2"); got != "value-2" {
		t.Errorf("after a restart a new key reads back %q, want value-2", got)
	}
}

// TestStartStorageLongDataDir: a data dir whose socket path would not fit a unix socket is
// refused with an error naming the path, before kine starts.
func TestStartStorageLongDataDir(t *testing.T) {
	dir := filepath.Join(shortDataDir(t), strings.Repeat("d", 100))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := startStorage(context.Background(), StorageOptions{DataDir: dir})
	if err == nil {
		s.stop()
		t.Fatal("a data dir too long for a unix socket was accepted")
	}
	for _, want := range []string{"too long", filepath.Join(dir, "kine.sock")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("kine started on the SQLite file: %v", err)
	}
}

// TestStartStorageEtcd: with --etcd-servers nothing starts; the API server gets the servers
// and TLS files as given.
func TestStartStorageEtcd(t *testing.T) {
	o := StorageOptions{
		DataDir:     strings.Repeat("long/", 40), // unused: no socket
		EtcdServers: []string{"https://etcd-0:2379", "https://etcd-1:2379"},
		EtcdCAFile:  "ca.crt", EtcdCertFile: "client.crt", EtcdKeyFile: "client.key",
	}
	s, err := startStorage(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	tc := s.transport
	if strings.Join(tc.ServerList, ",") != "https://etcd-0:2379,https://etcd-1:2379" ||
		tc.TrustedCAFile != "ca.crt" || tc.CertFile != "client.crt" || tc.KeyFile != "client.key" {
		t.Errorf("transport = %+v", tc)
	}
	if want := "etcd https://etcd-0:2379,https://etcd-1:2379"; s.desc != want {
		t.Errorf("desc = %q, want %q", s.desc, want)
	}
}

// TestRedactDSN: a datastore URL in the logs keeps everything but its password.
func TestRedactDSN(t *testing.T) {
	for name, tc := range map[string]struct{ dsn, want string }{
		"password":              {"postgres://dpa:s3cret@db:5432/dpa?sslmode=disable", "postgres://dpa:***@db:5432/dpa?sslmode=disable"},
		"@ in the password":     {"mysql://dpa:p@ss@tcp(db:3306)/dpa", "mysql://dpa:***@tcp(db:3306)/dpa"},
		"user without password": {"postgres://dpa@db/dpa", "postgres://dpa@db/dpa"},
		"no credentials":        {"sqlite:///var/lib/dpa/state.db?_journal_mode=WAL", "sqlite:///var/lib/dpa/state.db?_journal_mode=WAL"},
		"no scheme":             {"dpa:s3cret@db", "<invalid dsn>"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := redactDSN(tc.dsn); got != tc.want {
				t.Errorf("redactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
			}
		})
	}
}
