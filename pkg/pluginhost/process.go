package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// exitPollInterval is how often a running plugin process is checked for
// exit (go-plugin exposes exit only as Client.Exited). Get also checks on
// every call, so callers never get a dead plugin for long.
const exitPollInterval = 100 * time.Millisecond

// handshake is the Grafana plugin protocol's go-plugin handshake.
var handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  grpcplugin.ProtocolVersion,
	MagicCookieKey:   grpcplugin.MagicCookieKey,
	MagicCookieValue: grpcplugin.MagicCookieValue,
}

// pluginSet lists the Grafana plugin protocol services. The SDK's
// *GRPCPlugin types return clients implementing the pluginv2 interfaces.
func pluginSet() map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		grpcplugin.ProtocolVersion: {
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
			"stream":      &grpcplugin.StreamGRPCPlugin{},
			"admission":   &grpcplugin.AdmissionGRPCPlugin{},
			"conversion":  &grpcplugin.ConversionGRPCPlugin{},
		},
	}
}

// instance is one running plugin process or standalone connection.
type instance struct {
	client *goplugin.Client
	rpc    *goplugin.GRPCClient
	plugin *backendplugin.Client
	// services are the Grafana plugin services the process registers (nil: unknown).
	services []string
	// unimplemented are services whose calls the process answered Unimplemented (guarded by
	// the entry's mu; replaced, never modified in place).
	unimplemented []string
	// calls counts the unary calls in flight (an upgrade drains them).
	calls *callTracker
	// probeProblem is why the last liveness probe failed ("": it answered; guarded by the
	// entry's mu).
	probeProblem string
	// probeSince is when probeProblem became non-empty (guarded by the entry's mu).
	probeSince time.Time
	cmd        *exec.Cmd // nil when standalone
	pid        int
	addr       string
	socket     string // unix socket file to remove after a crash

	standalone *attachedRunner

	exited   chan struct{} // closed once the process/connection is gone
	exitOnce sync.Once
	reason   string // why; set before exited is closed
	kickCh   chan struct{}
	quit     chan struct{} // stops the watcher
	quitOnce sync.Once
}

func newInstance() *instance {
	return &instance{exited: make(chan struct{}), kickCh: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (i *instance) markExited(reason string) {
	i.exitOnce.Do(func() {
		i.reason = reason
		close(i.exited)
	})
}

func (i *instance) kick() {
	select {
	case i.kickCh <- struct{}{}:
	default:
	}
}

// dead reports whether the process exited or the standalone connection
// failed, without waiting for the watcher.
func (i *instance) dead() bool {
	select {
	case <-i.exited:
		return true
	default:
	}
	if i.standalone != nil {
		s := i.rpc.Conn.GetState()
		return s == connectivity.TransientFailure || s == connectivity.Shutdown
	}
	return i.client.Exited()
}

// watch closes i.exited when the process exits / the connection fails.
func (i *instance) watch() {
	if i.standalone != nil {
		i.watchConn()
		return
	}
	t := time.NewTicker(exitPollInterval)
	defer t.Stop()
	for {
		select {
		case <-i.quit:
			return
		case <-t.C:
		case <-i.kickCh:
		}
		if i.client.Exited() {
			i.markExited("process exited")
			return
		}
	}
}

// watchConn follows the gRPC connection of a standalone plugin. The
// connection goes idle when the server goes away; asking it to reconnect
// then surfaces TRANSIENT_FAILURE within milliseconds.
func (i *instance) watchConn() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-i.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn := i.rpc.Conn
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Idle:
			conn.Connect()
		case connectivity.TransientFailure, connectivity.Shutdown:
			i.markExited("connection to standalone plugin lost (" + s.String() + ")")
			return
		}
		if !conn.WaitForStateChange(ctx, s) {
			return
		}
	}
}

func (i *instance) stopWatch() { i.quitOnce.Do(func() { close(i.quit) }) }

// stop shuts the plugin down gracefully (host Stop). go-plugin asks the
// plugin to exit, waits up to 2s, then kills it. A standalone plugin is
// only disconnected: it is not ours to stop.
func (i *instance) stop() {
	i.stopWatch()
	if i.standalone != nil {
		_ = i.rpc.Conn.Close()
		i.standalone.close()
		return
	}
	i.client.Kill()
	i.removeSocket()
}

// cleanup releases an exited instance and returns the exit reason.
func (i *instance) cleanup() string {
	i.stopWatch()
	reason := i.reason
	if i.standalone != nil {
		_ = i.rpc.Conn.Close()
		i.standalone.close()
		return reason
	}
	i.client.Kill() // returns at once for an exited process; reaps goroutines
	if ps := i.cmd.ProcessState; ps != nil {
		reason = ps.String() // e.g. "signal: killed", "exit status 2"
	}
	i.removeSocket()
	return reason
}

// removeSocket deletes the plugin's socket, left behind when it was killed.
func (i *instance) removeSocket() {
	if i.socket != "" {
		_ = os.Remove(i.socket)
	}
}

// dialOptions makes the trace context of the caller's ctx travel in gRPC metadata (as in
// Grafana): with OpenTelemetry's client instrumentation when spans are recorded, otherwise
// with propagation alone (see propagationInterceptors).
func (h *Host) dialOptions(e *entry, calls *callTracker) []grpc.DialOption {
	var opts []grpc.DialOption
	if h.opts.TracerProvider != nil {
		opts = append(opts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithPropagators(h.opts.Propagator), otelgrpc.WithTracerProvider(h.opts.TracerProvider))))
	} else {
		opts = append(opts, propagationInterceptors(h.opts.Propagator)...)
	}
	opts = append(opts, e.interceptors(calls)...)
	return append(opts, h.opts.GRPCDialOptions...)
}

// pluginEnv is the complete environment of a plugin process: nothing from
// the host's own environment except PATH, HOME and TMPDIR.
func (h *Host) pluginEnv(info PluginInfo) []string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "/"
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := map[string]string{
		"PATH":                   path,
		"HOME":                   home,
		"TMPDIR":                 os.TempDir(),
		"GF_VERSION":             h.opts.GrafanaVersion,
		"GF_EDITION":             "oss",
		"PLUGIN_UNIX_SOCKET_DIR": h.opts.SocketDir,
	}
	if info.Version != "" {
		env["GF_PLUGIN_VERSION"] = info.Version
	}
	if h.opts.Logger != nil {
		env[PluginLogLevelEnv] = levelName(newStderrWriter(h.opts.Logger, h.opts.PluginLogLevel).minimum)
	}
	for k, v := range h.opts.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// startProcess executes the plugin and completes the go-plugin handshake.
func (h *Host) startProcess(e *entry) (*instance, error) {
	info := e.currentInfo()
	exe, err := resolveExecutable(info)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Dir = info.Dir
	cmd.Env = h.pluginEnv(info)
	calls := &callTracker{}
	setProcAttr(cmd)

	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: pluginSet(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		StartTimeout:     h.opts.StartTimeout,
		GRPCDialOptions:  h.dialOptions(e, calls),
		// go-plugin's own messages; its per-line stderr parser is disabled
		// (Named(<exe>) is off) in favour of the cheaper stderrWriter.
		Logger:     newHCLogAdapter(e.log, filepath.Base(exe)),
		Stderr:     newStderrWriter(e.log, h.opts.PluginLogLevel),
		SyncStderr: newStderrWriter(e.log, h.opts.PluginLogLevel),
		SyncStdout: newStderrWriter(e.log, h.opts.PluginLogLevel),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, err
	}
	inst := newInstance()
	inst.client = client
	inst.cmd = cmd
	inst.calls = calls
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
		if rc.Addr != nil {
			inst.addr = rc.Addr.Network() + ":" + rc.Addr.String()
			if rc.Addr.Network() == "unix" {
				inst.socket = rc.Addr.String()
			}
		}
	}
	if err := inst.setClients(rpc, info, e.log); err != nil {
		client.Kill()
		return nil, err
	}
	go inst.watch()
	return inst, nil
}

func (i *instance) setClients(rpc goplugin.ClientProtocol, info PluginInfo, log *slog.Logger) error {
	gc, ok := rpc.(*goplugin.GRPCClient)
	if !ok {
		return fmt.Errorf("plugin did not negotiate gRPC (got %T)", rpc)
	}
	i.rpc = gc
	p := &backendplugin.Client{ID: info.ID, Type: info.Type, Version: info.Version}
	var err error
	if p.DataClient, err = dispense[pluginv2.DataClient](gc, "data"); err != nil {
		return err
	}
	if p.ResourceClient, err = dispense[pluginv2.ResourceClient](gc, "resource"); err != nil {
		return err
	}
	if p.DiagnosticsClient, err = dispense[pluginv2.DiagnosticsClient](gc, "diagnostics"); err != nil {
		return err
	}
	if p.StreamClient, err = dispense[pluginv2.StreamClient](gc, "stream"); err != nil {
		return err
	}
	if p.AdmissionControlClient, err = dispense[pluginv2.AdmissionControlClient](gc, "admission"); err != nil {
		return err
	}
	if p.ResourceConversionClient, err = dispense[pluginv2.ResourceConversionClient](gc, "conversion"); err != nil {
		return err
	}
	i.plugin = p
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	services, err := listServices(ctx, gc.Conn)
	if err != nil {
		// Services stay unknown: Available then cannot name missing ones up front, and calls
		// the plugin does not implement are found out when they answer Unimplemented.
		log.Warn("cannot learn which plugin services the process serves (gRPC reflection failed)", "error", err)
		return nil
	}
	i.services = services
	return nil
}

func dispense[T any](rpc *goplugin.GRPCClient, name string) (T, error) {
	var zero T
	raw, err := rpc.Dispense(name)
	if err != nil {
		return zero, fmt.Errorf("dispense %s: %w", name, err)
	}
	c, ok := raw.(T)
	if !ok {
		return zero, fmt.Errorf("dispense %s: unexpected client type %T", name, raw)
	}
	return c, nil
}

// parseAddress parses a standalone plugin address: "host:port", ":port",
// "unix:///path" or "/path".
func parseAddress(s string) (net.Addr, error) {
	switch {
	case s == "":
		return nil, errors.New("empty address")
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("unix socket path %q must be absolute", p)
		}
		return &net.UnixAddr{Net: "unix", Name: p}, nil
	case filepath.IsAbs(s):
		return &net.UnixAddr{Net: "unix", Name: s}, nil
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(s, "tcp://"))
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.ResolveTCPAddr("tcp", net.JoinHostPort(host, port))
}

// attachedRunner stands for a standalone plugin we did not start: Wait
// blocks until the host drops the connection, Kill only disconnects.
type attachedRunner struct {
	id   string
	done chan struct{}
	once sync.Once
}

var _ runner.AttachedRunner = (*attachedRunner)(nil)

func (r *attachedRunner) close()                     { r.once.Do(func() { close(r.done) }) }
func (r *attachedRunner) Wait(context.Context) error { <-r.done; return nil }
func (r *attachedRunner) Kill(context.Context) error { r.close(); return nil }
func (r *attachedRunner) ID() string                 { return r.id }
func (r *attachedRunner) PluginToHost(n, a string) (string, string, error) {
	return n, a, nil
}
func (r *attachedRunner) HostToPlugin(n, a string) (string, string, error) {
	return n, a, nil
}

// connectStandalone connects to an already running plugin through
// go-plugin's reattach support.
func (h *Host) connectStandalone(e *entry) (*instance, error) {
	info := e.currentInfo()
	addr, err := parseAddress(info.Address)
	if err != nil {
		return nil, err
	}
	dialTimeout := min(h.opts.StartTimeout, 5*time.Second)
	c, err := net.DialTimeout(addr.Network(), addr.String(), dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("standalone plugin not reachable: %w", err)
	}
	_ = c.Close()

	ar := &attachedRunner{id: "standalone " + addr.String(), done: make(chan struct{})}
	calls := &callTracker{}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: handshake,
		// No handshake on reattach, so no version negotiation either.
		Plugins: pluginSet()[grpcplugin.ProtocolVersion],
		Reattach: &goplugin.ReattachConfig{
			Protocol:        goplugin.ProtocolGRPC,
			ProtocolVersion: grpcplugin.ProtocolVersion,
			Addr:            addr,
			ReattachFunc:    func() (runner.AttachedRunner, error) { return ar, nil },
			// Test mode: Kill never signals anything; we only disconnect.
			Test: true,
		},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  h.dialOptions(e, calls),
		// A standalone SDK server has no go-plugin stdio service; go-plugin
		// would warn about it on every connect.
		Logger: newHCLogAdapter(e.log, "stdio"),
	})
	rpc, err := client.Client()
	if err != nil {
		ar.close()
		return nil, err
	}
	inst := newInstance()
	inst.client = client
	inst.standalone = ar
	inst.calls = calls
	inst.addr = addr.Network() + ":" + addr.String()
	if err := inst.setClients(rpc, info, e.log); err != nil {
		ar.close()
		return nil, err
	}

	// Wait (bounded) for the connection to be ready.
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	conn := inst.rpc.Conn
	conn.Connect()
	for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
		if s == connectivity.TransientFailure || s == connectivity.Shutdown || !conn.WaitForStateChange(ctx, s) {
			_ = conn.Close()
			ar.close()
			return nil, fmt.Errorf("standalone plugin connection not ready (%s)", s)
		}
	}
	go inst.watch()
	return inst, nil
}
