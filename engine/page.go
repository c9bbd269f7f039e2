package engine

import (
	"slices"
	"strings"
	"time"
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

// Via is one way a user has a permission: Role is granted it, and Path is
// the roles from one of the user's own roles to Role, each including the
// next (just [Role] when the user is in Role itself).
type Via struct {
	Role string
	Path []string
}

// Why returns the ways user has perm: each role granted perm that one of
// user's roles is or reaches through inclusions, with the shortest path to
// it (of those, the first by name), sorted by role. None: user does not
// have perm.
func (t *Tenant) Why(user, perm string) []Via {
	out := []Via{}
	if t == nil {
		return out
	}
	s, locked := t.rlock()
	defer runlock(s, locked)
	u, p := s.users.get(user), s.perms.get(perm)
	if u == nil || p == nil {
		return out
	}
	direct := s.directRoles(p.idx)
	// Breadth first from the user's roles, a level at a time, so that each
	// role's path is a shortest one, and the least by name among those.
	paths := map[uint32][]string{}
	level := slices.Clone(s.openRoles(u, t.at(s, time.Time{})))
	for _, r := range level {
		paths[r] = []string{s.roleRecs[r].name}
	}
	for len(level) > 0 {
		var next []uint32
		for _, r := range level {
			if direct.has(r) {
				out = append(out, Via{Role: s.roleRecs[r].name, Path: paths[r]})
			}
			for _, b := range s.roleRecs[r].includes {
				cand := append(slices.Clip(paths[r]), s.roleRecs[b].name)
				old, seen := paths[b]
				switch {
				case !seen:
					next = append(next, b)
					paths[b] = cand
				case len(old) == len(cand) && slices.Compare(cand, old) < 0:
					paths[b] = cand
				}
			}
		}
		level = next
	}
	slices.SortFunc(out, func(a, b Via) int { return strings.Compare(a.Role, b.Role) })
	return out
}
