// Package refmodel is the naive reference model of a tenant's state: the
// original library's semantics written as plainly as possible, with maps of
// sets and no indices, free lists or caches. The engine's and the bus's
// tests compare what they build with it, verb by verb.
//
// It does not import the engine (the engine's own tests use it): a change
// names its op by the engine's name for it (engine.Op.String). An op added
// to the engine's op table is added here too (see "Adding an op" in the
// engine's package doc).
package refmodel

import (
	"fmt"
	"maps"
	"slices"
)

type set = map[string]bool

// Change is one change: an op by name and the names it carries (the key
// ops': KeyID, KeyName, Scope).
type Change struct {
	Op, Role, Permission, User string
	KeyID, KeyName, Scope      string
}

// Key is one of a tenant's keys: its id, name and scope.
type Key struct {
	ID, Name, Scope string
}

// firstKey is the id of a tenant's first key.
const firstKey = "first"

// Tenant is one tenant's state. The zero value is not usable: see New.
type Tenant struct {
	roles   set            // every role
	perms   map[string]set // role → permissions granted to it
	members map[string]set // role → users in it
	// keys are the keys made (add_key) and not revoked, in the order
	// made; the first key has no record, only firstRevoked.
	keys         []Key
	firstRevoked bool
}

// New returns an empty tenant.
func New() *Tenant {
	return &Tenant{roles: set{}, perms: map[string]set{}, members: map[string]set{}}
}

// Clone returns a copy of t that shares nothing with it.
func (t *Tenant) Clone() *Tenant {
	c := New()
	c.roles = maps.Clone(t.roles)
	for r, s := range t.perms {
		c.perms[r] = maps.Clone(s)
	}
	for r, s := range t.members {
		c.members[r] = maps.Clone(s)
	}
	c.keys, c.firstRevoked = slices.Clone(t.keys), t.firstRevoked
	return c
}

// Change applies c and returns the original API's answer and whether the
// state changed. It panics on an op it does not know.
func (t *Tenant) Change(c Change) (result, changed bool) {
	switch c.Op {
	case "clear": // the first change of a batch that replaces the state; keys stay
		changed = len(t.roles) > 0
		t.roles, t.perms, t.members = set{}, map[string]set{}, map[string]set{}
		return true, changed
	case "add_role":
		if t.roles[c.Role] {
			return false, false
		}
		t.roles[c.Role] = true
		t.perms[c.Role] = set{}
		t.members[c.Role] = set{}
		return true, true
	case "del_role":
		if !t.roles[c.Role] {
			return false, false
		}
		delete(t.roles, c.Role)
		delete(t.perms, c.Role)
		delete(t.members, c.Role)
		return true, true
	case "add_permission":
		return t.add(t.perms, c.Role, c.Permission)
	case "del_permission":
		return t.del(t.perms, c.Role, c.Permission)
	case "add_membership":
		return t.add(t.members, c.Role, c.User)
	case "del_membership":
		return t.del(t.members, c.Role, c.User)
	case "add_key":
		if c.KeyID == firstKey || slices.ContainsFunc(t.keys, func(k Key) bool { return k.ID == c.KeyID }) {
			return false, false
		}
		t.keys = append(t.keys, Key{ID: c.KeyID, Name: c.KeyName, Scope: c.Scope})
		return true, true
	case "del_key":
		if c.KeyID == firstKey {
			if t.firstRevoked {
				return false, false
			}
			t.firstRevoked = true
			return true, true
		}
		i := slices.IndexFunc(t.keys, func(k Key) bool { return k.ID == c.KeyID })
		if i < 0 {
			return false, false
		}
		t.keys = slices.Delete(t.keys, i, i+1)
		return true, true
	}
	panic(fmt.Sprintf("refmodel: op %q", c.Op))
}

// add puts name in role's set of sets, if role exists.
func (t *Tenant) add(sets map[string]set, role, name string) (result, changed bool) {
	if !t.roles[role] {
		return false, false
	}
	changed = !sets[role][name]
	sets[role][name] = true
	return true, changed
}

// del takes name out of role's set of sets.
func (t *Tenant) del(sets map[string]set, role, name string) (result, changed bool) {
	if !t.roles[role] {
		return true, false
	}
	changed = sets[role][name]
	delete(sets[role], name)
	return true, changed
}

// Batch applies changes in order, as one batch event: it answers true,
// and whether any of them changed the state.
func (t *Tenant) Batch(changes []Change) (result, changed bool) {
	for _, c := range changes {
		_, ch := t.Change(c)
		changed = changed || ch
	}
	return true, changed
}

// sorted lists s sorted; an empty set gives an empty, non-nil list, as
// every engine list does.
func sorted(s set) []string {
	return append([]string{}, slices.Sorted(maps.Keys(s))...)
}

// HasRole reports whether role exists.
func (t *Tenant) HasRole(role string) bool { return t.roles[role] }

// HasPermission reports whether role exists and is granted perm.
func (t *Tenant) HasPermission(role, perm string) bool {
	return t.roles[role] && t.perms[role][perm]
}

// HasMembership reports whether role exists and has user as a member.
func (t *Tenant) HasMembership(user, role string) bool {
	return t.roles[role] && t.members[role][user]
}

// UserHasPermission reports whether one of user's roles is granted perm.
func (t *Tenant) UserHasPermission(user, perm string) bool {
	for role := range t.roles {
		if t.members[role][user] && t.perms[role][perm] {
			return true
		}
	}
	return false
}

// Roles lists every role, sorted.
func (t *Tenant) Roles() []string { return sorted(t.roles) }

// RolePermissions lists role's permissions, sorted.
func (t *Tenant) RolePermissions(role string) []string { return sorted(t.perms[role]) }

// RoleMembers lists role's members, sorted.
func (t *Tenant) RoleMembers(role string) []string { return sorted(t.members[role]) }

// rolesWith is the set of roles whose set in sets holds name.
func (t *Tenant) rolesWith(sets map[string]set, name string) set {
	out := set{}
	for role := range t.roles {
		if sets[role][name] {
			out[role] = true
		}
	}
	return out
}

// union is the union of the sets in sets of roles.
func union(sets map[string]set, roles set) set {
	out := set{}
	for role := range roles {
		maps.Copy(out, sets[role])
	}
	return out
}

// UserRoles lists user's roles, sorted.
func (t *Tenant) UserRoles(user string) []string { return sorted(t.rolesWith(t.members, user)) }

// UserPermissions lists the permissions of user's roles, sorted.
func (t *Tenant) UserPermissions(user string) []string {
	return sorted(union(t.perms, t.rolesWith(t.members, user)))
}

// WhichRolesCan lists the roles granted perm, sorted.
func (t *Tenant) WhichRolesCan(perm string) []string { return sorted(t.rolesWith(t.perms, perm)) }

// WhichUsersCan lists the members of the roles granted perm, sorted.
func (t *Tenant) WhichUsersCan(perm string) []string {
	return sorted(union(t.members, t.rolesWith(t.perms, perm)))
}

// Keys lists the keys not revoked: the first key (named "first", scope
// admin) unless revoked, then the others in the order they were made.
func (t *Tenant) Keys() []Key {
	var out []Key
	if !t.firstRevoked {
		out = append(out, Key{ID: firstKey, Name: firstKey, Scope: "admin"})
	}
	return append(out, t.keys...)
}

// Counts is how many users (members of a role), roles, permissions
// (granted to a role) and memberships the tenant has.
type Counts struct {
	Users, Roles, Permissions, Memberships int
}

// Counts counts the tenant's names and memberships.
func (t *Tenant) Counts() Counts {
	memberships := 0
	for role := range t.roles {
		memberships += len(t.members[role])
	}
	return Counts{Users: len(union(t.members, t.roles)), Roles: len(t.roles),
		Permissions: len(union(t.perms, t.roles)), Memberships: memberships}
}
