// Package registry is the REST storage of DataPlaneService around the store the App SDK
// builds: the validating strategy (422 with field paths, metadata.generation), the status
// strategy, kubectl's table columns and the short name "dps"; and kubectl's columns of the
// read-only Plugin resource (plugins.go).
package registry

import (
	"fmt"

	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/app"
)

// InstallTarget intercepts the App SDK's API group installation to put our strategy, table
// convertor and short name on the DataPlaneService store, which the SDK builds internally.
type InstallTarget struct {
	*apiserver.KubernetesGenericAPIServer
	claims         app.ClaimLookup
	patched        bool
	pluginsPatched bool
}

// NewInstallTarget wraps the server the App SDK installs into; claims backs the
// group/version uniqueness check of validation.
func NewInstallTarget(s *apiserver.KubernetesGenericAPIServer, claims app.ClaimLookup) *InstallTarget {
	return &InstallTarget{KubernetesGenericAPIServer: s, claims: claims}
}

// Patched reports whether the DataPlaneService and Plugin stores were found and wrapped.
func (t *InstallTarget) Patched() bool { return t.patched && t.pluginsPatched }

// InstallAPIGroup implements the App SDK's install target.
func (t *InstallTarget) InstallAPIGroup(info *genericapiserver.APIGroupInfo) error {
	plural := v0alpha1.DataPlaneServiceKind().Plural()
	for _, storage := range info.VersionedResourcesStorageMap {
		if st, ok := storage[plural].(*genericregistry.Store); ok {
			inner, ok := st.CreateStrategy.(objectStrategy)
			if !ok {
				return fmt.Errorf("unexpected strategy type %T", st.CreateStrategy)
			}
			vs := validatingStrategy{objectStrategy: inner, claims: t.claims}
			st.CreateStrategy, st.UpdateStrategy = vs, vs
			st.TableConvertor = dataPlaneServiceTable
			storage[plural] = shortNamedStore{st}
			t.patched = true
		}
		if st, ok := storage[plural+"/status"].(*apiserver.StatusREST); ok {
			st.Store.UpdateStrategy = statusStrategy{RESTUpdateStrategy: st.Store.UpdateStrategy}
			st.Store.TableConvertor = dataPlaneServiceTable
		}
		// Plugins: kubectl columns (the objects are written by dpa alone, see pkg/authz).
		pp := v0alpha1.PluginKind().Plural()
		if st, ok := storage[pp].(*genericregistry.Store); ok {
			st.TableConvertor = pluginTable
			t.pluginsPatched = true
		}
		if st, ok := storage[pp+"/status"].(*apiserver.StatusREST); ok {
			st.Store.TableConvertor = pluginTable
		}
	}
	return t.KubernetesGenericAPIServer.InstallAPIGroup(info)
}

// shortNamedStore advertises `dps` in discovery (`kubectl get dps`); CUE kinds of the App SDK
// have no short names.
type shortNamedStore struct{ *genericregistry.Store }

func (shortNamedStore) ShortNames() []string { return []string{"dps"} }
