package engine

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// apply applies ev to t and returns the answer the original API gives for
// it; t.mu must be held for writing. ev must already be valid.
func (t *Tenant) apply(ev *Event) (bool, error) {
	if ev.Seq != t.seq+1 {
		return false, fmt.Errorf("%w: tenant at %d, event %d", ErrOutOfOrder, t.seq, ev.Seq)
	}
	var result bool
	if ev.Op == OpBatch {
		for i := range ev.Changes {
			t.change(&ev.Changes[i])
		}
		result = true
	} else {
		result = t.change(&ev.Change)
	}
	t.seq = ev.Seq
	return result, nil
}

// change applies one change; t.mu must be held for writing.
func (t *Tenant) change(c *Change) bool {
	switch c.Op {
	case OpAddRole:
		return t.addRole(c.Role)
	case OpDelRole:
		return t.delRole(c.Role)
	case OpAddPermission:
		return t.addPermission(c.Role, c.Permission)
	case OpDelPermission:
		t.delPermission(c.Role, c.Permission)
		return true
	case OpAddMembership:
		return t.addMembership(c.User, c.Role)
	case OpDelMembership:
		t.delMembership(c.User, c.Role)
		return true
	}
	return false
}

// Answer returns what c would answer if it were applied now, and whether
// applying it would change anything. A writer uses it to answer no-op
// requests without writing an event. It does not modify t.
func (t *Tenant) Answer(c *Change) (result, changes bool) {
	result, changes, _ = t.AnswerAt(c)
	return result, changes
}

// AnswerAt is Answer, also returning the seq of the state it answered
// from, read under the same lock.
func (t *Tenant) AnswerAt(c *Change) (result, changes bool, seq uint64) {
	if t == nil {
		switch c.Op {
		case OpAddRole, OpBatch:
			return true, true, 0
		case OpDelPermission, OpDelMembership:
			return true, false, 0
		default:
			return false, false, 0
		}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	result, changes = t.answer(c)
	return result, changes, t.seq
}

// answer is Answer; t.mu must be held.
func (t *Tenant) answer(c *Change) (result, changes bool) {
	r, roleOK := t.roles[c.Role]
	switch c.Op {
	case OpAddRole:
		return !roleOK, !roleOK
	case OpDelRole:
		return roleOK, roleOK
	case OpAddPermission, OpDelPermission:
		granted := false
		if p, ok := t.perms[c.Permission]; ok && roleOK {
			granted = t.permRecs[p.idx].roles.has(r)
		}
		if c.Op == OpAddPermission {
			return roleOK, roleOK && !granted
		}
		return true, granted
	case OpAddMembership, OpDelMembership:
		member := false
		if u, ok := t.users[c.User]; ok && roleOK {
			member = t.roleRecs[r].members.Contains(u.idx)
		}
		if c.Op == OpAddMembership {
			return roleOK, roleOK && !member
		}
		return true, member
	case OpBatch:
		return true, true
	}
	return false, false
}

func (t *Tenant) addRole(name string) bool {
	if _, ok := t.roles[name]; ok {
		return false
	}
	rec := roleRec{name: name, perms: roaring.New(), members: roaring.New()}
	var r uint32
	if n := len(t.freeRoles); n > 0 {
		r = t.freeRoles[n-1]
		t.freeRoles = t.freeRoles[:n-1]
		t.roleRecs[r] = rec
	} else {
		r = uint32(len(t.roleRecs))
		t.roleRecs = append(t.roleRecs, rec)
	}
	t.roles[name] = r
	return true
}

func (t *Tenant) delRole(name string) bool {
	r, ok := t.roles[name]
	if !ok {
		return false
	}
	rec := &t.roleRecs[r]
	rec.perms.Iterate(func(p uint32) bool {
		t.permRecs[p].roles.remove(r)
		t.releasePerm(p)
		return true
	})
	rec.members.Iterate(func(u uint32) bool {
		name := t.userNames[u]
		e := t.users[name]
		t.removeUserRole(name, &e, r)
		return true
	})
	*rec = roleRec{}
	delete(t.roles, name)
	t.freeRoles = append(t.freeRoles, r)
	return true
}

func (t *Tenant) addPermission(role, perm string) bool {
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	e, ok := t.perms[perm]
	p := e.idx
	if !ok {
		if n := len(t.freePerms); n > 0 {
			p = t.freePerms[n-1]
			t.freePerms = t.freePerms[:n-1]
			t.permRecs[p] = permRec{name: perm}
		} else {
			p = uint32(len(t.permRecs))
			t.permRecs = append(t.permRecs, permRec{name: perm})
		}
	}
	if t.roleRecs[r].perms.CheckedAdd(p) {
		t.permRecs[p].roles.add(r)
	}
	t.syncPerm(p)
	return true
}

func (t *Tenant) delPermission(role, perm string) {
	r, ok := t.roles[role]
	if !ok {
		return
	}
	e, ok := t.perms[perm]
	if !ok {
		return
	}
	if t.roleRecs[r].perms.CheckedRemove(e.idx) {
		t.permRecs[e.idx].roles.remove(r)
		t.releasePerm(e.idx)
	}
}

// releasePerm frees p once no role is granted it, so that names that come
// and go do not grow the tenant forever; else it refreshes p's map entry
// after a change of its roles.
func (t *Tenant) releasePerm(p uint32) {
	rec := &t.permRecs[p]
	if rec.roles.n > 0 {
		t.syncPerm(p)
		return
	}
	delete(t.perms, rec.name)
	*rec = permRec{}
	t.freePerms = append(t.freePerms, p)
}

func (t *Tenant) addMembership(user, role string) bool {
	r, ok := t.roles[role]
	if !ok {
		return false
	}
	e, ok := t.users[user]
	if !ok {
		if n := len(t.freeUsers); n > 0 {
			e.idx = t.freeUsers[n-1]
			t.freeUsers = t.freeUsers[:n-1]
			t.userNames[e.idx] = user
		} else {
			e.idx = uint32(len(t.userNames))
			t.userNames = append(t.userNames, user)
		}
	}
	if !t.roleRecs[r].members.CheckedAdd(e.idx) {
		return true
	}
	rs := t.userRoles(&e)
	i := 0
	for i < len(rs) && rs[i] < r {
		i++
	}
	next := make([]uint32, 0, len(rs)+1)
	next = append(next, rs[:i]...)
	next = append(next, r)
	next = append(next, rs[i:]...)
	t.setUserRoles(&e, next)
	t.users[user] = e
	t.memberships++
	return true
}

func (t *Tenant) delMembership(user, role string) {
	r, ok := t.roles[role]
	if !ok {
		return
	}
	e, ok := t.users[user]
	if !ok {
		return
	}
	if t.roleRecs[r].members.CheckedRemove(e.idx) {
		t.removeUserRole(user, &e, r)
	}
}

// removeUserRole drops r from user's entry e (the caller has already
// removed the user from r's members) and frees the user once it has no
// role left; t.mu must be held for writing.
func (t *Tenant) removeUserRole(user string, e *userEntry, r uint32) {
	t.memberships--
	if e.n == 1 {
		delete(t.users, user)
		delete(t.userExt, e.idx)
		t.userNames[e.idx] = ""
		t.freeUsers = append(t.freeUsers, e.idx)
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
	t.users[user] = *e
}
