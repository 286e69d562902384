package provisioning

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const dsYAML = `apiVersion: 1
datasources:
  - name: Example
    type: example-datasource
    uid: ex1
    url: http://localhost:${EX_PORT}/api
    basicAuth: true
    basicAuthUser: admin
    jsonData:
      httpHeaderName1: X-Tenant
      cost: $$5
    secureJsonData:
      basicAuthPassword: $EX_PASSWORD
      httpHeaderValue1: tenant-secret-value
  - name: Other org
    type: example-datasource
    uid: ex1
    orgId: 3
  - name: Prom
    type: prometheus
    uid: prom
    orgId: 1
    isDefault: true
`

const appYAML = `apiVersion: 1
apps:
  - type: example-app
    org_id: 2
    jsonData:
      mode: fast
    secureJsonData:
      apiKey: app-secret-value
`

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "datasources/a.yaml", dsYAML)
	write(t, dir, "plugins/apps.yml", appYAML)
	write(t, dir, "datasources/ignored.txt", "not yaml")
	t.Setenv("EX_PORT", "9090")
	t.Setenv("EX_PASSWORD", "pa$$word-from-env")

	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ds, ok := cfg.Datasource("default", "ex1")
	if !ok {
		t.Fatal("ex1 not found in default")
	}
	if ds.URL != "http://localhost:9090/api" {
		t.Errorf("url = %q", ds.URL)
	}
	if ds.JSONData["cost"] != "$5" {
		t.Errorf("$$ escape: %v", ds.JSONData["cost"])
	}
	if v, _ := ds.SecureJSONData.Get("basicAuthPassword"); v != "pa$$word-from-env" {
		t.Errorf("env value must not be re-interpolated, got %q", v)
	}
	if other, ok := cfg.Datasource("org-3", "ex1"); !ok || other.Name != "Other org" || other.OrgID != 3 {
		t.Errorf("org-3 ex1: %+v %v", other, ok)
	}
	if _, ok := cfg.Datasource("org-3", "prom"); ok {
		t.Error("prom must not be visible in org-3")
	}
	if got := cfg.Datasources("default", "example-datasource"); len(got) != 1 || got[0].UID != "ex1" {
		t.Errorf("Datasources = %v", got)
	}
	if got := cfg.Datasources("default", "nope"); len(got) != 0 {
		t.Errorf("Datasources(nope) = %v", got)
	}
	app, ok := cfg.App("org-2", "example-app")
	if !ok || app.JSONData["mode"] != "fast" {
		t.Fatalf("app = %+v %v", app, ok)
	}
	if _, ok := cfg.App("default", "example-app"); ok {
		t.Error("app must only be in org-2")
	}

	s := ds.InstanceSettings()
	if s.UID != "ex1" || !s.BasicAuthEnabled || s.BasicAuthUser != "admin" || s.Updated.IsZero() {
		t.Errorf("settings = %+v", s)
	}
	var jd map[string]any
	if err := json.Unmarshal(s.JSONData, &jd); err != nil || jd["httpHeaderName1"] != "X-Tenant" {
		t.Errorf("jsonData = %s (%v)", s.JSONData, err)
	}
	if s.DecryptedSecureJSONData["httpHeaderValue1"] != "tenant-secret-value" {
		t.Errorf("secure data missing from instance settings")
	}
	as := app.InstanceSettings()
	if as.DecryptedSecureJSONData["apiKey"] != "app-secret-value" || string(as.JSONData) != `{"mode":"fast"}` {
		t.Errorf("app settings = %s %v", as.JSONData, as.DecryptedSecureJSONData)
	}
}

func TestSecretsNeverRendered(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "datasources/a.yaml", dsYAML)
	write(t, dir, "plugins/apps.yml", appYAML)
	t.Setenv("EX_PASSWORD", "env-secret-value")
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := cfg.Datasource("default", "ex1")
	app, _ := cfg.App("org-2", "example-app")
	secrets := []string{"env-secret-value", "tenant-secret-value", "app-secret-value"}

	var out bytes.Buffer
	js, _ := json.Marshal(ds)
	out.Write(js)
	js, _ = json.Marshal(*ds)
	out.Write(js)
	js, _ = json.Marshal(app)
	out.Write(js)
	js, _ = json.Marshal(cfg.AllDatasources())
	out.Write(js)
	fmt.Fprintf(&out, "%v %+v %#v %s %v %+v %#v %q", ds, ds, ds, ds, *ds, *app, *app, ds.SecureJSONData)
	fmt.Fprintf(&out, "%v %#v %x", ds.SecureJSONData, app.SecureJSONData, ds.SecureJSONData)
	for _, f := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		l := slog.New(f)
		l.Info("ds", "ds", ds, "value", *ds, "app", app, "secure", ds.SecureJSONData)
	}
	for _, s := range secrets {
		if strings.Contains(out.String(), s) {
			t.Fatalf("secret %q leaked in:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), `"secureJsonFields":{"basicAuthPassword":true,"httpHeaderValue1":true}`) {
		t.Errorf("secureJsonFields missing: %s", out.String())
	}
	if !strings.Contains(out.String(), "basicAuthPassword") {
		t.Error("secure key names should be visible")
	}
}

func TestLoadErrors(t *testing.T) {
	cases := map[string]struct {
		files map[string]string
		want  string
	}{
		"missing uid": {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a}\n  - {name: b, type: t, uid: b}\n  - {name: c, type: t}\n"}, "datasources/x.yaml: datasources[2].uid: required"},
		"duplicate uid": {map[string]string{
			"datasources/a.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: same}\n",
			"datasources/b.yaml": "apiVersion: 1\ndatasources:\n  - {name: b, type: t, uid: same, orgId: 1}\n",
		}, `datasources/b.yaml: datasources[0].uid: duplicate uid "same" in namespace "default"`},
		"bad orgId":      {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, orgId: abc}\n"}, "datasources/x.yaml: datasources[0].orgId: must be an integer"},
		"bad apiVersion": {map[string]string{"datasources/x.yaml": "apiVersion: 2\ndatasources: []\n"}, "datasources/x.yaml: apiVersion: must be 1"},
		"bad yaml":       {map[string]string{"plugins/x.yaml": "apiVersion: 1\napps: [\n"}, "plugins/x.yaml: invalid YAML"},
		"missing type":   {map[string]string{"plugins/x.yaml": "apiVersion: 1\napps:\n  - org_id: 1\n"}, "plugins/x.yaml: apps[0].type: required"},
		"bad secure":     {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, secureJsonData: {k: [topsecret]}}\n"}, "datasources/x.yaml: datasources[0].secureJsonData.k: must be a string"},
		"CA not PEM": {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, jsonData: {tlsAuthWithCACert: true}, secureJsonData: {tlsCACert: topsecret}}\n"},
			"datasources/x.yaml: datasources[0].secureJsonData.tlsCACert: failed to parse TLS CA PEM certificate"},
		"CA missing": {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, jsonData: {tlsAuthWithCACert: true}}\n"},
			"datasources[0].secureJsonData.tlsCACert: required with jsonData.tlsAuthWithCACert"},
		"client key missing": {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, jsonData: {tlsAuth: true}, secureJsonData: {tlsClientCert: topsecret}}\n"},
			"datasources[0].secureJsonData.tlsClientCert, secureJsonData.tlsClientKey: both required with jsonData.tlsAuth"},
		"client cert not PEM": {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, jsonData: {tlsAuth: true}, secureJsonData: {tlsClientCert: topsecret, tlsClientKey: topsecret}}\n"},
			"datasources[0].secureJsonData.tlsClientCert, secureJsonData.tlsClientKey: tls: failed to find any PEM data"},
		"serverName not a string": {map[string]string{"datasources/x.yaml": "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, jsonData: {tlsAuth: true, serverName: 7}}\n"},
			"datasources[0].jsonData.serverName: must be a string"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tc.files {
				write(t, dir, p, c)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
}

func TestNamespaces(t *testing.T) {
	for _, tc := range []struct {
		ns         string
		org, stack int64
		wantErr    bool
	}{
		{"default", 1, 0, false}, {"org-2", 2, 0, false}, {"org-1", 0, 0, true}, {"org-x", 0, 0, true},
		{"stacks-42", 1, 42, false}, {"stacks-", 0, 0, true}, {"kube-system", 0, 0, true},
	} {
		info, err := ParseNamespace(tc.ns)
		if (err != nil) != tc.wantErr || (!tc.wantErr && (info.OrgID != tc.org || info.StackID != tc.stack)) {
			t.Errorf("ParseNamespace(%q) = %+v, %v", tc.ns, info, err)
		}
	}
	if NamespaceForOrg(0) != "default" || NamespaceForOrg(1) != "default" || NamespaceForOrg(7) != "org-7" {
		t.Error("NamespaceForOrg")
	}
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, url: 'http://one'}\n  - {name: b, type: t, uid: b}\n")
	clock := time.Unix(1000, 0)
	s := &Store{dir: dir, logger: slog.Default(), env: os.LookupEnv, now: func() time.Time { return clock }}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	a1, _ := s.Config().Datasource("default", "a")
	b1, _ := s.Config().Datasource("default", "b")
	if s.Changed() {
		t.Error("Changed() right after reload")
	}

	// Bad file: the previous config stays.
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n  - {name: a, type: t}\n")
	if !s.Changed() {
		t.Error("Changed() must notice the rewrite")
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "datasources[0].uid: required") {
		t.Fatalf("reload err = %v", err)
	}
	if s.LastError() == nil {
		t.Error("LastError not set")
	}
	if ds, ok := s.Config().Datasource("default", "a"); !ok || ds.URL != "http://one" {
		t.Fatal("last good config not kept")
	}

	// Good change: a changes (Updated moves), b is unchanged (Updated kept).
	clock = clock.Add(time.Minute)
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, url: 'http://two'}\n  - {name: b, type: t, uid: b}\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	a2, _ := s.Config().Datasource("default", "a")
	b2, _ := s.Config().Datasource("default", "b")
	if a2.URL != "http://two" || !a2.Updated.After(a1.Updated) {
		t.Errorf("a not updated: %v %v", a2.URL, a2.Updated)
	}
	if !b2.Updated.Equal(b1.Updated) {
		t.Errorf("b Updated changed although unchanged: %v → %v", b1.Updated, b2.Updated)
	}
	if s.LastError() != nil {
		t.Error("LastError not cleared")
	}

	// Nothing changed: a reload reads nothing again and keeps the very same snapshot.
	before := s.Config()
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Config() != before {
		t.Error("a reload without a changed file replaced the configuration")
	}
}

func TestEmptyDir(t *testing.T) {
	s, err := NewStore(filepath.Join(t.TempDir(), "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Config().Datasource("default", "x"); ok {
		t.Fatal("unexpected datasource")
	}
	if got := NewStaticStore(nil).Config(); got == nil {
		t.Fatal("nil config")
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a}\n")
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx, 20*time.Millisecond)
	write(t, dir, "datasources/b.yaml", "apiVersion: 1\ndatasources:\n  - {name: b, type: t, uid: b}\n")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := s.Config().Datasource("default", "b"); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("Watch did not pick up the new file")
}

// With a stack id, org 1's entries live in stacks-<id>, and other orgs are refused.
func TestStackID(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a}\n  - {name: b, type: t, uid: b, orgId: 1}\n")
	write(t, dir, "plugins/p.yaml", "apiVersion: 1\napps:\n  - {type: example-app}\n")
	s, err := NewStore(dir, WithStackID(42))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	for _, uid := range []string{"a", "b"} {
		if ds, ok := cfg.Datasource("stacks-42", uid); !ok || ds.Namespace != "stacks-42" || ds.OrgID != 1 {
			t.Errorf("datasource %s not in stacks-42: %v", uid, ds)
		}
		if _, ok := cfg.Datasource("default", uid); ok {
			t.Errorf("datasource %s also in default", uid)
		}
	}
	if _, ok := cfg.App("stacks-42", "example-app"); !ok {
		t.Error("app not in stacks-42")
	}

	// Without a stack id the same files are org 1 = default.
	if cfg, err := Load(dir); err != nil {
		t.Fatal(err)
	} else if _, ok := cfg.Datasource("default", "a"); !ok {
		t.Error("without a stack id, a is not in default")
	}

	write(t, dir, "plugins/p.yaml", "apiVersion: 1\napps:\n  - {type: example-app, org_id: 2}\n")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "plugins/p.yaml: apps[0].org_id: must be 1 (or unset) with a stack id") {
		t.Fatalf("org 2 with a stack id: %v", err)
	}
	write(t, dir, "plugins/p.yaml", "apiVersion: 1\napps: []\n")
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n  - {name: a, type: t, uid: a, orgId: 3}\n")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "datasources/a.yaml: datasources[0].orgId: must be 1 (or unset) with a stack id") {
		t.Fatalf("org 3 with a stack id: %v", err)
	}
}

// TestDatasourceIdentity: every (namespace, uid) has its own non-zero id, the same after a
// restart and a reload, and Updated moves only for the entry whose settings changed.
func TestDatasourceIdentity(t *testing.T) {
	dir := t.TempDir()
	two := "apiVersion: 1\ndatasources:\n" +
		"  - {name: a, type: t, uid: same, orgId: 1, url: 'http://one'}\n" +
		"  - {name: b, type: t, uid: same, orgId: 2, url: 'http://two'}\n" +
		"  - {name: c, type: t, uid: other, orgId: 2}\n"
	write(t, dir, "datasources/a.yaml", two)
	old := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "datasources/a.yaml"), old, old); err != nil {
		t.Fatal(err)
	}
	s1, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	get := func(s *Store, ns, uid string) *Datasource {
		t.Helper()
		ds, ok := s.Config().Datasource(ns, uid)
		if !ok {
			t.Fatalf("%s/%s missing", ns, uid)
		}
		return ds
	}
	a, b, c := get(s1, "default", "same"), get(s1, "org-2", "same"), get(s1, "org-2", "other")
	ids := map[int64]string{}
	for _, ds := range []*Datasource{a, b, c} {
		if ds.ID <= 0 || ds.ID >= 1<<53 {
			t.Errorf("%s/%s: id %d is not a positive 53-bit number", ds.Namespace, ds.UID, ds.ID)
		}
		if prev, dup := ids[ds.ID]; dup {
			t.Errorf("%s/%s shares id %d with %s", ds.Namespace, ds.UID, ds.ID, prev)
		}
		ids[ds.ID] = ds.Namespace + "/" + ds.UID
		if got := ds.InstanceSettings().ID; got != ds.ID {
			t.Errorf("%s/%s: InstanceSettings().ID = %d, want %d", ds.Namespace, ds.UID, got, ds.ID)
		}
		if !ds.Updated.Equal(old) {
			t.Errorf("%s/%s: Updated = %v, want the file's mtime %v", ds.Namespace, ds.UID, ds.Updated, old)
		}
	}

	// A restart (a new store over the same files) hands out the same ids and Updated times.
	s2, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*Datasource{a, b, c} {
		got := get(s2, want.Namespace, want.UID)
		if got.ID != want.ID || !got.Updated.Equal(want.Updated) {
			t.Errorf("after restart %s/%s: id %d updated %v, want %d %v", want.Namespace, want.UID, got.ID, got.Updated, want.ID, want.Updated)
		}
	}

	// A reload that changes org 2's "same" moves its Updated only; ids stay.
	write(t, dir, "datasources/a.yaml", strings.Replace(two, "http://two", "http://changed", 1))
	if err := s2.Reload(); err != nil {
		t.Fatal(err)
	}
	a2, b2, c2 := get(s2, "default", "same"), get(s2, "org-2", "same"), get(s2, "org-2", "other")
	if a2.ID != a.ID || b2.ID != b.ID || c2.ID != c.ID {
		t.Errorf("ids changed on reload")
	}
	if !b2.Updated.After(b.Updated) || b2.URL != "http://changed" {
		t.Errorf("changed entry: Updated %v (was %v), url %s", b2.Updated, b.Updated, b2.URL)
	}
	if !a2.Updated.Equal(a.Updated) || !c2.Updated.Equal(c.Updated) {
		t.Errorf("unchanged entries moved: %v→%v, %v→%v", a.Updated, a2.Updated, c.Updated, c2.Updated)
	}

	// The id depends on namespace and uid only, so every replica computes the same.
	if DatasourceID("org-2", "same") != b.ID || DatasourceID("default", "same") == DatasourceID("org-2", "same") {
		t.Error("DatasourceID is not a function of namespace and uid")
	}
}

// TestStoreAdmission: new and changed datasources with an apiVersion are admitted (a mutation
// is kept, also across reloads that do not change them); a rejection fails the load naming
// file and field and keeps the last good configuration; entries without apiVersion are not
// admitted.
func TestStoreAdmission(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n"+
		"  - {name: a, type: t, uid: a, apiVersion: v1, url: 'http://one'}\n"+
		"  - {name: b, type: t, uid: b, url: 'http://plain'}\n")
	var calls []string
	admit := func(_ context.Context, ds, old *Datasource) error {
		op := "create"
		if old != nil {
			op = "update"
		}
		calls = append(calls, op+" "+ds.UID)
		if strings.HasPrefix(ds.URL, "ftp:") {
			return fmt.Errorf("url: not http")
		}
		ds.JSONData = map[string]any{"admitted": ds.URL}
		return nil
	}
	s, err := NewStore(dir, WithAdmission(admit))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Config().Datasource("default", "a")
	b, _ := s.Config().Datasource("default", "b")
	if a.JSONData["admitted"] != "http://one" || b.JSONData != nil {
		t.Errorf("after load: a %v, b %v", a.JSONData, b.JSONData)
	}
	if strings.Join(calls, ",") != "create a" {
		t.Errorf("admission calls = %v, want only a (b has no apiVersion)", calls)
	}

	// A reload touching only b: a is not admitted again and keeps its mutation.
	calls = nil
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n"+
		"  - {name: a, type: t, uid: a, apiVersion: v1, url: 'http://one'}\n"+
		"  - {name: b, type: t, uid: b, url: 'http://plain-2'}\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Config().Datasource("default", "a"); a.JSONData["admitted"] != "http://one" || len(calls) != 0 {
		t.Errorf("unchanged a: %v, calls %v", a.JSONData, calls)
	}

	// A rejected change fails the reload with file and field; the last good config stays.
	write(t, dir, "datasources/a.yaml", "apiVersion: 1\ndatasources:\n"+
		"  - {name: a, type: t, uid: a, apiVersion: v1, url: 'ftp://two'}\n")
	err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), "datasources/a.yaml: datasources[0]: url: not http") {
		t.Fatalf("reload err = %v", err)
	}
	if strings.Join(calls, ",") != "update a" {
		t.Errorf("admission calls = %v, want an update of a", calls)
	}
	if a, _ := s.Config().Datasource("default", "a"); a.URL != "http://one" {
		t.Errorf("last good config not kept: %s", a.URL)
	}
	if _, ok := s.Config().Datasource("default", "b"); !ok {
		t.Error("b vanished with the rejected reload")
	}
}
