// Package provisioning reads datasource and app instance settings from Grafana provisioning
// files (the `datasources/*.yaml` and `plugins/*.yaml` format Grafana operators already know)
// and serves them per namespace to the data plane.
//
// Secrets (secureJsonData) are kept in a [Secrets] value that redacts itself in every
// String, GoString, fmt verb, JSON and slog rendering; only [Secrets.Get] and the instance
// settings handed to plugins expose the values.
package provisioning

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"
)

// Secrets holds decrypted secureJsonData. It never renders its values: fmt, JSON and slog all
// print the key names only.
type Secrets map[string]string

const redacted = "[redacted]"

// Get returns the secret value for key.
func (s Secrets) Get(key string) (string, bool) {
	v, ok := s[key]
	return v, ok
}

// Keys returns the sorted key names.
func (s Secrets) Keys() []string {
	return slices.Sorted(maps.Keys(s))
}

// Clone returns a plain map copy of the secrets (for handing to a plugin).
func (s Secrets) Clone() map[string]string {
	if len(s) == 0 {
		return nil
	}
	return maps.Clone(map[string]string(s))
}

// String implements fmt.Stringer without values.
func (s Secrets) String() string {
	var b strings.Builder
	b.WriteString("map[")
	for i, k := range s.Keys() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteString(":" + redacted)
	}
	b.WriteByte(']')
	return b.String()
}

// GoString implements fmt.GoStringer without values.
func (s Secrets) GoString() string { return "provisioning.Secrets" + s.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x ...) redact.
func (s Secrets) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// MarshalJSON renders {"key": true, ...} (like Grafana's secureJsonFields).
func (s Secrets) MarshalJSON() ([]byte, error) {
	m := make(map[string]bool, len(s))
	for k := range s {
		m[k] = true
	}
	return json.Marshal(m)
}

// LogValue implements slog.LogValuer.
func (s Secrets) LogValue() slog.Value { return slog.AnyValue(s.Keys()) }

// Datasource is one provisioned datasource.
type Datasource struct {
	// ID is the datasource's numeric id, as Grafana's database id: see DatasourceID.
	ID            int64          `json:"id"`
	Name          string         `json:"name"`
	Type          string         `json:"type"`
	UID           string         `json:"uid"`
	OrgID         int64          `json:"orgId"`
	Namespace     string         `json:"namespace"`
	URL           string         `json:"url,omitempty"`
	Access        string         `json:"access,omitempty"`
	User          string         `json:"user,omitempty"`
	Database      string         `json:"database,omitempty"`
	BasicAuth     bool           `json:"basicAuth,omitempty"`
	BasicAuthUser string         `json:"basicAuthUser,omitempty"`
	JSONData      map[string]any `json:"jsonData,omitempty"`
	// SecureJSONData holds decrypted secrets. It is never marshalled (see MarshalJSON).
	SecureJSONData Secrets   `json:"-"`
	IsDefault      bool      `json:"isDefault,omitempty"`
	Editable       bool      `json:"editable,omitempty"`
	APIVersion     string    `json:"apiVersion,omitempty"`
	File           string    `json:"file"`
	Updated        time.Time `json:"updated"`

	fingerprint string
	tlsConfig   *tls.Config
	field       string // "datasources[i]" in File, for errors
}

// datasourceJSON is Datasource without its methods, for MarshalJSON.
type datasourceJSON Datasource

// MarshalJSON omits secret values; it lists the secure field names as secureJsonFields.
func (d Datasource) MarshalJSON() ([]byte, error) {
	type out struct {
		datasourceJSON
		SecureJSONFields map[string]bool `json:"secureJsonFields,omitempty"`
	}
	return json.Marshal(out{datasourceJSON: datasourceJSON(d), SecureJSONFields: d.SecureJSONData.fields()})
}

// String renders the datasource without secrets.
func (d Datasource) String() string {
	return fmt.Sprintf("datasource %q (uid=%s type=%s namespace=%s url=%s secureFields=%v)",
		d.Name, d.UID, d.Type, d.Namespace, d.URL, d.SecureJSONData.Keys())
}

// GoString renders the datasource without secrets.
func (d Datasource) GoString() string { return d.String() }

// LogValue implements slog.LogValuer without secrets.
func (d Datasource) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("uid", d.UID),
		slog.String("name", d.Name),
		slog.String("type", d.Type),
		slog.String("namespace", d.Namespace),
		slog.String("url", d.URL),
		slog.Any("secureFields", d.SecureJSONData.Keys()),
	)
}

// TLSClientConfig is the TLS configuration for requests to the datasource's URL when its
// settings ask for a custom CA or a client certificate (Grafana's jsonData.tlsAuthWithCACert
// and jsonData.tlsAuth), nil otherwise. It is built when the file is loaded. Callers must not
// modify it.
func (d *Datasource) TLSClientConfig() *tls.Config { return d.tlsConfig }

// loadTLS builds TLSClientConfig the way Grafana reads a datasource's TLS settings:
// jsonData.tlsSkipVerify, and — with jsonData.tlsAuthWithCACert or jsonData.tlsAuth —
// jsonData.serverName and secureJsonData.tlsCACert / tlsClientCert / tlsClientKey. The
// certificates are parsed by the plugin SDK's httpclient. Errors name the field, never its value.
func (d *Datasource) loadTLS() error {
	withCA, withClient := d.JSONBool("tlsAuthWithCACert"), d.JSONBool("tlsAuth")
	if !withCA && !withClient {
		return nil
	}
	if v, ok := d.JSONData["serverName"]; ok {
		if _, isStr := v.(string); !isStr {
			return fmt.Errorf("jsonData.serverName: must be a string")
		}
	}
	opts := &httpclient.TLSOptions{
		InsecureSkipVerify: d.JSONBool("tlsSkipVerify"),
		ServerName:         d.JSONString("serverName"),
		MinVersion:         tls.VersionTLS12,
	}
	if withCA {
		ca, _ := d.SecureJSONData.Get("tlsCACert")
		if ca == "" {
			return fmt.Errorf("secureJsonData.tlsCACert: required with jsonData.tlsAuthWithCACert")
		}
		opts.CACertificate = ca
		if _, err := httpclient.GetTLSConfig(httpclient.Options{TLS: opts}); err != nil {
			return fmt.Errorf("secureJsonData.tlsCACert: %w", err)
		}
	}
	if withClient {
		opts.ClientCertificate, _ = d.SecureJSONData.Get("tlsClientCert")
		opts.ClientKey, _ = d.SecureJSONData.Get("tlsClientKey")
		if opts.ClientCertificate == "" || opts.ClientKey == "" {
			return fmt.Errorf("secureJsonData.tlsClientCert, secureJsonData.tlsClientKey: both required with jsonData.tlsAuth")
		}
	}
	cfg, err := httpclient.GetTLSConfig(httpclient.Options{TLS: opts})
	if err != nil {
		return fmt.Errorf("secureJsonData.tlsClientCert, secureJsonData.tlsClientKey: %w", err)
	}
	d.tlsConfig = cfg
	return nil
}

// JSONDataBytes returns jsonData as JSON ("{}" when empty).
func (d *Datasource) JSONDataBytes() []byte { return marshalJSONData(d.JSONData) }

// InstanceSettings converts to the plugin SDK type, with decrypted secure data.
func (d *Datasource) InstanceSettings() *backend.DataSourceInstanceSettings {
	return &backend.DataSourceInstanceSettings{
		ID:                      d.ID,
		UID:                     d.UID,
		Type:                    d.Type,
		Name:                    d.Name,
		URL:                     d.URL,
		User:                    d.User,
		Database:                d.Database,
		BasicAuthEnabled:        d.BasicAuth,
		BasicAuthUser:           d.BasicAuthUser,
		JSONData:                d.JSONDataBytes(),
		DecryptedSecureJSONData: d.SecureJSONData.Clone(),
		Updated:                 d.Updated,
		APIVersion:              d.APIVersion,
	}
}

// JSONString returns a string value from jsonData.
func (d *Datasource) JSONString(key string) string {
	if v, ok := d.JSONData[key].(string); ok {
		return v
	}
	return ""
}

// JSONBool returns a boolean value from jsonData (true or "true").
func (d *Datasource) JSONBool(key string) bool {
	switch v := d.JSONData[key].(type) {
	case bool:
		return v
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	return false
}

// App is a provisioned app plugin instance.
type App struct {
	Type           string         `json:"type"`
	OrgID          int64          `json:"orgId"`
	Namespace      string         `json:"namespace"`
	Disabled       bool           `json:"disabled,omitempty"`
	JSONData       map[string]any `json:"jsonData,omitempty"`
	SecureJSONData Secrets        `json:"-"`
	File           string         `json:"file"`
	Updated        time.Time      `json:"updated"`

	fingerprint string
}

type appJSON App

// MarshalJSON omits secret values.
func (a App) MarshalJSON() ([]byte, error) {
	type out struct {
		appJSON
		SecureJSONFields map[string]bool `json:"secureJsonFields,omitempty"`
	}
	return json.Marshal(out{appJSON: appJSON(a), SecureJSONFields: a.SecureJSONData.fields()})
}

// String renders the app without secrets.
func (a App) String() string {
	return fmt.Sprintf("app %s (namespace=%s disabled=%t secureFields=%v)", a.Type, a.Namespace, a.Disabled, a.SecureJSONData.Keys())
}

// GoString renders the app without secrets.
func (a App) GoString() string { return a.String() }

// LogValue implements slog.LogValuer without secrets.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", a.Type), slog.String("namespace", a.Namespace),
		slog.Bool("disabled", a.Disabled), slog.Any("secureFields", a.SecureJSONData.Keys()))
}

// InstanceSettings converts to the plugin SDK type, with decrypted secure data.
func (a *App) InstanceSettings() *backend.AppInstanceSettings {
	return &backend.AppInstanceSettings{
		JSONData:                marshalJSONData(a.JSONData),
		DecryptedSecureJSONData: a.SecureJSONData.Clone(),
		Updated:                 a.Updated,
	}
}

func marshalJSONData(m map[string]any) []byte {
	if len(m) == 0 {
		return []byte("{}")
	}
	b, err := json.Marshal(m)
	if err != nil { // values come from YAML: cannot fail in practice
		return []byte("{}")
	}
	return b
}

// Config is one immutable snapshot of everything provisioned.
type Config struct {
	// LoadedAt is when the snapshot was read.
	LoadedAt time.Time
	// Files lists the files read (relative to the provisioning dir).
	Files []string

	datasources map[string]map[string]*Datasource // namespace → uid → ds
	byPlugin    map[string]map[string][]*Datasource
	apps        map[string]map[string]*App // namespace → plugin id → app
}

func newConfig() *Config {
	return &Config{
		datasources: map[string]map[string]*Datasource{},
		byPlugin:    map[string]map[string][]*Datasource{},
		apps:        map[string]map[string]*App{},
	}
}

// Empty returns a config with nothing provisioned.
func Empty() *Config {
	c := newConfig()
	c.LoadedAt = time.Now()
	return c
}

// Datasource returns the datasource with uid in namespace. The returned value is shared: do
// not modify it.
func (c *Config) Datasource(namespace, uid string) (*Datasource, bool) {
	if c == nil {
		return nil, false
	}
	ds, ok := c.datasources[namespace][uid]
	return ds, ok
}

// Datasources returns the datasources of plugin pluginID in namespace, sorted by uid.
func (c *Config) Datasources(namespace, pluginID string) []Datasource {
	if c == nil {
		return nil
	}
	list := c.byPlugin[namespace][pluginID]
	out := make([]Datasource, len(list))
	for i, ds := range list {
		out[i] = *ds
	}
	return out
}

// AllDatasources returns every datasource, sorted by namespace and uid.
func (c *Config) AllDatasources() []Datasource {
	if c == nil {
		return nil
	}
	var out []Datasource
	for _, m := range c.datasources {
		for _, ds := range m {
			out = append(out, *ds)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].UID < out[j].UID
	})
	return out
}

// App returns the app settings of pluginID in namespace. Disabled apps are returned too (check
// Disabled).
func (c *Config) App(namespace, pluginID string) (*App, bool) {
	if c == nil {
		return nil, false
	}
	a, ok := c.apps[namespace][pluginID]
	return a, ok
}

// DatasourceID is the numeric id of the datasource uid in namespace, the id Grafana takes
// from its database. Plugins built on the plugin SDK cache one instance per id (up to
// v0.277 the id alone decides; later versions add uid and namespace), so every datasource
// needs its own: the id is a 53-bit FNV-1a hash of namespace and uid — non-zero, the same
// after every restart and reload and on every replica, and exact as a JSON number in
// JavaScript. Load refuses the (never yet seen) collision of two ids.
func DatasourceID(namespace, uid string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(namespace))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(uid))
	id := int64(h.Sum64() & (1<<53 - 1))
	if id == 0 {
		return 1
	}
	return id
}

// NamespaceForOrg maps a Grafana org id to its namespace: 1 (or unset) → "default",
// N > 1 → "org-N".
func NamespaceForOrg(orgID int64) string {
	if orgID <= 1 {
		return "default"
	}
	return "org-" + strconv.FormatInt(orgID, 10)
}

// StackNamespace is the namespace of a Grafana Cloud stack: "stacks-<id>" (its only org is 1).
func StackNamespace(stackID int64) string { return "stacks-" + strconv.FormatInt(stackID, 10) }

// NamespaceInfo is a parsed namespace.
type NamespaceInfo struct {
	Value   string
	OrgID   int64
	StackID int64
}

// ParseNamespace parses "default" (org 1), "org-N" (N > 1) and "stacks-N" (cloud stack N,
// org 1).
func ParseNamespace(ns string) (NamespaceInfo, error) {
	info := NamespaceInfo{Value: ns}
	switch {
	case ns == "default":
		info.OrgID = 1
		return info, nil
	case strings.HasPrefix(ns, "org-"):
		n, err := strconv.ParseInt(ns[len("org-"):], 10, 64)
		if err != nil || n < 1 {
			return info, fmt.Errorf("invalid namespace %q: expected org-<id>", ns)
		}
		if n == 1 {
			return info, fmt.Errorf("invalid namespace %q: org 1 is namespace \"default\"", ns)
		}
		info.OrgID = n
		return info, nil
	case strings.HasPrefix(ns, "stacks-"):
		n, err := strconv.ParseInt(ns[len("stacks-"):], 10, 64)
		if err != nil || n < 1 {
			return info, fmt.Errorf("invalid namespace %q: expected stacks-<id>", ns)
		}
		info.StackID = n
		info.OrgID = 1
		return info, nil
	}
	return info, fmt.Errorf("invalid namespace %q: expected default, org-<id> or stacks-<id>", ns)
}

// fields is Grafana's secureJsonFields: which secure keys are set, never their values.
func (s Secrets) fields() map[string]bool {
	if len(s) == 0 {
		return nil
	}
	f := make(map[string]bool, len(s))
	for k := range s {
		f[k] = true
	}
	return f
}
