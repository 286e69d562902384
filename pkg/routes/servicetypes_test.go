package routes

import (
	"encoding/json"
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
