package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const thingCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.com
spec:
  group: example.com
  names: {kind: Thing, plural: things, singular: thing}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`

// TestInFrontOfKubeAPIServer: dpa first in the path before a real kube-apiserver, as its
// front proxy (Grafana's "local delegation"): dpa authenticates the caller and the
// kube-apiserver's own RBAC decides, on the identity dpa states with its client certificate
// (X-Remote-*). kubectl through dpa sees both servers' resources; dpa's own are served by dpa.
func TestInFrontOfKubeAPIServer(t *testing.T) {
	k := startKube(t)
	dir := shortTempDir(t)
	proxyCert, proxyKey := k.frontProxy.issue(t, "dpa-front-proxy", nil, x509.ExtKeyUsageClientAuth)
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("alice-token,alice,alice-uid,\"team-a\"\nbob-token,bob,bob-uid,\"readers\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// RBAC of the kube-apiserver: the group readers may read namespaces; alice has no rights.
	k.mustKubectl("", "create", "clusterrole", "ns-reader", "--verb=get,list,watch", "--resource=namespaces")
	k.mustKubectl("", "create", "clusterrolebinding", "readers-read-ns", "--clusterrole=ns-reader", "--group=readers")

	d := startServer(t, "", "--token-auth-file", tokens, "--delegate-url", k.url, "--delegate-ca-file", k.serverCA,
		"--delegate-client-cert-file", proxyCert, "--delegate-client-key-file", proxyKey)
	as := func(token string, args ...string) (string, error) {
		out, errOut, err := d.kubectl(append([]string{"--token", token}, args...)...)
		return out + errOut, err
	}

	t.Run("the kube-apiserver's RBAC decides on the caller dpa authenticated", func(t *testing.T) {
		if out, err := as("bob-token", "get", "ns", "-o", "name"); err != nil || !strings.Contains(out, "namespace/kube-system") {
			t.Errorf("bob lists namespaces through dpa: %v\n%s", err, out)
		}
		out, err := as("alice-token", "get", "ns")
		if err == nil || !strings.Contains(out, `User "alice" cannot list resource "namespaces"`) {
			t.Errorf("alice without RBAC: want the kube-apiserver's 403 for alice, got %v\n%s", err, out)
		}
	})
	t.Run("impersonation: the upstream sees the impersonated user", func(t *testing.T) {
		if out, err := as(d.token, "--as", "bob", "--as-group", "readers", "get", "ns", "-o", "name"); err != nil || !strings.Contains(out, "namespace/default") {
			t.Errorf("dpa's admin as bob: %v\n%s", err, out)
		}
		if out, err := as(d.token, "--as", "alice", "get", "ns"); err == nil || !strings.Contains(out, `User "alice" cannot list`) {
			t.Errorf("dpa's admin as alice: %v\n%s", err, out)
		}
	})
	t.Run("identity headers of the caller never pass", func(t *testing.T) {
		req := mustReq(t, "GET", d.url+"/api/v1/namespaces", "Bearer alice-token")
		for k, v := range map[string]string{"X-Remote-User": "kube-admin", "X-Remote-Group": "system:masters", "X-Remote-Extra-Scopes": "all", "X-Webauth-User": "kube-admin"} {
			req.Header.Set(k, v)
		}
		code, body := d.do(req)
		if st := decodeStatus(t, code, body); code != http.StatusForbidden || !strings.Contains(st.Message, `User "alice"`) {
			t.Errorf("alice posing as kube-admin: %d %s", code, body)
		}
		// Straight to the kube-apiserver without the front-proxy certificate: ignored.
		direct, _ := http.NewRequest("GET", k.url+"/api/v1/namespaces", nil)
		direct.Header.Set("X-Remote-User", "kube-admin")
		direct.Header.Set("X-Remote-Group", "system:masters")
		resp, err := k.httpClient().Do(direct)
		if err != nil {
			t.Fatal(err)
		}
		var st status
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 || strings.Contains(st.Message, "kube-admin") {
			t.Errorf("forged X-Remote-User without the proxy certificate: %d %+v", resp.StatusCode, st)
		}
	})
	t.Run("kubectl sees both servers: CRDs and core resources upstream, DataPlaneServices in dpa", func(t *testing.T) {
		admin := d.token // dpa's admin is system:masters, upstream too
		crd := filepath.Join(dir, "crd.yaml")
		if err := os.WriteFile(crd, []byte(thingCRD), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := as(admin, "apply", "-f", crd); err != nil {
			t.Fatalf("apply the CRD through dpa: %v\n%s", err, out)
		}
		if out, err := as(admin, "wait", "--for=condition=Established", "crd/things.example.com", "--timeout=60s"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		thing := filepath.Join(dir, "thing.yaml")
		if err := os.WriteFile(thing, []byte("apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: one, namespace: default}\nspec: {color: blue}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "a Thing created through dpa", func() (bool, string) {
			out, err := as(admin, "apply", "-f", thing)
			return err == nil, out
		})
		if out, err := as(admin, "get", "things", "one", "-o", "jsonpath={.spec.color}"); err != nil || out != "blue" {
			t.Errorf("get the Thing through dpa: %v %q", err, out)
		}
		out, err := as(admin, "api-resources", "-o", "name")
		for _, want := range []string{"namespaces", "things.example.com", "dataplaneservices.aggregation.grafana.app", "apiservices.apiregistration.k8s.io"} {
			if err != nil || !strings.Contains(out, want+"\n") {
				t.Errorf("api-resources through dpa lacks %s: %v\n%s", want, err, out)
			}
		}
		if out, err := as(admin, "get", "dataplaneservices"); err != nil || !strings.Contains(out, "No resources found") {
			t.Errorf("DataPlaneServices are dpa's: %v\n%s", err, out)
		}
		if out, err := k.kubectl("", "get", "dataplaneservices"); err == nil {
			t.Errorf("the kube-apiserver itself serves no DataPlaneServices, yet: %s", out)
		}
		if out, err := as(admin, "get", "apiservices", "v1.apps", "-o", "name"); err != nil || strings.TrimSpace(out) != "apiservice.apiregistration.k8s.io/v1.apps" {
			t.Errorf("APIServices through dpa: %v\n%s", err, out)
		}
		if out, err := as("bob-token", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "bob" {
			t.Errorf("whoami: %v %q", err, out)
		}
	})
	t.Run("a watch streams through", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req := mustReq(t, "GET", d.url+"/api/v1/namespaces?watch=1", "Bearer bob-token").WithContext(ctx)
		resp, err := d.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("watch: %d", resp.StatusCode)
		}
		events := make(chan string, 64)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				events <- sc.Text()
			}
			close(events)
		}()
		k.mustKubectl("", "create", "namespace", "watched")
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("the watch ended before the namespace was seen")
				}
				if strings.Contains(ev, `"name":"watched"`) && strings.Contains(ev, `"type":"ADDED"`) {
					return
				}
			case <-ctx.Done():
				t.Fatal("no ADDED event for the namespace created upstream")
			}
		}
	})
	t.Run("an upstream that is down is a Status", func(t *testing.T) {
		k.stop()
		code, body := d.do(mustReq(t, "GET", d.url+"/api/v1/namespaces", "Bearer bob-token"))
		if st := decodeStatus(t, code, body); code != http.StatusServiceUnavailable || !strings.Contains(st.Message, k.url) {
			t.Errorf("%d %s", code, body)
		}
		// dpa's own resources do not depend on the upstream.
		if out, err := as(d.token, "get", "dataplaneservices"); err != nil {
			t.Errorf("DataPlaneServices without the upstream: %v\n%s", err, out)
		}
	})
}

// thingsCRD is a CRD of the example datasource plugin's group with two versions, converted
// by the plugin (v1 spec.host ⇄ v2 spec.endpoint) through dpa's conversion route.
const thingsCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.datasource.grafana.app
spec:
  group: example.datasource.grafana.app
  names: {kind: Thing, plural: things, singular: thing}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: ["v1"]
      clientConfig:
        url: {{DPA}}/apis/example.datasource.grafana.app/v0alpha1/conversion
        caBundle: {{CA}}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}}
  - name: v2
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}}
`

// thingsWebhooks are the plugin's admission hooks as a kube-apiserver's webhooks.
const thingsWebhooks = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: example-datasource}
webhooks:
- name: validate.example.datasource.grafana.app
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  clientConfig:
    url: {{DPA}}/apis/example.datasource.grafana.app/v0alpha1/admission/validate
    caBundle: {{CA}}
  rules:
  - {apiGroups: ["example.datasource.grafana.app"], apiVersions: ["*"], resources: ["things"], operations: ["CREATE", "UPDATE"]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: example-datasource}
webhooks:
- name: mutate.example.datasource.grafana.app
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  clientConfig:
    url: {{DPA}}/apis/example.datasource.grafana.app/v0alpha1/admission/mutate
    caBundle: {{CA}}
  rules:
  - {apiGroups: ["example.datasource.grafana.app"], apiVersions: ["*"], resources: ["things"], operations: ["CREATE", "UPDATE"]}
`

// TestKubeAPIServerCallsPluginWebhooks: a plugin's admission and conversion hooks as a real
// kube-apiserver's webhooks. The kube-apiserver authenticates to dpa's admission routes with a
// client certificate in --webhook-group (its admission configuration names it); conversion
// webhooks are called without credentials, which dpa accepts for the groups in
// --anonymous-conversion-groups only. A denied object is refused with the plugin's message,
// a created one is stored as the plugin mutated it, and reading it at the other version is
// the plugin's conversion.
func TestKubeAPIServerCallsPluginWebhooks(t *testing.T) {
	dir := shortTempDir(t)
	webhookCA := newCA(t, dir, "webhook-client-ca")
	kubeCert, kubeKey := webhookCA.issue(t, "kube-apiserver-webhooks", []string{"kube-webhooks"}, x509.ExtKeyUsageClientAuth)
	outsiderCert, outsiderKey := webhookCA.issue(t, "outsider", []string{"someone"}, x509.ExtKeyUsageClientAuth)

	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--client-ca-file", webhookCA.File,
		"--webhook-group", "kube-webhooks", "--anonymous-conversion-groups", "example.datasource.grafana.app")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	waitAvailable(t, d, "example-datasource", "True PluginRunning", 60*time.Second)

	// The kube-apiserver's admission configuration: its client certificate for dpa's host.
	host := strings.TrimPrefix(d.url, "https://")
	kubeconfig := writeFile(t, dir, "webhook-kubeconfig.yaml", "apiVersion: v1\nkind: Config\nusers:\n- name: \""+host+"\"\n  user:\n    client-certificate: "+kubeCert+"\n    client-key: "+kubeKey+"\n")
	admission := writeFile(t, dir, "admission.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration: {apiVersion: apiserver.config.k8s.io/v1, kind: WebhookAdmissionConfiguration, kubeConfigFile: `+kubeconfig+`}
- name: MutatingAdmissionWebhook
  configuration: {apiVersion: apiserver.config.k8s.io/v1, kind: WebhookAdmissionConfiguration, kubeConfigFile: `+kubeconfig+`}
`)
	k := startKube(t, "--admission-control-config-file", admission)

	caPEM, err := os.ReadFile(filepath.Join(d.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{{DPA}}", d.url, "{{CA}}", base64.StdEncoding.EncodeToString(caPEM))
	k.mustKubectl(fill.Replace(thingsCRD), "apply", "-f", "-")
	k.mustKubectl("", "wait", "--for=condition=Established", "crd/things.example.datasource.grafana.app", "--timeout=60s")
	k.mustKubectl(fill.Replace(thingsWebhooks), "apply", "-f", "-")

	t.Run("validating: a denied object is refused with the plugin's message", func(t *testing.T) {
		denied := "apiVersion: example.datasource.grafana.app/v1\nkind: Thing\nmetadata: {name: bad, namespace: default}\nspec: {deny: true}\n"
		eventually(t, 30*time.Second, "the validating webhook refuses", func() (bool, string) {
			out, err := k.kubectl(denied, "apply", "-f", "-")
			return err != nil && strings.Contains(out, "spec.deny: denied by example-datasource"), out
		})
	})
	t.Run("mutating: the object is stored as the plugin mutated it", func(t *testing.T) {
		eventually(t, 30*time.Second, "a Thing is created", func() (bool, string) {
			out, err := k.kubectl("apiVersion: example.datasource.grafana.app/v1\nkind: Thing\nmetadata: {name: one, namespace: default}\nspec: {host: db1}\n", "apply", "-f", "-")
			return err == nil, out
		})
		if out := k.mustKubectl("", "get", "things.v1.example.datasource.grafana.app", "one", "-o", "jsonpath={.metadata.labels.mutated-by}"); out != "example-datasource" {
			t.Errorf("label mutated-by = %q", out)
		}
	})
	t.Run("conversion: v2 is the plugin's conversion of the stored v1", func(t *testing.T) {
		if out := k.mustKubectl("", "get", "things.v2.example.datasource.grafana.app", "one", "-o", "jsonpath={.apiVersion} {.spec.endpoint} {.spec.host}"); out != "example.datasource.grafana.app/v2 db1 " {
			t.Errorf("the Thing at v2: %q", out)
		}
		// Written at v2, stored at v1: converted back by the plugin.
		k.mustKubectl("apiVersion: example.datasource.grafana.app/v2\nkind: Thing\nmetadata: {name: two, namespace: default}\nspec: {endpoint: db2}\n", "apply", "-f", "-")
		if out := k.mustKubectl("", "get", "things.v1.example.datasource.grafana.app", "two", "-o", "jsonpath={.spec.host}"); out != "db2" {
			t.Errorf("the Thing written at v2, read at v1: spec.host %q", out)
		}
	})
	t.Run("only the kube-apiserver's certificate reaches admission; anonymous only conversion", func(t *testing.T) {
		review := map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
			"uid": "x", "operation": "CREATE", "kind": map[string]string{"group": "example.datasource.grafana.app", "version": "v1", "kind": "Thing"},
			"resource": map[string]string{"group": "example.datasource.grafana.app", "version": "v1", "resource": "things"},
			"object":   map[string]any{"apiVersion": "example.datasource.grafana.app/v1", "kind": "Thing", "metadata": map[string]string{"name": "x"}}}}
		path := "/apis/example.datasource.grafana.app/v0alpha1/admission/validate"
		for name, tc := range map[string]struct {
			cert, key string
			code      int
			msg       string
		}{
			"kube-apiserver's certificate": {kubeCert, kubeKey, 200, ""},
			"another certificate":          {outsiderCert, outsiderKey, 403, "cannot admit admission of example.datasource.grafana.app/v0alpha1: needs a server admin or group kube-webhooks"},
			"no credentials":               {"", "", 401, "Unauthorized"},
		} {
			t.Run(name, func(t *testing.T) {
				code, body := d.doWithCert(t, "POST", path, review, tc.cert, tc.key)
				if code != tc.code || (tc.msg != "" && !strings.Contains(string(body), tc.msg)) {
					t.Errorf("%d %s", code, body)
				}
			})
		}
		// Anonymous reaches conversion of this group, nothing else of it.
		if code, body := d.doWithCert(t, "GET", "/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources", nil, "", ""); code != 401 {
			t.Errorf("anonymous datasource list: %d %s", code, body)
		}
	})
}

// doWithCert sends method path with a client certificate (none when cert is "") and no
// token, and returns the status and body.
func (s *server) doWithCert(t *testing.T, method, path string, body any, cert, key string) (int, []byte) {
	t.Helper()
	tr := s.httpClient().Transport.(*http.Transport).Clone()
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	}
	req, err := http.NewRequest(method, s.url+path, encodeBody(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestBehindKubeAggregator: dpa as an aggregated API server behind a real kube-apiserver.
// APIService objects send dpa's resource API and a plugin's data-plane group/version to dpa
// (a Service of type ExternalName reaches it on loopback); dpa trusts the aggregator's
// front-proxy certificate (--requestheader-*). The cluster's RBAC decides first, then dpa's
// own rules (Grafana's org roles) on the identity the aggregator states.
func TestBehindKubeAggregator(t *testing.T) {
	k := startKube(t)
	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", filepath.Join(repo, "examples", "provisioning"),
		"--requestheader-client-ca-file", k.frontProxy.File, "--requestheader-allowed-names", "front-proxy-client",
		"--tls-san", "dpa.default.svc")
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices", "example-datasource.yaml"))
	waitAvailable(t, d, "example-datasource", "True PluginRunning", 60*time.Second)

	caPEM, err := os.ReadFile(filepath.Join(d.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(d.url, "https://127.0.0.1:")
	objects := strings.NewReplacer("{{PORT}}", port, "{{CA}}", base64.StdEncoding.EncodeToString(caPEM)).Replace(`apiVersion: v1
kind: Service
metadata: {name: dpa, namespace: default}
spec: {type: ExternalName, externalName: localhost, ports: [{port: {{PORT}}}]}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v0alpha1.aggregation.grafana.app}
spec:
  group: aggregation.grafana.app
  version: v0alpha1
  service: {name: dpa, namespace: default, port: {{PORT}}}
  caBundle: {{CA}}
  groupPriorityMinimum: 1000
  versionPriority: 15
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v0alpha1.example.datasource.grafana.app}
spec:
  group: example.datasource.grafana.app
  version: v0alpha1
  service: {name: dpa, namespace: default, port: {{PORT}}}
  caBundle: {{CA}}
  groupPriorityMinimum: 1000
  versionPriority: 15
---
# The cluster's RBAC lets readers through to dpa, which then applies Grafana's roles.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: grafana-dataplane-user}
rules:
- {apiGroups: [aggregation.grafana.app], resources: [dataplaneservices], verbs: [get, list, watch]}
- {apiGroups: [example.datasource.grafana.app], resources: [datasources, datasources/query, datasources/stream, datasources/health], verbs: [get, list, create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers-grafana-dataplane-user}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: grafana-dataplane-user}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: readers}]
`)
	k.mustKubectl(objects, "apply", "-f", "-")
	eventually(t, 60*time.Second, "the APIServices Available", func() (bool, string) {
		out, _ := k.kubectl("", "get", "apiservices", "v0alpha1.aggregation.grafana.app", "v0alpha1.example.datasource.grafana.app",
			"-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Available\")].status} {end}")
		return out == "True True ", out
	})

	t.Run("kubectl get dataplaneservices through the kube-apiserver reaches dpa as the caller", func(t *testing.T) {
		if out, err := k.kubectlAs("kube-viewer-token", "", "get", "dataplaneservices", "-o", "name"); err != nil || strings.TrimSpace(out) != "dataplaneservice.aggregation.grafana.app/example-datasource" {
			t.Errorf("a Grafana viewer with the cluster's RBAC: %v\n%s", err, out)
		}
		// The cluster's RBAC lets kube-norole through; dpa's rules want an org role.
		if out, err := k.kubectlAs("kube-norole-token", "", "get", "dataplaneservices"); err == nil || !strings.Contains(out, "reading DataPlaneServices needs a role in an org") {
			t.Errorf("no org role: want dpa's 403, got %v\n%s", err, out)
		}
		// Without the cluster's RBAC the kube-apiserver refuses before dpa is asked.
		if out, err := k.kubectlAs("kube-nobody-token", "", "get", "dataplaneservices"); err == nil || !strings.Contains(out, `User "kube-nobody" cannot list resource "dataplaneservices"`) {
			t.Errorf("no cluster RBAC: want the kube-apiserver's 403, got %v\n%s", err, out)
		}
	})
	client := k.httpClient()
	call := func(t *testing.T, token, method, path, body string, headers ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, k.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	base := "/apis/example.datasource.grafana.app/v0alpha1/namespaces/default/datasources/example"
	t.Run("a query through the kube-apiserver is the plugin's answer for the caller", func(t *testing.T) {
		resp, b := call(t, "kube-viewer-token", "POST", base+"/query", `{"queries":[{"refId":"A","scenario":"table","points":3}],"from":"now-1h","to":"now"}`)
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"results":{"A"`) {
			t.Errorf("query: %d %s", resp.StatusCode, b)
		}
		// kube-nobody is an org viewer for dpa, but the cluster's RBAC refuses first.
		if resp, b := call(t, "kube-nobody-token", "POST", base+"/query", `{"queries":[{"refId":"A"}]}`); resp.StatusCode != 403 || !strings.Contains(string(b), "kube-nobody") {
			t.Errorf("no cluster RBAC: %d %s", resp.StatusCode, b)
		}
		// kube-norole passes the cluster's RBAC, and dpa refuses: no role in org 1.
		if resp, b := call(t, "kube-norole-token", "POST", base+"/query", `{"queries":[{"refId":"A"}]}`); resp.StatusCode != 403 || !strings.Contains(string(b), "no role in org 1") {
			t.Errorf("no org role: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("a stream through the kube-apiserver", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", k.url+base+"/stream/ticks", nil)
		req.Header.Set("Authorization", "Bearer kube-viewer-token")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				return
			}
		}
		t.Fatalf("no event from the stream: %v", sc.Err())
	})
	t.Run("identity headers without the aggregator's certificate are ignored", func(t *testing.T) {
		code, body := d.doWithCert(t, "GET", "/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", nil, "", "")
		if code != 401 {
			t.Errorf("no credentials: %d %s", code, body)
		}
		req := mustReq(t, "GET", d.url+"/apis/aggregation.grafana.app/v0alpha1/dataplaneservices", "")
		req.Header.Set("X-Remote-User", "kube-admin")
		req.Header.Set("X-Remote-Group", "system:masters")
		if code, body := d.do(req); code != 401 {
			t.Errorf("forged X-Remote-User without the certificate: %d %s", code, body)
		}
	})
}

// TestDelegatedAuthToKubeAPIServer: with --authentication-kubeconfig and
// --authorization-kubeconfig the cluster's own users sign in to dpa with their tokens
// (TokenReview) and the cluster's RBAC is asked (SubjectAccessReview) about the resource API
// when dpa's own rules do not allow a request; Grafana's org roles, carried in the cluster's
// groups, still apply.
func TestDelegatedAuthToKubeAPIServer(t *testing.T) {
	k := startKube(t)
	k.mustKubectl(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: dps-writer}
rules: [{apiGroups: [aggregation.grafana.app], resources: [dataplaneservices], verbs: [get, list, create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dps-writers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: dps-writer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: dps-writers}]
`, "apply", "-f", "-")
	kc := k.adminKubeconfig(shortTempDir(t))
	d := startServer(t, "", "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc)
	as := func(token string, args ...string) (string, error) {
		out, errOut, err := d.kubectl(append([]string{"--token", token}, args...)...)
		return out + errOut, err
	}
	dps := "apiVersion: aggregation.grafana.app/v0alpha1\nkind: DataPlaneService\nmetadata: {name: from-the-cluster}\n" +
		"spec: {pluginID: example-datasource, pluginType: datasource, group: cluster.example.app, version: v1, services: [{type: query}]}\n"
	file := filepath.Join(shortTempDir(t), "dps.yaml")
	if err := os.WriteFile(file, []byte(dps), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("a cluster user with RBAC creates and lists what dpa's rules alone would refuse", func(t *testing.T) {
		if out, err := as("kube-dps-writer-token", "create", "-f", file); err != nil {
			t.Fatalf("create as kube-dps-writer: %v\n%s", err, out)
		}
		if out, err := as("kube-dps-writer-token", "get", "dataplaneservices", "-o", "name"); err != nil || !strings.Contains(out, "from-the-cluster") {
			t.Errorf("list as kube-dps-writer: %v\n%s", err, out)
		}
	})
	t.Run("both refuse: the 403 says why on each side", func(t *testing.T) {
		out, err := as("kube-dps-writer-token", "delete", "dataplaneservice", "from-the-cluster")
		if err == nil || !strings.Contains(out, "changing DataPlaneServices needs a server admin") || !strings.Contains(out, "the cluster:") {
			t.Errorf("delete as kube-dps-writer: %v\n%s", err, out)
		}
	})
	t.Run("the cluster's groups carry Grafana's org roles", func(t *testing.T) {
		if out, err := as("kube-nobody-token", "get", "dataplaneservices", "-o", "name"); err != nil || !strings.Contains(out, "from-the-cluster") {
			t.Errorf("an org viewer from the cluster: %v\n%s", err, out)
		}
		if out, err := as("kube-nobody-token", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"); err != nil || !strings.Contains(out, `kube-nobody ["grafana:org:1:Viewer","system:authenticated"]`) {
			t.Errorf("whoami: %v %q", err, out)
		}
	})
	t.Run("a token neither knows is refused", func(t *testing.T) {
		if out, err := as("not-a-token", "get", "dataplaneservices"); err == nil || !strings.Contains(out, "Unauthorized") {
			t.Errorf("unknown token: %v\n%s", err, out)
		}
		if out, err := as(d.token, "get", "dataplaneservices", "-o", "name"); err != nil || !strings.Contains(out, "from-the-cluster") {
			t.Errorf("dpa's own admin token: %v\n%s", err, out)
		}
	})
}
