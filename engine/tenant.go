package engine

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
)

// inlineRoles is how many role indices a user entry holds in the user table
// itself; most users are in a handful of roles.
const inlineRoles = 3

// userEntry is a user's value in the tenant's user table. The roles sit in
// the entry, so that a check reads nothing past the table's slot; a user in
// more roles keeps them in Tenant.userExt. It is kept small (20 bytes)
// because the user table is the largest structure and the check's costliest
// read.
type userEntry struct {
	idx uint32
	n   uint32              // number of roles
	inl [inlineRoles]uint32 // the roles, sorted, while n <= inlineRoles
}

// userRoles returns u's roles, sorted; t.mu must be held.
func (t *Tenant) userRoles(u *userEntry) []uint32 {
	if u.n <= inlineRoles {
		return u.inl[:u.n]
	}
	return t.userExt[u.idx]
}

// setUserRoles sets u's roles to rs (sorted, owned by u from now on);
// t.mu must be held for writing.
func (t *Tenant) setUserRoles(u *userEntry, rs []uint32) {
	u.n = uint32(len(rs))
	u.inl = [inlineRoles]uint32{}
	if len(rs) <= inlineRoles {
		copy(u.inl[:], rs)
		delete(t.userExt, u.idx)
		return
	}
	t.userExt[u.idx] = rs
}

// syncPerm refreshes permission p's table entry from its record; t.mu must
// be held for writing.
func (t *Tenant) syncPerm(p uint32) {
	rec := &t.permRecs[p]
	e := permEntry{idx: p, n: permFar}
	if rec.roles.bits == nil {
		e.place(rec.roles.small)
	}
	v, _ := t.perms.put(rec.name)
	*v = e
}

type roleRec struct {
	name    string // "" while the index is free
	perms   *roaring.Bitmap
	members *roaring.Bitmap
}

type permRec struct {
	name  string // "" while the index is free
	roles roleSet
}

// Tenant is one tenant's state. Its methods are safe for concurrent use. A
// nil *Tenant is an empty tenant: every read answers false or an empty list.
type Tenant struct {
	id TenantID

	mu  sync.RWMutex // guards everything below
	seq uint64

	users     nameTable[userEntry]
	userExt   map[uint32][]uint32 // roles of users in more than inlineRoles, by user index
	userNames []string            // by user index; "" when free
	freeUsers []uint32

	roles     map[string]uint32
	roleRecs  []roleRec
	freeRoles []uint32

	perms     nameTable[permEntry]
	permRecs  []permRec
	freePerms []uint32

	memberships int

	// For the key cache: the tenant's entry, made on its first lookup by
	// key, and whether a restore has replaced the tenant in its engine.
	keyEntry atomic.Pointer[keyEntry]
	replaced atomic.Bool
}

func newTenant(id TenantID) *Tenant {
	t := &Tenant{
		id:      id,
		userExt: make(map[uint32][]uint32),
		roles:   make(map[string]uint32),
	}
	t.users = newNameTable(func(e *userEntry) string { return t.userNames[e.idx] })
	t.perms = newNameTable(func(e *permEntry) string { return t.permRecs[e.idx].name })
	return t
}

// ID returns the tenant's id.
func (t *Tenant) ID() TenantID { return t.id }

// Seq returns the seq of the last event applied to the tenant (0 for none).
func (t *Tenant) Seq() uint64 {
	if t == nil {
		return 0
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.seq
}

// Stats counts what a tenant holds.
type Stats struct {
	Seq         uint64
	Users       int
	Roles       int
	Permissions int
	Memberships int
}

// Stats returns the tenant's counts.
func (t *Tenant) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return Stats{Seq: t.seq, Users: t.users.len(), Roles: len(t.roles), Permissions: t.perms.len(), Memberships: t.memberships}
}

// UserHasPermission reports whether any role of user is granted perm. It
// does not allocate.
func (t *Tenant) UserHasPermission(user, perm string) bool {
	if t == nil {
		return false
	}
	t.mu.RLock()
	ok := t.userHasPermission(user, perm)
	t.mu.RUnlock()
	return ok
}

// userHasPermission is the check; t.mu must be held.
func (t *Tenant) userHasPermission(user, perm string) bool {
	// Both lookups begin before either ends, so that when the two slots
	// are not in the CPU caches, the two reads from memory overlap.
	pu, pp := t.users.start(user), t.perms.start(perm)
	u := t.users.val(t.users.finish(user, pu))
	if u == nil {
		return false
	}
	p := t.perms.val(t.perms.finish(perm, pp))
	if p == nil {
		return false
	}
	if u.n <= inlineRoles && p.n != permFar {
		return intersectInline(u, p)
	}
	// A user in many roles, or a permission granted to many.
	roles := t.userRoles(u)
	if p.n != permFar {
		return p.meets(roles)
	}
	rs := &t.permRecs[p.idx].roles
	for _, r := range roles {
		if rs.has(r) {
			return true
		}
	}
	return false
}

// HasRole reports whether role exists.
func (t *Tenant) HasRole(role string) bool {
	if t == nil {
		return false
	}
	t.mu.RLock()
	_, ok := t.roles[role]
	t.mu.RUnlock()
	return ok
}

// HasPermission reports whether role is granted perm.
func (t *Tenant) HasPermission(role, perm string) bool {
	if t == nil {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	p := t.perms.get(perm)
	return p != nil && t.permRecs[p.idx].roles.has(r)
}

// HasMembership reports whether user is a member of role.
func (t *Tenant) HasMembership(user, role string) bool {
	if t == nil {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	u := t.users.get(user)
	if u == nil {
		return false
	}
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(t.userRoles(u), r)
	return found
}

// Roles returns every role, sorted.
func (t *Tenant) Roles() []string {
	if t == nil {
		return []string{}
	}
	t.mu.RLock()
	out := make([]string, 0, len(t.roles))
	for name := range t.roles {
		out = append(out, name)
	}
	t.mu.RUnlock()
	slices.Sort(out)
	return out
}

// RolePermissions returns the permissions granted to role, sorted.
func (t *Tenant) RolePermissions(role string) []string {
	if t == nil {
		return []string{}
	}
	t.mu.RLock()
	var out []string
	if r, ok := t.roles[role]; ok {
		perms := t.roleRecs[r].perms
		out = make([]string, 0, perms.GetCardinality())
		perms.Iterate(func(p uint32) bool {
			out = append(out, t.permRecs[p].name)
			return true
		})
	}
	t.mu.RUnlock()
	return sortedOrEmpty(out)
}

// RoleMembers returns the members of role, sorted.
func (t *Tenant) RoleMembers(role string) []string {
	if t == nil {
		return []string{}
	}
	t.mu.RLock()
	var out []string
	if r, ok := t.roles[role]; ok {
		members := t.roleRecs[r].members
		out = make([]string, 0, members.GetCardinality())
		members.Iterate(func(u uint32) bool {
			out = append(out, t.userNames[u])
			return true
		})
	}
	t.mu.RUnlock()
	return sortedOrEmpty(out)
}

// UserRoles returns the roles user is a member of, sorted.
func (t *Tenant) UserRoles(user string) []string {
	if t == nil {
		return []string{}
	}
	t.mu.RLock()
	var out []string
	if u := t.users.get(user); u != nil {
		for _, r := range t.userRoles(u) {
			out = append(out, t.roleRecs[r].name)
		}
	}
	t.mu.RUnlock()
	return sortedOrEmpty(out)
}

// UserPermissions returns every permission user has through any role,
// sorted, each once.
func (t *Tenant) UserPermissions(user string) []string {
	if t == nil {
		return []string{}
	}
	t.mu.RLock()
	var out []string
	if u := t.users.get(user); u != nil {
		acc := roaring.New()
		for _, r := range t.userRoles(u) {
			acc.Or(t.roleRecs[r].perms)
		}
		out = make([]string, 0, acc.GetCardinality())
		acc.Iterate(func(p uint32) bool {
			out = append(out, t.permRecs[p].name)
			return true
		})
	}
	t.mu.RUnlock()
	return sortedOrEmpty(out)
}

// WhichRolesCan returns the roles granted perm, sorted.
func (t *Tenant) WhichRolesCan(perm string) []string {
	if t == nil {
		return []string{}
	}
	t.mu.RLock()
	var out []string
	if p := t.perms.get(perm); p != nil {
		t.permRecs[p.idx].roles.each(func(r uint32) {
			out = append(out, t.roleRecs[r].name)
		})
	}
	t.mu.RUnlock()
	return sortedOrEmpty(out)
}

// WhichUsersCan returns the users that have perm through any role, sorted,
// each once.
func (t *Tenant) WhichUsersCan(perm string) []string {
	if t == nil {
		return []string{}
	}
	t.mu.RLock()
	var out []string
	if p := t.perms.get(perm); p != nil {
		acc := roaring.New()
		t.permRecs[p.idx].roles.each(func(r uint32) {
			acc.Or(t.roleRecs[r].members)
		})
		out = make([]string, 0, acc.GetCardinality())
		acc.Iterate(func(u uint32) bool {
			out = append(out, t.userNames[u])
			return true
		})
	}
	t.mu.RUnlock()
	return sortedOrEmpty(out)
}

func sortedOrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	slices.Sort(s)
	return s
}
