package engine

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// Role inclusion: role A includes role B when A's members have, for every
// check and list of what a user can do, every permission of B, and of
// every role B includes, transitively. The roles and their direct
// inclusions form a graph without cycles: an inclusion that would close
// one is refused (ErrCycle) when its event is applied, in seq order, so
// every replica decides alike.
//
// A check does not walk the graph. What it reads is materialized: each
// permission's check set (permRec.roles, mirrored in its table entry) holds
// every role that has the permission directly or through inclusion, and a
// user's entry holds the user's own roles, so a check in a tenant with a
// hierarchy does the same work as in one without. While a tenant has no
// inclusion, the check set is exactly the roles granted the permission,
// and nothing else is kept; from its first inclusion, each permission also
// keeps the roles granted it directly (permRec.direct), from which its
// check set is derived:
//
//	check set(p) = { a : a reaches, through zero or more inclusions, a role in direct(p) }
//
// A write keeps the check sets in step for what it affects: an inclusion
// A → B adds the roles that reach A to the check sets of the permissions B
// reaches; removing one, or a grant, recomputes the check sets of the
// permissions it affects. The cost is the number of (permission, role)
// pairs affected; a change past inPlaceMax of them is built aside
// (state.go), so checks never wait for it.

// direction is the way a walk of the inclusion graph goes.
type direction bool

const (
	down direction = false // from a role to the roles it includes
	up   direction = true  // from a role to the roles that include it
)

// next returns the roles one inclusion away from r in direction dir.
func (t *tables) next(r uint32, dir direction) []uint32 {
	if dir == up {
		return t.roleRecs[r].includedBy
	}
	return t.roleRecs[r].includes
}

// walk calls fn once for each role in starts and each role they reach in
// direction dir, until fn returns false.
func (t *tables) walk(starts []uint32, dir direction, fn func(r uint32) bool) {
	seen := make([]uint64, (len(t.roleRecs)+63)/64)
	stack := slices.Clone(starts)
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[r>>6]&(1<<(r&63)) != 0 {
			continue
		}
		seen[r>>6] |= 1 << (r & 63)
		if !fn(r) {
			return
		}
		stack = append(stack, t.next(r, dir)...)
	}
}

// reach returns the roles in starts and those they reach in direction
// dir, in no particular order.
func (t *tables) reach(starts []uint32, dir direction) []uint32 {
	var out []uint32
	t.walk(starts, dir, func(r uint32) bool { out = append(out, r); return true })
	return out
}

// permsBelow returns the permissions granted to role r or to a role it
// reaches downward: those whose check sets an inclusion under r affects.
func (t *tables) permsBelow(r uint32) *roaring.Bitmap {
	acc := roaring.New()
	t.walk([]uint32{r}, down, func(d uint32) bool { acc.Or(t.roleRecs[d].perms); return true })
	return acc
}

// directRoles returns the set of roles granted permission p directly.
func (t *tables) directRoles(p uint32) *roleSet {
	if rec := &t.permRecs[p]; rec.direct != nil {
		return rec.direct
	}
	return &t.permRecs[p].roles
}

// included reports whether c's two roles exist and the first includes the
// second directly.
func (t *tables) included(c Change) (rolesOK, there bool) {
	a, okA := t.roles[c.Role]
	b, okB := t.roles[c.Includes]
	if !okA || !okB {
		return false, false
	}
	_, there = slices.BinarySearch(t.roleRecs[a].includes, b)
	return true, there
}

// cycle returns ErrCycle if role including includes would close a cycle:
// both exist, the inclusion is not there yet, and includes reaches role.
func (t *tables) cycle(role, includes string) error {
	a, okA := t.roles[role]
	b, okB := t.roles[includes]
	if !okA || !okB {
		return nil
	}
	if _, there := slices.BinarySearch(t.roleRecs[a].includes, b); there {
		return nil
	}
	found := false
	t.walk([]uint32{b}, down, func(r uint32) bool { found = r == a; return !found })
	if found {
		return &CycleError{Change: -1, Role: role, Includes: includes}
	}
	return nil
}

// refusal returns why the tenant's state refuses ev, or nil. A batch is
// refused whole if any of its changes would be refused where it stands.
func (t *tables) refusal(ev *Event) error {
	switch {
	case t.keys != nil && t.keys.deleted:
		return ErrTenantDeleted
	case !refusable(ev):
		return nil
	case ev.Op != OpBatch:
		return ev.Op.spec().refuse(t, ev.Change)
	}
	return t.batchCycle(ev.Changes)
}

// refusable reports whether any state could refuse ev: it is, or a batch
// with, a change whose op may be refused (an inclusion). Most events are
// not, and cost their writers no look at the state for it.
func refusable(ev *Event) bool {
	mayRefuse := func(c *Change) bool { s := c.Op.spec(); return s != nil && s.refuse != nil }
	if ev.Op != OpBatch {
		return mayRefuse(&ev.Change)
	}
	for i := range ev.Changes {
		if mayRefuse(&ev.Changes[i]) {
			return true
		}
	}
	return false
}

// batchCycle follows the roles and inclusions through changes, from the
// tenant's, and returns ErrCycle for the first inclusion that would close a
// cycle where it stands in the batch.
func (t *tables) batchCycle(changes []Change) error {
	g := make(map[string]map[string]bool, len(t.roles))
	for name, r := range t.roles {
		out := make(map[string]bool, len(t.roleRecs[r].includes))
		for _, b := range t.roleRecs[r].includes {
			out[t.roleRecs[b].name] = true
		}
		g[name] = out
	}
	for i, c := range changes {
		switch c.Op {
		case OpClear:
			clear(g)
		case OpAddRole:
			if g[c.Role] == nil {
				g[c.Role] = map[string]bool{}
			}
		case OpDelRole:
			delete(g, c.Role)
			for _, out := range g {
				delete(out, c.Role)
			}
		case OpDelInclusion:
			delete(g[c.Role], c.Includes)
		case OpAddInclusion:
			out, okA := g[c.Role]
			_, okB := g[c.Includes]
			if !okA || !okB || out[c.Includes] {
				continue
			}
			if reachesByName(g, c.Includes, c.Role) {
				return &CycleError{Change: i, Role: c.Role, Includes: c.Includes}
			}
			out[c.Includes] = true
		}
	}
	return nil
}

// reachesByName reports whether from reaches to (or is it) in g.
func reachesByName(g map[string]map[string]bool, from, to string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r == to {
			return true
		}
		if seen[r] {
			continue
		}
		seen[r] = true
		for b := range g[r] {
			stack = append(stack, b)
		}
	}
	return false
}

// addInclusion makes role include includes; the caller has checked that it
// closes no cycle (refusal). It answers false if either role does not
// exist.
func (t *tables) addInclusion(role, includes string) bool {
	a, okA := t.roles[role]
	b, okB := t.roles[includes]
	if !okA || !okB {
		return false
	}
	ra := &t.roleRecs[a]
	i, there := slices.BinarySearch(ra.includes, b)
	if there {
		return true
	}
	if t.inclusions == 0 {
		t.keepDirect()
	}
	ra.includes = slices.Insert(ra.includes, i, b)
	rb := &t.roleRecs[b]
	j, _ := slices.BinarySearch(rb.includedBy, a)
	rb.includedBy = slices.Insert(rb.includedBy, j, a)
	t.inclusions++
	// Whatever reaches a now has every permission b reaches.
	ups := t.reach([]uint32{a}, up)
	t.permsBelow(b).Iterate(func(p uint32) bool {
		rs := &t.permRecs[p].roles
		for _, x := range ups {
			rs.add(x)
		}
		t.syncPerm(p)
		return true
	})
	return true
}

// delInclusion removes role's inclusion of includes, if it is there.
func (t *tables) delInclusion(role, includes string) {
	a, okA := t.roles[role]
	b, okB := t.roles[includes]
	if !okA || !okB {
		return
	}
	t.unlink(a, b)
}

// unlink removes a's inclusion of b, if it is there, and recomputes the
// check sets it affected.
func (t *tables) unlink(a, b uint32) {
	ra, rb := &t.roleRecs[a], &t.roleRecs[b]
	i, there := slices.BinarySearch(ra.includes, b)
	if !there {
		return
	}
	ra.includes = slices.Delete(ra.includes, i, i+1)
	if len(ra.includes) == 0 {
		ra.includes = nil
	}
	j, _ := slices.BinarySearch(rb.includedBy, a)
	rb.includedBy = slices.Delete(rb.includedBy, j, j+1)
	if len(rb.includedBy) == 0 {
		rb.includedBy = nil
	}
	t.inclusions--
	t.permsBelow(b).Iterate(func(p uint32) bool {
		t.refreshPerm(p)
		return true
	})
	if t.inclusions == 0 {
		// Every check set is now its direct set again.
		for p := range t.permRecs {
			t.permRecs[p].direct = nil
		}
	}
}

// unlinkAll removes every inclusion of role r, both ways.
func (t *tables) unlinkAll(r uint32) {
	for len(t.roleRecs[r].includes) > 0 {
		t.unlink(r, t.roleRecs[r].includes[0])
	}
	for len(t.roleRecs[r].includedBy) > 0 {
		t.unlink(t.roleRecs[r].includedBy[0], r)
	}
}

// keepDirect begins keeping each permission's direct roles apart from its
// check set, as the tenant gains its first inclusion (when the two are
// still the same).
func (t *tables) keepDirect() {
	for p := range t.permRecs {
		if rec := &t.permRecs[p]; rec.name != "" {
			d := rec.roles.clone()
			rec.direct = &d
		}
	}
}

// refreshPerm recomputes permission p's check set from its direct roles
// and the inclusions, and its table entry.
func (t *tables) refreshPerm(p uint32) {
	rec := &t.permRecs[p]
	if rec.direct == nil {
		t.syncPerm(p)
		return
	}
	var starts []uint32
	rec.direct.each(func(r uint32) { starts = append(starts, r) })
	var set roleSet
	t.walk(starts, up, func(r uint32) bool { set.add(r); return true })
	rec.roles = set
	t.syncPerm(p)
}

// rebuildChecks computes every check set from the direct grants and the
// inclusions (after a restore): each role's permissions go to every role
// that reaches it.
func (t *tables) rebuildChecks() {
	if t.inclusions == 0 {
		return
	}
	t.keepDirect()
	for p := range t.permRecs {
		if t.permRecs[p].name != "" {
			t.permRecs[p].roles = roleSet{}
		}
	}
	for d := range t.roleRecs {
		rec := &t.roleRecs[d]
		if rec.name == "" || rec.perms.IsEmpty() {
			continue
		}
		ups := t.reach([]uint32{uint32(d)}, up)
		rec.perms.Iterate(func(p uint32) bool {
			rs := &t.permRecs[p].roles
			for _, x := range ups {
				rs.add(x)
			}
			return true
		})
	}
	for p := range t.permRecs {
		if t.permRecs[p].name != "" {
			t.syncPerm(uint32(p))
		}
	}
}

// inclusionCost estimates the table updates of linking or unlinking a
// including b (or of deleting a role, a and b both that role): the
// permissions b reaches, times the roles that reach a, whose check sets
// change; and, for a tenant's first inclusion, a copy of every
// permission's roles (keepDirect).
func (t *tables) inclusionCost(a, b uint32) int {
	n := int(t.permsBelow(b).GetCardinality()) * len(t.reach([]uint32{a}, up))
	if t.inclusions == 0 {
		n += t.perms.len()
	}
	return n
}

// delUser takes user out of every role.
func (t *tables) delUser(user string) {
	e := t.users.get(user)
	if e == nil {
		return
	}
	rs := t.userRoles(e)
	for _, r := range rs {
		t.roleRecs[r].members.Remove(e.idx)
	}
	t.memberships -= len(rs)
	t.freeUser(user, e.idx)
}

// aCycle returns a role on a cycle of inclusions, if there is one (only a
// snapshot can hold one: applied changes never make one).
func (t *tables) aCycle() (uint32, bool) {
	// Kahn's algorithm: roles left once every role with nothing left to
	// include has been removed are on or above a cycle.
	left := make([]int, len(t.roleRecs))
	var ready []uint32
	for r := range t.roleRecs {
		left[r] = len(t.roleRecs[r].includes)
		if left[r] == 0 {
			ready = append(ready, uint32(r))
		}
	}
	done := 0
	for len(ready) > 0 {
		r := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		done++
		for _, a := range t.roleRecs[r].includedBy {
			if left[a]--; left[a] == 0 {
				ready = append(ready, a)
			}
		}
	}
	if done == len(t.roleRecs) {
		return 0, false
	}
	for r := range left {
		if left[r] > 0 {
			return uint32(r), true
		}
	}
	return 0, false
}
