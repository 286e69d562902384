// Package authz is where every request to dpa is authorized: the identity convention (which
// groups make a Grafana server admin and an org role), Grafana's permission model for
// datasources (basic roles, custom roles, team and user assignments, loaded from Grafana's
// access-control provisioning files), and one rule per route (rules.go) read by the API
// server's authorization filter and by the data plane after it has matched a route.
package authz

import (
	"slices"
	"strconv"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Role is a Grafana basic org role.
type Role string

// Grafana's basic roles, weakest first.
const (
	RoleNone   Role = "None"
	RoleViewer Role = "Viewer"
	RoleEditor Role = "Editor"
	RoleAdmin  Role = "Admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleEditor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Includes reports whether r grants at least what other grants (Admin ⊇ Editor ⊇ Viewer).
func (r Role) Includes(other Role) bool { return r.rank() >= other.rank() }

// The group convention. It reads the same for every kind of identity: the groups of a token in
// --token-auth-file, the O= of a client certificate, the group header of a front proxy.
const (
	// ServerAdminGroup members are Grafana server admins (as are system:masters, the admin
	// token's group).
	ServerAdminGroup = "grafana:server-admin"
	// OrgRoleGroupPrefix starts an org role group: grafana:org:<orgId>:<Viewer|Editor|Admin>.
	OrgRoleGroupPrefix = "grafana:org:"
	// MonitoringGroup may read /metrics and plugin metrics (Kubernetes' convention).
	MonitoringGroup = "system:monitoring"
	// ImpersonatorGroup members may impersonate users with org roles (never server admins or
	// groups of this convention's privileged kinds) and do nothing else: the identity the
	// Grafana app plugin's backend uses to act as the Grafana user.
	ImpersonatorGroup = "grafana:impersonator"
)

// OrgRoleGroup is the group that gives role in org orgID.
func OrgRoleGroup(orgID int64, role Role) string {
	return OrgRoleGroupPrefix + strconv.FormatInt(orgID, 10) + ":" + string(role)
}

// Subject is an authenticated identity in Grafana's terms.
type Subject struct {
	Login       string
	ServerAdmin bool
	// Orgs holds the basic role in each org the subject is a member of.
	Orgs map[int64]Role
	// Groups are all the identity's groups; the ones outside the convention are team names.
	Groups []string
}

// SubjectOf reads a Subject from an authenticated user. A group naming a role more than once
// for one org gives the strongest.
func SubjectOf(u user.Info) Subject {
	s := Subject{Login: u.GetName(), Orgs: map[int64]Role{}, Groups: u.GetGroups()}
	for _, g := range u.GetGroups() {
		switch {
		case g == user.SystemPrivilegedGroup || g == ServerAdminGroup:
			s.ServerAdmin = true
		case strings.HasPrefix(g, OrgRoleGroupPrefix):
			org, role, ok := parseOrgRoleGroup(g)
			if ok && role.Includes(s.Orgs[org]) {
				s.Orgs[org] = role
			}
		}
	}
	return s
}

func parseOrgRoleGroup(g string) (int64, Role, bool) {
	idStr, roleStr, ok := strings.Cut(strings.TrimPrefix(g, OrgRoleGroupPrefix), ":")
	if !ok {
		return 0, "", false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id < 1 {
		return 0, "", false
	}
	switch r := Role(roleStr); r {
	case RoleViewer, RoleEditor, RoleAdmin:
		return id, r, true
	}
	return 0, "", false
}

// RoleIn is the subject's role in org orgID as Grafana sends it to plugins: the org role, or
// None for a non-member. Server admins are Admin everywhere.
func (s Subject) RoleIn(orgID int64) Role {
	if s.ServerAdmin {
		return RoleAdmin
	}
	if r, ok := s.Orgs[orgID]; ok {
		return r
	}
	return RoleNone
}

// MemberOf reports whether the subject may see org orgID at all.
func (s Subject) MemberOf(orgID int64) bool { return s.ServerAdmin || s.Orgs[orgID] != "" }

// inGroup reports whether the identity has group g (a team or a named group).
func (s Subject) inGroup(g string) bool { return slices.Contains(s.Groups, g) }
