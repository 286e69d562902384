// Package registry is the REST storage of DataPlaneService around the store the App SDK
// builds: the validating strategy (422 with field paths, metadata.generation), the status
// strategy, kubectl's table columns and the short name "dps"; and kubectl's columns of the
// read-only Plugin resource (plugins.go).
//
// The App SDK (v0.53.2) has no hook to customise the storage of a kind: its installer
// (apiserver.defaultInstaller.InstallAPIs) builds a generic registry store per kind with a
// no-op strategy and hands the group to a GenericAPIServer. The GenericAPIServer interface is
// the one public seam, so Install wraps the server and rewrites the group's storage before it
// is installed. Everything that depends on the SDK's internals is checked here, strictly, and
// install_test.go runs it against the real installer: an SDK upgrade that changes them fails
// that test (and Install returns an error rather than serving unvalidated objects).
package registry

import (
	"errors"
	"fmt"

	sdkapp "github.com/grafana/grafana-app-sdk/app"
	"github.com/grafana/grafana-app-sdk/k8s/apiserver"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/apis/manifestdata"
	"github.com/dataplane-aggregator/dpa/pkg/app"
)

// NewInstaller is the App SDK installer of the aggregation app; rec is the reconciler the
// app runs (see app.NewProvider).
func NewInstaller(rec *app.Reconciler) (apiserver.AppInstaller, error) {
	return apiserver.NewDefaultAppInstaller(app.NewProvider(rec),
		sdkapp.Config{ManifestData: *manifestdata.LocalManifest().ManifestData}, manifestdata.NewGoTypeAssociator())
}

// Install installs the installer's API group on srv with dpa's REST storage of
// DataPlaneService and Plugin (see the package comment). claims backs the group/version
// uniqueness check of validation. It fails, installing nothing, if the SDK's storage is not
// what it expects.
func Install(installer apiserver.AppInstaller, srv *genericapiserver.GenericAPIServer, optsGetter generic.RESTOptionsGetter, claims app.ClaimLookup) error {
	t := &installTarget{KubernetesGenericAPIServer: apiserver.NewKubernetesGenericAPIServer(srv), claims: claims}
	if err := installer.InstallAPIs(t, optsGetter); err != nil {
		return fmt.Errorf("installing APIs: %w", err)
	}
	if !t.patched {
		return errors.New("the App SDK installed no API group with DataPlaneService and Plugin storage")
	}
	return nil
}

// installTarget is the App SDK's install target with dpa's storage put in (Install).
type installTarget struct {
	*apiserver.KubernetesGenericAPIServer
	claims  app.ClaimLookup
	patched bool
}

// InstallAPIGroup implements the App SDK's install target: it wraps the storage, then
// installs the group; it installs nothing if the storage is not what it expects.
func (t *installTarget) InstallAPIGroup(info *genericapiserver.APIGroupInfo) error {
	if err := wrapStorage(info, t.claims); err != nil {
		return fmt.Errorf("dpa's REST storage around the App SDK's: %w", err)
	}
	t.patched = true
	return t.KubernetesGenericAPIServer.InstallAPIGroup(info)
}

// wrapStorage puts dpa's strategies, table convertors and short name on the storage the
// App SDK built for DataPlaneService and Plugin (and their status subresources).
func wrapStorage(info *genericapiserver.APIGroupInfo, claims app.ClaimLookup) error {
	dpsKind, pluginKind := v0alpha1.DataPlaneServiceKind(), v0alpha1.PluginKind()
	storage := info.VersionedResourcesStorageMap[dpsKind.Version()]
	if storage == nil {
		return fmt.Errorf("no storage for version %s", dpsKind.Version())
	}
	dps, pp := dpsKind.Plural(), pluginKind.Plural()

	st, err := sdkStore(storage, dps)
	if err != nil {
		return err
	}
	inner, ok := st.CreateStrategy.(objectStrategy)
	if !ok {
		return fmt.Errorf("%s: strategy %T cannot be wrapped", dps, st.CreateStrategy)
	}
	vs := validatingStrategy{objectStrategy: inner, claims: claims}
	st.CreateStrategy, st.UpdateStrategy = vs, vs
	st.TableConvertor = dataPlaneServiceTable
	storage[dps] = shortNamedStore{st}

	status, err := sdkStatusStore(storage, dps)
	if err != nil {
		return err
	}
	status.UpdateStrategy = statusStrategy{RESTUpdateStrategy: status.UpdateStrategy}
	// (The SDK's StatusREST serves no tables, so its store needs no table convertor.)

	// Plugins: kubectl columns (the objects are written by dpa alone, see pkg/authz).
	if st, err = sdkStore(storage, pp); err != nil {
		return err
	}
	st.TableConvertor = pluginTable
	return nil
}

// sdkStore is the App SDK's store of resource.
func sdkStore(storage map[string]rest.Storage, resource string) (*genericregistry.Store, error) {
	st, ok := storage[resource].(*genericregistry.Store)
	if !ok || st == nil {
		return nil, fmt.Errorf("storage of %s is %T, want *registry.Store", resource, storage[resource])
	}
	if st.CreateStrategy == nil || st.UpdateStrategy == nil {
		return nil, fmt.Errorf("storage of %s has no create or update strategy", resource)
	}
	return st, nil
}

// sdkStatusStore is the store behind the App SDK's status subresource of resource.
func sdkStatusStore(storage map[string]rest.Storage, resource string) (*genericregistry.Store, error) {
	sr := resource + "/status"
	st, ok := storage[sr].(*apiserver.StatusREST)
	if !ok || st == nil || st.Store == nil || st.Store.UpdateStrategy == nil {
		return nil, fmt.Errorf("storage of %s is %T, want *apiserver.StatusREST with an update strategy", sr, storage[sr])
	}
	return st.Store, nil
}

// shortNamedStore advertises `dps` in discovery (`kubectl get dps`); CUE kinds of the App SDK
// have no short names.
type shortNamedStore struct{ *genericregistry.Store }

func (shortNamedStore) ShortNames() []string { return []string{"dps"} }
