package pluginhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
)

// PluginInfo describes a discovered (or configured standalone) plugin.
type PluginInfo struct {
	ID      string
	Type    string // "datasource", "app", "panel", ...
	Name    string
	Version string // info.version from plugin.json
	// Dir is the plugin's directory ("" for a standalone address without a
	// plugin directory).
	Dir     string
	Backend bool
	// Executable is plugin.json's "executable" (not resolved).
	Executable string
	// Address is the standalone address from Options.Addresses, if any.
	Address string
}

// DiscoveryProblem is a plugin directory that could not be loaded.
type DiscoveryProblem struct {
	Path  string // the plugin.json (or directory) at fault
	Error string
}

// pluginJSON is the subset of plugin.json the host needs.
type pluginJSON struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Name       string `json:"name"`
	Backend    bool   `json:"backend"`
	Executable string `json:"executable"`
	Info       struct {
		Version string `json:"version"`
	} `json:"info"`
}

// readPluginJSON parses and validates one plugin.json.
func readPluginJSON(path string) (PluginInfo, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return PluginInfo{}, err
	}
	var pj pluginJSON
	if err := json.Unmarshal(raw, &pj); err != nil {
		return PluginInfo{}, fmt.Errorf("invalid JSON: %w", err)
	}
	switch {
	case pj.ID == "":
		return PluginInfo{}, errors.New(`"id" is required`)
	case !backendplugin.IDPattern.MatchString(pj.ID):
		return PluginInfo{}, fmt.Errorf("invalid id %q", pj.ID)
	case pj.Type == "":
		return PluginInfo{}, errors.New(`"type" is required`)
	case pj.Backend && pj.Executable == "":
		return PluginInfo{}, errors.New(`"executable" is required when "backend" is true`)
	case pj.Backend && (strings.ContainsAny(pj.Executable, `/\`) || pj.Executable == "." || pj.Executable == ".."):
		return PluginInfo{}, fmt.Errorf("invalid executable %q: must be a file name in the plugin directory", pj.Executable)
	}
	return PluginInfo{
		ID:         pj.ID,
		Type:       pj.Type,
		Name:       pj.Name,
		Version:    pj.Info.Version,
		Dir:        filepath.Dir(path),
		Backend:    pj.Backend,
		Executable: pj.Executable,
	}, nil
}

// discover reads <dir>/*/plugin.json. Problems are returned, not fatal.
func discover(dir string) ([]PluginInfo, []DiscoveryProblem, error) {
	if dir == "" {
		return nil, nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read plugins dir: %w", err)
	}
	var (
		infos    []PluginInfo
		problems []DiscoveryProblem
		seen     = map[string]string{}
	)
	for _, e := range entries {
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		path := filepath.Join(dir, e.Name(), "plugin.json")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue // not a plugin directory
		}
		info, err := readPluginJSON(path)
		if err != nil {
			problems = append(problems, DiscoveryProblem{Path: path, Error: err.Error()})
			continue
		}
		if prev, dup := seen[info.ID]; dup {
			problems = append(problems, DiscoveryProblem{Path: path, Error: fmt.Sprintf("duplicate plugin id %q (already loaded from %s)", info.ID, prev)})
			continue
		}
		seen[info.ID] = path
		infos = append(infos, info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	return infos, problems, nil
}

// resolveExecutable finds a backend plugin's executable the way Grafana
// does: <dir>/<executable>_<GOOS>_<GOARCH>[.exe], else <dir>/<executable>.
func resolveExecutable(info PluginInfo) (string, error) {
	base := filepath.Join(info.Dir, info.Executable)
	suffix := ""
	if runtime.GOOS == "windows" {
		suffix = ".exe"
	}
	candidates := []string{
		fmt.Sprintf("%s_%s_%s%s", base, runtime.GOOS, runtime.GOARCH, suffix),
		base + suffix,
	}
	if suffix != "" {
		candidates = append(candidates, base)
	}
	for _, c := range candidates {
		st, err := os.Stat(c)
		if err != nil || st.IsDir() {
			continue
		}
		if runtime.GOOS != "windows" && st.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("plugin executable %s is not executable", c)
		}
		return c, nil
	}
	return "", fmt.Errorf("plugin executable not found: %s", candidates[0])
}
