package provisioning

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Load reads dir/datasources/*.yaml|yml and dir/plugins/*.yaml|yml. Missing directories are
// not an error (nothing is provisioned). Errors name the file and the field, e.g.
// "datasources/x.yaml: datasources[2].uid: required".
func Load(dir string) (*Config, error) {
	return load(dir, os.LookupEnv, time.Now(), 0)
}

type lookupEnv func(string) (string, bool)

// load reads dir; with stackID > 0 every entry must belong to org 1 and lives in namespace
// stacks-<stackID>, as in a Grafana with a stack id.
func load(dir string, env lookupEnv, now time.Time, stackID int64) (*Config, error) {
	cfg := newConfig()
	cfg.LoadedAt = now
	var errs []error

	dsFiles, err := listYAML(dir, "datasources")
	if err != nil {
		return nil, err
	}
	seen := map[string]map[string]string{} // namespace → uid → "file: field"
	ids := map[int64]string{}              // instance id → "file: field"
	for _, rel := range dsFiles {
		list, err := readDatasourceFile(dir, rel, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		updated := modTime(dir, rel, now)
		for _, item := range list {
			ds := item.ds
			ds.File = rel
			ds.field = item.field
			ds.Updated = updated
			if stackID > 0 {
				if ds.OrgID != 1 {
					errs = append(errs, fmt.Errorf("%s: %s.orgId: must be 1 (or unset) with a stack id: a stack has one org", rel, item.field))
					continue
				}
				ds.Namespace = StackNamespace(stackID)
			}
			if seen[ds.Namespace] == nil {
				seen[ds.Namespace] = map[string]string{}
				cfg.datasources[ds.Namespace] = map[string]*Datasource{}
				cfg.byPlugin[ds.Namespace] = map[string][]*Datasource{}
			}
			if prev, dup := seen[ds.Namespace][ds.UID]; dup {
				errs = append(errs, fmt.Errorf("%s: %s.uid: duplicate uid %q in namespace %q (also in %s)",
					rel, item.field, ds.UID, ds.Namespace, prev))
				continue
			}
			ds.ID = DatasourceID(ds.Namespace, ds.UID)
			if prev, dup := ids[ds.ID]; dup {
				// 53-bit hashes: never seen in practice, but two datasources must never
				// share a plugin instance, so refuse rather than serve one with the other's.
				errs = append(errs, fmt.Errorf("%s: %s.uid: instance id %d of uid %q in namespace %q collides with %s: choose another uid",
					rel, item.field, ds.ID, ds.UID, ds.Namespace, prev))
				continue
			}
			ids[ds.ID] = rel + ": " + item.field
			seen[ds.Namespace][ds.UID] = rel + ": " + item.field
			cfg.datasources[ds.Namespace][ds.UID] = ds
			cfg.byPlugin[ds.Namespace][ds.Type] = append(cfg.byPlugin[ds.Namespace][ds.Type], ds)
		}
		cfg.Files = append(cfg.Files, rel)
	}
	for _, byType := range cfg.byPlugin {
		for _, list := range byType {
			sort.Slice(list, func(i, j int) bool { return list[i].UID < list[j].UID })
		}
	}

	appFiles, err := listYAML(dir, "plugins")
	if err != nil {
		return nil, err
	}
	seenApp := map[string]string{}
	for _, rel := range appFiles {
		list, err := readAppFile(dir, rel, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		updated := modTime(dir, rel, now)
		for _, item := range list {
			a := item.app
			a.File = rel
			a.Updated = updated
			if stackID > 0 {
				if a.OrgID != 1 {
					errs = append(errs, fmt.Errorf("%s: %s.org_id: must be 1 (or unset) with a stack id: a stack has one org", rel, item.field))
					continue
				}
				a.Namespace = StackNamespace(stackID)
			}
			key := a.Namespace + "/" + a.Type
			if prev, dup := seenApp[key]; dup {
				errs = append(errs, fmt.Errorf("%s: %s.type: duplicate app %q in namespace %q (also in %s)",
					rel, item.field, a.Type, a.Namespace, prev))
				continue
			}
			seenApp[key] = rel + ": " + item.field
			if cfg.apps[a.Namespace] == nil {
				cfg.apps[a.Namespace] = map[string]*App{}
			}
			cfg.apps[a.Namespace][a.Type] = a
		}
		cfg.Files = append(cfg.Files, rel)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// modTime is a file's modification time, which becomes the Updated time of its entries on
// the first load: a restart over unchanged files then hands plugins the same settings
// (same Updated), as a Grafana restart does. Reloads move only changed entries forward
// (see carryUpdated). now stands in when the file cannot be stat'ed.
func modTime(dir, rel string, now time.Time) time.Time {
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil || info.ModTime().IsZero() {
		return now
	}
	return info.ModTime().UTC().Truncate(time.Millisecond)
}

func listYAML(dir, sub string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(filepath.Join(dir, sub))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("provisioning: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml":
			out = append(out, sub+"/"+e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func readDoc(dir, rel string, env lookupEnv, listKey string) ([]any, error) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", rel, err)
	}
	if doc == nil {
		return nil, nil // empty file
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a mapping at the top level", rel)
	}
	top, err = interpolateMap(top, env, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	f := fields{file: rel, m: top}
	v, err := f.int("apiVersion", "")
	if err != nil {
		return nil, err
	}
	if v != 1 {
		return nil, fmt.Errorf("%s: apiVersion: must be 1, got %d", rel, v)
	}
	raw, present := top[listKey]
	if !present || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s: must be a list", rel, listKey)
	}
	return list, nil
}

type dsItem struct {
	ds    *Datasource
	field string
}

func readDatasourceFile(dir, rel string, env lookupEnv) ([]dsItem, error) {
	list, err := readDoc(dir, rel, env, "datasources")
	if err != nil {
		return nil, err
	}
	var out []dsItem
	var errs []error
	for i, raw := range list {
		path := fmt.Sprintf("datasources[%d]", i)
		m, ok := raw.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s: must be a mapping", rel, path))
			continue
		}
		f := fields{file: rel, prefix: path, m: m}
		ds := &Datasource{}
		var e []error
		ds.Name, err = f.str("name", true)
		e = append(e, err)
		ds.Type, err = f.str("type", true)
		e = append(e, err)
		ds.UID, err = f.str("uid", true)
		e = append(e, err)
		ds.OrgID, err = f.int("orgId", "org_id")
		e = append(e, err)
		ds.URL, err = f.str("url", false)
		e = append(e, err)
		ds.Access, err = f.str("access", false)
		e = append(e, err)
		ds.User, err = f.str("user", false)
		e = append(e, err)
		ds.Database, err = f.str("database", false)
		e = append(e, err)
		ds.BasicAuth, err = f.bool("basicAuth")
		e = append(e, err)
		ds.BasicAuthUser, err = f.str("basicAuthUser", false)
		e = append(e, err)
		ds.JSONData, err = f.object("jsonData")
		e = append(e, err)
		ds.SecureJSONData, err = f.secrets("secureJsonData")
		e = append(e, err)
		ds.IsDefault, err = f.bool("isDefault")
		e = append(e, err)
		ds.Editable, err = f.bool("editable")
		e = append(e, err)
		ds.APIVersion, err = f.str("apiVersion", false)
		e = append(e, err)
		if err := errors.Join(e...); err != nil {
			errs = append(errs, err)
			continue
		}
		if ds.OrgID < 0 {
			errs = append(errs, fmt.Errorf("%s: %s.orgId: must not be negative", rel, path))
			continue
		}
		if ds.OrgID == 0 {
			ds.OrgID = 1
		}
		if ds.URL != "" && !strings.Contains(ds.URL, "://") {
			errs = append(errs, fmt.Errorf("%s: %s.url: must be an absolute URL with a scheme", rel, path))
			continue
		}
		if err := ds.loadTLS(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s.%w", rel, path, err))
			continue
		}
		ds.Namespace = NamespaceForOrg(ds.OrgID)
		ds.fingerprint = fingerprint(ds, map[string]string(ds.SecureJSONData))
		out = append(out, dsItem{ds: ds, field: path})
	}
	return out, errors.Join(errs...)
}

type appItem struct {
	app   *App
	field string
}

func readAppFile(dir, rel string, env lookupEnv) ([]appItem, error) {
	list, err := readDoc(dir, rel, env, "apps")
	if err != nil {
		return nil, err
	}
	var out []appItem
	var errs []error
	for i, raw := range list {
		path := fmt.Sprintf("apps[%d]", i)
		m, ok := raw.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s: must be a mapping", rel, path))
			continue
		}
		f := fields{file: rel, prefix: path, m: m}
		a := &App{}
		var e []error
		a.Type, err = f.str("type", true)
		e = append(e, err)
		a.OrgID, err = f.int("org_id", "orgId")
		e = append(e, err)
		a.Disabled, err = f.bool("disabled")
		e = append(e, err)
		a.JSONData, err = f.object("jsonData")
		e = append(e, err)
		a.SecureJSONData, err = f.secrets("secureJsonData")
		e = append(e, err)
		if err := errors.Join(e...); err != nil {
			errs = append(errs, err)
			continue
		}
		if a.OrgID < 0 {
			errs = append(errs, fmt.Errorf("%s: %s.org_id: must not be negative", rel, path))
			continue
		}
		if a.OrgID == 0 {
			a.OrgID = 1
		}
		a.Namespace = NamespaceForOrg(a.OrgID)
		a.fingerprint = fingerprint(a, map[string]string(a.SecureJSONData))
		out = append(out, appItem{app: a, field: path})
	}
	return out, errors.Join(errs...)
}

func fingerprint(v any, secrets map[string]string) string {
	h := sha256.New()
	b, _ := json.Marshal(v)
	h.Write(b)
	b, _ = json.Marshal(secrets)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// fields reads typed values from a decoded YAML mapping, with errors naming file and field.
type fields struct {
	file, prefix string
	m            map[string]any
}

func (f fields) errf(key, format string, args ...any) error {
	name := key
	if f.prefix != "" {
		name = f.prefix + "." + key
	}
	return fmt.Errorf("%s: %s: %s", f.file, name, fmt.Sprintf(format, args...))
}

func (f fields) str(key string, required bool) (string, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		if required {
			return "", f.errf(key, "required")
		}
		return "", nil
	}
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case int, int64, uint64, float64, bool:
		s = fmt.Sprint(t)
	default:
		return "", f.errf(key, "must be a string")
	}
	if required && strings.TrimSpace(s) == "" {
		return "", f.errf(key, "required")
	}
	return s, nil
}

func (f fields) int(key, alias string) (int64, error) {
	v, ok := f.m[key]
	if (!ok || v == nil) && alias != "" {
		key = alias
		v, ok = f.m[key]
	}
	if !ok || v == nil {
		return 0, nil
	}
	switch t := v.(type) {
	case int:
		return int64(t), nil
	case int64:
		return t, nil
	case uint64:
		if t > math.MaxInt64 {
			return 0, f.errf(key, "out of range")
		}
		return int64(t), nil
	case float64:
		if t != math.Trunc(t) {
			return 0, f.errf(key, "must be an integer")
		}
		return int64(t), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return 0, f.errf(key, "must be an integer, got %q", t)
		}
		return n, nil
	}
	return 0, f.errf(key, "must be an integer")
}

func (f fields) bool(key string) (bool, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return false, nil
	}
	switch t := v.(type) {
	case bool:
		return t, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(t))
		if err != nil {
			return false, f.errf(key, "must be a boolean, got %q", t)
		}
		return b, nil
	}
	return false, f.errf(key, "must be a boolean")
}

func (f fields) object(key string) (map[string]any, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, f.errf(key, "must be a mapping")
	}
	return m, nil
}

func (f fields) secrets(key string) (Secrets, error) {
	m, err := f.object(key)
	if err != nil || m == nil {
		return nil, err
	}
	out := make(Secrets, len(m))
	for k, v := range m {
		switch t := v.(type) {
		case string:
			out[k] = t
		case nil:
			out[k] = ""
		case int, int64, uint64, float64, bool:
			out[k] = fmt.Sprint(t)
		default:
			// Never echo the value.
			return nil, f.errf(key+"."+k, "must be a string")
		}
	}
	return out, nil
}

// interpolateMap expands $VAR, ${VAR} and $$ in every string value (not in keys), like
// Grafana's provisioning. Undefined variables expand to "".
func interpolateMap(m map[string]any, env lookupEnv, path string) (map[string]any, error) {
	for k, v := range m {
		nv, err := interpolateValue(v, env)
		if err != nil {
			return nil, err
		}
		m[k] = nv
	}
	return m, nil
}

func interpolateValue(v any, env lookupEnv) (any, error) {
	switch t := v.(type) {
	case string:
		return interpolate(t, env), nil
	case map[string]any:
		return interpolateMap(t, env, "")
	case []any:
		for i := range t {
			nv, err := interpolateValue(t[i], env)
			if err != nil {
				return nil, err
			}
			t[i] = nv
		}
		return t, nil
	}
	return v, nil
}

func isVarStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isVarChar(c byte) bool { return isVarStart(c) || (c >= '0' && c <= '9') }

// interpolate expands $VAR and ${VAR}; "$$" is a literal "$". A "$" not followed by a
// variable name is kept as is.
func interpolate(s string, env lookupEnv) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		n := s[i+1]
		switch {
		case n == '$':
			b.WriteByte('$')
			i++
		case n == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				b.WriteByte(c)
				continue
			}
			name := s[i+2 : i+2+end]
			val, _ := env(name)
			b.WriteString(val)
			i += 2 + end
		case isVarStart(n):
			j := i + 1
			for j < len(s) && isVarChar(s[j]) {
				j++
			}
			val, _ := env(s[i+1 : j])
			b.WriteString(val)
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
