package dataplane

import (
	"net/http"

	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
	"github.com/dataplane-aggregator/dpa/pkg/routes"
)

// accessOf is each svcType's access rule (routes.Service.Access).
var accessOf = func() (out [numSvc]routes.Access) {
	for _, list := range [][]routes.Service{routes.Own, routes.Services} {
		for _, s := range list {
			out[svcOf[s.Type]] = s.Access
		}
	}
	return out
}()

// verb names what a request does, for denials and the audit of the data plane.
func (c *call) verb() string {
	switch c.t.typ {
	case svcQuery:
		return "query"
	case svcStream:
		if c.r.Method == http.MethodPost {
			return "publish"
		}
		return "subscribe"
	case svcDatasources:
		return c.t.action
	case svcAdmission:
		return "admit"
	case svcConversion:
		return "convert"
	case svcHealth, svcMetrics, svcDiscovery:
		return "get"
	}
	return "call"
}

// authorize applies the matched route's access rule (pkg/authz) before anything about the
// route's namespace or datasource is looked up, so a denial says nothing about what exists.
func (c *call) authorize() *httpError {
	if herr := checkInput(c.r); herr != nil {
		return herr
	}
	var org int64
	if c.t.ns != "" {
		info, err := provisioning.ParseNamespace(c.t.ns)
		if err != nil {
			return errBadRequest("%v", err)
		}
		org = info.OrgID
	}
	u, ok := request.UserFrom(c.r.Context())
	if !ok || u == nil {
		return errForbidden("no authenticated user")
	}
	c.user, c.subject, c.org = u, authz.SubjectOf(u), org
	d := c.h.opts.Authorizer.AuthorizeDataPlane(c.subject, authz.DataPlaneRequest{
		Group: c.e.group, Version: c.e.version, Type: routes.ServiceType(c.t.typ.String()), Access: accessOf[c.t.typ],
		Verb: c.verb(), Namespace: c.t.ns, Org: org, UID: c.t.uid,
	})
	if d != nil {
		return errForbidden("%s", d.Error())
	}
	return nil
}
