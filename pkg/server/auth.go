package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	requestunion "k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

// identity is what the identity phase yields.
type identity struct {
	certs      *pki
	adminToken string
	// tokens is dpa's own bearer tokens, --token-auth-file reloaded (tokens.go).
	tokens      *tokenTable
	clientCerts clientCerts
	// internal is dpa's own identity (authz.InternalUser) for the objects only dpa writes.
	internal internalIdentity
	// remote checks the bearer tokens dpa does not know with a kube-apiserver
	// (--authentication-kubeconfig; nil without).
	remote authenticator.Request
}

// internalIdentity is a bearer token and a UID that exist only in this process's memory, made
// anew on every start: the loopback client that writes Plugin objects sends the token, and
// the authorizer recognises the UID (authz.Options.InternalUID).
type internalIdentity struct{ token, uid string }

func newInternalIdentity() (internalIdentity, error) {
	tok, err := randomToken()
	if err != nil {
		return internalIdentity{}, err
	}
	uid, err := randomToken()
	if err != nil {
		return internalIdentity{}, err
	}
	return internalIdentity{token: tok, uid: uid[:32]}, nil
}

// identity is the first phase: it creates and locks the data dir (released by done), and
// loads or creates the serving certificate and the admin token; the token table adds
// --token-auth-file (reloaded on change and on SIGHUP).
func (s *Server) identity(done *cleanups) (*identity, error) {
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	unlock, err := lockDataDir(s.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	done.add(unlock)
	certs, err := s.servingCert()
	if err != nil {
		return nil, err
	}
	adminToken, err := ensureAdminToken(s.cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	internal, err := newInternalIdentity()
	if err != nil {
		return nil, fmt.Errorf("internal identity: %w", err)
	}
	tokens, err := newTokenTable(adminToken, internal, s.cfg.Authentication.TokenAuthFile, s.cfg.ReplicaName,
		s.cfg.Logger.With("component", "authentication"))
	if err != nil {
		return nil, err
	}
	s.tokens = tokens
	cc, err := newClientCerts(s.cfg.Authentication)
	if err != nil {
		return nil, err
	}
	remote, err := remoteTokenAuthenticator(s.cfg.Authentication)
	if err != nil {
		return nil, err
	}
	return &identity{certs: certs, adminToken: adminToken, tokens: tokens, clientCerts: cc, internal: internal, remote: remote}, nil
}

// remoteTokenAuthenticator asks the kube-apiserver of --authentication-kubeconfig about
// bearer tokens (TokenReview, answers cached), as k8s.io/apiserver's delegated
// authentication does, but only with that flag: never from an in-cluster config found by
// chance, and without looking client CAs up in the cluster (dpa's are flags).
func remoteTokenAuthenticator(o AuthenticationOptions) (authenticator.Request, error) {
	if o.RemoteKubeConfigFile == "" {
		return nil, nil
	}
	client, err := kubeClient(o.RemoteKubeConfigFile)
	if err != nil {
		return nil, fmt.Errorf("--authentication-kubeconfig: %w", err)
	}
	a, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		TokenAccessReviewClient:  client.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      genericoptions.DefaultAuthWebhookRetryBackoff(),
		CacheTTL:                 o.CacheTTL,
	}.New()
	return a, err
}

// remoteAuthorizer asks the kube-apiserver of --authorization-kubeconfig
// (SubjectAccessReview, answers cached); nil without.
func remoteAuthorizer(o AuthorizationOptions) (authorizer.Authorizer, error) {
	if o.RemoteKubeConfigFile == "" {
		return nil, nil
	}
	client, err := kubeClient(o.RemoteKubeConfigFile)
	if err != nil {
		return nil, fmt.Errorf("--authorization-kubeconfig: %w", err)
	}
	return authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: client.AuthorizationV1(),
		AllowCacheTTL:             o.AllowCacheTTL,
		DenyCacheTTL:              o.DenyCacheTTL,
		WebhookRetryBackoff:       genericoptions.DefaultAuthWebhookRetryBackoff(),
	}.New()
}

// kubeClient is a client of the kube-apiserver a kubeconfig names, with the request rates
// k8s.io/apiserver gives its delegated authentication.
func kubeClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	return kubernetes.NewForConfig(cfg)
}

// servingCert is --tls-cert-file and --tls-private-key-file when given (clients are then
// told to trust that certificate), else the certificate dpa makes and renews with its own CA
// in --cert-dir (default <data-dir>/pki).
func (s *Server) servingCert() (*pki, error) {
	if ck := s.cfg.Serving.ServerCert.CertKey; ck.CertFile != "" {
		data, err := os.ReadFile(ck.CertFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert-file: %w", err)
		}
		return &pki{CertFile: ck.CertFile, KeyFile: ck.KeyFile, CAData: data}, nil
	}
	dir := s.cfg.Serving.ServerCert.CertDirectory
	if dir == "" {
		dir = filepath.Join(s.cfg.DataDir, "pki")
	}
	ips, dnsNames := servingNames(s.cfg.Serving.BindAddress, s.cfg.TLSSANs)
	return ensurePKI(dir, ips, dnsNames)
}

// AdminUser is the user behind the generated admin token.
const AdminUser = "admin"

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

// requestAuthenticator authenticates, in order: a front proxy's identity headers (when the
// proxy's client certificate verifies), a client certificate, a bearer token (dpa's own
// tokens, then the kube-apiserver's TokenReview when remote is set), the UI's session cookie
// (when cookie is set); what anonymousAllowed allows (public paths, anonymous conversion:
// authz.Authorizer.AnonymousAllowed) falls back to the anonymous user. Everything else
// without valid credentials gets 401. A bearer token nobody accepted counts as a failure of
// the client's address in failures (nil: not counted), whatever authenticates the request
// after it, so that a second credential does not make guessing free; withTokenThrottle makes
// the address wait. Front-proxy identity headers are removed from every request, so none
// reaches a plugin or the delegate unverified.
func requestAuthenticator(tokens authenticator.Token, remote authenticator.Request, certs clientCerts, anonymousAllowed func(*http.Request) bool,
	failures *ui.FailureLimiter, cookie authenticator.Request) authenticator.Request {
	anonymous := authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		if !anonymousAllowed(req) {
			return nil, false, nil
		}
		return &authenticator.Response{User: &user.DefaultInfo{
			Name:   user.Anonymous,
			Groups: []string{user.AllUnauthenticated},
		}}, true, nil
	})
	var byCert, byToken, rest []authenticator.Request
	if certs.frontProxy != nil {
		byCert = append(byCert, certs.frontProxy)
	}
	if certs.client != nil {
		byCert = append(byCert, certs.client)
	}
	if tokens != nil {
		byToken = append(byToken, bearertoken.New(tokens))
	}
	if remote != nil {
		byToken = append(byToken, remote)
	}
	if cookie != nil {
		rest = append(rest, cookie)
	}
	rest = append(rest, anonymous)
	phases := []authenticator.Request{requestunion.New(byCert...), requestunion.New(byToken...), requestunion.New(rest...)}
	union := group.NewAuthenticatedGroupAdder(authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		var errs []error
		for i, phase := range phases {
			bearer := i == 1 && hasBearerToken(req)
			resp, ok, err := phase.AuthenticateRequest(req)
			if ok {
				return resp, true, nil
			}
			if err != nil {
				errs = append(errs, err)
			}
			if bearer {
				failures.Fail(ui.ClientAddr(req))
			}
		}
		return nil, false, utilerrors.NewAggregate(errs)
	}))
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		resp, ok, err := union.AuthenticateRequest(req)
		certs.clearHeaders(req.Header)
		return resp, ok, err
	})
}

// clientCerts are the certificate-based authenticators and the CAs the TLS handshake asks
// clients for.
type clientCerts struct {
	client, frontProxy authenticator.Request
	// cas is what the serving TLS config requests client certificates against (nil: none).
	cas dynamiccertificates.CAContentProvider
	// headers are the front-proxy identity headers, removed from every request.
	headers *authenticatorfactory.RequestHeaderConfig
	// run reloads the CA files when they change (kube's dynamic CA content).
	run []func(ctx context.Context)
}

// clearHeaders removes the front-proxy identity headers (k8s.io/apiserver's own helper).
func (c clientCerts) clearHeaders(h http.Header) {
	if c.headers == nil {
		return
	}
	headerrequest.ClearAuthenticationHeaders(h, c.headers.UsernameHeaders, c.headers.UIDHeaders,
		c.headers.GroupHeaders, c.headers.ExtraHeaderPrefixes)
}

// newClientCerts builds the client-certificate (--client-ca-file: CN is the user, O the
// groups) and front-proxy (--requestheader-*) authenticators from k8s.io/apiserver's option
// groups. Without --requestheader-client-ca-file the header names are still known, so the
// headers are removed from every request and never trusted.
func newClientCerts(o AuthenticationOptions) (clientCerts, error) {
	var out clientCerts
	var cas []dynamiccertificates.CAContentProvider
	runner := func(ca dynamiccertificates.CAContentProvider) {
		if r, ok := ca.(dynamiccertificates.ControllerRunner); ok {
			out.run = append(out.run, func(ctx context.Context) { r.Run(ctx, 1) })
		}
	}
	ca, err := o.ClientCert.GetClientCAContentProvider()
	if err != nil {
		return out, fmt.Errorf("--client-ca-file: %w", err)
	}
	if ca != nil {
		out.client = x509request.NewDynamic(ca.VerifyOptions, x509request.CommonNameUserConversion)
		cas = append(cas, ca)
		runner(ca)
	}
	rh, err := o.RequestHeader.ToAuthenticationRequestHeaderConfig()
	if err != nil {
		return out, fmt.Errorf("--requestheader-client-ca-file: %w", err)
	}
	if rh != nil {
		out.frontProxy = newFrontProxy(rh)
		cas = append(cas, rh.CAContentProvider)
		runner(rh.CAContentProvider)
		out.headers = rh
	} else {
		out.headers = &authenticatorfactory.RequestHeaderConfig{
			UsernameHeaders:     headerrequest.StaticStringSlice(o.RequestHeader.UsernameHeaders),
			UIDHeaders:          headerrequest.StaticStringSlice(o.RequestHeader.UIDHeaders),
			GroupHeaders:        headerrequest.StaticStringSlice(o.RequestHeader.GroupHeaders),
			ExtraHeaderPrefixes: headerrequest.StaticStringSlice(o.RequestHeader.ExtraHeaderPrefixes),
		}
	}
	if len(cas) > 0 {
		out.cas = dynamiccertificates.NewUnionCAContentProvider(cas...)
	}
	return out, nil
}

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
