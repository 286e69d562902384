package dataplane

import (
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/dataplane-aggregator/dpa/pkg/authz"
)

// authorize applies the matched route's access rule (pkg/authz, from the request's
// routes.Match: type, verb, namespace, org and datasource as the match found them) before
// anything about the route's namespace or datasource is looked up, so a denial says nothing
// about what exists.
func (c *call) authorize() *httpError {
	if herr := checkInput(c.r); herr != nil {
		return herr
	}
	if err := c.m.NamespaceErr; err != nil {
		return errBadRequest("%v", err)
	}
	u, ok := request.UserFrom(c.r.Context())
	if !ok || u == nil {
		return errForbidden("no authenticated user")
	}
	c.user, c.subject, c.org = u, authz.SubjectOf(u), c.m.Org
	if d := c.h.opts.Authorizer.AuthorizeDataPlane(c.subject, authz.DataPlaneRequestOf(&c.m.Match)); d != nil {
		return errForbidden("%s", d.Error())
	}
	return nil
}
