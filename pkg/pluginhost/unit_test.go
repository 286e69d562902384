package pluginhost

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestStderrWriter(t *testing.T) {
	logs := &logBuffer{}
	l := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("plugin", "p1")
	w := newStderrWriter(l, slog.LevelInfo)

	// go-plugin writes a line, then the newline separately; lines may also
	// arrive in fragments.
	write := func(s string) {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"@level":"debug","@message":"dropped debug","@timestamp":"2026-01-01T00:00:00Z"}`)
	write("\n")
	write(`{"@level":"info","@message":"request done",`)
	write(`"@timestamp":"2026-01-01T00:00:00Z","@module":"sdk","status":"ok","n":3}`)
	write("\n")
	write(`{"@level":"error","@message":"boom","@timestamp":"2026-01-01T00:00:00Z"}` + "\nplain text line\npanic: oh no\n\tgoroutine 1\n")

	out := logs.String()
	if strings.Contains(out, "dropped debug") {
		t.Errorf("debug line was not dropped:\n%s", out)
	}
	for _, want := range []string{
		`level=INFO msg="request done" plugin=p1 module=sdk n=3 status=ok`,
		`level=ERROR msg=boom plugin=p1`,
		`level=INFO msg="plain text line" plugin=p1`,
		`level=ERROR msg="panic: oh no" plugin=p1`,
		`level=ERROR msg="goroutine 1" plugin=p1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "@timestamp") {
		t.Errorf("hclog bookkeeping fields leaked:\n%s", out)
	}

	// PluginLogLevel above the logger's level filters plugin lines.
	logs2 := &logBuffer{}
	w2 := newStderrWriter(slog.New(slog.NewTextHandler(logs2, nil)), slog.LevelWarn)
	_, _ = w2.Write([]byte(`{"@level":"info","@message":"Plugin Request Completed"}` + "\n" + `{"@level":"warn","@message":"careful"}` + "\n"))
	if out := logs2.String(); strings.Contains(out, "Plugin Request Completed") || !strings.Contains(out, "careful") {
		t.Errorf("PluginLogLevel=Warn output:\n%s", out)
	}
}

func TestHCLogAdapter(t *testing.T) {
	logs := &logBuffer{}
	l := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := newHCLogAdapter(l, "gpx_thing")
	if a.GetLevel() != hclog.Info || a.IsDebug() || !a.IsInfo() {
		t.Fatalf("level = %v", a.GetLevel())
	}
	a.Debug("hidden")
	a.With("k", "v").Named("stdio").Warn("shown", "plugin", "/path/to/exe")
	if off := a.Named("gpx_thing"); off.GetLevel() != hclog.Off {
		t.Errorf("stderr logger level = %v, want Off (go-plugin must not parse stderr)", off.GetLevel())
	}
	a.Named("gpx_thing").Error("never")
	out := logs.String()
	if strings.Contains(out, "hidden") || strings.Contains(out, "never") {
		t.Errorf("disabled levels logged:\n%s", out)
	}
	if !strings.Contains(out, `level=WARN msg=shown module=stdio k=v executable=/path/to/exe`) {
		t.Errorf("output:\n%s", out)
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:1234":       "tcp 127.0.0.1:1234",
		":1234":                "tcp 127.0.0.1:1234",
		"tcp://localhost:1234": "tcp 127.0.0.1:1234",
		"unix:///run/p.sock":   "unix /run/p.sock",
		"/run/p.sock":          "unix /run/p.sock",
	} {
		addr, err := parseAddress(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := addr.Network() + " " + addr.String(); got != want && !(strings.HasPrefix(in, "tcp://localhost") && strings.HasSuffix(got, ":1234")) {
			t.Errorf("%q = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"", "nohostport", "unix://relative.sock"} {
		if _, err := parseAddress(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestReadPluginJSON(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		`{"id":"ok-datasource","type":"datasource","backend":true,"executable":"gpx_ok"}`: "",
		`{"id":"Bad_ID","type":"datasource"}`:                                             "invalid id",
		`{"type":"datasource"}`:                                                           `"id" is required`,
		`{"id":"x-app"}`:                                                                  `"type" is required`,
		`{"id":"x-app","type":"app","backend":true}`:                                      `"executable" is required`,
		`{"id":"x-app","type":"app","backend":true,"executable":"../../bin/sh"}`:          "invalid executable",
		`not json`: "invalid JSON",
	}
	for content, wantErr := range cases {
		path := filepath.Join(dir, "plugin.json")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readPluginJSON(path)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s: %v", content, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: error %v, want %q", content, err, wantErr)
		}
	}
}

func TestResolveExecutable(t *testing.T) {
	dir := t.TempDir()
	info := PluginInfo{Dir: dir, Executable: "gpx_x"}
	if _, err := resolveExecutable(info); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing: %v", err)
	}
	plain := filepath.Join(dir, "gpx_x")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveExecutable(info); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Fatalf("non-executable: %v", err)
	}
	_ = os.Chmod(plain, 0o755)
	if got, err := resolveExecutable(info); err != nil || got != plain {
		t.Fatalf("plain = %q, %v", got, err)
	}
	// The OS/arch-specific name wins.
	specific := filepath.Join(dir, "gpx_x_"+runtime.GOOS+"_"+runtime.GOARCH)
	if err := os.WriteFile(specific, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := resolveExecutable(info); err != nil || got != specific {
		t.Fatalf("specific = %q, %v", got, err)
	}
}

func TestPluginEnv(t *testing.T) {
	t.Setenv("DPA_SECRET_TEST", "xyz")
	h := &Host{opts: Options{SocketDir: "/s", Env: map[string]string{"GF_EDITION": "enterprise", "GF_X": "1"}}}
	h.opts.setDefaults()
	env := strings.Join(h.pluginEnv(PluginInfo{Version: "1.2.3"}), "\n")
	for _, want := range []string{"GF_VERSION=" + DefaultGrafanaVersion, "GF_EDITION=enterprise", "GF_X=1", "PLUGIN_UNIX_SOCKET_DIR=/s", "GF_PLUGIN_VERSION=1.2.3", "PATH=", "HOME=", "TMPDIR="} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "DPA_SECRET_TEST") || strings.Count(env, "GF_EDITION=") != 1 {
		t.Errorf("env:\n%s", env)
	}
}

func TestPluginEnvLogLevel(t *testing.T) {
	discard := func(l slog.Level) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: l}))
	}
	for _, tc := range []struct {
		logger slog.Level
		plugin slog.Level
		env    map[string]string
		want   string
	}{
		{slog.LevelInfo, 0, nil, "info"},
		{slog.LevelDebug, slog.LevelDebug, nil, "debug"},
		{slog.LevelDebug, 0, nil, "info"},
		{slog.LevelInfo, slog.LevelWarn, nil, "warn"},
		{slog.LevelError, 0, nil, "error"},
		{slog.LevelError + 4, 0, nil, "off"},
		{slog.LevelInfo, 0, map[string]string{PluginLogLevelEnv: "debug"}, "debug"}, // Env wins
	} {
		h := &Host{opts: Options{SocketDir: "/s", Logger: discard(tc.logger), PluginLogLevel: tc.plugin, Env: tc.env}}
		h.opts.setDefaults()
		env := h.pluginEnv(PluginInfo{})
		if want := PluginLogLevelEnv + "=" + tc.want; !slices.Contains(env, want) {
			t.Errorf("logger %v, PluginLogLevel %v, Env %v: want %s in %v", tc.logger, tc.plugin, tc.env, want, env)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		-time.Second:            time.Second,
		0:                       time.Second,
		300 * time.Millisecond:  time.Second,
		1500 * time.Millisecond: 2 * time.Second,
		30 * time.Second:        30 * time.Second,
	} {
		if got := retryAfter(in); got != want {
			t.Errorf("retryAfter(%s) = %s, want %s", in, got, want)
		}
	}
}
