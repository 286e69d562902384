// Package testpki makes the certificate authorities and certificates dpa's tests and
// benchmarks need (front-proxy, webhook and serving CAs, client and server certificates):
// ECDSA P-256, valid from an hour ago for a day unless told otherwise, written as PEM files
// private to the user. It is for tests only; dpa's own PKI is pkg/server's.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// CA is a self-signed certificate authority whose certificate is in File.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Pool holds Cert alone (to trust this CA).
	Pool *x509.CertPool
	File string
	dir  string
}

var serial atomic.Int64

// NewCA makes a CA named name and writes its certificate to dir/<name>.crt.
func NewCA(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ca := &CA{Cert: cert, Key: key, Pool: pool, File: filepath.Join(dir, name+".crt"), dir: dir}
	return ca, WritePEM(ca.File, "CERTIFICATE", der)
}

// Spec is what a certificate says.
type Spec struct {
	CommonName    string
	Organizations []string // a client's groups
	Usage         x509.ExtKeyUsage
	// NotAfter: a day from now when zero.
	NotAfter time.Time
	// IPs and DNSNames of a server certificate (default 127.0.0.1 and localhost).
	IPs      []net.IP
	DNSNames []string
}

// Issue signs a certificate as spec says and returns it with its key.
func (ca *CA) Issue(spec Spec) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: spec.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{spec.Usage},
		IPAddresses: spec.IPs, DNSNames: spec.DNSNames,
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if spec.Usage == x509.ExtKeyUsageServerAuth && len(spec.IPs) == 0 && len(spec.DNSNames) == 0 {
		tmpl.IPAddresses, tmpl.DNSNames = []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// IssueFiles signs a certificate as spec says and writes it and its key next to the CA's
// certificate, as <common name>.crt and .key.
func (ca *CA) IssueFiles(spec Spec) (certFile, keyFile string, err error) {
	cert, key, err := ca.Issue(spec)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(ca.dir, spec.CommonName+".crt"), filepath.Join(ca.dir, spec.CommonName+".key")
	if err := WritePEM(certFile, "CERTIFICATE", cert.Raw); err != nil {
		return "", "", err
	}
	return certFile, keyFile, WritePEM(keyFile, "EC PRIVATE KEY", keyDER)
}

// WritePEM writes one PEM block to file, readable by its owner only.
func WritePEM(file, typ string, der []byte) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// WriteKeyPair writes a new key (as a service-account signing key) and its public key.
func WriteKeyPair(keyFile, pubFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := WritePEM(keyFile, "EC PRIVATE KEY", der); err != nil {
		return err
	}
	return WritePEM(pubFile, "PUBLIC KEY", pub)
}
