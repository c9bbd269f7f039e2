package engine

import (
	"slices"
	"sync"
	"time"

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
	n   uint32              // number of roles, and winFlag for a user with a window (window.go)
	inl [inlineRoles]uint32 // the roles, sorted, while n <= inlineRoles
}

// userRoles returns u's roles, sorted; t.mu must be held.
func (t *tables) userRoles(u *userEntry) []uint32 {
	if n := u.n &^ winFlag; n <= inlineRoles {
		return u.inl[:n]
	}
	return t.userExt[u.idx]
}

// setUserRoles sets u's roles to rs (sorted, owned by u from now on);
// t.mu must be held for writing.
func (t *tables) setUserRoles(u *userEntry, rs []uint32) {
	if u.n&winFlag != 0 {
		t.rewin(u, rs)
	}
	u.n = uint32(len(rs)) | u.n&winFlag
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
func (t *tables) syncPerm(p uint32) {
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
	// The roles this one includes directly, and those that include it
	// directly, sorted (inclusion.go); nil for most roles.
	includes, includedBy []uint32
}

type permRec struct {
	name string // "" while the index is free
	// roles is the permission's check set: the roles whose members have
	// it. Without inclusions, those granted it; with them, also every
	// role that reaches one of those (inclusion.go).
	roles roleSet
	// direct holds the roles granted the permission while the tenant has
	// inclusions; nil without them, when roles is that set.
	direct *roleSet
}

// tables is one version of a full tenant's state (see state.go for how
// versions are published and locked).
type tables struct {
	id TenantID

	// mu guards everything below for every reader but the check, and ck
	// guards what the check reads (users, userExt, perms, permRecs' roles)
	// for the check. A writer in place takes mu, then ck; see state.go.
	mu  sync.RWMutex
	ck  stripes
	seq uint64
	// aside is set while the tables are built aside (state.go): no reader
	// sees them, so a long change may yield the processor (pace).
	aside bool

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
	inclusions  int // direct inclusions of one role in another

	// userWin holds, for each user with a window on a membership (flagged
	// by winFlag), every one of its roles with its window, sorted by role
	// (window.go); windowed counts the memberships with a window. A list
	// is replaced, never changed in place.
	userWin  map[uint32][]roleWin
	windowed int
	// winUsers is what the check reads of the users of userWin: each one's
	// roles with their windows, in its slot (window.go).
	winUsers nameTable[winEntry]

	// keys are the tenant's keys (keys.go), nil for none but the first.
	keys *keySet
	// now is the time of the event being applied, for the changes that
	// keep it (a key's creation).
	now time.Time
}

func newTables(id TenantID) *tables {
	t := &tables{
		id:      id,
		userExt: make(map[uint32][]uint32),
		roles:   make(map[string]uint32),
	}
	t.users = newNameTable(func(e *userEntry) string { return t.userNames[e.idx] })
	t.perms = newNameTable(func(e *permEntry) string { return t.permRecs[e.idx].name })
	t.winUsers = newNameTable(func(e *winEntry) string { return t.userNames[e.idx] })
	return t
}

// The reads below are the tenant's, without locking: the caller holds mu
// for reading (or owns the tables), except userHasPermission, for which it
// holds a stripe of ck. The exported wrappers are in state.go.

func (t *tables) stats() Stats {
	return Stats{Seq: t.seq, Users: t.users.len(), Roles: len(t.roles), Permissions: t.perms.len(), Memberships: t.memberships}
}

// userHasPermission is the check of a tenant without windows (window.go
// has the check of one with them).
func (t *tables) userHasPermission(user, perm string) bool {
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

func (t *tables) hasRole(role string) bool {
	_, ok := t.roles[role]
	return ok
}

func (t *tables) hasPermission(role, perm string) bool {
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	p := t.perms.get(perm)
	return p != nil && t.directRoles(p.idx).has(r)
}

func (t *tables) hasMembership(user, role string, now int64) bool {
	u := t.users.get(user)
	if u == nil {
		return false
	}
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(t.userRoles(u), r)
	return found && t.windowOfMember(u, r).open(now)
}

func sortedOrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	slices.Sort(s)
	return s
}
