package server

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
)

// TestIdentityPhase: the first start creates the data dir's PKI and admin token (0600), holds
// the data dir's lock until its cleanup runs, and a second start reuses what the first made.
func TestIdentityPhase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tokenFile := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte("user-token,alice,alice-uid,\"team-a,team-b\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testServer(t, "--data-dir", dir, "--token-auth-file", tokenFile)
	var first cleanups
	id, err := s.identity(&first)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "admin-token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-token: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode: %v %v", fi.Mode(), err)
	}
	for token, want := range map[string]string{id.adminToken: AdminUser, "user-token": "alice", "wrong": ""} {
		resp, ok, err := id.tokens.AuthenticateToken(context.Background(), token)
		if got := ""; ok && err == nil {
			got = resp.User.GetName()
			if got != want {
				t.Errorf("token for %s authenticated as %s", want, got)
			}
		} else if want != "" {
			t.Errorf("token of %s rejected: %v", want, err)
		}
	}

	// dpa's internal identity: its in-memory token authenticates with this process's UID.
	resp, ok, err := id.tokens.AuthenticateToken(context.Background(), id.internal.token)
	if !ok || err != nil || resp.User.GetName() != authz.InternalUser || resp.User.GetUID() != id.internal.uid || len(id.internal.uid) < 32 {
		t.Errorf("internal token: %v %v %+v", ok, err, resp)
	}

	var second cleanups
	if _, err := s.identity(&second); err == nil || !strings.Contains(err.Error(), "in use by another dpa") {
		t.Errorf("second start while the first holds the lock: %v", err)
	}
	second.run()
	first.run()
	id2, err := s.identity(&second)
	if err != nil {
		t.Fatal(err)
	}
	defer second.run()
	if id2.internal == id.internal {
		t.Error("a restart reused the internal identity")
	}
	if id2.adminToken != id.adminToken || string(id2.certs.CAData) != string(id.certs.CAData) {
		t.Error("a restart made a new admin token or CA")
	}

	kc := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kc, "https://127.0.0.1:6443", id.certs.CAData, id.adminToken); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil || cfg.BearerToken != id.adminToken || cfg.Host != "https://127.0.0.1:6443" {
		t.Errorf("kubeconfig: %+v %v", cfg, err)
	}
	if fi, _ := os.Stat(kc); fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v", fi.Mode())
	}
}

// TestAnonymousOnlyOnPublicPaths: requests without credentials authenticate as anonymous on
// the probes and /version only (what anonymous may do is pkg/authz's TestAuthorize).
func TestAnonymousOnlyOnPublicPaths(t *testing.T) {
	authn := requestAuthenticator(nil, nil, clientCerts{}, authz.New(authz.Options{}).AnonymousAllowed, nil, nil)
	for path, want := range map[string]bool{"/readyz": true, "/livez/ping": true, "/version": true, "/healthz": true,
		"/apis": false, "/metrics": false, "/readyzx": false, "/ui/": false} {
		resp, ok, err := authn.AuthenticateRequest(httptest.NewRequest("GET", path, nil))
		if ok != want || err != nil || (ok && resp.User.GetName() != user.Anonymous) {
			t.Errorf("%s: authenticated=%v %v, want %v", path, ok, err, want)
		}
	}
}

// TestFrontProxyHeadersRemoved: identity headers of a client that is not the verified front
// proxy never go further than authentication.
func TestFrontProxyHeadersRemoved(t *testing.T) {
	cc, err := newClientCerts(*NewAuthenticationOptions())
	if err != nil {
		t.Fatal(err)
	}
	authn := requestAuthenticator(nil, nil, cc, authz.New(authz.Options{}).AnonymousAllowed, nil, nil)
	r := httptest.NewRequest("GET", "/readyz", nil)
	for k, v := range map[string]string{"X-Remote-User": "admin", "X-Remote-Group": "system:masters", "X-Remote-Extra-Scopes": "all", "X-Other": "kept"} {
		r.Header.Set(k, v)
	}
	if _, ok, err := authn.AuthenticateRequest(r); !ok || err != nil {
		t.Fatalf("anonymous on /readyz: %v %v", ok, err)
	}
	for _, h := range []string{"X-Remote-User", "X-Remote-Group", "X-Remote-Extra-Scopes"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("%s survived authentication: %q", h, v)
		}
	}
	if r.Header.Get("X-Other") != "kept" {
		t.Error("an unrelated header was removed")
	}
}
