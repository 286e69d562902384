// Package pg runs a throwaway PostgreSQL server (Debian's binaries or PATH) for the end-to-end
// tests and the benchmarks.
package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Server is a running PostgreSQL.
type Server struct {
	// DSN connects as the superuser "dpa" to database "postgres" without TLS.
	DSN  string
	dir  string
	ctl  string
	attr *syscall.SysProcAttr
}

// Find locates a PostgreSQL server binary: PATH, then /usr/lib/postgresql/*/bin.
func Find(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name); len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL (the CI script does: apt-get install postgresql)", name)
}

// credential: PostgreSQL refuses to run as root, so under root it runs as the postgres (or
// nobody) user.
func credential() (*syscall.SysProcAttr, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists to run PostgreSQL")
}

// Start initialises a cluster in dir (which must exist and be short: the unix socket lives
// there) and starts it on a free loopback port, fsync off; settings are more server
// settings, e.g. "log_statement=all".
func Start(dir string, settings ...string) (*Server, error) {
	initdb, err := Find("initdb")
	if err != nil {
		return nil, err
	}
	ctl, err := Find("pg_ctl")
	if err != nil {
		return nil, err
	}
	attr, err := credential()
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "pg")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	if attr != nil {
		for _, p := range []string{dir, data} {
			if err := os.Chown(p, int(attr.Credential.Uid), int(attr.Credential.Gid)); err != nil {
				return nil, err
			}
		}
	}
	s := &Server{dir: dir, ctl: ctl, attr: attr}
	data = filepath.Join(dir, "pg")
	if err := s.run(initdb, "-D", data, "-U", "dpa", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	for _, kv := range settings {
		opts += " -c " + kv
	}
	if err := s.run(ctl, "-D", data, "-l", s.Log(), "-w", "-t", "60", "start", "-o", opts); err != nil {
		return nil, err
	}
	s.DSN = fmt.Sprintf("postgres://dpa@127.0.0.1:%d/postgres?sslmode=disable", port)
	return s, nil
}

// Log is the server's log file.
func (s *Server) Log() string { return filepath.Join(s.dir, "pg.log") }

// Stop shuts the server down (fast mode) and waits for it.
func (s *Server) Stop() error {
	return s.run(s.ctl, "-D", filepath.Join(s.dir, "pg"), "-m", "fast", "-w", "stop")
}

func (s *Server) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = s.attr
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", filepath.Base(name), args, err, out)
	}
	return nil
}
