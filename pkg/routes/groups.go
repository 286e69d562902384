package routes

import (
	"slices"
	"strings"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// LocalGroups are the API groups dpa's own API server serves: its resource API and the self
// reviews (`kubectl auth whoami`, `can-i`). The data plane never shadows them.
var LocalGroups = []string{v0alpha1.GroupVersion.Group, "authentication.k8s.io", "authorization.k8s.io"}

// builtinGroups are Kubernetes' built-in API groups outside *.k8s.io.
var builtinGroups = []string{"apps", "batch", "autoscaling", "policy", "extensions"}

// ReservedGroup says why group can never be a DataPlaneService's ("" when it can): dpa
// serves it itself, or it is one of Kubernetes' built-in groups (every *.k8s.io group and the
// older ones without that suffix), which clients and dpa's own UI expect to mean what
// Kubernetes defines — a plugin claiming authorization.k8s.io would take `kubectl auth can-i`
// away from everyone.
func ReservedGroup(group string) string {
	switch {
	case slices.Contains(LocalGroups, group):
		return "group " + group + " is served by dpa itself"
	case group == "k8s.io" || strings.HasSuffix(group, ".k8s.io") || slices.Contains(builtinGroups, group):
		return "group " + group + " is a built-in Kubernetes API group"
	}
	return ""
}
