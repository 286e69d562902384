package provisioning

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoad: any datasource and app provisioning file loads or fails with an error naming
// its file, without a panic; what loads has unique, non-zero datasource ids and settings
// that build instance settings.
func FuzzLoad(f *testing.F) {
	f.Add(dsYAML, "apiVersion: 1\napps:\n  - type: my-app\n    org_id: 2\n    jsonData: {a: 1}\n")
	f.Add("apiVersion: 1\ndatasources:\n  - name: x\n    type: t\n    uid: u\n    orgId: 3\n    jsonData: {httpHeaderName1: X}\n    secureJsonData: {httpHeaderValue1: $SECRET}\n", "")
	f.Add("datasources: [{name: a, uid: a}, {name: a, uid: a}]", "apps: 7")
	f.Add("{", "\xff")
	f.Fuzz(func(t *testing.T, datasources, apps string) {
		dir := t.TempDir()
		for sub, content := range map[string]string{"datasources": datasources, "plugins": apps} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, sub, "f.yaml"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg, err := load(dir, func(string) (string, bool) { return "s3cret", true }, time.Unix(1700000000, 0), 0)
		if err != nil {
			if !strings.Contains(err.Error(), "f.yaml") {
				t.Fatalf("error without its file: %v", err)
			}
			return
		}
		ids := map[int64]bool{}
		for _, m := range cfg.datasources {
			for _, ds := range m {
				s := ds.InstanceSettings()
				if s.ID == 0 || ids[s.ID] {
					t.Fatalf("datasource %s/%s: id %d (zero or taken)", ds.Namespace, ds.UID, s.ID)
				}
				ids[s.ID] = true
			}
		}
	})
}
