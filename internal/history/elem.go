package history

import (
	"fmt"
	"math/rand/v2"
)

// elem is one fact of a tenant's state: a role exists, a role is granted a
// permission, a user is a member of a role.
type elem struct {
	kind elemKind
	role int8
	x    int8 // the permission or the user
}

type elemKind uint8

const (
	elemRole elemKind = iota
	elemGrant
	elemMember
)

func (e elem) String() string {
	switch e.kind {
	case elemGrant:
		return fmt.Sprintf("%s may %s", roleNames[e.role], permNames[e.x])
	case elemMember:
		return fmt.Sprintf("%s in %s", userNames[e.x], roleNames[e.role])
	}
	return fmt.Sprintf("role %s exists", roleNames[e.role])
}

// in says whether e holds in s.
func (e elem) in(s State) bool {
	switch e.kind {
	case elemGrant:
		return s.Grants&bit(e.role, e.x) != 0
	case elemMember:
		return s.Members&bit(e.role, e.x) != 0
	}
	return s.Roles&(1<<uint(e.role)) != 0
}

// target is the element a write wrote, which a read with the write's seq
// must see as the write left it; for an import, one of its lines.
func target(in *Input, rng *rand.Rand) elem {
	switch in.Kind {
	case AddPerm, DelPerm:
		return elem{elemGrant, in.Role, in.Perm}
	case AddMember, DelMember:
		return elem{elemMember, in.Role, in.User}
	case Import:
		return lineElem(in.Lines[rng.IntN(len(in.Lines))])
	}
	return elem{elemRole, in.Role, 0}
}

// lineElem is the element an import line sets.
func lineElem(l Line) elem {
	switch {
	case l.Perm >= 0:
		return elem{elemGrant, l.Role, l.Perm}
	case l.User >= 0:
		return elem{elemMember, l.Role, l.User}
	}
	return elem{elemRole, l.Role, 0}
}

// after is what e is once the acknowledged write w has taken effect, at
// the seq w answered.
func after(w *Op, e elem) bool {
	switch w.Input.Kind {
	case AddRole:
		return true // created, or it existed
	case AddPerm, AddMember:
		return w.Output.Result // false: the role does not exist
	case Import:
		return true // every line's role is among its lines
	}
	return false // deleted, revoked, removed
}

// sets returns the values op may leave e at when it takes effect: bit 0
// for false, bit 1 for true; 0 if it cannot change e.
func sets(in *Input, e elem) uint8 {
	const f, t = 1, 2
	switch in.Kind {
	case AddRole:
		if e.kind == elemRole && in.Role == e.role {
			return t
		}
	case DelRole:
		if in.Role == e.role {
			return f
		}
	case AddPerm, DelPerm:
		if e.kind == elemGrant && in.Role == e.role && in.Perm == e.x {
			if in.Kind == AddPerm {
				return t
			}
			return f
		}
	case AddMember, DelMember:
		if e.kind == elemMember && in.Role == e.role && in.User == e.x {
			if in.Kind == AddMember {
				return t
			}
			return f
		}
	case Import:
		if in.Bulk && e.kind == elemRole && e.role == bulkRole {
			return t
		}
		for _, l := range in.Lines {
			if l.Role != e.role {
				continue
			}
			switch e.kind {
			case elemRole:
				if l.Perm < 0 && l.User < 0 {
					return t
				}
			case elemGrant:
				if l.Perm == e.x {
					return t
				}
			case elemMember:
				if l.User == e.x {
					return t
				}
			}
		}
	}
	return 0
}

// bearsOn says whether op's effect or answer depends on e: it may change
// e, or it reads the role e belongs to (a grant or a membership answers
// false without its role).
func bearsOn(in *Input, e elem) bool {
	if sets(in, e) != 0 {
		return true
	}
	switch in.Kind {
	case AddRole, DelRole, AddPerm, AddMember:
		return in.Role == e.role && e.kind == elemRole
	case Read, Init:
		return true
	}
	return false
}

// elems is every element of the universe.
func elems() []elem {
	var out []elem
	for r := range int8(len(roleNames)) {
		out = append(out, elem{elemRole, r, 0})
		for p := range int8(len(permNames)) {
			out = append(out, elem{elemGrant, r, p})
		}
		for u := range int8(len(userNames)) {
			out = append(out, elem{elemMember, r, u})
		}
	}
	return out
}

// touched is the elements an op's answer or effect is about, for the
// timelines of a report.
func touched(in *Input) []elem {
	switch in.Kind {
	case AddRole, DelRole:
		return []elem{{elemRole, in.Role, 0}}
	case AddPerm, DelPerm:
		return []elem{{elemGrant, in.Role, in.Perm}, {elemRole, in.Role, 0}}
	case AddMember, DelMember:
		return []elem{{elemMember, in.Role, in.User}, {elemRole, in.Role, 0}}
	case Import:
		var out []elem
		for _, l := range in.Lines {
			out = append(out, lineElem(l))
		}
		return out
	}
	return nil
}
