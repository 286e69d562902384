package authz

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/dataplane-aggregator/dpa/pkg/filewatch"
)

// AccessControlDir is where permission files live inside the provisioning directory, as in
// Grafana (provisioning/access-control/*.yaml).
const AccessControlDir = "access-control"

// The file format is Grafana's RBAC provisioning format, apiVersion 2: roles with
// permissions, and role assignments to teams. dpa adds "users" (assignments to a login; in
// Grafana those are made over the HTTP API). A team is a group of the identity (outside the
// grafana:… convention) within an org. The basic roles are changed through their uids
// (basic_viewer, basic_editor, basic_admin), e.g. to take datasources:query on datasources:*
// away from Viewers.
type policyFile struct {
	APIVersion int          `json:"apiVersion"`
	Roles      []roleDef    `json:"roles"`
	Teams      []assignment `json:"teams"`
	Users      []assignment `json:"users"`
}

type roleDef struct {
	Name        string    `json:"name"`
	UID         string    `json:"uid"`
	Description string    `json:"description"`
	DisplayName string    `json:"displayName"`
	Group       string    `json:"group"`
	Hidden      bool      `json:"hidden"`
	Version     int       `json:"version"`
	OrgID       int64     `json:"orgId"`
	Global      bool      `json:"global"`
	State       string    `json:"state"`
	Force       bool      `json:"force"`
	From        []roleRef `json:"from"`
	Permissions []permDef `json:"permissions"`
}

type permDef struct {
	Action string `json:"action"`
	Scope  string `json:"scope"`
	State  string `json:"state"`
}

type roleRef struct {
	UID    string `json:"uid"`
	Name   string `json:"name"`
	OrgID  int64  `json:"orgId"`
	Global bool   `json:"global"`
	State  string `json:"state"`
}

type assignment struct {
	Name  string    `json:"name"`  // teams
	Login string    `json:"login"` // users
	OrgID int64     `json:"orgId"`
	Roles []roleRef `json:"roles"`
}

func absent(state string) bool { return strings.EqualFold(state, "absent") }

// LoadPolicy reads <provisioningDir>/access-control/*.yaml (and .yml) in name order over
// Grafana's defaults. A missing directory gives DefaultPolicy. Every error names its file
// and field; nothing of a broken set of files is applied.
func LoadPolicy(provisioningDir string) (*Policy, error) {
	p := DefaultPolicy()
	if provisioningDir == "" {
		return p, nil
	}
	dir := filepath.Join(provisioningDir, AccessControlDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("access control: %w", err)
	}
	var files []policyFile
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if ext := strings.ToLower(filepath.Ext(e.Name())); ext != ".yaml" && ext != ".yml" {
			continue
		}
		rel := AccessControlDir + "/" + e.Name()
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		var f policyFile
		if err := yaml.UnmarshalStrict(b, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if f.APIVersion != 2 {
			return nil, fmt.Errorf("%s: apiVersion %d is not supported (want 2, Grafana's current RBAC provisioning format)", rel, f.APIVersion)
		}
		files = append(files, f)
		names = append(names, rel)
	}
	// Roles first (any file may assign a role another defines), then assignments.
	roles := map[orgKey][]Permission{} // by uid and by name, org 0 for global roles
	for i, f := range files {
		for j, r := range f.Roles {
			field := fmt.Sprintf("%s: roles[%d]", names[i], j)
			if err := p.defineRole(roles, r, field); err != nil {
				return nil, err
			}
		}
	}
	p.teams, p.users = map[orgKey][]Permission{}, map[orgKey][]Permission{}
	for i, f := range files {
		for j, a := range f.Teams {
			if err := assign(p.teams, roles, a, a.Name, fmt.Sprintf("%s: teams[%d]", names[i], j)); err != nil {
				return nil, err
			}
		}
		for j, a := range f.Users {
			if err := assign(p.users, roles, a, a.Login, fmt.Sprintf("%s: users[%d]", names[i], j)); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func orgOf(id int64) int64 {
	if id == 0 {
		return 1 // Grafana's default org
	}
	return id
}

func (p *Policy) defineRole(roles map[orgKey][]Permission, r roleDef, field string) error {
	if r.Name == "" && r.UID == "" {
		return fmt.Errorf("%s: a role needs a name or a uid", field)
	}
	if len(r.From) > 0 {
		return fmt.Errorf("%s.from: copying permissions from other roles is not supported by dpa; list the permissions", field)
	}
	for k, perm := range r.Permissions {
		if perm.Action == "" {
			return fmt.Errorf("%s.permissions[%d].action: required", field, k)
		}
	}
	if _, basic := DefaultBasicPermissions[r.UID]; basic {
		// A basic role: permissions are added to (or, with state absent, taken from) it.
		key := orgKey{0, r.UID}
		perms := slices.Clone(p.basic[key])
		for _, perm := range r.Permissions {
			pp := Permission{Action: perm.Action, Scope: perm.Scope}
			perms = slices.DeleteFunc(perms, func(x Permission) bool { return x == pp })
			if !absent(perm.State) {
				perms = append(perms, pp)
			}
		}
		p.basic[key] = perms
		return nil
	}
	org := orgOf(r.OrgID)
	if r.Global {
		org = 0
	}
	var perms []Permission
	if !absent(r.State) {
		for _, perm := range r.Permissions {
			if !absent(perm.State) {
				perms = append(perms, Permission{Action: perm.Action, Scope: perm.Scope})
			}
		}
	}
	for _, id := range []string{"uid:" + r.UID, "name:" + r.Name} {
		if id != "uid:" && id != "name:" {
			roles[orgKey{org, id}] = perms
		}
	}
	return nil
}

func assign(into, roles map[orgKey][]Permission, a assignment, who, field string) error {
	if who == "" {
		return fmt.Errorf("%s: name (teams) or login (users) is required", field)
	}
	org := orgOf(a.OrgID)
	key := orgKey{org, who}
	for k, ref := range a.Roles {
		if absent(ref.State) {
			continue
		}
		refOrg := org // a role of the assignment's org unless the reference names another
		if ref.OrgID != 0 {
			refOrg = ref.OrgID
		}
		if ref.Global {
			refOrg = 0
		}
		var perms []Permission
		found := false
		for _, id := range []string{"uid:" + ref.UID, "name:" + ref.Name} {
			if id == "uid:" || id == "name:" {
				continue
			}
			if ps, ok := roles[orgKey{refOrg, id}]; ok {
				perms, found = ps, true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s.roles[%d]: no role %q%s is defined in the access-control files", field, k, ref.UID+ref.Name,
				map[bool]string{true: " (global)", false: fmt.Sprintf(" in org %d", refOrg)}[refOrg == 0])
		}
		into[key] = append(into[key], perms...)
	}
	return nil
}

// Watch reloads the policy into a whenever the access-control files change (checked every
// interval, as the datasource files are), until ctx ends. A broken change is logged and the
// last good policy stays.
func Watch(ctx context.Context, provisioningDir string, interval time.Duration, a *Authorizer, log *slog.Logger) {
	if provisioningDir == "" {
		return
	}
	filewatch.Watch(ctx, interval, []string{filepath.Join(provisioningDir, AccessControlDir)}, func() {
		if p, err := LoadPolicy(provisioningDir); err != nil {
			log.Error("access-control reload failed; keeping the last good permissions", "error", err)
		} else {
			a.SetPolicy(p)
			log.Info("access control reloaded")
		}
	})
}
