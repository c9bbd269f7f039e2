package engine

import (
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// List names one of a tenant's lists of names. Each is read whole (sorted)
// by [Tenant.List] or a page at a time by [Tenant.Page].
type List uint8

// The lists. Those that say what a user can do follow role inclusions
// always; those that say what was written (a role's permissions and
// members, a user's roles) follow them only when asked for the effective
// list.
const (
	ListRoles           List = iota // every role
	ListRolePermissions             // the permissions granted to a role (effective: and to the roles it reaches)
	ListRoleMembers                 // the members of a role (effective: and of the roles that reach it)
	ListUserRoles                   // the roles of a user (effective: and the roles they reach)
	ListUserPermissions             // every permission a user has
	ListWhichRolesCan               // the roles whose members have a permission
	ListWhichUsersCan               // the users that have a permission
	ListInclusions                  // the roles a role includes directly
)

// each calls fn once for each name of list l of arg (a role, a user or a
// permission, as l says), in no particular order, counting only the
// memberships open at now (window.go); t.mu must be held.
func (t *tables) each(l List, arg string, effective bool, now int64, fn func(string)) {
	switch l {
	case ListRoles:
		for name := range t.roles {
			fn(name)
		}
	case ListRolePermissions:
		if r, ok := t.roles[arg]; ok {
			t.eachPerm(t.reachOr([]uint32{r}, down, effective), fn)
		}
	case ListRoleMembers:
		if r, ok := t.roles[arg]; ok {
			t.eachMember(t.reachOr([]uint32{r}, up, effective), now, fn)
		}
	case ListUserRoles:
		if u := t.users.get(arg); u != nil {
			for _, r := range t.reachOr(t.openRoles(u, now), down, effective) {
				fn(t.roleRecs[r].name)
			}
		}
	case ListUserPermissions:
		if u := t.users.get(arg); u != nil {
			t.eachPerm(t.reachOr(t.openRoles(u, now), down, true), fn)
		}
	case ListWhichRolesCan:
		if p := t.perms.get(arg); p != nil {
			t.permRecs[p.idx].roles.each(func(r uint32) { fn(t.roleRecs[r].name) })
		}
	case ListWhichUsersCan:
		if p := t.perms.get(arg); p != nil {
			var roles []uint32
			t.permRecs[p.idx].roles.each(func(r uint32) { roles = append(roles, r) })
			t.eachMember(roles, now, fn)
		}
	case ListInclusions:
		if r, ok := t.roles[arg]; ok {
			for _, b := range t.roleRecs[r].includes {
				fn(t.roleRecs[b].name)
			}
		}
	}
}

// reachOr returns roles and, if follow is set and the tenant has
// inclusions, every role they reach in direction dir, each once.
func (t *tables) reachOr(roles []uint32, dir direction, follow bool) []uint32 {
	if !follow || t.inclusions == 0 {
		return roles
	}
	return t.reach(roles, dir)
}

// eachPerm calls fn for each permission granted to one of roles, once.
func (t *tables) eachPerm(roles []uint32, fn func(string)) {
	t.eachOf(roles, func(rec *roleRec) *roaring.Bitmap { return rec.perms }, func(p uint32) { fn(t.permRecs[p].name) })
}

// eachMember calls fn for each member of one of roles whose membership is
// open at now, once.
func (t *tables) eachMember(roles []uint32, now int64, fn func(string)) {
	members := func(rec *roleRec) *roaring.Bitmap { return rec.members }
	if t.windowed > 0 {
		members = func(rec *roleRec) *roaring.Bitmap {
			r := t.roles[rec.name]
			open := roaring.New()
			rec.members.Iterate(func(u uint32) bool {
				if t.openAt(u, r, now) {
					open.Add(u)
				}
				return true
			})
			return open
		}
	}
	t.eachOf(roles, members, func(u uint32) { fn(t.userNames[u]) })
}

// eachOf calls fn for each index in the union of set(roles), once.
func (t *tables) eachOf(roles []uint32, set func(*roleRec) *roaring.Bitmap, fn func(uint32)) {
	if len(roles) == 1 {
		set(&t.roleRecs[roles[0]]).Iterate(func(x uint32) bool { fn(x); return true })
		return
	}
	acc := roaring.New()
	for _, r := range roles {
		acc.Or(set(&t.roleRecs[r]))
	}
	acc.Iterate(func(x uint32) bool { fn(x); return true })
}

// List returns list l of arg, sorted, each name once (see [List]);
// effective asks for inclusions to be followed where a list does not
// always follow them. Memberships count if they are open now.
func (t *Tenant) List(l List, arg string, effective bool) []string {
	return t.ListAt(l, arg, effective, time.Time{})
}

// ListAt is List with the memberships open at time at (now for a zero
// at), by the windows of the tenant's state now.
func (t *Tenant) ListAt(l List, arg string, effective bool, at time.Time) []string {
	if t == nil {
		return []string{}
	}
	var out []string
	s, locked := t.rlock()
	s.each(l, arg, effective, t.at(s, at), func(name string) { out = append(out, name) })
	runlock(s, locked)
	return sortedOrEmpty(out)
}

// at returns the time, in Unix seconds, at which s's memberships are
// judged for a read at at (now for a zero at); 0 for a tenant without
// windows, which never reads the clock.
func (t *Tenant) at(s *tables, at time.Time) int64 {
	switch {
	case s.windowed == 0:
		return 0
	case at.IsZero():
		return t.clk.now()
	}
	return at.Unix()
}

// Page returns a page of list l of arg (see [Tenant.List]), sorted, and
// whether more follow it.
func (t *Tenant) Page(l List, arg string, effective bool, q Page) ([]string, bool) {
	return t.PageAt(l, arg, effective, q, time.Time{})
}

// PageAt is Page at time at (see [Tenant.ListAt]).
func (t *Tenant) PageAt(l List, arg string, effective bool, q Page, at time.Time) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		s.each(l, arg, effective, t.at(s, at), p.add)
		runlock(s, locked)
	}
	return p.result()
}

// Roles returns every role, sorted.
func (t *Tenant) Roles() []string { return t.List(ListRoles, "", false) }

// RolePermissions returns the permissions granted to role, sorted.
func (t *Tenant) RolePermissions(role string) []string {
	return t.List(ListRolePermissions, role, false)
}

// RoleMembers returns the members of role, sorted.
func (t *Tenant) RoleMembers(role string) []string { return t.List(ListRoleMembers, role, false) }

// UserRoles returns the roles user is a member of, sorted.
func (t *Tenant) UserRoles(user string) []string { return t.List(ListUserRoles, user, false) }

// UserPermissions returns every permission user has through any role
// (and the roles they include), sorted, each once.
func (t *Tenant) UserPermissions(user string) []string {
	return t.List(ListUserPermissions, user, false)
}

// WhichRolesCan returns the roles whose members have perm (granted it, or
// including a role that is), sorted.
func (t *Tenant) WhichRolesCan(perm string) []string { return t.List(ListWhichRolesCan, perm, false) }

// WhichUsersCan returns the users that have perm through any role, sorted,
// each once.
func (t *Tenant) WhichUsersCan(perm string) []string { return t.List(ListWhichUsersCan, perm, false) }

// Inclusions returns the roles role includes directly, sorted.
func (t *Tenant) Inclusions(role string) []string { return t.List(ListInclusions, role, false) }

// RolesPage is a page of [Tenant.Roles].
func (t *Tenant) RolesPage(q Page) ([]string, bool) { return t.Page(ListRoles, "", false, q) }

// RoleMembersPage is a page of [Tenant.RoleMembers].
func (t *Tenant) RoleMembersPage(role string, q Page) ([]string, bool) {
	return t.Page(ListRoleMembers, role, false, q)
}

// UserRolesPage is a page of [Tenant.UserRoles].
func (t *Tenant) UserRolesPage(user string, q Page) ([]string, bool) {
	return t.Page(ListUserRoles, user, false, q)
}
