package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dataplane-aggregator/dpa/internal/image"
	"github.com/dataplane-aggregator/dpa/internal/testpki"
)

// The chart (deploy/helm/dpa) and the CRDs of the operators its optional objects belong to,
// in the versions the server-side dry run checks them against. The CRDs come from the
// projects' own modules through the Go module proxy (nothing is fetched from elsewhere).
const (
	chartDir     = "deploy/helm/dpa"
	chartRelease = "dpa"
	chartNS      = "dpa-system"
)

var chartCRDs = []struct{ module, file string }{
	{"github.com/prometheus-operator/prometheus-operator@v0.88.0", "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"},
	{"github.com/prometheus-operator/prometheus-operator@v0.88.0", "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"},
	{"github.com/cert-manager/cert-manager@v1.20.0", "deploy/crds/cert-manager.io_certificates.yaml"},
}

// helmBin is Helm v4 as `make helm-bin` builds it from tools/helm (pinned there).
func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		bin = filepath.Join(repo, "bin", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the chart tests need Helm: run `make helm-bin` (or set HELM_BIN): %v", err)
	}
	return bin
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// renderChart is `helm template` of the chart as release chartRelease in chartNS.
func renderChart(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", chartRelease, chartDir, "--namespace", chartNS}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	return out
}

// object is one rendered Kubernetes object.
type object map[string]any

func (o object) kind() string { return str(o, "kind") }
func (o object) name() string { return str(o, "metadata", "name") }

// str, list and dict walk decoded YAML; a missing path is the zero value.
func str(v any, path ...string) string  { s, _ := dig(v, path...).(string); return s }
func list(v any, path ...string) []any  { l, _ := dig(v, path...).([]any); return l }
func dict(v any, path ...string) object { m, _ := dig(v, path...).(map[string]any); return m }
func dig(v any, path ...string) any {
	for _, p := range path {
		var m map[string]any
		switch x := v.(type) {
		case object:
			m = x
		case map[string]any:
			m = x
		default:
			return nil
		}
		v = m[p]
	}
	return v
}

// objects splits a rendered manifest into its objects.
func objects(t *testing.T, manifest string) []object {
	t.Helper()
	var out []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if len(o) > 0 {
			out = append(out, o)
		}
	}
	return out
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && (name == "" || o.name() == name) {
			return o
		}
	}
	t.Fatalf("no %s %q in the rendered chart", kind, name)
	return nil
}

// TestHelmChart lints and renders deploy/helm/dpa, applies every rendered object to a real
// kube-apiserver with a server-side dry run (its schemas, defaulting and admission), and runs
// three replicas from the Deployment's rendered command line on a throwaway PostgreSQL.
func TestHelmChart(t *testing.T) {
	valueFiles := map[string][]string{
		"defaults": nil,
		"all":      {"-f", chartDir + "/ci/all-values.yaml"},
		"etcd":     {"-f", chartDir + "/ci/etcd-values.yaml"},
	}

	t.Run("lint", func(t *testing.T) {
		for name, args := range valueFiles {
			if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
				t.Errorf("helm lint --strict (%s): %v\n%s", name, err, out)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		version, err := os.ReadFile(filepath.Join(repo, "VERSION"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(repo, chartDir, "Chart.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var chart struct{ Version, AppVersion string }
		if err := yaml.Unmarshal(b, &chart); err != nil {
			t.Fatal(err)
		}
		v := strings.TrimSpace(string(version))
		if chart.Version != v || chart.AppVersion != v {
			t.Errorf("Chart.yaml version %q, appVersion %q; VERSION says %q", chart.Version, chart.AppVersion, v)
		}
	})

	// The Deployment runs the image as internal/image defines it: its repository, user,
	// data dir and plugins dir.
	t.Run("agrees with the image", func(t *testing.T) {
		deploy := find(t, objects(t, renderChart(t)), "Deployment", "")
		spec := dict(deploy, "spec", "template", "spec")
		c := dict(list(spec, "containers")[0])
		if img := str(c, "image"); !strings.HasPrefix(img, image.Repository+":") {
			t.Errorf("image %q, want %s:<tag>", img, image.Repository)
		}
		if uid, _ := dig(spec, "securityContext", "runAsUser").(float64); int(uid) != image.NonRoot {
			t.Errorf("runAsUser %v, the image's user is %d", uid, image.NonRoot)
		}
		var args []string
		for _, a := range list(c, "args") {
			args = append(args, a.(string))
		}
		for _, want := range []string{"--data-dir=" + image.DataDir, "--plugins-dir=" + image.PluginsDir} {
			if !slices.Contains(args, want) {
				t.Errorf("args %v lack %s", args, want)
			}
		}
	})

	// Values that cannot give a working Deployment fail to render, saying what to set.
	t.Run("refused values", func(t *testing.T) {
		for _, c := range []struct {
			name string
			args []string
			want string
		}{
			{"replicas on SQLite", []string{"--set", "replicaCount=3"}, "replicaCount > 1 needs shared storage"},
			{"two storages", []string{"--set", "storage.dsn=postgres://x/y", "--set", "storage.existingSecret=s"}, "set one of storage.dsn"},
			{"password without dsn", []string{"--set", "storage.passwordSecret.name=s"}, "storage.passwordSecret goes with storage.dsn"},
			{"two certificates", []string{"--set", "tls.existingSecret=s", "--set", "tls.certManager.enabled=true", "--set", "tls.certManager.issuerRef.name=i"}, "not both"},
			{"cert-manager without issuer", []string{"--set", "tls.certManager.enabled=true"}, "issuerRef.name is required"},
			{"aggregated without the aggregator's CA", []string{"--set", "apiService.enabled=true"}, "set auth.requestHeader.name"},
			{"aggregated, own certificate without CA", []string{"--set", "apiService.enabled=true", "--set", "auth.requestHeader.name=ca", "--set", "tls.existingSecret=s"}, "set apiService.caBundle"},
			{"scraped without a token", []string{"--set", "metrics.serviceMonitor.enabled=true"}, "tokenSecret.name"},
			{"client certificate without upstream", []string{"--set", "delegate.clientCertSecret=s"}, "goes with delegate.url"},
			// values.schema.json: a misspelt value or one out of its range is an error, not ignored.
			{"a misspelt value", []string{"--set", "storge.dsn=postgres://x/y"}, "additional properties 'storge' not allowed"},
			{"an unknown log level", []string{"--set", "log.level=verbose"}, "value must be one of"},
			{"a duration that is none", []string{"--set", "shutdownDelay=20"}, "/shutdownDelay"},
		} {
			out, err := helm(t, append([]string{"template", chartRelease, chartDir, "--namespace", chartNS}, c.args...)...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("%s: want a failure saying %q, got err=%v\n%s", c.name, c.want, err, out)
			}
		}
	})

	k := startKube(t)
	t.Run("server-side dry run", func(t *testing.T) {
		installChartCRDs(t, k)
		k.mustKubectl("", "create", "namespace", chartNS)
		for name, args := range valueFiles {
			t.Run(name, func(t *testing.T) {
				manifest := renderChart(t, args...)
				objs := objects(t, manifest)
				out, err := k.kubectl(manifest, "apply", "--dry-run=server", "--namespace", chartNS, "-f", "-")
				if err != nil {
					t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
				}
				// Every rendered object was accepted: "<kind>.<group>/<name> created (server dry run)".
				for _, o := range objs {
					want := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(strings.ToLower(o.kind())) + `(\.[a-z0-9.-]+)?/` + regexp.QuoteMeta(o.name()) + ` created \(server dry run\)$`)
					if !want.MatchString(out) {
						t.Errorf("%s %s not accepted:\n%s", o.kind(), o.name(), out)
					}
				}
				if n := strings.Count(out, "(server dry run)"); n != len(objs) {
					t.Errorf("%d objects rendered, %d accepted:\n%s", len(objs), n, out)
				}
			})
		}
	})

	t.Run("three replicas from the rendered args", func(t *testing.T) {
		threeReplicas(t, k)
	})
}

// installChartCRDs creates the CRDs of the chart's optional objects and waits until they serve.
func installChartCRDs(t *testing.T, k *kubeCluster) {
	t.Helper()
	for _, c := range chartCRDs {
		out, err := exec.Command("go", "mod", "download", "-json", c.module).Output()
		if err != nil {
			t.Fatalf("go mod download %s: %v", c.module, err)
		}
		var mod struct{ Dir, Error string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
			t.Fatalf("go mod download %s: %v %s", c.module, err, mod.Error)
		}
		crd, err := os.ReadFile(filepath.Join(mod.Dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		// create, not apply: the CRDs are too large for apply's last-applied annotation.
		k.mustKubectl(string(crd), "create", "-f", "-")
	}
	k.mustKubectl("", "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com", "crd/certificates.cert-manager.io")
}

// pod is one replica started as the kubelet would start the Deployment's container: its
// args with $(VAR) expanded from its env, its volumes materialized on disk in the kubelet's
// layout, and only what a pod has of its own changed — the port (all pods use 6443 on their
// own address) and the bind address (loopback here); mount paths are mapped to directories.
type pod struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
	stop sync.Once
}

// threeReplicas renders ci/all-values.yaml with a throwaway PostgreSQL and this kube-apiserver
// as the delegate, provides the Secrets and ConfigMaps the values name (and cert-manager's
// certificate, made from the rendered Certificate's names), and starts three pods.
func threeReplicas(t *testing.T, k *kubeCluster) {
	dsn := startPostgres(t)
	dir := shortTempDir(t)
	manifest := renderChart(t, "-f", chartDir+"/ci/all-values.yaml",
		"--set", "storage.dsn="+dsn, "--set", "delegate.url="+k.url)
	objs := objects(t, manifest)
	deploy := find(t, objs, "Deployment", "")
	fullname := deploy.name()
	serviceName := fullname + "." + chartNS + ".svc"

	// What the cluster holds besides the chart: the user's Secrets and ConfigMaps, and the
	// serving certificate cert-manager issues for the rendered Certificate.
	servingCA := newCA(t, dir, "serving-ca")
	cert := find(t, objs, "Certificate", fullname)
	var dnsNames []string
	for _, n := range list(cert, "spec", "dnsNames") {
		dnsNames = append(dnsNames, n.(string))
	}
	if !slices.Contains(dnsNames, serviceName) || !slices.Contains(dnsNames, "dpa.example.com") {
		t.Fatalf("the Certificate's names %v lack the Service's %s or tls.extraDNSNames", dnsNames, serviceName)
	}
	servingCert, servingKey, err := servingCA.IssueFiles(testpki.Spec{CommonName: fullname, Usage: x509.ExtKeyUsageServerAuth, DNSNames: dnsNames})
	if err != nil {
		t.Fatal(err)
	}
	clientCA := newCA(t, dir, "client-ca")
	frontProxyCert, frontProxyKey := k.frontProxy.issue(t, "dpa-front-proxy", nil, x509.ExtKeyUsageClientAuth)
	const adminToken, monitoringToken = "chart-admin-token", "chart-monitoring-token"
	files := map[string]map[string][]byte{
		"Secret/dpa-database":            {"password": []byte("unused-with-trust-auth")},
		"Secret/dpa-tokens":              {"tokens.csv": []byte(adminToken + ",chart-admin,chart-admin,system:masters\n" + monitoringToken + ",prometheus,prometheus,system:monitoring\n")},
		"Secret/dpa-client-ca":           {"ca.crt": readFile(t, clientCA.File)},
		"ConfigMap/dpa-requestheader-ca": {"requestheader-client-ca-file": readFile(t, k.frontProxy.File)},
		"ConfigMap/kube-root-ca.crt":     {"ca.crt": readFile(t, k.serverCA)},
		"Secret/dpa-front-proxy-client":  {"tls.crt": readFile(t, frontProxyCert), "tls.key": readFile(t, frontProxyKey)},
		"Secret/dpa-datasource-secrets":  {"example-api-key": []byte("chart-example-key")},
		"Secret/" + str(cert, "spec", "secretName"): {
			"tls.crt": readFile(t, servingCert), "tls.key": readFile(t, servingKey), "ca.crt": readFile(t, servingCA.File),
		},
	}
	for _, o := range objs {
		switch o.kind() {
		case "ConfigMap":
			data := map[string][]byte{}
			for key, v := range dict(o, "data") {
				data[key] = []byte(v.(string))
			}
			files["ConfigMap/"+o.name()] = data
		case "Secret":
			data := map[string][]byte{}
			for key, v := range dict(o, "data") {
				b, err := base64.StdEncoding.DecodeString(v.(string))
				if err != nil {
					t.Fatal(err)
				}
				data[key] = b
			}
			files["Secret/"+o.name()] = data
		}
	}
	// In the pod the kubeconfig names the cluster's Service and the token's mount path.
	saDir := filepath.Join(dir, "serviceaccount")
	kubelet := strings.NewReplacer("https://kubernetes.default.svc", k.url, "/var/run/secrets/kubernetes.io/serviceaccount", saDir)
	// The service account's token volume (automountServiceAccountToken: true with
	// auth.delegateToCluster): a token the kube-apiserver knows, and its CA.
	writeVolume(t, saDir, map[string][]byte{"token": []byte(kubeAdminToken), "ca.crt": readFile(t, k.serverCA)})

	spec := dict(deploy, "spec", "template", "spec")
	if got := len(list(spec, "containers")); got != 1 {
		t.Fatalf("%d containers, want dpa alone", got)
	}
	container := dict(list(spec, "containers")[0])
	if n, _ := dig(deploy, "spec", "replicas").(float64); n != 3 {
		t.Fatalf("replicas: %v", dig(deploy, "spec", "replicas"))
	}
	plugins := examplePlugins(t)

	var pods []*pod
	for i := range 3 {
		name := fmt.Sprintf("%s-5d9f7c6b8-%c%c%c%c%c", fullname, 'a'+i, 'b'+i, 'c'+i, 'd'+i, 'e'+i)
		p := startPod(t, name, container, list(spec, "volumes"), files, kubelet, plugins)
		pods = append(pods, p)
	}
	client := chartClient(t, servingCA.File, serviceName)
	for _, p := range pods {
		waitReady(t, p, client)
	}

	get := func(p *pod, token, path string) (int, string) {
		req, _ := http.NewRequest("GET", p.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// A DataPlaneService applied through one replica is served by all three, with the
	// datasource the chart's provisioning ConfigMap defines.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: dpa\n  cluster: {server: %q, certificate-authority: %q, tls-server-name: %q}\n"+
		"users:\n- name: admin\n  user: {token: %q}\ncontexts:\n- name: dpa\n  context: {cluster: dpa, user: admin}\ncurrent-context: dpa\n",
		pods[0].url, servingCA.File, serviceName, adminToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply through replica 1: %v\n%s", err, out)
	}
	health := "/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources/example/health"
	for _, p := range pods {
		eventually(t, 60*time.Second, p.name+" serves the route", func() (bool, string) {
			code, body := get(p, adminToken, health)
			return code == 200 && strings.Contains(body, `"status":"OK"`), fmt.Sprintf("%d %s", code, body)
		})
	}

	// --replica-name=$(POD_NAME): each pod reports its plugins under its own name.
	eventually(t, 60*time.Second, "every pod in the Plugin's status", func() (bool, string) {
		code, body := get(pods[2], adminToken, "/apis/aggregation.grafana.app/v0alpha1/plugins/example-datasource")
		var pl struct {
			Status struct {
				Replicas []struct{ Replica string } `json:"replicas"`
			} `json:"status"`
		}
		_ = json.Unmarshal([]byte(body), &pl)
		var names []string
		for _, r := range pl.Status.Replicas {
			names = append(names, r.Replica)
		}
		sort.Strings(names)
		want := []string{pods[0].name, pods[1].name, pods[2].name}
		sort.Strings(want)
		return code == 200 && slices.Equal(names, want), fmt.Sprintf("%d %v", code, names)
	})

	// The ServiceMonitor's credentials read /metrics, and every metric the PrometheusRule's
	// alerts use is one dpa exports (those that appear only after an event are named).
	code, metrics := get(pods[1], monitoringToken, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics with the monitoring token: %d %s", code, metrics)
	}
	onlyAfter := map[string]string{"dpa_dataplane_rejected_total": "a 429", "dpa_plugin_restarts_total": "a plugin restart"}
	rule := find(t, objs, "PrometheusRule", fullname)
	exprs, _ := json.Marshal(dig(rule, "spec", "groups"))
	for _, m := range slices.Compact(sortedStrings(regexp.MustCompile(`dpa_[a-z_]+`).FindAllString(string(exprs), -1))) {
		if _, later := onlyAfter[m]; later {
			continue
		}
		if !strings.Contains(metrics, "\n"+m+"{") && !strings.Contains(metrics, "\n"+m+" ") {
			t.Errorf("the alerts use %s, which /metrics does not have", m)
		}
	}

	// --delegate-*: what dpa does not serve goes to the kube-apiserver as dpa's front proxy.
	if code, body := get(pods[1], adminToken, "/api/v1/namespaces/default"); code != 200 || !strings.Contains(body, `"kind":"Namespace"`) {
		t.Errorf("the kube-apiserver through the delegate: %d %s", code, body)
	}
	// --requestheader-*: the aggregator's client certificate states the caller.
	aggCert, aggKey := k.frontProxy.issue(t, "front-proxy-client", nil, x509.ExtKeyUsageClientAuth)
	pair, err := tls.LoadX509KeyPair(aggCert, aggKey)
	if err != nil {
		t.Fatal(err)
	}
	agg := chartClient(t, servingCA.File, serviceName)
	agg.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{pair}
	req, _ := http.NewRequest("GET", pods[2].url+"/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", nil)
	req.Header.Set("X-Remote-User", "cluster-viewer")
	req.Header.Set("X-Remote-Group", "grafana:org:1:Viewer")
	if resp, err := agg.Do(req); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("a Viewer through the aggregator lists DataPlaneServices: %d", resp.StatusCode)
		}
	}

	// SIGTERM to all three at once: each serves --shutdown-delay-duration longer, then stops.
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(func() { stopPod(t, p) })
	}
	wg.Wait()
}

func sortedStrings(s []string) []string { sort.Strings(s); return s }

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeVolume lays out a Secret or ConfigMap volume as the kubelet does: the files in a
// timestamped directory, "..data" pointing at it, and each key a symlink through "..data"
// (so an update is one rename, and what dpa watches must follow it).
func writeVolume(t *testing.T, dir string, data map[string][]byte) {
	t.Helper()
	ts := "..2026_12_06_10_00_00.000000001"
	if err := os.MkdirAll(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for key, b := range data {
		if err := os.WriteFile(filepath.Join(dir, ts, key), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", key), filepath.Join(dir, key)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(ts, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// startPod starts one replica from the rendered container.
func startPod(t *testing.T, name string, container object, volumes []any, files map[string]map[string][]byte, kubelet *strings.Replacer, plugins string) *pod {
	t.Helper()
	root := shortTempDir(t)
	mounts := map[string]string{} // mount path in the pod → directory here
	for _, m := range list(container, "volumeMounts") {
		vname, path := str(m, "name"), str(m, "mountPath")
		var vol object
		for _, v := range volumes {
			if str(v, "name") == vname {
				vol = dict(v)
			}
		}
		if vol == nil {
			t.Fatalf("volumeMount %s: no volume %q", path, vname)
		}
		local := filepath.Join(root, vname)
		switch {
		case vname == "plugins":
			// What the plugins init containers leave in the volume: here, the example plugins.
			if err := os.MkdirAll(local, 0o755); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(plugins)
			for _, e := range entries {
				if err := os.Symlink(filepath.Join(plugins, e.Name()), filepath.Join(local, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		case vol["emptyDir"] != nil || vol["persistentVolumeClaim"] != nil:
			if err := os.MkdirAll(local, 0o700); err != nil {
				t.Fatal(err)
			}
		case vol["secret"] != nil || vol["configMap"] != nil:
			key := "Secret/" + str(vol, "secret", "secretName")
			if vol["configMap"] != nil {
				key = "ConfigMap/" + str(vol, "configMap", "name")
			}
			data, ok := files[key]
			if !ok {
				t.Fatalf("volume %s: %s is not in the cluster", vname, key)
			}
			rewritten := map[string][]byte{}
			for k, b := range data {
				rewritten[k] = []byte(kubelet.Replace(string(b)))
			}
			writeVolume(t, local, rewritten)
		default:
			t.Fatalf("volume %s: a kind this test does not lay out: %v", vname, vol)
		}
		mounts[path] = local
	}

	env := map[string]string{}
	var environ []string
	for _, e := range list(container, "env") {
		n := str(e, "name")
		var v string
		switch {
		case dig(e, "value") != nil:
			v = str(e, "value")
		case str(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.name":
			v = name
		case dict(e, "valueFrom", "secretKeyRef") != nil:
			ref := dict(e, "valueFrom", "secretKeyRef")
			b, ok := files["Secret/"+str(ref, "name")][str(ref, "key")]
			if !ok {
				t.Fatalf("env %s: no key %s in Secret %s", n, str(ref, "key"), str(ref, "name"))
			}
			v = string(b)
		default:
			t.Fatalf("env %s: a source this test does not provide: %v", n, e)
		}
		env[n] = v
		environ = append(environ, n+"="+v)
	}
	for _, e := range list(container, "envFrom") {
		if opt, _ := dig(e, "configMapRef", "optional").(bool); !opt {
			t.Fatalf("envFrom %v: only optional sources are left out here", e)
		}
	}

	// Longest mount paths first, so /etc/dpa/provisioning/plugins is not read as /etc/dpa/….
	paths := make([]string, 0, len(mounts))
	for p := range mounts {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	var pairs []string
	for _, p := range paths {
		pairs = append(pairs, "="+p, "="+mounts[p])
	}
	mountPaths := strings.NewReplacer(pairs...)
	provisioningDir := filepath.Join(root, "provisioning")
	port := freePort(t)
	var args []string
	for _, a := range list(container, "args") {
		s := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(a.(string), func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
		switch {
		case s == "--secure-port=6443":
			s = "--secure-port=" + strconv.Itoa(port)
		case s == "--bind-address=0.0.0.0":
			s = "--bind-address=127.0.0.1"
		case s == "--provisioning=/etc/dpa/provisioning":
			// The provisioning directories are mounted one by one below this path.
			s = "--provisioning=" + provisioningDir
		default:
			s = mountPaths.Replace(s)
		}
		args = append(args, s)
	}
	if err := os.MkdirAll(provisioningDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, local := range mounts {
		if sub, ok := strings.CutPrefix(p, "/etc/dpa/provisioning/"); ok {
			if err := os.Symlink(local, filepath.Join(provisioningDir, sub)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, a := range args {
		if strings.Contains(a, "/etc/dpa") || strings.Contains(a, "/var/lib/") || strings.Contains(a, "$(") {
			t.Fatalf("arg %q names a path (or variable) the pod does not mount", a)
		}
	}
	if args[0] != "serve" {
		t.Fatalf("args start with %q", args[0])
	}

	p := &pod{name: name, url: fmt.Sprintf("https://127.0.0.1:%d", port), log: &syncBuffer{b: &bytes.Buffer{}}, done: make(chan error, 1)}
	p.cmd = exec.Command(dpaBin, args...)
	p.cmd.Env = append(environ, "PATH="+os.Getenv("PATH"), "HOME="+root, "TMPDIR="+mounts["/tmp"])
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { stopPod(t, p) })
	t.Logf("%s: dpa %s", name, strings.Join(args, " "))
	return p
}

// chartClient verifies dpa's serving certificate as a client in the cluster does: against
// the CA, for the Service's name.
func chartClient(t *testing.T, caFile, serverName string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(t, caFile))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: serverName}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func waitReady(t *testing.T, p *pod, client *http.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		select {
		case err := <-p.done:
			t.Fatalf("%s exited during start-up: %v\n%s", p.name, err, p.log)
		case <-ctx.Done():
			t.Fatalf("%s not ready after 90s\n%s", p.name, p.log)
		case <-time.After(200 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
}

// stopPod sends SIGTERM, as the kubelet does, and waits for a clean exit.
func stopPod(t *testing.T, p *pod) {
	p.stop.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("%s: exit after SIGTERM: %v\n%s", p.name, err, p.log)
			}
		case <-time.After(90 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("%s did not stop within 90s of SIGTERM\n%s", p.name, p.log)
		}
	})
}
