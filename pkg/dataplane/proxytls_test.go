package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.uber.org/zap"
)

// selfSignedClientCert makes a self-signed client certificate (its own CA) with etcd's
// transport.SelfCert and returns the PEM files' contents and the parsed certificate.
func selfSignedClientCert(t *testing.T) (certPEM, keyPEM string, cert *x509.Certificate) {
	t.Helper()
	info, err := transport.SelfCert(zap.NewNop(), t.TempDir(), []string{"localhost:0"}, 1, x509.ExtKeyUsageClientAuth)
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(info.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(info.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(c)
	if cert, err = x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}
	return string(c), string(k), cert
}

// indent prefixes every line of a PEM block for a YAML block scalar.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+prefix)
}

// Grafana's TLS settings of a datasource (custom CA, client certificate, serverName) apply to
// the datasource proxy, against a real TLS upstream that demands a client certificate.
func TestDatasourceProxyTLSSettings(t *testing.T) {
	e := newEnv(t, nil)

	clientCert, clientKey, clientX509 := selfSignedClientCert(t)
	pool := x509.NewCertPool()
	pool.AddCert(clientX509)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "mtls ok, client of %s", r.TLS.PeerCertificates[0].Subject.Organization[0])
	}))
	up.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	up.Config.ErrorLog = log.New(io.Discard, "", 0)
	up.StartTLS()
	t.Cleanup(up.Close)
	// httptest's certificate is self-signed for example.com and 127.0.0.1: it is its own CA.
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}))

	ds := func(uid, jsonData string, secure map[string]string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "  - name: %s\n    type: test-datasource\n    uid: %s\n    url: %s\n    jsonData: %s\n", uid, uid, up.URL, jsonData)
		if len(secure) > 0 {
			b.WriteString("    secureJsonData:\n")
			for _, k := range []string{"tlsCACert", "tlsClientCert", "tlsClientKey"} {
				if v, ok := secure[k]; ok {
					fmt.Fprintf(&b, "      %s: |\n%s\n", k, indent(v, "        "))
				}
			}
		}
		return b.String()
	}
	all := map[string]string{"tlsCACert": caPEM, "tlsClientCert": clientCert, "tlsClientKey": clientKey}
	yaml := "apiVersion: 1\ndatasources:\n" +
		ds("mtls", "{tlsAuthWithCACert: true, tlsAuth: true}", all) +
		ds("ca-only", "{tlsAuthWithCACert: true}", map[string]string{"tlsCACert": caPEM}) +
		ds("wrong-name", "{tlsAuthWithCACert: true, tlsAuth: true, serverName: other.invalid}", all) +
		ds("right-name", "{tlsAuthWithCACert: true, tlsAuth: true, serverName: example.com}", all)
	if err := os.WriteFile(filepath.Join(e.store.Dir(), "datasources", "tls.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Reload(); err != nil {
		t.Fatal(err)
	}

	path := func(uid string) string { return dsPath("/namespaces/default/datasources/" + uid + "/proxy/") }
	for _, uid := range []string{"mtls", "right-name"} {
		r := e.do("GET", path(uid), nil)
		if r.code != 200 || string(r.body) != "mtls ok, client of etcd" {
			t.Errorf("%s: %d %s", uid, r.code, r.body)
		}
	}
	// The upstream demands a client certificate; the CA alone is not enough.
	expectStatus(t, e.do("GET", path("ca-only"), nil), 502, "upstream request failed")
	// serverName is what the certificate is checked against.
	expectStatus(t, e.do("GET", path("wrong-name"), nil), 502, "other.invalid")
	// Without the datasource's CA the upstream is not trusted (the shared transport).
	expectStatus(t, e.do("GET", dsPath("/namespaces/default/datasources/tls-strict/proxy/"), nil), 502, "upstream request failed")

	// The secrets are in no response or log line.
	for _, secret := range []string{strings.Split(clientKey, "\n")[1], strings.Split(clientCert, "\n")[1]} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("a TLS secret is in the logs")
		}
	}
}
