package server

import (
	"runtime/debug"
	"strings"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/util/compatibility"
	basecompatibility "k8s.io/component-base/compatibility"

	"github.com/dataplane-aggregator/dpa/pkg/version"
)

// dpaVersion keeps Kubernetes' own version logic (feature gates, emulation) on the k8s
// library's version and reports dpa's version at /version, so `kubectl version` works
// without the k8s ldflags.
type dpaVersion struct {
	basecompatibility.MutableEffectiveVersion
}

func effectiveVersion() basecompatibility.EffectiveVersion {
	return dpaVersion{compatibility.DefaultBuildEffectiveVersion()}
}

// Info reports the Kubernetes API level dpa implements with dpa's own version as semver
// build metadata, the way k3s does (v1.35.4+dpa.0.1.0), so kubectl's version-skew check
// compares like with like.
func (v dpaVersion) Info() *apimachineryversion.Info {
	info := v.MutableEffectiveVersion.Info()
	if info == nil {
		return nil
	}
	info.GitVersion = gitVersion(kubeLibraryVersion(info.Major, info.Minor), version.Version)
	info.GitCommit = version.GitCommit
	info.GitTreeState = ""
	return info
}

func gitVersion(kube, dpa string) string {
	meta := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, strings.TrimPrefix(dpa, "v"))
	return kube + "+dpa." + meta
}

// kubeLibraryVersion maps the linked k8s.io/apiserver module version v0.X.Y to v1.X.Y.
func kubeLibraryVersion(major, minor string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "k8s.io/apiserver" && strings.HasPrefix(dep.Version, "v0.") {
				return "v1." + strings.TrimPrefix(dep.Version, "v0.")
			}
		}
	}
	return "v" + major + "." + minor + ".0"
}
