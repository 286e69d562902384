package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	requestunion "k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// identity is what the identity phase yields.
type identity struct {
	certs      *pki
	adminToken string
	tokens     authenticator.Token
}

// identity is the first phase: it creates and locks the data dir (released by done), and
// loads or creates the serving certificate and the admin token; the token authenticator adds
// --token-auth-file.
func (s *Server) identity(done *cleanups) (*identity, error) {
	if err := os.MkdirAll(s.opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	unlock, err := lockDataDir(s.opts.DataDir)
	if err != nil {
		return nil, err
	}
	done.add(unlock)
	ips, dnsNames := servingNames(s.opts.BindAddress, s.opts.TLSSANs)
	certs, err := ensurePKI(filepath.Join(s.opts.DataDir, "pki"), ips, dnsNames)
	if err != nil {
		return nil, err
	}
	adminToken, err := ensureAdminToken(s.opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	tokens, err := tokenAuthenticator(adminToken, s.opts.TokenAuthFile)
	if err != nil {
		return nil, err
	}
	return &identity{certs: certs, adminToken: adminToken, tokens: tokens}, nil
}

// AdminUser is the user behind the generated admin token.
const AdminUser = "admin"

// publicPaths answer without credentials (probes and version), like Kubernetes'
// system:public-info-viewer role.
var publicPaths = []string{"/livez", "/readyz", "/healthz", "/version"}

func isPublicPath(p string) bool {
	for _, pp := range publicPaths {
		if p == pp || strings.HasPrefix(p, pp+"/") {
			return true
		}
	}
	return false
}

// ensureAdminToken reads <data-dir>/admin-token, creating it on first start.
func ensureAdminToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "admin-token")
	b, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	tok, err := randomToken()
	if err != nil {
		return "", err
	}
	return tok, os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

// tokenAuthenticator checks bearer tokens: the admin token plus, optionally, a Kubernetes
// static token file (token,user,uid,"group1,group2").
func tokenAuthenticator(adminToken, tokenAuthFile string) (authenticator.Token, error) {
	admin := tokenfile.New(map[string]*user.DefaultInfo{
		adminToken: {Name: AdminUser, UID: AdminUser, Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}},
	})
	if tokenAuthFile == "" {
		return admin, nil
	}
	csv, err := tokenfile.NewCSV(tokenAuthFile)
	if err != nil {
		return nil, fmt.Errorf("--token-auth-file: %w", err)
	}
	return tokenunion.New(admin, csv), nil
}

// requestAuthenticator authenticates bearer tokens (and any extra request authenticators,
// such as the UI's session cookie); public paths fall back to the anonymous user. Everything
// else without valid credentials gets 401.
func requestAuthenticator(tokens authenticator.Token, extra ...authenticator.Request) authenticator.Request {
	anonymous := authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		if !isPublicPath(req.URL.Path) {
			return nil, false, nil
		}
		return &authenticator.Response{User: &user.DefaultInfo{
			Name:   user.Anonymous,
			Groups: []string{user.AllUnauthenticated},
		}}, true, nil
	})
	reqs := []authenticator.Request{bearertoken.New(tokens)}
	reqs = append(reqs, extra...)
	reqs = append(reqs, anonymous)
	return requestunion.New(reqs...)
}

// allowAuthenticated lets every authenticated user do everything (roles come later) and the
// anonymous user only read the public paths.
var allowAuthenticated = authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser()
	if u == nil {
		return authorizer.DecisionDeny, "no user", nil
	}
	if u.GetName() == user.Anonymous {
		if !a.IsResourceRequest() && a.IsReadOnly() && isPublicPath(a.GetPath()) {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionDeny, "anonymous access is limited to " + strings.Join(publicPaths, ", "), nil
	}
	return authorizer.DecisionAllow, "", nil
})

// writeKubeconfig writes a kubeconfig for the admin user. It is rewritten on every start so
// the server address follows --bind-address and --secure-port.
func writeKubeconfig(path, server string, caData []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["dpa"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	cfg.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["dpa"] = &clientcmdapi.Context{Cluster: "dpa", AuthInfo: AdminUser}
	cfg.CurrentContext = "dpa"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
