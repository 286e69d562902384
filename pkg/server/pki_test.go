package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

var (
	pkiIPs   = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	pkiNames = []string{"localhost", "dpa.example"}
)

// pkiFiles is what ensurePKI left on disk, read back for comparisons (nil: missing).
type pkiFiles struct {
	ca, caKey, cert, key []byte
}

func readPKIFiles(t *testing.T, dir string) pkiFiles {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return b
	}
	return pkiFiles{ca: read("ca.crt"), caKey: read("ca.key"), cert: read("serving.crt"), key: read("serving.key")}
}

func parseCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	certs, err := certutil.CertsFromFile(file)
	if err != nil || len(certs) != 1 {
		t.Fatalf("%s: %d certificates, %v", file, len(certs), err)
	}
	return certs[0]
}

// verifyServing checks that the serving certificate is a server certificate issued by the CA
// in CAData for every wanted IP and DNS name.
func verifyServing(t *testing.T, p *pki, ips []net.IP, names []string) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.CAData) {
		t.Fatal("CAData holds no certificate")
	}
	cert := parseCert(t, p.CertFile)
	var hosts []string
	for _, ip := range ips {
		hosts = append(hosts, ip.String())
	}
	for _, h := range append(hosts, names...) {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", h, err)
		}
	}
}

// TestEnsurePKIFirstStart: the first start creates a CA and a serving certificate it signed
// for every wanted name, with private keys only the user can read.
func TestEnsurePKIFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	p, err := ensurePKI(dir, pkiIPs, pkiNames)
	if err != nil {
		t.Fatal(err)
	}
	files := readPKIFiles(t, dir)
	if !bytes.Equal(p.CAData, files.ca) {
		t.Error("CAData is not the content of ca.crt")
	}
	if want := filepath.Join(dir, "ca.crt"); p.CAFile != want {
		t.Errorf("CAFile = %s, want %s", p.CAFile, want)
	}
	ca := parseCert(t, p.CAFile)
	if !ca.IsCA {
		t.Error("ca.crt is not a CA certificate")
	}
	verifyServing(t, p, pkiIPs, pkiNames)
	if _, err := certutil.CertsFromFile(p.KeyFile); err == nil {
		t.Error("serving.key holds a certificate")
	}
	// Keys are written 0600 whatever the umask; the certificates are public (Run's umask
	// makes them 0600 in the process).
	for _, name := range []string{"ca.key", "serving.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("pki dir: %v %v, want 0700", fi.Mode().Perm(), err)
	}
}

// TestEnsurePKISecondStart: a later start keeps the CA; it keeps the serving certificate
// when it is still good for the wanted names and reissues it, from the same CA, when a name is
// missing, the certificate is gone or about to expire.
func TestEnsurePKISecondStart(t *testing.T) {
	for name, tc := range map[string]struct {
		prepare  func(t *testing.T, dir string)
		ips      []net.IP
		names    []string
		reissued bool
	}{
		"same names":       {ips: pkiIPs, names: pkiNames},
		"fewer names":      {ips: pkiIPs[:1], names: pkiNames[:1]},
		"names reordered":  {ips: []net.IP{pkiIPs[1], pkiIPs[0]}, names: []string{pkiNames[1], pkiNames[0]}},
		"4-byte IPv4":      {ips: []net.IP{net.ParseIP("127.0.0.1").To4()}, names: pkiNames},
		"new DNS name":     {ips: pkiIPs, names: append([]string{"other.example"}, pkiNames...), reissued: true},
		"new IPv4 address": {ips: append([]net.IP{net.ParseIP("192.0.2.7")}, pkiIPs...), names: pkiNames, reissued: true},
		"new IPv6 address": {ips: append([]net.IP{net.ParseIP("2001:db8::7")}, pkiIPs...), names: pkiNames, reissued: true},
		"certificate removed": {
			prepare: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "serving.crt")); err != nil {
					t.Fatal(err)
				}
			},
			ips: pkiIPs, names: pkiNames, reissued: true,
		},
		"certificate unreadable": {
			prepare: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "serving.crt"), []byte("not PEM"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			ips: pkiIPs, names: pkiNames, reissued: true,
		},
		"certificate expires in 10 days": {
			prepare: func(t *testing.T, dir string) {
				writeServingExpiring(t, dir, 10*24*time.Hour)
			},
			ips: pkiIPs, names: pkiNames, reissued: true,
		},
		"certificate expires in 60 days": {
			prepare: func(t *testing.T, dir string) {
				writeServingExpiring(t, dir, 60*24*time.Hour)
			},
			ips: pkiIPs, names: pkiNames,
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			if _, err := ensurePKI(dir, pkiIPs, pkiNames); err != nil {
				t.Fatal(err)
			}
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			before := readPKIFiles(t, dir)
			beforeCert, _ := certutil.CertsFromFile(filepath.Join(dir, "serving.crt"))

			p, err := ensurePKI(dir, tc.ips, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			after := readPKIFiles(t, dir)
			if !bytes.Equal(before.ca, after.ca) || !bytes.Equal(before.caKey, after.caKey) {
				t.Error("the CA was replaced")
			}
			if !bytes.Equal(p.CAData, after.ca) {
				t.Error("CAData is not the content of ca.crt")
			}
			serial := parseCert(t, p.CertFile).SerialNumber
			kept := bytes.Equal(before.cert, after.cert) && bytes.Equal(before.key, after.key) &&
				len(beforeCert) == 1 && beforeCert[0].SerialNumber.Cmp(serial) == 0
			if kept == tc.reissued {
				t.Errorf("serving certificate reissued = %v, want %v", !kept, tc.reissued)
			}
			verifyServing(t, p, tc.ips, tc.names)
		})
	}
}

// TestEnsurePKIBrokenCA: a CA that exists but cannot be read is an error, never silently
// replaced (clients trust the old one).
func TestEnsurePKIBrokenCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := ensurePKI(dir, pkiIPs, pkiNames); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ensurePKI(dir, pkiIPs, pkiNames); err == nil {
		t.Fatal("ensurePKI accepted an unreadable ca.crt")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); string(b) != "garbage" {
		t.Error("the unreadable CA was overwritten")
	}
}

// writeServingExpiring replaces the serving certificate with one for the same names, signed
// by the data dir's CA, that expires after d.
func writeServingExpiring(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	ca, caKey, err := loadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "dpa"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(d),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  pkiIPs,
		DNSNames:     pkiNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKeyAndCert(filepath.Join(dir, "serving.key"), key, filepath.Join(dir, "serving.crt"), cert); err != nil {
		t.Fatal(err)
	}
}
