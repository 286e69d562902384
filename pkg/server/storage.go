package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/endpoint"
	"github.com/sirupsen/logrus"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// sqliteParams: WAL with synchronous=NORMAL (kine's and k3s's default). A process crash loses
// nothing; an OS crash or power loss can lose the last committed transactions but never
// corrupts the file. Users who need FULL durability pass their own sqlite:// DSN.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate"

// storage is a running storage backend as the API server sees it: an etcd transport.
type storage struct {
	transport storagebackend.TransportConfig
	// stop shuts kine down (no-op for external etcd) and waits for it.
	stop func()
	desc string
}

func startStorage(ctx context.Context, o StorageOptions) (*storage, error) {
	if len(o.EtcdServers) > 0 {
		return &storage{
			transport: storagebackend.TransportConfig{
				ServerList:    o.EtcdServers,
				TrustedCAFile: o.EtcdCAFile,
				CertFile:      o.EtcdCertFile,
				KeyFile:       o.EtcdKeyFile,
			},
			stop: func() {},
			desc: "etcd " + strings.Join(o.EtcdServers, ","),
		}, nil
	}
	dsn := o.DSN
	desc := "kine on " + redactDSN(dsn)
	if dsn == "" {
		dsn = "sqlite://" + filepath.Join(o.DataDir, "state.db") + "?" + sqliteParams
		desc = "kine on SQLite " + filepath.Join(o.DataDir, "state.db")
	}
	sock := filepath.Join(o.DataDir, "kine.sock")
	if abs, err := filepath.Abs(sock); err == nil {
		sock = abs
	}
	if len(sock) > 100 {
		// unix socket paths are limited to 108 bytes
		return nil, fmt.Errorf("data dir path too long for kine's unix socket (%d bytes): %s", len(sock), sock)
	}
	logrus.SetLevel(logrus.WarnLevel)
	kctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	cfg := endpoint.Config{
		Listener:  "unix://" + sock,
		Endpoint:  dsn,
		WaitGroup: &wg,
		// kine's own defaults (its CLI flags); compaction stays off: the API server drives it.
		NotifyInterval:      5 * time.Second,
		EmulatedETCDVersion: "3.6.11",
		CompactTimeout:      5 * time.Second,
		CompactMinRetain:    1000,
		CompactBatchSize:    1000,
		PollBatchSize:       500,
	}
	cfg.ConnectionPoolConfig.MaxIdle = 20
	cfg.ConnectionPoolConfig.MaxIdleTime = 2 * time.Minute
	// Several replicas starting together on an empty database race on schema creation:
	// retry briefly.
	var etcd endpoint.ETCDConfig
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		etcd, err = endpoint.Listen(kctx, cfg)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			cancel()
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting kine: %w", err)
	}
	st := &storage{
		transport: storagebackend.TransportConfig{ServerList: etcd.Endpoints},
		stop: func() {
			cancel()
			wg.Wait()
		},
		desc: desc,
	}
	// Only a database other processes write to needs it: kine on SQLite is this process alone.
	if !strings.HasPrefix(dsn, "sqlite://") && o.PollInterval > 0 {
		if err := st.nudgePolls(kctx, o.PollInterval, &wg); err != nil {
			st.stop()
			return nil, err
		}
	}
	return st, nil
}

// nudgePolls makes kine look for other replicas' changes every interval instead of every
// second. kine's watch polls the table once a second, or at once when this process learns
// of a newer revision: by writing, or by reading a key that exists (the answer carries the
// database's current revision; an empty answer only kine's cached one). So reading one
// existing key every interval (one indexed query) brings other replicas' changes to this
// replica's watchers within the interval. The key is created once if missing.
func (s *storage) nudgePolls(ctx context.Context, interval time.Duration, wg *sync.WaitGroup) error {
	c, err := s.etcdClient()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Txn(cctx).If(clientv3.Compare(clientv3.ModRevision(pollNudgeKey), "=", 0)).
		Then(clientv3.OpPut(pollNudgeKey, "read by every replica to follow the others' changes")).Commit(); err != nil {
		c.Close()
		return fmt.Errorf("creating %s: %w", pollNudgeKey, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(ctx, interval*10)
				_, _ = c.Get(rctx, pollNudgeKey, clientv3.WithKeysOnly())
				cancel()
			}
		}
	}()
	return nil
}

// pollNudgeKey is read to wake kine's watch poll (written once, when missing).
const pollNudgeKey = "/dpa/poll-nudge"

// redactDSN removes a password from a datastore URL for logs.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return "<invalid dsn>"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		creds := rest[:at]
		if user, _, hasPw := strings.Cut(creds, ":"); hasPw {
			rest = user + ":***" + rest[at:]
		}
	}
	return scheme + "://" + rest
}

// etcdClient is an etcd v3 client of the running storage (kine's socket or the etcd
// cluster), for what dpa keeps beside the API objects: the UI's sessions.
func (s *storage) etcdClient() (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: s.transport.ServerList, DialTimeout: 10 * time.Second}
	if s.transport.CertFile != "" || s.transport.TrustedCAFile != "" {
		tlsInfo := transport.TLSInfo{CertFile: s.transport.CertFile, KeyFile: s.transport.KeyFile, TrustedCAFile: s.transport.TrustedCAFile}
		tc, err := tlsInfo.ClientConfig()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}
