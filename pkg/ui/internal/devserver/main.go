// Command devserver serves the standalone UI (pkg/ui) in front of a running `dpa serve`, for
// UI development and the browser test until /ui/ is wired into dpa itself:
//
//	go run ./pkg/ui/internal/devserver -upstream https://127.0.0.1:6443 -insecure
//
// It mounts ui.Handler at /ui/ and proxies /apis/ upstream, turning the session cookie into a
// bearer token with ui.CookieTokenFromRequest (so the CSRF rule applies as it will in dpa).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/dataplane-aggregator/dpa/pkg/ui"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve HTTPS on")
	upstream := flag.String("upstream", "https://127.0.0.1:6443", "dpa API server URL")
	insecure := flag.Bool("insecure", false, "skip TLS verification of the upstream")
	dir := flag.String("dir", "", "bundle directory (default: the embedded pkg/ui/dist)")
	flag.Parse()

	up, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: *insecure} //nolint:gosec // dev tool
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	authenticate := func(ctx context.Context, token string) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, up.String()+"/apis/aggregation.grafana.app/v0alpha1/dataplaneservices?limit=1", nil)
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusForbidden: // 403: a valid identity without list rights
			return true, nil
		case http.StatusUnauthorized:
			return false, nil
		default:
			return false, fmt.Errorf("upstream answered %s", resp.Status)
		}
	}

	proxy := httputil.NewSingleHostReverseProxy(up)
	proxy.Transport = transport
	director := proxy.Director
	proxy.Director = func(r *http.Request) {
		bearer := r.Header.Get("Authorization")
		r.Header.Del("Authorization")
		if tok, ok := ui.CookieTokenFromRequest(r); ok {
			r.Header.Set("Authorization", "Bearer "+tok)
		} else if bearer != "" {
			r.Header.Set("Authorization", bearer)
		}
		r.Header.Del("Cookie")
		director(r)
		r.Host = up.Host
	}

	mux := http.NewServeMux()
	uiHandler := ui.Handler(ui.Options{Dir: *dir, Authenticate: authenticate})
	mux.Handle("/ui", uiHandler)
	mux.Handle("/ui/", uiHandler)
	mux.Handle("/apis/", proxy)
	mux.Handle("/apis", proxy)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/ui/", http.StatusFound)
			return
		}
		http.NotFound(w, r)
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stdout, "https://%s\n", ln.Addr())
	log.Fatal(srv.ServeTLS(ln, "", ""))
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "dpa-ui-devserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
