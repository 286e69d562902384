package authz

import (
	"strings"
)

// Datasource actions, as Grafana names them.
const (
	ActionDatasourcesRead  = "datasources:read"
	ActionDatasourcesQuery = "datasources:query"
)

// DatasourceScope is the scope of one datasource.
func DatasourceScope(uid string) string { return "datasources:uid:" + uid }

// Permission is an action on a scope ("" scope: every scope).
type Permission struct {
	Action string `json:"action"`
	Scope  string `json:"scope,omitempty"`
}

// covers reports whether p grants action on scope. Scopes match exactly or by a trailing
// wildcard ("datasources:*", "datasources:uid:*", "*").
func (p Permission) covers(action, scope string) bool {
	if p.Action != action {
		return false
	}
	if p.Scope == "" || p.Scope == "*" || p.Scope == scope {
		return true
	}
	if prefix, ok := strings.CutSuffix(p.Scope, "*"); ok {
		return strings.HasPrefix(scope, prefix)
	}
	return false
}

// Basic role uids, as Grafana names them in provisioning files.
const (
	basicViewer = "basic_viewer"
	basicEditor = "basic_editor"
	basicAdmin  = "basic_admin"
)

var basicRoleUID = map[Role]string{RoleViewer: basicViewer, RoleEditor: basicEditor, RoleAdmin: basicAdmin}

// DefaultBasicPermissions are Grafana's defaults for datasources: every org member may read
// and query every datasource of the org. Editor and Admin inherit them from Viewer.
var DefaultBasicPermissions = map[string][]Permission{
	basicViewer: {
		{Action: ActionDatasourcesRead, Scope: "datasources:*"},
		{Action: ActionDatasourcesQuery, Scope: "datasources:*"},
	},
	basicEditor: nil,
	basicAdmin:  nil,
}

// orgKey is a name within an org (org 0: every org, a global role).
type orgKey struct {
	org  int64
	name string
}

// Policy is an immutable snapshot of the permission model: the basic roles' permissions and
// the roles assigned to teams and users. The zero value grants nothing beyond server admin.
type Policy struct {
	// basic holds each basic role's own permissions, per org (0: all orgs).
	basic map[orgKey][]Permission
	teams map[orgKey][]Permission // (org, team name)
	users map[orgKey][]Permission // (org, login)
}

// DefaultPolicy is the policy without provisioning files: Grafana's defaults.
func DefaultPolicy() *Policy {
	p := &Policy{basic: map[orgKey][]Permission{}}
	for uid, perms := range DefaultBasicPermissions {
		p.basic[orgKey{0, uid}] = perms
	}
	return p
}

// Can reports whether the subject may perform action on scope in org orgID: server admins
// may do everything; others need membership of the org, and the permission from their basic
// role (or a role it includes), a team's roles or their own.
func (p *Policy) Can(s Subject, orgID int64, action, scope string) bool {
	if s.ServerAdmin {
		return true
	}
	role, member := s.Orgs[orgID]
	if !member {
		return false
	}
	for r, uid := range basicRoleUID {
		if role.Includes(r) && (anyCovers(p.basic[orgKey{0, uid}], action, scope) || anyCovers(p.basic[orgKey{orgID, uid}], action, scope)) {
			return true
		}
	}
	for _, g := range s.Groups {
		if anyCovers(p.teams[orgKey{orgID, g}], action, scope) {
			return true
		}
	}
	return anyCovers(p.users[orgKey{orgID, s.Login}], action, scope)
}

func anyCovers(perms []Permission, action, scope string) bool {
	for _, p := range perms {
		if p.covers(action, scope) {
			return true
		}
	}
	return false
}
