package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// slogLevel maps hclog levels onto slog levels (trace is below debug).
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// PluginLogLevelEnv is set in every plugin's environment to the lowest level of plugin log
// lines the host forwards ("trace", "debug", "info", "warn", "error" or "off"): the
// maximum of Options.PluginLogLevel and the Logger's level. Plugins may honour it to skip
// encoding and writing lines that would be dropped (the SDK logs at Debug by default and
// writes a Debug and an Info line per request; the example plugins honour it). The SDK does
// not read it itself. Options.Env can override it.
const PluginLogLevelEnv = "GF_PLUGIN_LOG_LEVEL"

// levelName is the hclog name of a slog level (rounded up to the next hclog level).
func levelName(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug-4:
		return "trace"
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	case l <= slog.LevelError:
		return "error"
	}
	return "off"
}

// hclogLevelOf is the lowest hclog level the slog logger accepts, so that
// go-plugin skips work for messages that would be dropped anyway.
func hclogLevelOf(l *slog.Logger) hclog.Level {
	ctx := context.Background()
	for _, lvl := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if l.Enabled(ctx, slogLevel(lvl)) {
			return lvl
		}
	}
	return hclog.Off
}

// hclogAdapter is the hclog.Logger go-plugin logs its own messages to,
// forwarding them to slog. It is cheap: disabled levels return before any
// formatting.
type hclogAdapter struct {
	l     *slog.Logger
	name  string
	level hclog.Level
	args  []any
	// offNames are Named() names that get a disabled logger: go-plugin logs
	// the plugin's stderr through Named(<executable base name>) and parses
	// every line when that logger is enabled; the host reads stderr itself
	// (stderrWriter), more cheaply.
	offNames map[string]bool
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l *slog.Logger, offNames ...string) *hclogAdapter {
	a := &hclogAdapter{l: l, level: hclogLevelOf(l), offNames: map[string]bool{}}
	for _, n := range offNames {
		a.offNames[n] = true
	}
	return a
}

func (a *hclogAdapter) clone() *hclogAdapter {
	c := *a
	c.args = append([]any(nil), a.args...)
	return &c
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level < a.level {
		return
	}
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "module", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	// go-plugin names the executable "plugin"; our loggers already carry
	// plugin=<id>.
	for i := 0; i+1 < len(all); i += 2 {
		if k, ok := all[i].(string); ok && k == "plugin" {
			all[i] = "executable"
		}
	}
	a.l.Log(context.Background(), slogLevel(level), msg, all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.level <= hclog.Trace }
func (a *hclogAdapter) IsDebug() bool { return a.level <= hclog.Debug }
func (a *hclogAdapter) IsInfo() bool  { return a.level <= hclog.Info }
func (a *hclogAdapter) IsWarn() bool  { return a.level <= hclog.Warn }
func (a *hclogAdapter) IsError() bool { return a.level <= hclog.Error }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := a.clone()
	c.args = append(c.args, args...)
	return c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := a.clone()
	if a.offNames[name] {
		c.level = hclog.Off
	}
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := a.clone()
	c.name = name
	return c
}

func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level = level }
func (a *hclogAdapter) GetLevel() hclog.Level      { return a.level }

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Info(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// stderrWriter turns a plugin's stderr into slog records. Plugins built with
// the SDK write hclog JSON lines ({"@level":..,"@message":..,...}); other
// lines are logged as they are. Lines below the logger's level are dropped
// before any JSON decoding. go-plugin calls Write from a single goroutine per
// process, with line fragments and separate newlines.
type stderrWriter struct {
	l       *slog.Logger
	minimum slog.Level
	buf     []byte
	inPanic bool
}

const maxStderrLine = 64 << 10

// newStderrWriter forwards lines at level min or above (and enabled in l).
func newStderrWriter(l *slog.Logger, min slog.Level) *stderrWriter {
	w := &stderrWriter{l: l, minimum: slog.LevelError + 4}
	for _, lvl := range []slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if l.Enabled(context.Background(), lvl) {
			w.minimum = lvl
			break
		}
	}
	w.minimum = max(w.minimum, min)
	return w
}

func (w *stderrWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(w.buf)+len(p) > maxStderrLine {
				w.line(append(w.buf, p...))
				w.buf = w.buf[:0]
			} else {
				w.buf = append(w.buf, p...)
			}
			break
		}
		if len(w.buf) > 0 {
			w.line(append(w.buf, p[:i]...))
			w.buf = w.buf[:0]
		} else {
			w.line(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

// levelOf reads "@level" without decoding the whole line.
func levelOf(line []byte) (slog.Level, bool) {
	const key = `"@level":"`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	return slogLevel(hclog.LevelFromString(string(rest[:j]))), true
}

func (w *stderrWriter) line(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	ctx := context.Background()
	if line[0] == '{' {
		if lvl, ok := levelOf(line); ok {
			if lvl < w.minimum {
				return
			}
			var entry map[string]any
			if json.Unmarshal(line, &entry) == nil {
				w.inPanic = false
				w.logEntry(ctx, lvl, entry)
				return
			}
		}
	}
	s := string(line)
	switch {
	case strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: "):
		w.inPanic = true
		w.l.Log(ctx, slog.LevelError, s)
	case w.inPanic:
		w.l.Log(ctx, slog.LevelError, s)
	default:
		if w.minimum <= slog.LevelInfo {
			w.l.Log(ctx, slog.LevelInfo, s)
		}
	}
}

func (w *stderrWriter) logEntry(ctx context.Context, lvl slog.Level, entry map[string]any) {
	msg, _ := entry["@message"].(string)
	keys := make([]string, 0, len(entry))
	for k := range entry {
		switch k {
		case "@message", "@level", "@timestamp", "@caller":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		name := k
		if k == "@module" {
			name = "module"
		}
		attrs = append(attrs, slog.Any(name, entry[k]))
	}
	w.l.LogAttrs(ctx, lvl, msg, attrs...)
}
