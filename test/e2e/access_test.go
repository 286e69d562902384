package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCA issues client certificates for the identity tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM bundle of the CA certificate
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := writeFile(t, dir, name+".crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return &testCA{cert: cert, key: key, file: file}
}

// client issues a client certificate: CN user, O groups. It also writes cert and key files.
func (ca *testCA) client(t *testing.T, dir, user string, groups ...string) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: user, Organization: groups},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, writeFile(t, dir, user+".crt", string(certPEM)), writeFile(t, dir, user+".key", string(keyPEM))
}

// identity is how a test user reaches dpa.
type identity struct {
	token   string
	cert    *tls.Certificate
	headers map[string]string
}

func (d *server) as(t *testing.T, id identity, method, path string, body any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.url+path, encodeBody(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id.token != "" {
		req.Header.Set("Authorization", "Bearer "+id.token)
	}
	for k, v := range id.headers {
		req.Header.Set(k, v)
	}
	c := d.httpClient()
	if id.cert != nil {
		tr := c.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{*id.cert}
		c = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		defer tr.CloseIdleConnections()
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d.record(b)
	return resp.StatusCode, b
}

const accessPolicy = `apiVersion: 2
roles:
  # Viewers may see the datasource "example" only, and query none …
  - uid: basic_viewer
    global: true
    permissions:
      - action: datasources:read
        scope: datasources:*
        state: absent
      - action: datasources:query
        scope: datasources:*
        state: absent
      - action: datasources:read
        scope: datasources:uid:example
  # … Editors (and so Admins) read and query every datasource of their orgs …
  - uid: basic_editor
    global: true
    permissions:
      - action: datasources:read
        scope: datasources:*
      - action: datasources:query
        scope: datasources:*
  # … team-a may query "example" in org 1, frank everything in org 2.
  - name: custom:example-query
    orgId: 1
    permissions:
      - action: datasources:query
        scope: datasources:uid:example
  - name: custom:org2-all
    orgId: 2
    permissions:
      - action: datasources:read
        scope: datasources:*
      - action: datasources:query
        scope: datasources:*
teams:
  - name: team-a
    orgId: 1
    roles:
      - name: custom:example-query
users:
  - login: frank
    orgId: 2
    roles:
      - name: custom:org2-all
`

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
`

// TestAccessControl is the access matrix: every kind of identity (token, client
// certificate, front proxy, forged front-proxy headers) against every kind of route, with
// Grafana's org roles and a provisioned datasource restriction.
func TestAccessControl(t *testing.T) {
	dir := t.TempDir()
	clientCA := newTestCA(t, dir, "client-ca")
	proxyCA := newTestCA(t, dir, "front-proxy-ca")
	carolCert, carolCrt, carolKey := clientCA.client(t, dir, "carol", "grafana:org:1:Editor")
	proxyCert, _, _ := proxyCA.client(t, dir, "front-proxy")
	rogueProxy, _, _ := newTestCA(t, dir, "rogue-ca").client(t, dir, "front-proxy") // signed by a CA dpa does not know

	tokens := writeFile(t, dir, "tokens.csv", strings.Join([]string{
		`root-token,root,root,"grafana:server-admin"`,
		`ada-token,ada,ada,"grafana:org:1:Admin"`,
		`vic-token,vic,vic,"grafana:org:1:Viewer,team-a"`,
		`rita-token,rita,rita,"grafana:org:1:Viewer"`,
		`nobody-token,nobody,nobody,`,
		`prom-token,prom,prom,"system:monitoring"`,
		`kube-token,kube,kube,"webhook-callers"`,
	}, "\n")+"\n")

	proxied := &recorder{}
	upstream := httptest.NewServer(proxied.handler("upstream says hi"))
	t.Cleanup(upstream.Close)
	prov := t.TempDir()
	writeProvisioning(t, prov, datasourcesYAML(upstream.URL)+`  - name: Example 2
    type: example-datasource
    uid: example-2
    orgId: 1
  - name: Org 2
    type: example-datasource
    uid: org2-ds
    orgId: 2
`, appsYAML+`  - type: example-app
    org_id: 2
`)
	if err := os.MkdirAll(filepath.Join(prov, "access-control"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(prov, "access-control"), "policy.yaml", accessPolicy)
	auditLog := filepath.Join(dir, "audit.log")

	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", prov, "--log-level", "info",
		"--token-auth-file", tokens, "--client-ca-file", clientCA.file,
		"--requestheader-client-ca-file", proxyCA.file, "--requestheader-allowed-names", "front-proxy",
		"--webhook-group", "webhook-callers", "--audit-log-path", auditLog, "--audit-policy-file", writeFile(t, dir, "audit.yaml", auditPolicy))
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "dataplaneservice/example-app", "--timeout=60s")

	ids := map[string]identity{
		"admin token":                       {token: d.token},
		"server admin":                      {token: "root-token"},
		"org-1 Admin":                       {token: "ada-token"},
		"org-1 Editor (client certificate)": {cert: &carolCert},
		"org-1 Viewer in team-a":            {token: "vic-token"},
		"org-1 Viewer (restricted)":         {token: "rita-token"},
		"org-2 Viewer (front proxy)": {cert: &proxyCert, headers: map[string]string{
			"X-Remote-User": "frank", "X-Remote-Group": "grafana:org:2:Viewer"}},
		"no roles":   {token: "nobody-token"},
		"monitoring": {token: "prom-token"},
		"webhook":    {token: "kube-token"},
		"forged proxy headers with a token": {token: "nobody-token", headers: map[string]string{
			"X-Remote-User": "admin", "X-Remote-Group": "system:masters"}},
		"proxy certificate from the wrong CA": {cert: &rogueProxy, headers: map[string]string{
			"X-Remote-User": "admin", "X-Remote-Group": "system:masters"}},
	}
	ds := func(ns, uid, rest string) string { return dsBase + "/namespaces/" + ns + "/datasources/" + uid + rest }
	routes := map[string]struct {
		method, path string
		body         any
		ok           int
	}{
		"list DataPlaneServices":    {"GET", collection, nil, 200},
		"create a DataPlaneService": {"POST", collection, nil, 201}, // body per identity
		"list datasources of org 1": {"GET", dsBase + "/namespaces/default/datasources", nil, 200},
		"list datasources of org 2": {"GET", dsBase + "/namespaces/org-2/datasources", nil, 200},
		"get datasource example-2":  {"GET", ds("default", "example-2", ""), nil, 200},
		"query example":             {"POST", ds("default", "example", "/query"), map[string]any{"queries": []map[string]any{{"refId": "A"}}}, 200},
		"query example-2":           {"POST", ds("default", "example-2", "/query"), map[string]any{"queries": []map[string]any{{"refId": "A"}}}, 200},
		"query org2-ds":             {"POST", ds("org-2", "org2-ds", "/query"), map[string]any{"queries": []map[string]any{{"refId": "A"}}}, 200},
		"health of example":         {"GET", ds("default", "example", "/health"), nil, 200},
		"resource of example":       {"GET", ds("default", "example", "/resource/echo"), nil, 200},
		"publish to example":        {"POST", ds("default", "example", "/stream/ticks"), map[string]int{"n": 1}, 200},
		"proxy of example":          {"GET", ds("default", "example", "/proxy/x"), nil, 202},
		"custom route of example":   {"GET", ds("default", "example", "/echo"), nil, 200},
		"app health in org 1":       {"GET", appBase + "/namespaces/default/health", nil, 200},
		"app health in org 2":       {"GET", appBase + "/namespaces/org-2/health", nil, 200},
		"admission":                 {"POST", dsBase + "/admission/validate", review("a-1", "CREATE", map[string]any{"apiVersion": dsGroup + "/v1", "kind": "Thing", "metadata": map[string]any{"name": "x"}}), 200},
		"plugin metrics":            {"GET", dsBase + "/metrics", nil, 200},
		"/metrics":                  {"GET", "/metrics", nil, 200},
		"/debug/pprof":              {"GET", "/debug/pprof/", nil, 200},
		"discovery":                 {"GET", "/apis", nil, 200},
	}
	all := func() []string {
		var out []string
		for r := range routes {
			out = append(out, r)
		}
		return out
	}
	org1Editor := []string{"list DataPlaneServices", "list datasources of org 1", "get datasource example-2", "query example", "query example-2",
		"health of example", "resource of example", "publish to example", "proxy of example", "custom route of example", "app health in org 1", "discovery"}
	allowed := map[string][]string{
		"admin token":                       all(),
		"server admin":                      all(),
		"org-1 Admin":                       org1Editor,
		"org-1 Editor (client certificate)": org1Editor,
		"org-1 Viewer in team-a": {"list DataPlaneServices", "list datasources of org 1", "query example", "health of example", "resource of example",
			"publish to example", "proxy of example", "custom route of example", "app health in org 1", "discovery"},
		"org-1 Viewer (restricted)":           {"list DataPlaneServices", "list datasources of org 1", "app health in org 1", "discovery"},
		"org-2 Viewer (front proxy)":          {"list DataPlaneServices", "list datasources of org 2", "query org2-ds", "app health in org 2", "discovery"},
		"no roles":                            {"discovery"},
		"monitoring":                          {"plugin metrics", "/metrics", "discovery"},
		"webhook":                             {"admission", "discovery"},
		"forged proxy headers with a token":   {"discovery"},
		"proxy certificate from the wrong CA": nil, // 401: neither the certificate nor the headers count
	}
	// What each may see in lists.
	lists := map[string]map[string][]string{
		"list datasources of org 1": {"admin token": {"example", "example-2"}, "server admin": {"example", "example-2"}, "org-1 Admin": {"example", "example-2"},
			"org-1 Editor (client certificate)": {"example", "example-2"}, "org-1 Viewer in team-a": {"example"}, "org-1 Viewer (restricted)": {"example"}},
		"list datasources of org 2": {"admin token": {"org2-ds"}, "server admin": {"org2-ds"}, "org-2 Viewer (front proxy)": {"org2-ds"}},
	}

	n := 0
	for who, id := range ids {
		for name, r := range routes {
			t.Run(who+"/"+name, func(t *testing.T) {
				body := r.body
				if name == "create a DataPlaneService" {
					n++
					body = map[string]any{"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
						"metadata": map[string]any{"name": fmt.Sprintf("made-%d", n)},
						"spec": map[string]any{"pluginID": "example-app", "pluginType": "app", "group": fmt.Sprintf("made%d.grafana.app", n),
							"version": "v1", "services": []any{map[string]any{"type": "health"}}}}
				}
				before := proxied.count()
				code, b := d.as(t, id, r.method, r.path, body)
				want := 403
				switch {
				case slices.Contains(allowed[who], name):
					want = r.ok
				case who == "proxy certificate from the wrong CA":
					want = 401
				}
				if code != want {
					t.Fatalf("%d, want %d: %s", code, want, b)
				}
				if code == 403 {
					st := decodeStatus(t, 403, b)
					if st.Reason != "Forbidden" || !strings.Contains(st.Message, "cannot") {
						t.Errorf("403 Status: %+v", st)
					}
					for _, s := range secrets {
						if strings.Contains(string(b), s) {
							t.Errorf("a denial shows a secret: %s", b)
						}
					}
					if proxied.count() != before {
						t.Errorf("a denied request reached the upstream")
					}
				}
				if want, ok := lists[name][who]; ok && code == 200 {
					var l struct {
						Items []struct{ Metadata struct{ Name string } }
					}
					mustJSON(t, b, &l)
					var got []string
					for _, it := range l.Items {
						got = append(got, it.Metadata.Name)
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("list = %v, want %v", got, want)
					}
				}
			})
		}
	}

	t.Run("403 names user, verb and resource", func(t *testing.T) {
		_, b := d.as(t, ids["org-2 Viewer (front proxy)"], "GET", ds("default", "example", "/proxy/x"), nil)
		st := decodeStatus(t, 403, b)
		want := `User "frank" cannot call datasource "example" in namespace "default" (datasource-proxy of example.datasource.grafana.app/v0alpha1): no role in org 1 (group grafana:org:1:Viewer)`
		if st.Message != want {
			t.Errorf("message = %q, want %q", st.Message, want)
		}
		_, b = d.as(t, ids["org-1 Viewer (restricted)"], "DELETE", collection+"/example-app", nil)
		if st := decodeStatus(t, 403, b); !strings.Contains(st.Message, `User "rita" cannot delete resource "dataplaneservices" in API group "aggregation.grafana.app"`) {
			t.Errorf("message = %q", st.Message)
		}
	})

	t.Run("the plugin sees the caller and its role in the org", func(t *testing.T) {
		for who, want := range map[string]string{"org-1 Viewer in team-a": "vic Viewer", "org-1 Editor (client certificate)": "carol Editor", "org-1 Admin": "ada Admin"} {
			code, b := d.as(t, ids[who], "GET", ds("default", "example", "/resource/echo"), nil)
			var e struct{ User struct{ Login, Role string } }
			mustJSON(t, b, &e)
			if code != 200 || e.User.Login+" "+e.User.Role != want {
				t.Errorf("%s: %d %s, want %s", who, code, b, want)
			}
		}
	})

	t.Run("impersonation", func(t *testing.T) {
		// A non-admin may not impersonate, whatever it asks for.
		for _, h := range []map[string]string{{"Impersonate-User": "admin"}, {"Impersonate-User": "vic", "Impersonate-Group": "grafana:org:1:Viewer"}} {
			id := ids["org-1 Admin"]
			id.headers = h
			code, b := d.as(t, id, "GET", collection, nil)
			if st := decodeStatus(t, 403, b); code != 403 || !strings.Contains(st.Message, "cannot impersonate") {
				t.Errorf("impersonation by an org admin: %d %s", code, b)
			}
		}
		// A server admin may, and the plugin then sees the impersonated user and role.
		id := ids["server admin"]
		id.headers = map[string]string{"Impersonate-User": "vic", "Impersonate-Group": "grafana:org:1:Viewer"}
		code, b := d.as(t, id, "GET", appBase+"/namespaces/default/resource/echo", nil)
		var e struct{ User struct{ Login, Role string } }
		mustJSON(t, b, &e)
		if code != 200 || e.User.Login != "vic" || e.User.Role != "Viewer" {
			t.Errorf("impersonated echo: %d %s", code, b)
		}
	})

	t.Run("kubectl auth whoami and can-i", func(t *testing.T) {
		kc := writeFile(t, dir, "carol.kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: dpa
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: carol
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: carol
  context: {cluster: dpa, user: carol}
current-context: carol
`, d.url, filepath.Join(d.dataDir, "pki", "ca.crt"), carolCrt, carolKey))
		out := d.kc(t, "--kubeconfig", kc, "auth", "whoami", "-o", "json")
		var who struct {
			Status struct {
				UserInfo struct {
					Username string
					Groups   []string
				} `json:"userInfo"`
			}
		}
		mustJSON(t, []byte(out), &who)
		if who.Status.UserInfo.Username != "carol" || !slices.Contains(who.Status.UserInfo.Groups, "grafana:org:1:Editor") {
			t.Errorf("whoami: %s", out)
		}
		for args, want := range map[string]string{
			"list dataplaneservices":                                    "yes",
			"create dataplaneservices":                                  "no",
			"create datasources/example --subresource=query -n default": "yes",
			"create datasources/example-2 --subresource=query -n org-2": "no",
			"get datasources/example-2 -n default":                      "yes",
		} {
			cmd := append([]string{"--kubeconfig", kc, "auth", "can-i"}, strings.Fields(args)...)
			out, _, _ := d.kubectl(cmd...)
			if got, _, _ := strings.Cut(strings.TrimSpace(out), " "); got != want {
				t.Errorf("can-i %s = %q, want %q", args, out, want)
			}
		}
	})

	t.Run("the request log and the audit log name the user", func(t *testing.T) {
		d.as(t, ids["org-1 Viewer in team-a"], "POST", ds("default", "example", "/query"), map[string]any{"queries": []map[string]any{{"refId": "A"}}})
		eventually(t, 10*time.Second, "the data-plane request log line with the user", func() (bool, string) {
			return strings.Contains(d.log.String(), "user=vic"), "not logged yet"
		})
		eventually(t, 10*time.Second, "an audit event of vic's query", func() (bool, string) {
			b, _ := os.ReadFile(auditLog)
			for _, l := range strings.Split(string(b), "\n") {
				var ev struct {
					RequestURI string `json:"requestURI"`
					User       struct{ Username string }
					Stage      string
				}
				if json.Unmarshal([]byte(l), &ev) == nil && ev.User.Username == "vic" && strings.HasSuffix(ev.RequestURI, "/datasources/example/query") {
					return true, ""
				}
			}
			return false, "no audit event yet"
		})
		b, _ := os.ReadFile(auditLog)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("the audit log holds a secret")
			}
		}
	})
}

// signIn signs in at /ui/login with token and returns the session cookie's value.
func (d *server) signIn(t *testing.T, token string) string {
	t.Helper()
	resp := d.postSignIn(t, token)
	for _, ck := range resp.Cookies() {
		if ck.Name == "dpa_session" && ck.Value != "" {
			if strings.Contains(ck.Value, token) {
				t.Fatalf("the session cookie holds the token")
			}
			return ck.Value
		}
	}
	t.Fatalf("sign-in: %d, no session cookie", resp.StatusCode)
	return ""
}

// session is an identity that uses a UI session cookie (with the UI's CSRF header).
func session(id string) identity {
	return identity{headers: map[string]string{"Cookie": "dpa_session=" + id, "X-DPA-CSRF": "1"}}
}

// TestUISessions: a UI session acts as the token's user with its permissions, and sign-out
// revokes it in the store, so the old cookie is refused.
func TestUISessions(t *testing.T) {
	tokens := writeFile(t, t.TempDir(), "tokens.csv", `vic-token,vic,vic,"grafana:org:1:Viewer"`+"\n")
	d := startServer(t, "", "--token-auth-file", tokens)
	viewer := session(d.signIn(t, "vic-token"))
	if code, b := d.as(t, viewer, "GET", collection, nil); code != 200 {
		t.Fatalf("viewer session list: %d %s", code, b)
	}
	code, b := d.as(t, viewer, "POST", collection, map[string]any{"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
		"metadata": map[string]any{"name": "x"}, "spec": map[string]any{"pluginID": "x", "pluginType": "app", "group": "x.app", "version": "v1",
			"services": []any{map[string]any{"type": "health"}}}})
	if st := decodeStatus(t, 403, b); code != 403 || !strings.Contains(st.Message, `User "vic" cannot create`) {
		t.Fatalf("viewer session create: %d %s", code, b)
	}
	c := *d.httpClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", d.url+"/ui/logout", nil)
	req.Header.Set("Cookie", viewer.headers["Cookie"])
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, b := d.as(t, viewer, "GET", collection, nil); code != 401 {
		t.Fatalf("the old cookie after sign-out: %d %s", code, b)
	}
	// The raw token is no session.
	if code, _ := d.as(t, session("vic-token"), "GET", collection, nil); code != 401 {
		t.Fatalf("a token as cookie: %d", code)
	}
}

// TestUISessionsFollowTheTokenFile: --token-auth-file is read again when it changes and on
// SIGHUP. A removed token stops working without a restart and the UI sessions made from it
// end; a changed line changes what its sessions may do; a broken file keeps the last good
// tokens; after a restart a session whose token is gone is refused too.
func TestUISessionsFollowTheTokenFile(t *testing.T) {
	dir := t.TempDir()
	line := func(tok, name, group string) string { return fmt.Sprintf("%s,%s,%s,%q\n", tok, name, name, group) }
	file := writeFile(t, dir, "tokens.csv", line("vic-token", "vic", "grafana:org:1:Viewer")+line("eve-token", "eve", "grafana:org:1:Viewer"))
	// Without the failed-token throttle (TestBearerTokenThrottle): the removed tokens tried
	// here would otherwise count against this client's address.
	d := startServer(t, "", "--token-auth-file", file, "--auth-failure-limit", "0")
	vic, eve := session(d.signIn(t, "vic-token")), session(d.signIn(t, "eve-token"))
	dps := func(name string) map[string]any {
		return map[string]any{"apiVersion": "aggregation.grafana.app/v0alpha1", "kind": "DataPlaneService",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"pluginID": name, "pluginType": "app", "group": name + ".app", "version": "v1",
				"services": []any{map[string]any{"type": "health"}}}}
	}
	for name, id := range map[string]identity{"vic's session": vic, "eve's session": eve, "vic's token": {token: "vic-token"}} {
		if code, b := d.as(t, id, "GET", collection, nil); code != 200 {
			t.Fatalf("%s: %d %s", name, code, b)
		}
	}
	if code, b := d.as(t, eve, "POST", collection, dps("a")); code != 403 {
		t.Fatalf("eve as a Viewer creates: %d %s", code, b)
	}

	// The file is rewritten: vic's token is gone, eve is a server admin now.
	writeFile(t, dir, "tokens.csv", line("eve-token", "eve", "system:masters"))
	eventually(t, 20*time.Second, "vic's token and session to end (file poll)", func() (bool, string) {
		tc, _ := d.as(t, identity{token: "vic-token"}, "GET", collection, nil)
		sc, _ := d.as(t, vic, "GET", collection, nil)
		return tc == 401 && sc == 401, fmt.Sprintf("token %d, session %d", tc, sc)
	})
	if code, b := d.as(t, eve, "POST", collection, dps("a")); code != 201 {
		t.Fatalf("eve's session after her line became an admin's: %d %s", code, b)
	}
	if code := d.signInStatus(t, "vic-token"); code != 401 {
		t.Errorf("sign-in with the removed token: %d", code)
	}

	// A broken file keeps the last good tokens.
	writeFile(t, dir, "tokens.csv", "eve-token,eve\n")
	eventually(t, 20*time.Second, "the failed reload to be logged", func() (bool, string) {
		return strings.Contains(d.log.String(), "--token-auth-file reload failed"), ""
	})
	if code, b := d.as(t, eve, "POST", collection, dps("b")); code != 201 {
		t.Fatalf("eve's session after a broken file: %d %s", code, b)
	}
	if code, _ := d.as(t, identity{token: "eve-token"}, "GET", collection, nil); code != 200 {
		t.Fatalf("eve's token after a broken file: %d", code)
	}

	// SIGHUP: a change the poll cannot see (same size, same modification time) is read at once.
	good := line("eve-token", "eve", "system:masters") + line("zed-token", "zed", "grafana:org:1:Viewer")
	writeFile(t, dir, "tokens.csv", good)
	eventually(t, 20*time.Second, "the repaired file to be read", func() (bool, string) {
		code, _ := d.as(t, identity{token: "zed-token"}, "GET", collection, nil)
		return code == 200, fmt.Sprint(code)
	})
	zed := session(d.signIn(t, "zed-token"))
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "tokens.csv", strings.Replace(good, "eve-token", "eve-tokeX", 1))
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // a poll (5s) passes without noticing
	if code, b := d.as(t, eve, "GET", collection, nil); code != 200 {
		t.Fatalf("the unnoticed change took effect without SIGHUP: %d %s", code, b)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 4*time.Second, "eve's token and session to end after SIGHUP", func() (bool, string) {
		tc, _ := d.as(t, identity{token: "eve-token"}, "GET", collection, nil)
		sc, _ := d.as(t, eve, "GET", collection, nil)
		return tc == 401 && sc == 401, fmt.Sprintf("token %d, session %d", tc, sc)
	})

	// A restart with zed's token gone: his session is refused at once.
	if code, b := d.as(t, zed, "GET", collection, nil); code != 200 {
		t.Fatalf("zed's session: %d %s", code, b)
	}
	d.stop()
	writeFile(t, dir, "tokens.csv", line("amy-token", "amy", "grafana:org:1:Viewer"))
	d.start()
	if code, b := d.as(t, zed, "GET", collection, nil); code != 401 {
		t.Fatalf("zed's session after a restart without his token: %d %s", code, b)
	}
}

// signInStatus is the status of a sign-in with token.
func (d *server) signInStatus(t *testing.T, token string) int {
	t.Helper()
	return d.postSignIn(t, token).StatusCode
}

// postSignIn posts token to /ui/login without following the redirect (body closed).
func (d *server) postSignIn(t *testing.T, token string) *http.Response {
	t.Helper()
	c := *d.httpClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(d.url+"/ui/login", map[string][]string{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestBearerTokenThrottle: after --auth-failure-limit bogus bearer tokens from one address,
// that address gets 429 with Retry-After, its tokens unchecked — a valid one too, until the
// wait is over; the UI's sign-in counts in the same budget; another address is not affected,
// and its success resets nothing.
func TestBearerTokenThrottle(t *testing.T) {
	d := startServer(t, "", "--auth-failure-limit", "3")
	from := func(ip string) *http.Client {
		base := d.httpClient().Transport.(*http.Transport)
		tr := base.Clone()
		tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	get := func(c *http.Client, token string) *http.Response {
		t.Helper()
		resp, err := c.Do(mustReq(t, "GET", d.url+collection, "Bearer "+token))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	one, two := from("127.0.0.1"), from("127.0.0.2")
	if resp := get(two, d.token); resp.StatusCode != 200 {
		t.Skipf("no client address 127.0.0.2 here: %d", resp.StatusCode)
	}
	for i := range 3 {
		if resp := get(one, fmt.Sprintf("guess-%d", i)); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i+1, resp.StatusCode)
		}
	}
	// The limit is reached: the next guess waits. (A guess more than a second later is checked
	// and doubles the wait, so a slow machine gets there too.)
	var throttled *http.Response
	var at time.Time
	for i := 3; i < 8 && throttled == nil; i++ {
		if resp := get(one, fmt.Sprintf("guess-%d", i)); resp.StatusCode == http.StatusTooManyRequests {
			throttled, at = resp, time.Now()
		} else if resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i+1, resp.StatusCode)
		}
	}
	if throttled == nil {
		t.Fatal("8 bogus tokens from one address, never a 429")
	}
	retry, err := strconv.Atoi(throttled.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		t.Fatalf("Retry-After %q", throttled.Header.Get("Retry-After"))
	}
	// Another address signs in and works; that resets nothing for the first.
	if resp := get(two, d.token); resp.StatusCode != 200 {
		t.Errorf("a valid token from another address: %d", resp.StatusCode)
	}
	// The valid token from the throttled address waits as well (whatever the other address
	// did), and so does the UI's sign-in. (Valid tokens add no failure, should the wait be
	// over on a slow machine.)
	if resp := get(one, d.token); resp.StatusCode != http.StatusTooManyRequests && time.Since(at) < time.Duration(retry)*time.Second {
		t.Errorf("a valid token from the throttled address within Retry-After: %d", resp.StatusCode)
	}
	if code := d.signInStatus(t, d.token); code != http.StatusTooManyRequests && time.Since(at) < time.Duration(retry)*time.Second {
		t.Errorf("UI sign-in from the throttled address: %d", code)
	}
	time.Sleep(time.Until(at.Add(time.Duration(retry)*time.Second + 200*time.Millisecond)))
	if resp := get(one, d.token); resp.StatusCode != 200 {
		t.Errorf("a valid token after Retry-After: %d", resp.StatusCode)
	}
}
