package provisioning

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeWith is a Store of n provisioned datasources.
func storeWith(b *testing.B, n int) *Store {
	b.Helper()
	s, err := NewStore(writeDatasources(b, n))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	return s
}

// writeDatasources provisions n datasources (with JSON and secure JSON data) in one file.
func writeDatasources(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "datasources"), 0o755); err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("apiVersion: 1\ndatasources:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: ds-%05d\n    type: example-datasource\n    uid: ds-%05d\n    orgId: %d\n    url: http://10.0.%d.%d:9090\n"+
			"    jsonData:\n      timeInterval: 15s\n      httpMethod: POST\n    secureJsonData:\n      apiKey: secret-%05d\n", i, i, 1+i%3, i/250, i%250, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "datasources", "many.yaml"), []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// BenchmarkReload: a full reload of 1 and 10,000 provisioned datasources (read, parse,
// validate, carry Updated times). It runs beside the request path: requests keep reading the
// previous Config until the new one is swapped in.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("datasources=%d", n), func(b *testing.B) {
			s := storeWith(b, n)
			for b.Loop() {
				if err := s.Reload(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDatasourceLookup: what a data-plane request pays for its datasource, with 1 and
// 10,000 provisioned.
func BenchmarkDatasourceLookup(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("datasources=%d", n), func(b *testing.B) {
			s := storeWith(b, n)
			for b.Loop() {
				if _, ok := s.Config().Datasource("default", "ds-00000"); !ok {
					b.Fatal("ds-00000 not found")
				}
			}
		})
	}
}
