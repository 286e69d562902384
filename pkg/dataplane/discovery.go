package dataplane

import (
	"encoding/json"
	"k8s.io/apimachinery/pkg/fields"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"

	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

func renderResourceList(e *gvEntry) []byte {
	b, _ := json.Marshal(resourceList(e))
	return b
}

// resourceList is the discovery document of an entry: for a datasource plugin each served
// type's routes.DiscoveryEntry, in the order of the rows (app plugins have none, as in
// Grafana).
func resourceList(e *gvEntry) *metav1.APIResourceList {
	l := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: e.gv,
		APIResources: []metav1.APIResource{},
	}
	if e.isApp {
		return l
	}
	for _, svc := range catalog().list {
		if d := svc.Discovery; d != nil && e.has[svc.index] {
			l.APIResources = append(l.APIResources, metav1.APIResource{
				Name: d.Name, SingularName: d.SingularName, Namespaced: true, Kind: "DataSource", Verbs: d.Verbs,
			})
		}
	}
	return l
}

// Groups returns the API groups the data plane currently serves, for /apis discovery. Versions
// are sorted by Kubernetes version priority; the first is preferred.
func (h *Handler) Groups() []metav1.APIGroup {
	t := h.table.Load()
	var out []metav1.APIGroup
	t.groups(func(g string, versions map[string]*gvEntry) { out = append(out, groupDoc(g, versions)) })
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Group returns the discovery document of one group the data plane serves (false: it serves
// none of its versions).
func (h *Handler) Group(name string) (metav1.APIGroup, bool) {
	versions := h.table.Load().versions(name)
	if len(versions) == 0 {
		return metav1.APIGroup{}, false
	}
	return groupDoc(name, versions), true
}

func groupDoc(g string, versions map[string]*gvEntry) metav1.APIGroup {
	vs := make([]string, 0, len(versions))
	for v := range versions {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(vs[i], vs[j]) > 0 })
	grp := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g}
	for _, v := range vs {
		grp.Versions = append(grp.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
	}
	if len(grp.Versions) > 0 {
		grp.PreferredVersion = grp.Versions[0]
	}
	return grp
}

// APIResourceList returns the discovery document of group/version, or false when the data
// plane does not serve it.
func (h *Handler) APIResourceList(group, version string) (*metav1.APIResourceList, bool) {
	e := h.table.Load().versions(group)[version]
	if e == nil {
		return nil, false
	}
	return resourceList(e), true
}

// serveGroup answers GET /apis/{g} for groups only the data plane serves.
func (h *Handler) serveGroup(w http.ResponseWriter, r *http.Request, t *table) bool {
	p, ok := strings.CutPrefix(r.URL.Path, "/apis/")
	if !ok {
		return false
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" || strings.Contains(p, "/") {
		return false
	}
	versions := t.versions(p)
	if versions == nil {
		return false
	}
	writeJSON(w, http.StatusOK, groupDoc(p, versions))
	return true
}

// datasourceObject is a provisioned datasource as a k8s-style object (no secrets).
type datasourceObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              datasourceSpec `json:"spec"`
}

type datasourceSpec struct {
	Title            string          `json:"title"`
	Type             string          `json:"type"`
	URL              string          `json:"url,omitempty"`
	Access           string          `json:"access,omitempty"`
	User             string          `json:"user,omitempty"`
	Database         string          `json:"database,omitempty"`
	BasicAuth        bool            `json:"basicAuth,omitempty"`
	BasicAuthUser    string          `json:"basicAuthUser,omitempty"`
	IsDefault        bool            `json:"isDefault,omitempty"`
	ReadOnly         bool            `json:"readOnly"`
	JSONData         map[string]any  `json:"jsonData,omitempty"`
	SecureJSONFields map[string]bool `json:"secureJsonFields,omitempty"`
}

type datasourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []datasourceObject `json:"items"`
}

// redactURL hides the password of a URL's userinfo (http://user:PASS@host): like
// secureJsonData it reaches the plugin and the proxied upstream, never a reader.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return "(unparsable URL hidden: it may hold credentials)"
		}
		return raw
	}
	return u.Redacted()
}

func toObject(gv string, ds *provisioning.Datasource) datasourceObject {
	o := datasourceObject{
		TypeMeta: metav1.TypeMeta{Kind: "DataSource", APIVersion: gv},
		ObjectMeta: metav1.ObjectMeta{
			Name:              ds.UID,
			Namespace:         ds.Namespace,
			UID:               types.UID(ds.Namespace + "/" + ds.UID),
			ResourceVersion:   strconv.FormatInt(ds.Updated.UnixMilli(), 10),
			CreationTimestamp: metav1.NewTime(ds.Updated),
			Annotations:       map[string]string{"grafana.app/provisioned-from": ds.File},
		},
		Spec: datasourceSpec{
			Title: ds.Name, Type: ds.Type, URL: redactURL(ds.URL), Access: ds.Access, User: ds.User,
			Database: ds.Database, BasicAuth: ds.BasicAuth, BasicAuthUser: ds.BasicAuthUser,
			IsDefault: ds.IsDefault, ReadOnly: true, JSONData: ds.JSONData,
		},
	}
	if keys := ds.SecureJSONData.Keys(); len(keys) > 0 {
		o.Spec.SecureJSONFields = make(map[string]bool, len(keys))
		for _, k := range keys {
			o.Spec.SecureJSONFields[k] = true
		}
	}
	return o
}

// dpa's own types: the group/version's discovery document and the datasource objects.
func init() {
	handle(routes.Discovery, serviceHandler{serve: func(c *call, w *statusWriter) {
		writeRawJSON(w, http.StatusOK, c.e.resourceList)
	}})
	handle(routes.Datasources, serviceHandler{serve: (*call).serveDatasources})
}

func (c *call) serveDatasources(w *statusWriter) {
	if c.e.isApp {
		c.fail(w, errNotFound("app plugin %s has no datasources", c.e.pluginID))
		return
	}
	if c.t.action == "get" {
		if herr := c.resolveDatasource(); herr != nil {
			c.fail(w, herr)
			return
		}
		writeJSON(w, http.StatusOK, toObject(c.e.gv, c.ds))
		return
	}
	sel, herr := listSelectors(c.r.URL.Query())
	if herr != nil {
		c.fail(w, herr)
		return
	}
	list := c.config().Datasources(c.t.ns, c.e.pluginID)
	out := datasourceList{TypeMeta: metav1.TypeMeta{Kind: "DataSourceList", APIVersion: c.e.gv},
		Items: make([]datasourceObject, 0, len(list))}
	for i := range list {
		// Lists show what the caller may read (Grafana filters its datasource list alike).
		if sel.matches(&list[i]) && c.h.opts.Authorizer.CanReadDatasource(c.subject, c.org, list[i].UID) {
			out.Items = append(out.Items, toObject(c.e.gv, &list[i]))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// datasourceFields are the fields a datasource list can be selected by (fieldSelector), as
// Kubernetes lists take metadata.name and metadata.namespace, plus the datasource's type.
var datasourceFields = map[string]func(*provisioning.Datasource) string{
	"metadata.name":      func(ds *provisioning.Datasource) string { return ds.UID },
	"metadata.namespace": func(ds *provisioning.Datasource) string { return ds.Namespace },
	"spec.type":          func(ds *provisioning.Datasource) string { return ds.Type },
}

// selectors are a list's fieldSelector and labelSelector.
type selectors struct {
	fields fields.Selector
	labels k8slabels.Selector
}

// listSelectors reads fieldSelector and labelSelector: a selector that does not parse, or a
// field a datasource does not have, is a 400 (it used to be ignored, listing everything).
func listSelectors(q url.Values) (selectors, *httpError) {
	sel := selectors{fields: fields.Everything(), labels: k8slabels.Everything()}
	if raw := q.Get("fieldSelector"); raw != "" {
		fs, err := fields.ParseSelector(raw)
		if err != nil {
			return sel, errBadRequest("invalid fieldSelector: %v", err)
		}
		for _, r := range fs.Requirements() {
			if datasourceFields[r.Field] == nil {
				return sel, errBadRequest("field label not supported for datasources: %q (metadata.name, metadata.namespace, spec.type)", r.Field)
			}
		}
		sel.fields = fs
	}
	if raw := q.Get("labelSelector"); raw != "" {
		ls, err := k8slabels.Parse(raw)
		if err != nil {
			return sel, errBadRequest("invalid labelSelector: %v", err)
		}
		sel.labels = ls
	}
	return sel, nil
}

// matches reports whether ds is selected (datasource objects carry no labels).
func (s selectors) matches(ds *provisioning.Datasource) bool {
	set := fields.Set{}
	for name, get := range datasourceFields {
		set[name] = get(ds)
	}
	return s.fields.Matches(set) && s.labels.Matches(k8slabels.Set{})
}
