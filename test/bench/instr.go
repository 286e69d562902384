package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// instrSection counts the instructions the plugin executes per call, direct and through dpa,
// and those dpa executes per request, with valgrind's callgrind: the example datasource runs
// under callgrind in both places (a wrapper executable in a copy of the plugins directory),
// and so does the dpa of this section; counters are zeroed after a warm-up and dumped after
// -instr-calls calls. Instruction counts do not depend on what else the machine is doing, so
// this answers "does the plugin do more work per call through dpa?" and "does dpa do more
// work per request than the plugin?" apart from CPU contention, which the CPU columns of the
// comparison cannot. (Instructions are not time: a syscall or a cache miss is one.)
//
// Go's asynchronous preemption signals trip a callgrind assertion, so the plugin runs with
// GODEBUG=asyncpreemptoff=1 in both places.
func instrSection(ctx context.Context, tmp string) error {
	fmt.Println("## Plugin instructions per call (callgrind), direct (a) vs through dpa (b)")
	for _, tool := range []string{"valgrind", "callgrind_control"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Printf("skipped: %s not found (Debian: apt-get install valgrind)\n\n", tool)
			return nil
		}
	}
	dir := filepath.Join(tmp, "instr")
	out := *instrDir
	if out == "" {
		out = filepath.Join(dir, "callgrind")
	}
	plugins := filepath.Join(dir, "plugins")
	if err := wrapPlugin(plugins, out); err != nil {
		return err
	}
	dpaWrapper := filepath.Join(dir, "dpa-callgrind")
	if err := writeCallgrindWrapper(dpaWrapper, *dpaBin, out); err != nil {
		return err
	}

	host, plugin, err := startDirect(ctx, plugins, filepath.Join(dir, "s"), 2*time.Minute)
	if err != nil {
		return err
	}
	defer stopDirect(host)
	d, err := startDPABin(dpaWrapper, filepath.Join(dir, "dpa"), "--plugins-dir", plugins)
	if err != nil {
		return err
	}
	defer d.stop()
	dpaPlugin := d.pluginPID()
	if dpaPlugin == 0 {
		return errors.New("dpa's plugin process under callgrind not found")
	}

	same, echo, err := learnRequest(ctx, d)
	if err != nil {
		return fmt.Errorf("dpa echo: %w", err)
	}
	if err := sameAnswer(ctx, plugin, same, echo); err != nil {
		return err
	}
	direct, viaDPA := directCalls(plugin, same), d.calls()
	n := *instrCalls
	fmt.Println("Ir/call: instructions per call; a = the plugin called directly, b = the plugin called by dpa,")
	fmt.Println("dpa = dpa per request (HTTPS server, filter chain, data plane, gRPC client).")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "call\tconc\tcalls\ta plugin Ir/call\tb plugin Ir/call\tb/a\tdpa Ir/request\tdpa/plugin (b)\t")
	for _, name := range strings.Split(*callsFlag, ",") {
		for _, conc := range concurrencies() {
			a, err := countInstr(ctx, []int{host.State("example-datasource").PID}, out, conc, n, direct[name])
			if err != nil {
				return fmt.Errorf("direct %s: %w", name, err)
			}
			b, err := countInstr(ctx, []int{dpaPlugin, d.cmd.Process.Pid}, out, conc, n, viaDPA[name])
			if err != nil {
				return fmt.Errorf("dpa %s: %w", name, err)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.3f\t%.0f\t%.2f\t\n", name, conc, n, a[0], b[0], b[0]/a[0], b[1], b[1]/b[0])
		}
	}
	_ = tw.Flush()
	if *instrDir != "" {
		fmt.Printf("callgrind dumps (callgrind_annotate): %s/cg.<pid>.<n>, in the order of the table, a before b\n", out)
	}
	fmt.Println()
	return nil
}

// wrapPlugin writes a plugins directory whose example datasource is the real executable
// started under callgrind.
func wrapPlugin(plugins, out string) error {
	real, err := filepath.Glob(filepath.Join(*pluginsDir, "datasource", "gpx_example-datasource_*"))
	if err != nil || len(real) != 1 {
		return fmt.Errorf("example datasource executable not found in %s", *pluginsDir)
	}
	exe, err := filepath.Abs(real[0])
	if err != nil {
		return err
	}
	ds := filepath.Join(plugins, "datasource")
	if err := os.MkdirAll(ds, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	pj, err := os.ReadFile(filepath.Join(*pluginsDir, "datasource", "plugin.json"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ds, "plugin.json"), pj, 0o644); err != nil {
		return err
	}
	return writeCallgrindWrapper(filepath.Join(ds, filepath.Base(exe)), exe, out)
}

// writeCallgrindWrapper writes an executable at path that runs exe under callgrind, its
// dumps in out. GOMAXPROCS=1 and --fair-sched keep valgrind's one-thread-at-a-time
// scheduling from starving Go's runtime (a busy-spinning plugin was seen without them).
func writeCallgrindWrapper(path, exe, out string) error {
	exe, err := filepath.Abs(exe)
	if err != nil {
		return err
	}
	script := fmt.Sprintf("#!/bin/sh\nGODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 exec valgrind --fair-sched=yes --log-file=%s --tool=callgrind --callgrind-out-file=%s %s \"$@\"\n",
		filepath.Join(out, "valgrind.%p.log"), filepath.Join(out, "cg.%p"), exe)
	return os.WriteFile(path, []byte(script), 0o755)
}

// countInstr warms the processes up, zeroes their callgrind counters, makes n calls from
// conc clients, dumps the counters and returns each process's instructions per call.
func countInstr(ctx context.Context, pids []int, out string, conc, n int, f callFunc) ([]float64, error) {
	if err := spread(ctx, conc, max(50, n/5), f); err != nil {
		return nil, err
	}
	for _, pid := range pids {
		if b, err := exec.CommandContext(ctx, "callgrind_control", "-z", strconv.Itoa(pid)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("callgrind_control -z: %v: %s", err, b)
		}
	}
	if err := spread(ctx, conc, n, f); err != nil {
		return nil, err
	}
	per := make([]float64, len(pids))
	for i, pid := range pids {
		before, _ := filepath.Glob(filepath.Join(out, fmt.Sprintf("cg.%d.*", pid)))
		if b, err := exec.CommandContext(ctx, "callgrind_control", "-d", strconv.Itoa(pid)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("callgrind_control -d: %v: %s", err, b)
		}
		after, _ := filepath.Glob(filepath.Join(out, fmt.Sprintf("cg.%d.*", pid)))
		if len(after) <= len(before) {
			return nil, fmt.Errorf("no new callgrind dump for pid %d in %s", pid, out)
		}
		total, err := callgrindTotal(newest(after))
		if err != nil {
			return nil, err
		}
		per[i] = float64(total) / float64(n)
	}
	return per, nil
}

// spread makes n calls from conc goroutines and fails on the first error.
func spread(ctx context.Context, conc, n int, f callFunc) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := f(ctx); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func newest(files []string) string {
	best, bestN := "", -1
	for _, f := range files {
		if n, err := strconv.Atoi(f[strings.LastIndexByte(f, '.')+1:]); err == nil && n > bestN {
			best, bestN = f, n
		}
	}
	return best
}

// callgrindTotal reads the event total ("totals:" or "summary:") of a callgrind dump.
func callgrindTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"totals:", "summary:"} {
			if v, ok := strings.CutPrefix(line, p); ok {
				return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s: no totals line", path)
}

// childPID is the pid of a child of parent whose command line contains s, 0 if none.
func childPID(parent int, s string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		if cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); strings.Contains(string(cmd), s) {
			return pid
		}
	}
	return 0
}
