package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dataplane-aggregator/dpa/internal/testpki"
)

// kubeAPIServerBin is the real kube-apiserver `make kube-bins` builds (test/kube); the
// topology tests need it and fail without it.
func kubeAPIServerBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KUBE_APISERVER_BIN")
	if bin == "" {
		bin = filepath.Join(repo, "bin", "kube-apiserver")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the topology tests need a real kube-apiserver: run `make kube-bins` (or set KUBE_APISERVER_BIN): %v", err)
	}
	return bin
}

// ca is a certificate authority the tests make for one purpose (front proxy, webhooks, …).
type ca struct{ *testpki.CA }

func newCA(t *testing.T, dir, name string) *ca {
	t.Helper()
	c, err := testpki.NewCA(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{c}
}

// issue signs a certificate for cn (organizations: groups) for client or server use and
// writes it and its key; it returns the two file names.
func (c *ca) issue(t *testing.T, cn string, orgs []string, usage x509.ExtKeyUsage, ips ...net.IP) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := c.IssueFiles(testpki.Spec{CommonName: cn, Organizations: orgs, Usage: usage, IPs: ips})
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// kubeCluster is a real kube-apiserver on loopback with its etcd: RBAC, static tokens, a
// front-proxy CA (dpa's client certificate is signed by it) and its own serving CA.
type kubeCluster struct {
	t          *testing.T
	url        string
	dir        string
	serverCA   string // verifies the kube-apiserver's serving certificate
	frontProxy *ca    // signs the certificates of trusted front proxies (dpa)
	adminToken string
	cmd        *exec.Cmd
	log        *syncBuffer
	done       chan error
}

// kubeUser is a static token of the kube-apiserver (users who talk to it directly).
const kubeAdminToken = "kube-admin-token"

// startKube starts etcd (embedded, TLS) and a kube-apiserver. extraArgs are added last.
func startKube(t *testing.T, extraArgs ...string) *kubeCluster {
	t.Helper()
	bin := kubeAPIServerBin(t)
	etcdURL, etcdFiles := startEtcd(t)
	dir := shortTempDir(t)
	k := &kubeCluster{t: t, dir: dir, adminToken: kubeAdminToken}
	k.frontProxy = newCA(t, dir, "front-proxy-ca")
	// The aggregator's own client certificate for aggregated API servers (dpa behind it).
	proxyClientCert, proxyClientKey := k.frontProxy.issue(t, "front-proxy-client", nil, x509.ExtKeyUsageClientAuth)
	servingCA := newCA(t, dir, "kube-serving-ca")
	servingCert, servingKey := servingCA.issue(t, "kube-apiserver", nil, x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
	k.serverCA = servingCA.File

	if err := testpki.WriteKeyPair(filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.csv")
	users := kubeAdminToken + ",kube-admin,kube-admin,system:masters\n" +
		// Cluster users who reach dpa through the aggregator: a Grafana org viewer (and a
		// member of readers, whom the cluster's RBAC lets through), and one without an org.
		"kube-viewer-token,kube-viewer,kube-viewer-uid,\"grafana:org:1:Viewer,readers\"\n" +
		"kube-norole-token,kube-norole,kube-norole-uid,readers\n" +
		"kube-nobody-token,kube-nobody,kube-nobody-uid,\"grafana:org:1:Viewer\"\n" +
		"kube-dps-writer-token,kube-dps-writer,kube-dps-writer-uid,dps-writers\n"
	if err := os.WriteFile(tokens, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	args := []string{
		"--etcd-servers", etcdURL, "--etcd-cafile", etcdFiles.ca, "--etcd-certfile", etcdFiles.cert, "--etcd-keyfile", etcdFiles.key,
		"--secure-port", strconv.Itoa(port), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--tls-cert-file", servingCert, "--tls-private-key-file", servingKey, "--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--authorization-mode", "RBAC", "--token-auth-file", tokens,
		// A config value only: nothing runs pods here and no traffic goes to it.
		"--service-cluster-ip-range", "10.96.0.0/24",
		"--requestheader-client-ca-file", k.frontProxy.File, "--requestheader-allowed-names", "dpa-front-proxy",
		"--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", proxyClientCert, "--proxy-client-key-file", proxyClientKey,
		"--enable-priority-and-fairness=false", "--v=0",
	}
	args = append(args, extraArgs...)
	k.cmd = exec.Command(bin, args...)
	k.log = &syncBuffer{b: &bytes.Buffer{}}
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k.done = make(chan error, 1)
	go func() { k.done <- k.cmd.Wait() }()
	t.Cleanup(k.stop)
	k.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	client := k.httpClient()
	for {
		select {
		case err := <-k.done:
			t.Fatalf("kube-apiserver exited during start-up: %v\n%s", err, k.log)
		default:
		}
		req, _ := http.NewRequest("GET", k.url+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+kubeAdminToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready after 90s\n%s", k.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return k
}

func (k *kubeCluster) stop() {
	if k.cmd == nil || k.cmd.ProcessState != nil {
		return
	}
	_ = k.cmd.Process.Signal(os.Interrupt)
	select {
	case <-k.done:
	case <-time.After(30 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
}

func (k *kubeCluster) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(k.serverCA)
	if err != nil {
		k.t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// adminKubeconfig writes a kubeconfig for the kube-apiserver's admin into dir.
func (k *kubeCluster) adminKubeconfig(dir string) string {
	k.t.Helper()
	f := filepath.Join(dir, "kube-admin.kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: kube\n  cluster: {server: %q, certificate-authority: %q}\n"+
		"users:\n- name: admin\n  user: {token: %q}\ncontexts:\n- name: kube\n  context: {cluster: kube, user: admin}\ncurrent-context: kube\n",
		k.url, k.serverCA, k.adminToken)
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		k.t.Fatal(err)
	}
	return f
}

// kubectl runs kubectl against the kube-apiserver directly, as its admin.
func (k *kubeCluster) kubectl(stdin string, args ...string) (string, error) {
	return k.kubectlAs(k.adminToken, stdin, args...)
}

// kubectlAs runs kubectl against the kube-apiserver with a token of its own users.
func (k *kubeCluster) kubectlAs(token, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--server", k.url, "--certificate-authority", k.serverCA, "--token", token}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustKubectl is kubectl against the kube-apiserver that must succeed.
func (k *kubeCluster) mustKubectl(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.kubectl(stdin, args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
