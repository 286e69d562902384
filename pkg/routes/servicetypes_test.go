package routes

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"slices"
	"testing"
)

// TestTableMatchesTheKind: the table lists exactly the types the CUE kind allows (read from
// the generated CRD), so a type added to the kind must be added here, and the other way round.
func TestTableMatchesTheKind(t *testing.T) {
	raw, err := os.ReadFile("../generated/dataplaneservice.aggregation.grafana.app.json")
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties struct {
									Services struct {
										Items struct {
											Properties struct {
												Type struct {
													Enum []string `json:"enum"`
												} `json:"type"`
											} `json:"properties"`
										} `json:"items"`
									} `json:"services"`
								} `json:"properties"`
							} `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) == 0 {
		t.Fatal("no versions in the CRD")
	}
	enum := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties.Spec.Properties.Services.Items.Properties.Type.Enum
	if len(enum) == 0 {
		t.Fatal("no service type enum in the CRD")
	}
	got, want := slices.Sorted(slices.Values(ServiceNames())), slices.Sorted(slices.Values(enum))
	if !slices.Equal(got, want) {
		t.Errorf("routes.Services = %v, the kind allows %v", got, want)
	}
	for _, s := range append(slices.Clone(Services), Own...) {
		if s.Access == "" {
			t.Errorf("%s has no access rule", s.Type)
		}
	}
	for _, s := range Services {
		if s.Timeout == "" {
			t.Errorf("%s has no timeout key", s.Type)
		}
		if got, ok := LookupService(s.Type); !ok || !reflect.DeepEqual(got, s) {
			t.Errorf("Lookup(%s) = %+v, %v", s.Type, got, ok)
		}
	}
	if _, ok := LookupService("nonsense"); ok {
		t.Error("Lookup found an unknown type")
	}
	if keys := TimeoutKeys(); len(keys) != 7 || keys[0] != TimeoutQuery {
		t.Errorf("TimeoutKeys = %v", keys)
	}
}

// TestEndpoints: every built-in endpoint is in the route grammar, names only the placeholders
// the data plane fills in, and serves a known plugin type.
func TestEndpoints(t *testing.T) {
	for _, list := range [][]Service{Own, Services} {
		for _, s := range list {
			for _, ep := range s.Endpoints {
				segs, err := ParsePath(ep.Path)
				if err != nil {
					t.Errorf("%s %s: %v", s.Type, ep.Path, err)
					continue
				}
				catchAll := false
				for _, seg := range segs {
					switch {
					case seg.CatchAll:
						catchAll = seg.Param == "path"
					case seg.Param != "" && seg.Param != "namespace" && seg.Param != "uid":
						t.Errorf("%s %s: unknown placeholder {%s}", s.Type, ep.Path, seg.Param)
					}
				}
				if ep.PathRequired && !catchAll {
					t.Errorf("%s %s: PathRequired without a trailing {path...}", s.Type, ep.Path)
				}
				if ep.PluginType != PluginTypeApp && ep.PluginType != PluginTypeDatasource {
					t.Errorf("%s %s: plugin type %q", s.Type, ep.Path, ep.PluginType)
				}
			}
		}
	}
	for typ, want := range map[ServiceType]bool{"query": true, "datasource-proxy": true, "health": false, "route": false, "resource": false} {
		if s, _ := LookupService(typ); s.DatasourceOnly() != want {
			t.Errorf("%s DatasourceOnly = %v, want %v", typ, !want, want)
		}
	}
}

// TestVerbsAndReviewNames: every call of every type has a verb (denials and access reviews
// name it), streams subscribe with GET and publish with POST, and each name an access review
// can use picks exactly one type.
func TestVerbsAndReviewNames(t *testing.T) {
	resources := map[string]ServiceType{}
	for _, s := range All() {
		for _, ep := range s.Endpoints {
			methods := ep.Methods
			if methods == nil {
				methods = []string{http.MethodGet, http.MethodPost, http.MethodDelete}
			}
			for _, m := range methods {
				if s.VerbFor(m, ep.Action) == "" {
					t.Errorf("%s %s %s has no verb", s.Type, m, ep.Path)
				}
			}
		}
		if s.Resource != "" {
			if other, dup := resources[s.Resource]; dup {
				t.Errorf("access reviews name %s and %s alike: %q", other, s.Type, s.Resource)
			}
			resources[s.Resource] = s.Type
		}
		if s.Resource == "" && len(s.Endpoints) > 0 && s.Type != Discovery {
			t.Errorf("%s has endpoints but no name in access reviews", s.Type)
		}
	}
	stream, _ := Lookup("stream")
	for method, want := range map[string]string{http.MethodGet: "subscribe", http.MethodHead: "subscribe", http.MethodPost: "publish"} {
		if got := stream.VerbFor(method, ""); got != want {
			t.Errorf("stream %s = %q, want %q", method, got, want)
		}
	}
	ds, _ := Lookup(Datasources)
	if ds.VerbFor(http.MethodGet, "list") != "list" || ds.VerbFor(http.MethodGet, "get") != "get" {
		t.Error("the datasources' verb is not the endpoint's action")
	}
	if _, ok := Lookup("nonsense"); ok {
		t.Error("Lookup found an unknown type")
	}
}

// TestMatchInContext: a carried match is read back as it was; a context without one has none.
func TestMatchInContext(t *testing.T) {
	m := &Match{Group: "g", Version: "v1"}
	if got, ok := MatchFrom(WithMatch(context.Background(), m)); !ok || got != m {
		t.Errorf("MatchFrom = %v, %v", got, ok)
	}
	if _, ok := MatchFrom(context.Background()); ok {
		t.Error("a match without WithMatch")
	}
	if _, ok := MatchFrom(WithMatch(context.Background(), nil)); ok {
		t.Error("a nil match reads as one")
	}
}
