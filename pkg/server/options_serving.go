package server

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	cliflag "k8s.io/component-base/cli/flag"
)

// ServingOptions are k8s.io/apiserver's secure serving (--bind-address, --secure-port,
// --tls-cert-file, --tls-private-key-file, --cert-dir, --tls-min-version,
// --tls-cipher-suites, --tls-sni-cert-key, …) with dpa's defaults, plus --tls-san for the
// certificate dpa makes itself when --tls-cert-file is not given.
type ServingOptions struct {
	*genericoptions.SecureServingOptionsWithLoopback
	// TLSSANs are extra DNS names or IPs for the serving certificate dpa makes.
	TLSSANs []string
	// BodyReadTimeout bounds how long a client may take to send a request body, on every
	// path, from the moment its headers arrived (-1: none).
	BodyReadTimeout time.Duration
}

// DefaultBodyReadTimeout is how long a client may take to send a request body.
const DefaultBodyReadTimeout = 30 * time.Second

// NewServingOptions: 127.0.0.1:6443, TLS 1.2 or later with forward secret AEAD suites, and
// no certificate directory (dpa makes its CA and serving certificate in <data-dir>/pki).
func NewServingOptions() *ServingOptions {
	s := genericoptions.NewSecureServingOptions()
	s.BindAddress = net.ParseIP("127.0.0.1")
	s.BindPort = 6443
	s.Required = true
	s.MinTLSVersion = "VersionTLS12"
	s.CipherSuites = DefaultCipherSuites
	s.ServerCert.CertDirectory = ""
	return &ServingOptions{SecureServingOptionsWithLoopback: s.WithLoopback(), BodyReadTimeout: DefaultBodyReadTimeout}
}

// DefaultCipherSuites are the TLS 1.2 suites dpa offers by default: forward secret AEAD only
// (no CBC, no SHA-1 MACs). TLS 1.3 suites are not configurable in Go and always secure.
var DefaultCipherSuites = []string{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

// AddFlags adds the library's serving flags and --tls-san.
func (o *ServingOptions) AddFlags(fs *pflag.FlagSet) {
	o.SecureServingOptionsWithLoopback.AddFlags(fs)
	fs.DurationVar(&o.BodyReadTimeout, "body-read-timeout", o.BodyReadTimeout, "how long a client may take to send a request body, on every path, counted from its headers and before authentication (the connection is closed after it; a data-plane call answers 408; -1s: no limit)")
	fs.StringSliceVar(&o.TLSSANs, "tls-san", o.TLSSANs, "extra DNS names or IPs for the serving certificate dpa makes when --tls-cert-file is not given")
}

// Validate adds to the library's checks those it leaves to start-up (TLS names, a
// certificate without its key).
func (o *ServingOptions) Validate() []error {
	errs := o.SecureServingOptionsWithLoopback.Validate()
	if o.BindAddress == nil {
		errs = append(errs, fmt.Errorf("--bind-address is required"))
	}
	if o.MinTLSVersion != "" {
		if _, err := cliflag.TLSVersion(o.MinTLSVersion); err != nil {
			errs = append(errs, fmt.Errorf("--tls-min-version: %w", err))
		}
	}
	if _, err := cliflag.TLSCipherSuites(o.CipherSuites); err != nil {
		errs = append(errs, fmt.Errorf("--tls-cipher-suites: %w", err))
	}
	if o.BodyReadTimeout == 0 || o.BodyReadTimeout < -time.Second {
		errs = append(errs, fmt.Errorf("--body-read-timeout %s: want a positive duration, or -1s for no limit", o.BodyReadTimeout))
	}
	if (o.ServerCert.CertKey.CertFile == "") != (o.ServerCert.CertKey.KeyFile == "") {
		errs = append(errs, fmt.Errorf("--tls-cert-file and --tls-private-key-file go together"))
	}
	return errs
}

// ApplyTo hands the serving options to the API-server phase, which applies them to the
// generic config once the certificate exists (identity phase).
func (o *ServingOptions) ApplyTo(c *Config) error {
	c.Serving = o.SecureServingOptionsWithLoopback
	c.TLSSANs = o.TLSSANs
	c.BodyReadTimeout = o.BodyReadTimeout
	return nil
}
