package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdTLS are the files of a client-certificate-authenticated etcd: the CA dpa trusts and
// the client certificate dpa presents.
type etcdTLS struct{ ca, cert, key string }

// startEtcd runs a real single-member etcd (the etcd release kine builds against, embedded in
// this test process) that serves clients over TLS only and requires a client certificate.
func startEtcd(t *testing.T) (endpoint string, files etcdTLS) {
	t.Helper()
	dir := shortTempDir(t)
	lg := zap.NewNop()
	server, err := transport.SelfCert(lg, filepath.Join(dir, "server"), []string{"127.0.0.1:0"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	client, err := transport.SelfCert(lg, filepath.Join(dir, "client"), []string{"localhost:0"}, 1, x509.ExtKeyUsageClientAuth)
	if err != nil {
		t.Fatal(err)
	}

	cfg := embed.NewConfig()
	cfg.Name = "e2e"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	clientURL := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo = transport.TLSInfo{
		CertFile:       server.CertFile,
		KeyFile:        server.KeyFile,
		TrustedCAFile:  client.CertFile, // self-signed: the client certificate is its own CA
		ClientCertAuth: true,
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcd: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("etcd not ready after 60s")
	}
	return clientURL.String(), etcdTLS{ca: server.CertFile, cert: client.CertFile, key: client.KeyFile}
}

// etcdKeys lists the keys under prefix, read with dpa's client certificate.
func etcdKeys(t *testing.T, endpoint string, files etcdTLS, prefix string) []string {
	t.Helper()
	tc, err := (transport.TLSInfo{CertFile: files.cert, KeyFile: files.key, TrustedCAFile: files.ca}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tc, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// --etcd-servers: dpa stores its objects in an external etcd (TLS with a client certificate),
// runs no kine, and two replicas on separate data dirs share that etcd.
func TestEtcdStorage(t *testing.T) {
	endpoint, files := startEtcd(t)
	flags := []string{"--etcd-servers", endpoint, "--etcd-cafile", files.ca, "--etcd-certfile", files.cert, "--etcd-keyfile", files.key}
	a := startServer(t, "", flags...)
	b := startServer(t, "", flags...)

	dir := t.TempDir()
	obj := dpsYAML("in-etcd", "in-etcd.grafana.app", "v1", "  - type: health\n")
	a.kc(t, "apply", "-f", writeFile(t, dir, "in-etcd.yaml", obj))
	a.kc(t, "wait", "--for=condition=Registered", "dataplaneservice/in-etcd", "--timeout=30s")

	// The object is in etcd, and neither replica has a kine database of its own.
	keys := etcdKeys(t, endpoint, files, "/")
	found := false
	for _, k := range keys {
		if strings.HasSuffix(k, "/dataplaneservices/in-etcd") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no .../dataplaneservices/in-etcd key in etcd; keys: %q", keys)
	}
	for _, s := range []*server{a, b} {
		if _, err := os.Stat(filepath.Join(s.dataDir, "state.db")); !os.IsNotExist(err) {
			t.Errorf("%s/state.db exists (err %v): kine ran despite --etcd-servers", s.dataDir, err)
		}
	}

	// Replica B reads what A wrote and deletes it; the key leaves etcd.
	if got := strings.TrimSpace(b.kc(t, "get", "dataplaneservices", "-o", "name")); got != "dataplaneservice.aggregation.grafana.app/in-etcd" {
		t.Fatalf("replica B lists %q", got)
	}
	b.kc(t, "delete", "dataplaneservice", "in-etcd", "--wait=true")
	for _, k := range etcdKeys(t, endpoint, files, "/") {
		if strings.HasSuffix(k, "/dataplaneservices/in-etcd") {
			t.Errorf("key %s still in etcd after delete", k)
		}
	}
	if got := strings.TrimSpace(a.kc(t, "get", "dataplaneservices", "-o", "name")); got != "" {
		t.Errorf("replica A still lists %q", got)
	}
}
