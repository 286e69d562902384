package app

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/backendplugin"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

var (
	serviceTypes = routes.ServiceNames()
	routeMethods = []string{"", "GET", "POST", "PUT", "PATCH", "DELETE"}
)

// maxPluginIDLength keeps plugin ids usable in file names and label values.
const maxPluginIDLength = 63

// ClaimLookup answers which DataPlaneService claims a group/version. The reconciler's
// cache implements it; validation uses it to reject a second claim on the same group/version.
type ClaimLookup interface {
	// ClaimedBy returns the names of the objects claiming group/version, oldest first.
	ClaimedBy(group, version string) []string
}

// Validate checks every rule of the DataPlaneService schema. claims may be nil (no
// uniqueness check). It returns field errors with paths, which the API server turns into a
// 422 Invalid response.
func Validate(obj *v0alpha1.DataPlaneService, claims ClaimLookup) field.ErrorList {
	var errs field.ErrorList
	spec := &obj.Spec
	specPath := field.NewPath("spec")

	switch {
	case spec.PluginID == "":
		errs = append(errs, field.Required(specPath.Child("pluginID"), "the Grafana plugin id"))
	case len(spec.PluginID) > maxPluginIDLength:
		errs = append(errs, field.TooLong(specPath.Child("pluginID"), spec.PluginID, maxPluginIDLength))
	case !backendplugin.IDPattern.MatchString(spec.PluginID):
		errs = append(errs, field.Invalid(specPath.Child("pluginID"), spec.PluginID,
			"must consist of lower-case letters, digits and single dashes, starting and ending with a letter or digit"))
	}

	switch spec.PluginType {
	case routes.PluginTypeApp, routes.PluginTypeDatasource:
	case "":
		errs = append(errs, field.Required(specPath.Child("pluginType"), `"app" or "datasource"`))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("pluginType"), spec.PluginType, []string{routes.PluginTypeApp, routes.PluginTypeDatasource}))
	}

	if spec.Group == "" {
		errs = append(errs, field.Required(specPath.Child("group"), "a DNS-1123 subdomain, e.g. testdata.datasource.grafana.app"))
	} else if msgs := validation.IsDNS1123Subdomain(spec.Group); len(msgs) > 0 {
		errs = append(errs, field.Invalid(specPath.Child("group"), spec.Group, strings.Join(msgs, "; ")))
	} else if why := routes.ReservedGroup(spec.Group); why != "" {
		errs = append(errs, field.Forbidden(specPath.Child("group"), why))
	}

	if spec.Version == "" {
		errs = append(errs, field.Required(specPath.Child("version"), "a DNS-1035 label, e.g. v0alpha1"))
	} else if msgs := validation.IsDNS1035Label(spec.Version); len(msgs) > 0 {
		errs = append(errs, field.Invalid(specPath.Child("version"), spec.Version, strings.Join(msgs, "; ")))
	}

	errs = append(errs, validateServices(spec.Services, specPath.Child("services"))...)

	if claims != nil && spec.Group != "" && spec.Version != "" {
		for _, other := range claims.ClaimedBy(spec.Group, spec.Version) {
			if other != obj.Name {
				errs = append(errs, field.Invalid(specPath.Child("group"), spec.Group,
					fmt.Sprintf("group/version %s/%s is already claimed by DataPlaneService %s", spec.Group, spec.Version, other)))
				break
			}
		}
	}
	return errs
}

func validateServices(services []v0alpha1.DataPlaneServiceService, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(services) == 0 {
		return append(errs, field.Required(path, "at least one service"))
	}
	seen := make(map[string]int, len(services))
	for i, svc := range services {
		p := path.Index(i)
		method, routePath := "", ""
		if svc.Method != nil {
			method = string(*svc.Method)
		}
		if svc.Path != nil {
			routePath = *svc.Path
		}
		if !slices.Contains(serviceTypes, string(svc.Type)) {
			errs = append(errs, field.NotSupported(p.Child("type"), string(svc.Type), serviceTypes))
			continue
		}
		if svc.Type != v0alpha1.DataPlaneServiceServiceTypeRoute {
			if svc.Method != nil && method != "" {
				errs = append(errs, field.Forbidden(p.Child("method"), "method applies to type \"route\" only"))
			}
			if svc.Path != nil && routePath != "" {
				errs = append(errs, field.Forbidden(p.Child("path"), "path applies to type \"route\" only"))
			}
		} else {
			if !slices.Contains(routeMethods, method) {
				errs = append(errs, field.NotSupported(p.Child("method"), method, routeMethods[1:]))
			}
			if routePath == "" {
				errs = append(errs, field.Required(p.Child("path"), "a route needs a path starting with /"))
			} else if _, err := routes.ParsePath(routePath); err != nil {
				errs = append(errs, field.Invalid(p.Child("path"), routePath, err.Error()))
			}
		}
		key := string(svc.Type) + " " + method + " " + routePath
		if j, dup := seen[key]; dup {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("same type, method and path as services[%d]", j)))
			continue
		}
		seen[key] = i
	}
	return errs
}
