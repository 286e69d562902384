package routes

import (
	"encoding/json"
	"os"
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
	for _, s := range Services {
		if s.Timeout == "" {
			t.Errorf("%s has no timeout key", s.Type)
		}
		if got, ok := LookupService(s.Type); !ok || got != s {
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
