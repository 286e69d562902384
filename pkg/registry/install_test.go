package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	"github.com/k3s-io/kine/pkg/endpoint"
	"github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/compatibility"
	restclient "k8s.io/client-go/rest"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/app"
)

// claimsFunc is a ClaimLookup for tests.
type claimsFunc func(group, version string) []string

func (f claimsFunc) ClaimedBy(group, version string) []string { return f(group, version) }

// startKine runs kine on SQLite in a fresh directory, as dpa does by default; it returns the
// etcd endpoints. Stopped at the end of the test.
func startKine(t *testing.T) []string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dpa-registry") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	logrus.SetLevel(logrus.WarnLevel)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	cfg := endpoint.Config{
		Listener:            "unix://" + filepath.Join(dir, "kine.sock"),
		Endpoint:            "sqlite://" + filepath.Join(dir, "state.db") + "?_journal_mode=WAL&_busy_timeout=30000",
		WaitGroup:           &wg,
		NotifyInterval:      5 * time.Second,
		EmulatedETCDVersion: "3.6.11",
		CompactTimeout:      5 * time.Second,
		CompactMinRetain:    1000,
		CompactBatchSize:    1000,
		PollBatchSize:       500,
	}
	etcd, err := endpoint.Listen(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("starting kine: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = os.RemoveAll(dir)
	})
	return etcd.Endpoints
}

// newTestServer builds an API server the way pkg/server does (the App SDK's options and
// config, storage in kine) with the group installed by Install, and returns its handler.
// Authentication and authorization are off: requests run as a system:masters user.
func newTestServer(t *testing.T, claims app.ClaimLookup) http.Handler {
	t.Helper()
	installer, err := NewInstaller(&app.Reconciler{})
	if err != nil {
		t.Fatal(err)
	}
	o := apiserver.NewOptions([]apiserver.AppInstaller{installer})
	ro := o.RecommendedOptions
	ro.Authentication, ro.Authorization, ro.CoreAPI, ro.Admission, ro.SecureServing = nil, nil, nil, nil, nil
	ro.Features.EnablePriorityAndFairness = false
	ro.Etcd.StorageConfig.Transport.ServerList = startKine(t)
	ro.Etcd.EnableWatchCache = false
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Generic.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
	// No secure serving to derive these from.
	cfg.Generic.ExternalAddress = "localhost:443"
	cfg.Generic.LoopbackClientConfig = &restclient.Config{Host: "https://localhost:443"}
	srv, err := cfg.Generic.Complete().New("registry-test", genericapiserver.NewEmptyDelegate())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Destroy)
	if err := Install(installer, srv, cfg.Generic.RESTOptionsGetter, claims); err != nil {
		t.Fatalf("Install: %v", err)
	}
	return srv.Handler
}

// call sends one request as an admin and decodes a JSON answer into out (if not nil).
func call(t *testing.T, h http.Handler, method, path, accept string, body, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req = req.WithContext(apirequest.WithUser(req.Context(), &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup}}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, rec.Code, rec.Body, err)
		}
	}
	return rec.Code
}

const (
	groupPath = "/apis/aggregation.grafana.app/v0alpha1"
	dpsPath   = groupPath + "/dataplaneservices"
	tableMIME = "application/json;as=Table;v=v1;g=meta.k8s.io"
)

func validDPS(name, group string) *v0alpha1.DataPlaneService {
	return &v0alpha1.DataPlaneService{
		TypeMeta:   metav1.TypeMeta{APIVersion: "aggregation.grafana.app/v0alpha1", Kind: "DataPlaneService"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v0alpha1.DataPlaneServiceSpec{
			PluginID: "testdata", PluginType: "datasource", Group: group, Version: "v0alpha1",
			Services: []v0alpha1.DataPlaneServiceService{{Type: v0alpha1.DataPlaneServiceServiceTypeQuery}},
		},
	}
}

// causeFields are the field paths of a 422's causes.
func causeFields(s *metav1.Status) []string {
	var f []string
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			f = append(f, c.Field)
		}
	}
	return f
}

// TestInstall runs the App SDK installer with Install against real storage and checks, over
// HTTP, everything dpa puts on the SDK's store. An SDK upgrade that changes the store fails
// here (Install errors, or a behaviour below is gone).
func TestInstall(t *testing.T) {
	h := newTestServer(t, claimsFunc(func(group, _ string) []string {
		if group == "claimed.datasource.grafana.app" {
			return []string{"first"}
		}
		return nil
	}))

	t.Run("invalid create is 422 with field paths", func(t *testing.T) {
		bad := validDPS("invalid", "bad_group")
		bad.Spec.PluginID, bad.Spec.Services = "", nil
		var st metav1.Status
		if code := call(t, h, http.MethodPost, dpsPath, "", bad, &st); code != http.StatusUnprocessableEntity || st.Reason != metav1.StatusReasonInvalid {
			t.Fatalf("got %d %s %q", code, st.Reason, st.Message)
		}
		got := causeFields(&st)
		for _, f := range []string{"spec.pluginID", "spec.group", "spec.services"} {
			if !slices.Contains(got, f) {
				t.Errorf("causes %v lack %s", got, f)
			}
		}
	})

	t.Run("claimed group/version is 422 (claims reach the strategy)", func(t *testing.T) {
		var st metav1.Status
		code := call(t, h, http.MethodPost, dpsPath, "", validDPS("second", "claimed.datasource.grafana.app"), &st)
		if code != http.StatusUnprocessableEntity || !slices.Contains(causeFields(&st), "spec.group") || !strings.Contains(st.Message, "first") {
			t.Fatalf("got %d %v %q", code, causeFields(&st), st.Message)
		}
	})

	t.Run("generation and status", func(t *testing.T) {
		in := validDPS("gen", "gen.datasource.grafana.app")
		in.Status.Conditions = []v0alpha1.DataPlaneServiceCondition{{Type: "Available", Status: v0alpha1.DataPlaneServiceConditionStatusTrue}}
		var d v0alpha1.DataPlaneService
		if code := call(t, h, http.MethodPost, dpsPath, "", in, &d); code != http.StatusCreated {
			t.Fatalf("create: %d %+v", code, d)
		}
		if d.Generation != 1 || len(d.Status.Conditions) != 0 {
			t.Fatalf("created: generation %d, conditions %v; want 1 and none", d.Generation, d.Status.Conditions)
		}
		// A label change keeps the generation; a spec change bumps it.
		d.Labels = map[string]string{"a": "b"}
		if code := call(t, h, http.MethodPut, dpsPath+"/gen", "", &d, &d); code != http.StatusOK || d.Generation != 1 {
			t.Fatalf("label update: %d, generation %d; want 200 and 1", code, d.Generation)
		}
		d.Spec.PluginID = "testdata-two"
		if code := call(t, h, http.MethodPut, dpsPath+"/gen", "", &d, &d); code != http.StatusOK || d.Generation != 2 {
			t.Fatalf("spec update: %d, generation %d; want 200 and 2", code, d.Generation)
		}
		// An invalid spec update is 422 too.
		bad := d
		bad.Spec.Version = "V1"
		var st metav1.Status
		if code := call(t, h, http.MethodPut, dpsPath+"/gen", "", &bad, &st); code != http.StatusUnprocessableEntity || !slices.Contains(causeFields(&st), "spec.version") {
			t.Fatalf("invalid update: %d %v", code, causeFields(&st))
		}
		// Status: validated, and a status writer cannot move the generation.
		d.Status.Conditions = []v0alpha1.DataPlaneServiceCondition{{Type: "Available", Status: "Maybe"}}
		if code := call(t, h, http.MethodPut, dpsPath+"/gen/status", "", &d, &st); code != http.StatusUnprocessableEntity || !slices.Contains(causeFields(&st), "status.conditions[0].status") {
			t.Fatalf("invalid status: %d %v", code, causeFields(&st))
		}
		d.Status.Conditions[0].Status = v0alpha1.DataPlaneServiceConditionStatusTrue
		d.Generation = 7
		if code := call(t, h, http.MethodPut, dpsPath+"/gen/status", "", &d, &d); code != http.StatusOK || d.Generation != 2 || len(d.Status.Conditions) != 1 {
			t.Fatalf("status update: %d, generation %d, conditions %v; want 200, 2, one", code, d.Generation, d.Status.Conditions)
		}
	})

	t.Run("kubectl columns", func(t *testing.T) {
		if code := call(t, h, http.MethodPost, dpsPath, "", validDPS("table", "table.datasource.grafana.app"), nil); code != http.StatusCreated {
			t.Fatalf("create: %d", code)
		}
		for path, want := range map[string][]metav1.TableColumnDefinition{
			dpsPath + "/table":     tableColumns,
			groupPath + "/plugins": pluginColumns,
		} {
			var tab metav1.Table
			if code := call(t, h, http.MethodGet, path, tableMIME, nil, &tab); code != http.StatusOK {
				t.Fatalf("%s: %d", path, code)
			}
			if names, wantNames := columnNames(tab.ColumnDefinitions), columnNames(want); !slices.Equal(names, wantNames) {
				t.Errorf("%s: columns %v, want %v", path, names, wantNames)
			}
		}
		var tab metav1.Table
		call(t, h, http.MethodGet, dpsPath+"/table", tableMIME, nil, &tab)
		if len(tab.Rows) != 1 || len(tab.Rows[0].Cells) < 3 || tab.Rows[0].Cells[1] != "testdata" {
			t.Errorf("row %+v, want the plugin id in the second cell", tab.Rows)
		}
	})

	t.Run("short name in discovery", func(t *testing.T) {
		var list metav1.APIResourceList
		if code := call(t, h, http.MethodGet, groupPath, "", nil, &list); code != http.StatusOK {
			t.Fatalf("discovery: %d", code)
		}
		for _, r := range list.APIResources {
			if r.Name == "dataplaneservices" {
				if !slices.Equal(r.ShortNames, []string{"dps"}) {
					t.Errorf("short names %v, want [dps]", r.ShortNames)
				}
				return
			}
		}
		t.Errorf("dataplaneservices not in discovery: %+v", list.APIResources)
	})
}

func columnNames(cols []metav1.TableColumnDefinition) []string {
	var n []string
	for _, c := range cols {
		n = append(n, c.Name)
	}
	return n
}

// TestWrapStorageIsStrict: storage that is not what the SDK builds today is an error, so the
// group is not installed without dpa's validation.
func TestWrapStorageIsStrict(t *testing.T) {
	v := v0alpha1.DataPlaneServiceKind().Version()
	for name, info := range map[string]*genericapiserver.APIGroupInfo{
		"no group":   {},
		"no storage": {VersionedResourcesStorageMap: map[string]map[string]rest.Storage{v: {}}},
	} {
		if err := wrapStorage(info, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
