package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestEveryFlagIsDocumented: each `dpa serve` flag is in README.md: dpa's own in the flag
// table, k8s.io/apiserver's standard ones in the paragraph before it (the --audit-* family as
// a group); hidden flags are not offered.
func TestEveryFlagIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	newServeCommand().Flags().VisitAll(func(f *pflag.Flag) {
		n++
		if f.Hidden {
			return
		}
		if strings.HasPrefix(f.Name, "audit-") && f.Name != "audit-log-path" && f.Name != "audit-policy-file" {
			return
		}
		if !strings.Contains(string(readme), "`--"+f.Name+"`") {
			t.Errorf("--%s is not in README.md's flag table", f.Name)
		}
	})
	if n < 30 {
		t.Fatalf("only %d flags seen", n)
	}
}
