package server

import (
	"net"
	"os"
	"slices"
	"testing"
)

// TestServingNames: the serving certificate always holds the loopback addresses, localhost
// and the host name; a specific bind address (not a wildcard, not loopback) is added, and
// each extra SAN goes to the IPs or the DNS names by its form.
func TestServingNames(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Fatalf("no host name: %v", err)
	}
	base := []string{"127.0.0.1", "::1"}
	for name, tc := range map[string]struct {
		bind      string // "" is no bind address
		extra     []string
		wantIPs   []string
		wantExtra []string // DNS names besides localhost and the host name
	}{
		"no bind address":      {wantIPs: base},
		"IPv4 loopback":        {bind: "127.0.0.1", wantIPs: base},
		"127.0.0.2":            {bind: "127.0.0.2", wantIPs: base},
		"IPv6 loopback":        {bind: "::1", wantIPs: base},
		"IPv4 wildcard":        {bind: "0.0.0.0", wantIPs: base},
		"IPv6 wildcard":        {bind: "::", wantIPs: base},
		"specific IPv4":        {bind: "192.0.2.10", wantIPs: append([]string{"192.0.2.10"}, base...)},
		"specific IPv6":        {bind: "2001:db8::10", wantIPs: append([]string{"2001:db8::10"}, base...)},
		"extra DNS name":       {bind: "0.0.0.0", extra: []string{"dpa.example"}, wantIPs: base, wantExtra: []string{"dpa.example"}},
		"extra IPs":            {bind: "127.0.0.1", extra: []string{"10.0.0.5", "2001:db8::5"}, wantIPs: append([]string{"10.0.0.5", "2001:db8::5"}, base...)},
		"empty SAN is dropped": {extra: []string{""}, wantIPs: base},
		"bind address and SANs": {bind: "192.0.2.10", extra: []string{"dpa.example", "10.0.0.5", "*.dpa.example"},
			wantIPs: append([]string{"192.0.2.10", "10.0.0.5"}, base...), wantExtra: []string{"dpa.example", "*.dpa.example"}},
	} {
		t.Run(name, func(t *testing.T) {
			var bind net.IP
			if tc.bind != "" {
				if bind = net.ParseIP(tc.bind); bind == nil {
					t.Fatalf("bad test IP %q", tc.bind)
				}
			}
			ips, dns := servingNames(bind, tc.extra)
			var gotIPs []string
			for _, ip := range ips {
				gotIPs = append(gotIPs, ip.String())
			}
			slices.Sort(gotIPs)
			wantIPs := slices.Sorted(slices.Values(tc.wantIPs))
			if !slices.Equal(gotIPs, wantIPs) {
				t.Errorf("IPs = %v, want %v", gotIPs, wantIPs)
			}
			slices.Sort(dns)
			wantDNS := slices.Sorted(slices.Values(append([]string{"localhost", host}, tc.wantExtra...)))
			if !slices.Equal(dns, wantDNS) {
				t.Errorf("DNS names = %q, want %q", dns, wantDNS)
			}
		})
	}
}

// TestKubeconfigHost: the kubeconfig points at the bind address, or at 127.0.0.1 when dpa
// listens on every address.
func TestKubeconfigHost(t *testing.T) {
	for name, tc := range map[string]struct{ bind, want string }{
		"no bind address": {"", "127.0.0.1"},
		"IPv4 wildcard":   {"0.0.0.0", "127.0.0.1"},
		"IPv6 wildcard":   {"::", "127.0.0.1"},
		"IPv4 loopback":   {"127.0.0.1", "127.0.0.1"},
		"IPv6 loopback":   {"::1", "::1"},
		"specific IPv4":   {"192.0.2.10", "192.0.2.10"},
		"specific IPv6":   {"2001:db8::10", "2001:db8::10"},
	} {
		t.Run(name, func(t *testing.T) {
			var ip net.IP
			if tc.bind != "" {
				ip = net.ParseIP(tc.bind)
			}
			if got := kubeconfigHost(ip); got != tc.want {
				t.Errorf("kubeconfigHost(%v) = %q, want %q", ip, got, tc.want)
			}
		})
	}
}
