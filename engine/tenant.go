package engine

import (
	"math"
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

// permWords is how many 64-bit words of roles a permission entry holds in
// the permission table itself: four 16-bit role indices in each, enough to
// make its slot exactly two cache lines (128 bytes), so that a check finds
// both sets in the two slots it reads anyway. Most permissions are granted
// to far fewer roles than inlinePermRoles.
const (
	permWords       = 9
	inlinePermRoles = 4 * permWords
)

// permFar is permEntry.n for a permission whose roles are not inline: more
// than inlinePermRoles of them, or one with an index past 16 bits. A check
// then probes permRecs[idx].roles.
const permFar = math.MaxUint16

// noLane pads a permission entry's words past its roles. It is not a role
// index that is ever inline (those are below permFar).
const noLane = 0xffff

// permEntry is a permission's value in the tenant's permission table: its
// index and, in most cases, its roles, sorted, as 16-bit lanes of words
// (role i in bits 16*(i%4) of words[i/4]), the lanes past n set to noLane.
// The entry mirrors permRecs[idx].roles, the source of truth (see
// syncPerm).
//
// n and the first word come first: in a slot they share the first cache
// line with the name, so that a permission of up to four roles is read in
// one line.
type permEntry struct {
	idx   uint32
	n     uint16 // number of inline roles, or permFar
	words [permWords]uint64
}

// role returns the i-th inline role of p.
func (p *permEntry) role(i int) uint32 { return uint32(uint16(p.words[i/4] >> (16 * (i % 4)))) }

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
	if small := rec.roles.small; rec.roles.bits == nil && len(small) <= inlinePermRoles &&
		(len(small) == 0 || small[len(small)-1] < permFar) {
		e.n = uint16(len(small))
		for i := range e.words {
			e.words[i] = ^uint64(0) // every lane noLane
		}
		for i, r := range small {
			e.words[i/4] &^= noLane << (16 * (i % 4))
			e.words[i/4] |= uint64(r) << (16 * (i % 4))
		}
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
		for i := range int(p.n) {
			if _, found := slices.BinarySearch(roles, p.role(i)); found {
				return true
			}
		}
		return false
	}
	rs := &t.permRecs[p.idx].roles
	for _, r := range roles {
		if rs.has(r) {
			return true
		}
	}
	return false
}

// Lane masks of intersectInline: the low and the high bit of each 16-bit
// lane of a word.
const (
	lowBits  = 0x0001_0001_0001_0001
	highBits = 0x8000_8000_8000_8000
)

// intersectInline reports whether the inline roles of u and p meet. It
// compares a user role with four of the permission's at once (SWAR: a lane
// of w^r is zero where they are equal, and (x-low)&^x&high is nonzero
// exactly when some lane of x is zero), and without branching on the
// outcome: the answer of a check is as unpredictable as the queries, and a
// mispredicted branch costs more than the comparisons it would skip.
func intersectInline(u *userEntry, p *permEntry) bool {
	// Each user role broadcast to the four lanes, and a mask that drops it
	// if it is absent or too large to be inline.
	b0, m0 := lanesOf(u.inl[0], u.n > 0)
	b1, m1 := lanesOf(u.inl[1], u.n > 1)
	b2, m2 := lanesOf(u.inl[2], u.n > 2)
	var acc uint64
	for _, w := range p.words[:(p.n+3)/4] {
		x0, x1, x2 := w^b0, w^b1, w^b2
		acc |= (x0-lowBits)&^x0&m0 | (x1-lowBits)&^x1&m1 | (x2-lowBits)&^x2&m2
	}
	return acc&highBits != 0
}

// lanesOf returns r in each 16-bit lane, and a mask that keeps the lanes'
// comparison when present is true and r fits a lane below noLane.
func lanesOf(r uint32, present bool) (lanes, mask uint64) {
	ok := b2u(present) & b2u(r < noLane)
	return uint64(r&0xffff) * lowBits, -uint64(ok) & highBits
}

// b2u is 1 for true and 0 for false, without a branch.
func b2u(b bool) uint32 {
	var x uint32
	if b {
		x = 1
	}
	return x
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
