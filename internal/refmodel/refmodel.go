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
	"math"
	"slices"
	"time"
)

type set = map[string]bool

// Change is one change: an op by name and the names it carries (the key
// ops': KeyID, KeyName, Scope).
type Change struct {
	Op, Role, Permission, User, Includes string
	KeyID, KeyName, Scope                string
	// StartsAt and ExpiresAt are a membership's window (RFC 3339, "" for
	// no bound); ExpiresAt is also a sweep's cutoff.
	StartsAt, ExpiresAt string
}

// window is a membership's window in Unix seconds, [from, until).
type window struct{ from, until int64 }

var forever = window{math.MinInt64, math.MaxInt64}

func parseWindow(starts, expires string) window {
	w := forever
	if starts != "" {
		t, err := time.Parse(time.RFC3339, starts)
		if err != nil {
			panic(err)
		}
		w.from = t.Unix()
	}
	if expires != "" {
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil {
			panic(err)
		}
		w.until = t.Unix()
	}
	return w
}

// Key is one of a tenant's keys: its id, name and scope.
type Key struct {
	ID, Name, Scope string
}

// firstKey is the id of a tenant's first key.
const firstKey = "first"

// Tenant is one tenant's state. The zero value is not usable: see New.
type Tenant struct {
	roles    set            // every role
	perms    map[string]set // role → permissions granted to it
	members  map[string]set // role → users in it
	includes map[string]set // role → roles it includes directly
	// windows are the memberships with a window, by role and user: such a
	// membership counts only while Now is in it.
	windows map[[2]string]window
	// Now is the time (Unix seconds) at which windows are judged.
	Now int64

	reached map[string]set // a cache of reaches, emptied by every change

	// keys are the keys made (add_key) and not revoked, in the order
	// made; the first key has no record, only firstRevoked.
	keys         []Key
	firstRevoked bool
	// deleted: the tenant was deleted (del_tenant); it refuses every
	// later change.
	deleted bool
}

// New returns an empty tenant.
func New() *Tenant {
	return &Tenant{roles: set{}, perms: map[string]set{}, members: map[string]set{}, includes: map[string]set{}, windows: map[[2]string]window{}}
}

// open is the members of each role whose membership counts at Now.
func (t *Tenant) open() map[string]set {
	out := map[string]set{}
	for r, users := range t.members {
		out[r] = set{}
		for u := range users {
			if w, ok := t.windows[[2]string{r, u}]; !ok || (w.from <= t.Now && t.Now < w.until) {
				out[r][u] = true
			}
		}
	}
	return out
}

// dropWindows forgets the windows of memberships that are gone.
func (t *Tenant) dropWindows() {
	for k := range t.windows {
		if !t.members[k[0]][k[1]] {
			delete(t.windows, k)
		}
	}
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
	c.keys, c.firstRevoked, c.deleted = slices.Clone(t.keys), t.firstRevoked, t.deleted
	c.windows, c.Now = maps.Clone(t.windows), t.Now
	for r, s := range t.includes {
		c.includes[r] = maps.Clone(s)
	}
	return c
}

// Change applies c and returns the original API's answer and whether the
// state changed. It panics on an op it does not know.
func (t *Tenant) Change(c Change) (result, changed bool) {
	t.reached = nil
	defer func() { t.reached = nil; t.dropWindows() }()
	switch c.Op {
	case "del_tenant": // everything goes, and every later change is refused
		now := t.Now
		*t = *New()
		t.firstRevoked, t.deleted, t.Now = true, true, now
		return true, true
	case "clear": // the first change of a batch that replaces the state; keys stay
		changed = len(t.roles) > 0
		keys, revoked, now := t.keys, t.firstRevoked, t.Now
		*t = *New()
		t.keys, t.firstRevoked, t.Now = keys, revoked, now
		return true, changed
	case "add_membership_window":
		w := parseWindow(c.StartsAt, c.ExpiresAt)
		old, had := t.windows[[2]string{c.Role, c.User}]
		result, changed = t.add(t.members, c.Role, c.User)
		if result {
			changed = changed || !had || old != w
			t.windows[[2]string{c.Role, c.User}] = w
		}
		return result, changed
	case "sweep_windows":
		cutoff := parseWindow("", c.ExpiresAt).until
		for k, w := range t.windows {
			if w.until <= cutoff {
				delete(t.members[k[0]], k[1])
				changed = true
			}
		}
		return true, changed
	case "add_role":
		if t.roles[c.Role] {
			return false, false
		}
		t.roles[c.Role] = true
		t.perms[c.Role] = set{}
		t.members[c.Role] = set{}
		t.includes[c.Role] = set{}
		return true, true
	case "del_role":
		if !t.roles[c.Role] {
			return false, false
		}
		delete(t.roles, c.Role)
		delete(t.perms, c.Role)
		delete(t.members, c.Role)
		delete(t.includes, c.Role)
		for _, inc := range t.includes {
			delete(inc, c.Role)
		}
		return true, true
	case "add_permission":
		return t.add(t.perms, c.Role, c.Permission)
	case "del_permission":
		return t.del(t.perms, c.Role, c.Permission)
	case "add_membership":
		_, had := t.windows[[2]string{c.Role, c.User}]
		delete(t.windows, [2]string{c.Role, c.User})
		result, changed = t.add(t.members, c.Role, c.User)
		return result, changed || (result && had)
	case "del_membership":
		return t.del(t.members, c.Role, c.User)
	case "add_inclusion":
		if !t.roles[c.Includes] || t.Refuses(c) {
			return false, false
		}
		return t.add(t.includes, c.Role, c.Includes)
	case "del_inclusion":
		if !t.roles[c.Includes] {
			return true, false
		}
		return t.del(t.includes, c.Role, c.Includes)
	case "del_user":
		for role := range t.roles {
			if t.members[role][c.User] {
				delete(t.members[role], c.User)
				changed = true
			}
		}
		return true, changed
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

// Refuses reports whether the state refuses c: any change once the tenant
// is deleted; an inclusion of two existing roles, not there yet, that
// would make a cycle (a role that reaches itself through inclusions). A
// refused change changes nothing.
func (t *Tenant) Refuses(c Change) bool {
	if t.deleted {
		return true
	}
	if c.Op != "add_inclusion" || !t.roles[c.Role] || !t.roles[c.Includes] || t.includes[c.Role][c.Includes] {
		return false
	}
	return t.reaches(c.Includes)[c.Role]
}

// BatchRefused reports whether a batch of changes is refused: one of
// them is, where it stands in the batch. A refused batch changes nothing.
func (t *Tenant) BatchRefused(changes []Change) bool {
	if t.deleted {
		return true
	}
	c := t.Clone()
	for _, ch := range changes {
		if c.Refuses(ch) {
			return true
		}
		c.Change(ch)
	}
	return false
}

// reaches is role and every role it includes, directly or not. The
// caller must not change it.
func (t *Tenant) reaches(role string) set {
	if out, ok := t.reached[role]; ok {
		return out
	}
	if t.reached == nil {
		t.reached = map[string]set{}
	}
	out := set{}
	t.reached[role] = out
	var visit func(r string)
	visit = func(r string) {
		if out[r] {
			return
		}
		out[r] = true
		for inc := range t.includes[r] {
			visit(inc)
		}
	}
	visit(role)
	return out
}

// Batch applies changes in order, as one batch event: it answers true,
// and whether any of them changed the state. The caller has checked that
// the batch is not refused (BatchRefused).
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
	return t.roles[role] && t.open()[role][user]
}

// HasInclusion reports whether role includes included directly.
func (t *Tenant) HasInclusion(role, included string) bool {
	return t.roles[role] && t.includes[role][included]
}

// UserHasPermission reports whether one of user's roles is, or includes
// (directly or not), a role granted perm.
func (t *Tenant) UserHasPermission(user, perm string) bool {
	return union(t.perms, t.below(t.rolesWith(t.open(), user)))[perm]
}

// Roles lists every role, sorted.
func (t *Tenant) Roles() []string { return sorted(t.roles) }

// RolePermissions lists role's permissions, sorted.
func (t *Tenant) RolePermissions(role string) []string { return sorted(t.perms[role]) }

// RoleMembers lists role's members, sorted.
func (t *Tenant) RoleMembers(role string) []string { return sorted(t.open()[role]) }

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
func (t *Tenant) UserRoles(user string) []string { return sorted(t.rolesWith(t.open(), user)) }

// below is every role reached from roles, them included.
func (t *Tenant) below(roles set) set {
	out := set{}
	for r := range roles {
		maps.Copy(out, t.reaches(r))
	}
	return out
}

// UserRolesEffective lists user's roles and the roles they include,
// directly or not, sorted.
func (t *Tenant) UserRolesEffective(user string) []string {
	return sorted(t.below(t.rolesWith(t.open(), user)))
}

// RolePermissionsEffective lists the permissions of role and of the roles
// it includes, directly or not, sorted.
func (t *Tenant) RolePermissionsEffective(role string) []string {
	if !t.roles[role] {
		return []string{}
	}
	return sorted(union(t.perms, t.reaches(role)))
}

// RoleMembersEffective lists the members of role and of the roles that
// include it, directly or not, sorted.
func (t *Tenant) RoleMembersEffective(role string) []string {
	out := set{}
	for r := range t.roles {
		if t.reaches(r)[role] {
			maps.Copy(out, t.open()[r])
		}
	}
	return sorted(out)
}

// Inclusions lists the roles role includes directly, sorted.
func (t *Tenant) Inclusions(role string) []string { return sorted(t.includes[role]) }

// UserPermissions lists the permissions of user's roles and of the roles
// they include, sorted.
func (t *Tenant) UserPermissions(user string) []string {
	return sorted(union(t.perms, t.below(t.rolesWith(t.open(), user))))
}

// WhichRolesCan lists the roles whose members have perm, sorted.
func (t *Tenant) WhichRolesCan(perm string) []string {
	out := set{}
	for r := range t.roles {
		if union(t.perms, t.reaches(r))[perm] {
			out[r] = true
		}
	}
	return sorted(out)
}

// WhichUsersCan lists the members of the roles whose members have perm,
// sorted.
func (t *Tenant) WhichUsersCan(perm string) []string {
	out := set{}
	for _, r := range t.WhichRolesCan(perm) {
		maps.Copy(out, t.open()[r])
	}
	return sorted(out)
}

// Via is one way a user has a permission (see Why).
type Via struct {
	Role string
	Path []string
}

// Why lists, for each role granted perm that one of user's roles is or
// includes, the shortest path of inclusions from one of user's roles to
// it (the least by name of the shortest), sorted by role.
func (t *Tenant) Why(user, perm string) []Via {
	// dist is each role's distance from the nearest of user's roles, by
	// rounds of relaxation; best[r] the least path of that length.
	best := map[string][]string{}
	for r := range t.rolesWith(t.open(), user) {
		best[r] = []string{r}
	}
	for changed := true; changed; {
		changed = false
		for q, path := range maps.Clone(best) {
			for r := range t.includes[q] {
				cand := append(slices.Clone(path), r)
				old, ok := best[r]
				if !ok || len(cand) < len(old) || (len(cand) == len(old) && slices.Compare(cand, old) < 0) {
					best[r] = cand
					changed = true
				}
			}
		}
	}
	out := []Via{}
	for _, r := range sorted(t.rolesWith(t.perms, perm)) {
		if path, ok := best[r]; ok {
			out = append(out, Via{Role: r, Path: path})
		}
	}
	return out
}

// Deleted reports whether the tenant was deleted.
func (t *Tenant) Deleted() bool { return t.deleted }

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
