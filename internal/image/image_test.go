package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Build refuses what a scratch image cannot run. /bin/sh is dynamically linked on the Debian
// and Ubuntu machines this runs on; the e2e suite builds the image from a static dpa.
func TestBuildRefuses(t *testing.T) {
	text := filepath.Join(t.TempDir(), "dpa")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		opts Options
		want string
	}{
		"no version":       {Options{Binary: text}, "a version is required"},
		"missing binary":   {Options{Binary: filepath.Join(t.TempDir(), "none"), Version: "v1"}, "no such file"},
		"a script":         {Options{Binary: text, Version: "v1"}, "not an ELF executable"},
		"a dynamic binary": {Options{Binary: "/bin/sh", Version: "v1"}, "dynamically linked (interpreter "},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Build(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Build(%+v) = %v, want an error containing %q", c.opts, err, c.want)
			}
		})
	}
}

func TestEpoch(t *testing.T) {
	for env, want := range map[string]time.Time{
		"":           time.Unix(0, 0).UTC(),
		"0":          time.Unix(0, 0).UTC(),
		"1700000000": time.Unix(1700000000, 0).UTC(),
		"-1":         {},
		"yesterday":  {},
	} {
		got, err := Epoch(func(string) string { return env })
		if got != want || (err != nil) != want.IsZero() {
			t.Errorf("SOURCE_DATE_EPOCH=%q: %v, %v; want %v", env, got, err, want)
		}
	}
}
