package engine

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// apply applies ev to t and returns the answer the original API gives for
// it; t.mu must be held for writing. ev must already be valid.
func (t *tables) apply(ev *Event) (bool, error) {
	if ev.Seq != t.seq+1 {
		return false, fmt.Errorf("%w: tenant at %d, event %d", ErrOutOfOrder, t.seq, ev.Seq)
	}
	if err := t.refusal(ev); err != nil {
		t.seq = ev.Seq
		return false, err
	}
	var result bool
	t.now = ev.Time
	if ev.Op == OpBatch {
		for i := range ev.Changes {
			t.pace(i)
			t.change(&ev.Changes[i])
		}
		result = true
	} else {
		result = t.change(&ev.Change)
	}
	t.seq = ev.Seq
	return result, nil
}

// change applies one change, by its op's row of the op table; t.mu must be
// held for writing.
func (t *tables) change(c *Change) bool {
	if s := c.Op.spec(); s != nil && s.change != nil {
		return s.change(t, *c)
	}
	return false
}

// answer is [Tenant.Answer], by c's op's row of the op table; t.mu must be held.
func (t *tables) answer(c *Change) (result, changes bool) {
	if s := c.Op.spec(); s != nil && s.answer != nil {
		return s.answer(t, *c)
	}
	return false, false
}

// The answers of the ops (see answer), for the op table. An add of a fact
// answers whether its role exists and changes what is not there yet; a
// delete answers true and changes what is there.

func answerAdd(roleOK, there bool) (result, changes bool) { return roleOK, roleOK && !there }

func answerDel(_, there bool) (result, changes bool) { return true, there }

// roleThere reports whether c's role exists.
func (t *tables) roleThere(c Change) bool {
	_, ok := t.roles[c.Role]
	return ok
}

// granted reports whether c's role exists and is granted c's permission.
func (t *tables) granted(c Change) (roleOK, granted bool) {
	r, roleOK := t.roles[c.Role]
	if p := t.perms.get(c.Permission); p != nil && roleOK {
		granted = t.directRoles(p.idx).has(r)
	}
	return roleOK, granted
}

// member reports whether c's role exists and has c's user as a member.
func (t *tables) member(c Change) (roleOK, member bool) {
	r, roleOK := t.roles[c.Role]
	if u := t.users.get(c.User); u != nil && roleOK {
		member = t.roleRecs[r].members.Contains(u.idx)
	}
	return roleOK, member
}

func (t *tables) addRole(name string) bool {
	if _, ok := t.roles[name]; ok {
		return false
	}
	t.roles[name] = claim(&t.roleRecs, &t.freeRoles, roleRec{name: name, perms: roaring.New(), members: roaring.New()})
	return true
}

// claim stores rec at a free index of recs, the last one freed, or at a
// new one past the end, and returns that index.
func claim[T any](recs *[]T, free *[]uint32, rec T) uint32 {
	if n := len(*free); n > 0 {
		i := (*free)[n-1]
		*free = (*free)[:n-1]
		(*recs)[i] = rec
		return i
	}
	*recs = append(*recs, rec)
	return uint32(len(*recs) - 1)
}

func (t *tables) delRole(name string) bool {
	r, ok := t.roles[name]
	if !ok {
		return false
	}
	t.unlinkAll(r)
	// r now has a permission's check set only if it is granted it.
	rec := &t.roleRecs[r]
	rec.perms.Iterate(func(p uint32) bool {
		t.permRecs[p].roles.remove(r)
		if d := t.permRecs[p].direct; d != nil {
			d.remove(r)
		}
		t.releasePerm(p)
		return true
	})
	i := 0
	rec.members.Iterate(func(u uint32) bool {
		t.pace(i)
		i++
		name := t.userNames[u]
		t.removeUserRole(name, t.users.get(name), r)
		return true
	})
	*rec = roleRec{}
	delete(t.roles, name)
	t.freeRoles = append(t.freeRoles, r)
	return true
}

func (t *tables) addPermission(role, perm string) bool {
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	var p uint32
	if e := t.perms.get(perm); e != nil {
		p = e.idx
	} else {
		p = claim(&t.permRecs, &t.freePerms, permRec{name: perm})
	}
	if t.roleRecs[r].perms.CheckedAdd(p) {
		if t.inclusions == 0 {
			t.permRecs[p].roles.add(r)
		} else {
			if t.permRecs[p].direct == nil {
				t.permRecs[p].direct = &roleSet{}
			}
			t.permRecs[p].direct.add(r)
			// Whatever reaches r has p now.
			t.walk([]uint32{r}, up, func(x uint32) bool { t.permRecs[p].roles.add(x); return true })
		}
	}
	t.syncPerm(p)
	return true
}

func (t *tables) delPermission(role, perm string) {
	r, ok := t.roles[role]
	if !ok {
		return
	}
	e := t.perms.get(perm)
	if e == nil {
		return
	}
	if p := e.idx; t.roleRecs[r].perms.CheckedRemove(p) {
		if d := t.permRecs[p].direct; d != nil {
			d.remove(r)
			t.refreshPerm(p)
		} else {
			t.permRecs[p].roles.remove(r)
		}
		t.releasePerm(p)
	}
}

// releasePerm frees p once no role is granted it, so that names that come
// and go do not grow the tenant forever; else it refreshes p's table entry
// after a change of its roles.
func (t *tables) releasePerm(p uint32) {
	rec := &t.permRecs[p]
	if rec.roles.n > 0 {
		t.syncPerm(p)
		return
	}
	t.perms.del(rec.name)
	*rec = permRec{}
	t.freePerms = append(t.freePerms, p)
}

// addMembership puts user in role, with the window it had if it was a
// member already; t.mu must be held for writing.
func (t *tables) addMembership(user, role string) bool {
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	e := t.users.get(user)
	if e == nil {
		u := claim(&t.userNames, &t.freeUsers, user)
		e, _ = t.users.put(user)
		e.idx = u
	}
	if !t.roleRecs[r].members.CheckedAdd(e.idx) {
		return true
	}
	rs := t.userRoles(e)
	i := 0
	for i < len(rs) && rs[i] < r {
		i++
	}
	next := make([]uint32, 0, len(rs)+1)
	next = append(next, rs[:i]...)
	next = append(next, r)
	next = append(next, rs[i:]...)
	t.setUserRoles(e, next)
	t.memberships++
	return true
}

func (t *tables) delMembership(user, role string) {
	r, ok := t.roles[role]
	if !ok {
		return
	}
	e := t.users.get(user)
	if e == nil {
		return
	}
	if t.roleRecs[r].members.CheckedRemove(e.idx) {
		t.removeUserRole(user, e, r)
	}
}

// removeUserRole drops r from user's entry e, in the user table (the
// caller has already removed the user from r's members), and frees the
// user once it has no role left; t.mu must be held for writing.
func (t *tables) removeUserRole(user string, e *userEntry, r uint32) {
	t.memberships--
	if e.n&^winFlag == 1 {
		t.freeUser(user, e.idx)
		return
	}
	rs := t.userRoles(e)
	next := make([]uint32, 0, len(rs)-1)
	for _, x := range rs {
		if x != r {
			next = append(next, x)
		}
	}
	t.setUserRoles(e, next)
}

// freeUser drops user, whose index is u, from the user table and frees u;
// the user must be in no role's members any more. t.mu must be held for
// writing.
func (t *tables) freeUser(user string, u uint32) {
	t.users.del(user) // the entry is gone; the name goes after, as del may read it
	delete(t.userExt, u)
	t.dropWin(u)
	t.userNames[u] = ""
	t.freeUsers = append(t.freeUsers, u)
}
