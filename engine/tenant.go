package engine

import (
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// inlineRoles is how many role indices a user entry holds without a separate
// allocation; most users are in a handful of roles.
const inlineRoles = 3

// userEntry is a user's value in the tenant's user map. Keeping the first
// roles inline saves a pointer chase (a likely cache miss) on every check.
type userEntry struct {
	idx uint32
	n   uint32              // number of roles
	inl [inlineRoles]uint32 // the roles, sorted, while n <= inlineRoles
	ext []uint32            // the roles, sorted, once n > inlineRoles
}

func (u *userEntry) roles() []uint32 {
	if u.n <= inlineRoles {
		return u.inl[:u.n]
	}
	return u.ext
}

func (u *userEntry) setRoles(rs []uint32) {
	u.n = uint32(len(rs))
	if len(rs) <= inlineRoles {
		u.inl = [inlineRoles]uint32{}
		copy(u.inl[:], rs)
		u.ext = nil
		return
	}
	u.ext = rs
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

	users     map[string]userEntry
	userNames []string // by user index; "" when free
	freeUsers []uint32

	roles     map[string]uint32
	roleRecs  []roleRec
	freeRoles []uint32

	perms     map[string]uint32
	permRecs  []permRec
	freePerms []uint32

	memberships int
}

func newTenant(id TenantID) *Tenant {
	return &Tenant{
		id:    id,
		users: make(map[string]userEntry),
		roles: make(map[string]uint32),
		perms: make(map[string]uint32),
	}
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
	return Stats{Seq: t.seq, Users: len(t.users), Roles: len(t.roles), Permissions: len(t.perms), Memberships: t.memberships}
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
	u, ok := t.users[user]
	if !ok {
		return false
	}
	p, ok := t.perms[perm]
	if !ok {
		return false
	}
	rs := &t.permRecs[p].roles
	if u.n <= inlineRoles {
		for i := uint32(0); i < u.n; i++ {
			if rs.has(u.inl[i]) {
				return true
			}
		}
		return false
	}
	for _, r := range u.ext {
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
	p, ok := t.perms[perm]
	return ok && t.permRecs[p].roles.has(r)
}

// HasMembership reports whether user is a member of role.
func (t *Tenant) HasMembership(user, role string) bool {
	if t == nil {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	u, ok := t.users[user]
	if !ok {
		return false
	}
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(u.roles(), r)
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
	if u, ok := t.users[user]; ok {
		for _, r := range u.roles() {
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
	if u, ok := t.users[user]; ok {
		acc := roaring.New()
		for _, r := range u.roles() {
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
	if p, ok := t.perms[perm]; ok {
		t.permRecs[p].roles.each(func(r uint32) {
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
	if p, ok := t.perms[perm]; ok {
		acc := roaring.New()
		t.permRecs[p].roles.each(func(r uint32) {
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
