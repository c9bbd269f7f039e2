package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// Snapshot is a tenant's whole state at one seq. Names are listed once, in
// index order, and roles refer to them by index; an empty name marks an
// unused index.
type Snapshot struct {
	Tenant      TenantID
	Seq         uint64
	Users       []string
	Permissions []string
	Roles       []RoleSnapshot
	// Keys are the tenant's keys but the first (keys.go), in the order
	// they were made; FirstKeyRevoked says the first key is revoked.
	Keys            []KeyRecord
	FirstKeyRevoked bool
	// Deleted marks a deleted tenant's tombstone: no names, no keys, the
	// first key revoked, and every later event refused.
	Deleted bool
	// Windows are the memberships with a window (window.go), by user and
	// role; every other membership is permanent.
	Windows []MemberWindow
}

// MemberWindow is the window of one membership of a [Snapshot]: User is an
// index into Snapshot.Users, Role one into Snapshot.Roles.
type MemberWindow struct {
	User, Role uint32
	Window     Window
}

// RoleSnapshot is one role of a [Snapshot].
type RoleSnapshot struct {
	Name        string
	Permissions []uint32 // indices into Snapshot.Permissions, ascending
	Members     []uint32 // indices into Snapshot.Users, ascending
	Includes    []uint32 // indices into Snapshot.Roles, ascending: the roles it includes directly
}

// ErrBadSnapshot is returned for a snapshot that does not describe a valid
// state (an index out of range, a duplicate or invalid name).
var ErrBadSnapshot = errors.New("engine: bad snapshot")

type snapRole struct {
	name           string
	perms, members *roaring.Bitmap
	includes       []uint32 // positions in the snapshot's roles
}

// snapshot begins a snapshot of t, under t.mu held for reading: it copies
// the names and clones the reverse bitmaps; finishSnapshot assembles the
// rest once the lock is released.
func (t *tables) snapshot() (*Snapshot, []snapRole) {
	s := &Snapshot{
		Tenant:      t.id,
		Seq:         t.seq,
		Users:       append([]string(nil), t.userNames...),
		Permissions: make([]string, len(t.permRecs)),
	}
	for i := range t.permRecs {
		s.Permissions[i] = t.permRecs[i].name
	}
	if t.keys != nil {
		s.Keys = slices.Clone(t.keys.recs)
		s.FirstKeyRevoked = t.keys.firstRevoked
		s.Deleted = t.keys.deleted
	}
	roles := make([]snapRole, 0, len(t.roles))
	var pos []uint32 // a role's position in roles, by index, once there are inclusions or windows
	if t.inclusions > 0 || t.windowed > 0 {
		pos = make([]uint32, len(t.roleRecs))
	}
	for i := range t.roleRecs {
		if rec := &t.roleRecs[i]; rec.name != "" {
			if pos != nil {
				pos[i] = uint32(len(roles))
			}
			roles = append(roles, snapRole{name: rec.name, perms: rec.perms.Clone(), members: rec.members.Clone()})
		}
	}
	for u, ws := range t.userWin {
		for _, x := range ws {
			if x.window != forever {
				s.Windows = append(s.Windows, MemberWindow{User: u, Role: pos[x.role], Window: x.window.public()})
			}
		}
	}
	slices.SortFunc(s.Windows, func(a, b MemberWindow) int {
		if c := cmp.Compare(a.User, b.User); c != 0 {
			return c
		}
		return cmp.Compare(a.Role, b.Role)
	})
	if t.inclusions > 0 {
		for i, r := range roles {
			for _, b := range t.roleRecs[t.roles[r.name]].includes {
				roles[i].includes = append(roles[i].includes, pos[b])
			}
			slices.Sort(roles[i].includes)
		}
	}
	return s, roles
}

// finishSnapshot fills in s's roles from what snapshot cloned, outside the
// lock.
func finishSnapshot(s *Snapshot, roles []snapRole) *Snapshot {
	s.Roles = make([]RoleSnapshot, len(roles))
	for i, r := range roles {
		s.Roles[i] = RoleSnapshot{Name: r.name, Permissions: r.perms.ToArray(), Members: r.members.ToArray(), Includes: r.includes}
	}
	return s
}

// Snapshot returns the state of tenant id; an unknown tenant gives an empty
// snapshot at seq 0.
func (e *Engine) Snapshot(id TenantID) *Snapshot {
	t := e.Tenant(id)
	if t == nil {
		return &Snapshot{Tenant: id}
	}
	return t.Snapshot()
}

func restoreTables(s *Snapshot) (*tables, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	t := newTables(s.Tenant)
	t.seq = s.Seq
	if s.Deleted && (!s.FirstKeyRevoked || len(s.Keys)+len(s.Users)+len(s.Permissions)+len(s.Roles) > 0) {
		return nil, bad("a deleted tenant's snapshot holds more than its seq")
	}
	if len(s.Keys) > 0 || s.FirstKeyRevoked {
		ks := &keySet{firstRevoked: s.FirstKeyRevoked, deleted: s.Deleted, recs: slices.Clone(s.Keys)}
		for i, k := range ks.recs {
			c := AddKeyChange(k)
			if err := c.Validate(); err != nil {
				return nil, bad("key %d: %v", i, err)
			}
			if ks.find(k.ID) != i {
				return nil, bad("key %q twice", k.ID)
			}
		}
		t.keys = ks
	}

	t.permRecs = make([]permRec, len(s.Permissions))
	t.perms.reserve(len(s.Permissions))
	for i, name := range s.Permissions {
		if name == "" {
			t.freePerms = append(t.freePerms, uint32(i))
			continue
		}
		if err := ValidName(name); err != nil {
			return nil, bad("permission %d: %v", i, err)
		}
		t.permRecs[i].name = name // first: the table may read a long name from it
		v, fresh := t.perms.put(name)
		if !fresh {
			return nil, bad("permission %q twice", name)
		}
		v.idx = uint32(i)
	}

	t.userNames = make([]string, len(s.Users))
	entries := make([]userEntry, len(s.Users))
	roleLists := make([][]uint32, len(s.Users)) // only for users past inlineRoles
	t.roleRecs = make([]roleRec, len(s.Roles))
	step := 0
	for r, rs := range s.Roles {
		if err := ValidName(rs.Name); err != nil {
			return nil, bad("role %d: %v", r, err)
		}
		if _, dup := t.roles[rs.Name]; dup {
			return nil, bad("role %q twice", rs.Name)
		}
		t.roles[rs.Name] = uint32(r)
		rec := roleRec{name: rs.Name, perms: roaring.New(), members: roaring.New()}
		for _, p := range rs.Permissions {
			if int(p) >= len(s.Permissions) || s.Permissions[p] == "" {
				return nil, bad("role %q: permission index %d", rs.Name, p)
			}
			if rec.perms.CheckedAdd(p) {
				t.permRecs[p].roles.add(uint32(r))
			}
		}
		for _, u := range rs.Members {
			pace(step) // the tables are new: no reader sees them yet
			step++
			if int(u) >= len(s.Users) || s.Users[u] == "" {
				return nil, bad("role %q: member index %d", rs.Name, u)
			}
			if !rec.members.CheckedAdd(u) {
				continue
			}
			// Roles are visited in ascending index order, so each user's
			// list stays sorted as it grows.
			e := &entries[u]
			if e.n < inlineRoles {
				e.inl[e.n] = uint32(r)
			} else {
				if e.n == inlineRoles {
					roleLists[u] = append(make([]uint32, 0, inlineRoles+1), e.inl[:]...)
				}
				roleLists[u] = append(roleLists[u], uint32(r))
			}
			e.n++
			t.memberships++
		}
		t.roleRecs[r] = rec
	}
	for r, rs := range s.Roles {
		for i, b := range rs.Includes {
			if int(b) >= len(s.Roles) || uint32(r) == b || (i > 0 && b <= rs.Includes[i-1]) {
				return nil, bad("role %q: inclusion index %d", rs.Name, b)
			}
			t.roleRecs[r].includes = append(t.roleRecs[r].includes, b)
			t.roleRecs[b].includedBy = append(t.roleRecs[b].includedBy, uint32(r))
			t.inclusions++
		}
	}
	if t.inclusions > 0 {
		// Roles are visited in ascending order: each includedBy is sorted.
		if r, ok := t.aCycle(); ok {
			return nil, bad("role %q: its inclusions make a cycle", t.roleRecs[r].name)
		}
		t.rebuildChecks()
	}
	for p := range t.permRecs {
		if t.permRecs[p].name == "" {
			continue
		}
		if t.permRecs[p].roles.n == 0 {
			// A permission no role holds is not part of the state; drop it
			// as Apply would have.
			t.perms.del(t.permRecs[p].name)
			t.permRecs[p] = permRec{}
			t.freePerms = append(t.freePerms, uint32(p))
			continue
		}
		t.syncPerm(uint32(p))
	}

	t.users.reserve(len(s.Users))
	for u, name := range s.Users {
		pace(u)
		e := entries[u]
		if name == "" || e.n == 0 {
			if name != "" {
				if err := ValidName(name); err != nil {
					return nil, bad("user %d: %v", u, err)
				}
			}
			t.freeUsers = append(t.freeUsers, uint32(u))
			continue
		}
		if err := ValidName(name); err != nil {
			return nil, bad("user %d: %v", u, err)
		}
		t.userNames[u] = name // first: the table may read a long name from it
		v, fresh := t.users.put(name)
		if !fresh {
			return nil, bad("user %q twice", name)
		}
		e.idx = uint32(u)
		if e.n > inlineRoles {
			t.userExt[e.idx] = roleLists[u]
			e.inl = [inlineRoles]uint32{}
		}
		*v = e
	}
	for i, mw := range s.Windows {
		w := windowOf(mw.Window)
		if int(mw.User) >= len(s.Users) || int(mw.Role) >= len(s.Roles) || !t.roleRecs[mw.Role].members.Contains(mw.User) {
			return nil, bad("window %d: not a membership", i)
		}
		if w == forever || w.from >= w.until {
			return nil, bad("window %d: empty or no bound", i)
		}
		if i > 0 && (mw.User < s.Windows[i-1].User || mw.User == s.Windows[i-1].User && mw.Role <= s.Windows[i-1].Role) {
			return nil, bad("window %d: out of order", i)
		}
		t.setWindow(t.users.get(s.Users[mw.User]), mw.Role, w)
	}
	// Names without a grant or a role took room that nothing holds.
	t.perms.fit()
	t.users.fit()
	return t, nil
}
