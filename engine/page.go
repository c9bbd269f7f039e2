package engine

import (
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// Page asks for part of a sorted list: the names after After (exclusive,
// "" for the start) that begin with Prefix, at most Limit of them (0: all).
//
// A page with a limit is not made by sorting the whole list: the list's
// names are scanned once, under the tenant's read lock as the whole-list
// reads take it, and the smallest Limit+1 of those past the cursor are
// kept in a bounded heap, so a page of a role of 300k members costs a
// scan and a few comparisons a name, not a sort of 300k names.
type Page struct {
	After  string
	Prefix string
	Limit  int
}

// pager selects a page's names from a list given in any order.
type pager struct {
	q     Page
	names []string // a max-heap of at most q.Limit+1 names while q.Limit > 0
}

func newPager(q Page) *pager {
	p := &pager{q: q}
	if q.Limit > 0 {
		p.names = make([]string, 0, min(q.Limit+1, 1024))
	}
	return p
}

// add offers one name of the list.
func (p *pager) add(name string) {
	if name <= p.q.After { // names are never empty, so "" passes them all
		return
	}
	if !strings.HasPrefix(name, p.q.Prefix) {
		return
	}
	if p.q.Limit <= 0 {
		p.names = append(p.names, name)
		return
	}
	h := p.names
	if len(h) <= p.q.Limit {
		// Not full yet: push and sift up.
		h = append(h, name)
		for i := len(h) - 1; i > 0; {
			parent := (i - 1) / 2
			if h[parent] >= h[i] {
				break
			}
			h[parent], h[i] = h[i], h[parent]
			i = parent
		}
		p.names = h
		return
	}
	if name >= h[0] {
		return
	}
	// Replace the largest and sift down.
	h[0] = name
	for i := 0; ; {
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(h) && h[l] > h[big] {
			big = l
		}
		if r < len(h) && h[r] > h[big] {
			big = r
		}
		if big == i {
			break
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// result returns the page's names, sorted, and whether the list goes on
// past them (only ever true with a limit).
func (p *pager) result() ([]string, bool) {
	out := p.names
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	if p.q.Limit > 0 && len(out) > p.q.Limit {
		return out[:p.q.Limit], true
	}
	return out, false
}

// RolesPage returns a page of the tenant's roles, sorted, and whether more
// follow it.
func (t *Tenant) RolesPage(q Page) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		for name := range s.roles {
			p.add(name)
		}
		runlock(s, locked)
	}
	return p.result()
}

// RoleInfo is a role with the counts of its members and permissions.
type RoleInfo struct {
	Name        string
	Members     int
	Permissions int
}

// RolesPageCounts is RolesPage with each role's counts, all from one
// state.
func (t *Tenant) RolesPageCounts(q Page) ([]RoleInfo, bool) {
	if t == nil {
		return []RoleInfo{}, false
	}
	p := newPager(q)
	s, locked := t.rlock()
	defer runlock(s, locked)
	for name := range s.roles {
		p.add(name)
	}
	names, more := p.result()
	out := make([]RoleInfo, len(names))
	for i, name := range names {
		rec := &s.roleRecs[s.roles[name]]
		out[i] = RoleInfo{Name: name, Members: int(rec.members.GetCardinality()), Permissions: int(rec.perms.GetCardinality())}
	}
	return out, more
}

// RoleCounts returns how many members role has and how many permissions
// it is granted, and whether it exists.
func (t *Tenant) RoleCounts(role string) (members, permissions int, ok bool) {
	if t == nil {
		return 0, 0, false
	}
	s, locked := t.rlock()
	defer runlock(s, locked)
	r, ok := s.roles[role]
	if !ok {
		return 0, 0, false
	}
	rec := &s.roleRecs[r]
	return int(rec.members.GetCardinality()), int(rec.perms.GetCardinality()), true
}

// RoleMembersPage returns a page of role's members, sorted, and whether
// more follow it.
func (t *Tenant) RoleMembersPage(role string, q Page) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		if r, ok := s.roles[role]; ok {
			s.roleRecs[r].members.Iterate(func(u uint32) bool {
				p.add(s.userNames[u])
				return true
			})
		}
		runlock(s, locked)
	}
	return p.result()
}

// RolePermissionsPage returns a page of the permissions granted to role,
// sorted, and whether more follow it.
func (t *Tenant) RolePermissionsPage(role string, q Page) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		if r, ok := s.roles[role]; ok {
			s.roleRecs[r].perms.Iterate(func(x uint32) bool {
				p.add(s.permRecs[x].name)
				return true
			})
		}
		runlock(s, locked)
	}
	return p.result()
}

// UserRolesPage returns a page of the roles user is a member of, sorted,
// and whether more follow it.
func (t *Tenant) UserRolesPage(user string, q Page) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		if u := s.users.get(user); u != nil {
			for _, r := range s.userRoles(u) {
				p.add(s.roleRecs[r].name)
			}
		}
		runlock(s, locked)
	}
	return p.result()
}

// UserPermissionsPage returns a page of the permissions user has through
// any role, sorted, each once, and whether more follow it.
func (t *Tenant) UserPermissionsPage(user string, q Page) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		if u := s.users.get(user); u != nil {
			acc := roaring.New()
			for _, r := range s.userRoles(u) {
				acc.Or(s.roleRecs[r].perms)
			}
			acc.Iterate(func(x uint32) bool {
				p.add(s.permRecs[x].name)
				return true
			})
		}
		runlock(s, locked)
	}
	return p.result()
}

// WhichRolesCanPage returns a page of the roles granted perm, sorted, and
// whether more follow it.
func (t *Tenant) WhichRolesCanPage(perm string, q Page) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		if e := s.perms.get(perm); e != nil {
			s.permRecs[e.idx].roles.each(func(r uint32) {
				p.add(s.roleRecs[r].name)
			})
		}
		runlock(s, locked)
	}
	return p.result()
}

// WhichUsersCanPage returns a page of the users that have perm through any
// role, sorted, each once, and whether more follow it.
func (t *Tenant) WhichUsersCanPage(perm string, q Page) ([]string, bool) {
	p := newPager(q)
	if t != nil {
		s, locked := t.rlock()
		if e := s.perms.get(perm); e != nil {
			acc := roaring.New()
			s.permRecs[e.idx].roles.each(func(r uint32) {
				acc.Or(s.roleRecs[r].members)
			})
			acc.Iterate(func(u uint32) bool {
				p.add(s.userNames[u])
				return true
			})
		}
		runlock(s, locked)
	}
	return p.result()
}

// RolesGranting returns the roles of user that are granted perm, sorted:
// the roles through which user has perm (none: user does not have it).
func (t *Tenant) RolesGranting(user, perm string) []string {
	if t == nil {
		return []string{}
	}
	s, locked := t.rlock()
	var out []string
	if u := s.users.get(user); u != nil {
		if e := s.perms.get(perm); e != nil {
			rs := &s.permRecs[e.idx].roles
			for _, r := range s.userRoles(u) {
				if rs.has(r) {
					out = append(out, s.roleRecs[r].name)
				}
			}
		}
	}
	runlock(s, locked)
	return sortedOrEmpty(out)
}
