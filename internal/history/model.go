package history

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The names the workload draws from, the same for every tenant. They are
// few, so that clients collide on them, and each kind fits in a byte of a
// bitmask (at most 8 names), so that a model state is a small comparable
// value. Some need escaping in a path: a slash, a space, a non-ASCII letter.
var (
	roleNames = []string{"admin", "staff", "ops/on call", "dev", "bulk"}
	permNames = []string{"read", "write", "deploy", "audit"}
	userNames = []string{"mallory", "alice", "bob", "zoë", "dave", "erin"}
)

// The scenario's names: the revoke of mallory's admin membership.
const (
	adminRole   = 0 // roleNames[adminRole] == "admin"
	malloryUser = 0 // userNames[malloryUser] == "mallory"
)

// bulkRole is the role of the big import's members. The workload never
// deletes it, so that what a big import wrote stays to be read back.
const bulkRole = 4

// bulkUser names the i-th member of the big import, a name outside
// userNames: the model keeps those members as one bit (all of them or none,
// as an import is atomic).
func bulkUser(i int) string { return fmt.Sprintf("b-%06d", i) }

// Kind is the kind of an operation.
type Kind uint8

// The operations of the model. Every write the clients make is one of
// them; Read is a whole tenant's state read at a quiet moment (an export),
// and Init puts the model in a state a previous check established.
const (
	AddRole Kind = iota + 1
	DelRole
	AddPerm
	DelPerm
	AddMember
	DelMember
	Import
	Read
	Init
)

var kindNames = [...]string{AddRole: "add_role", DelRole: "del_role", AddPerm: "add_permission",
	DelPerm: "del_permission", AddMember: "add_membership", DelMember: "del_membership",
	Import: "import", Read: "read", Init: "init"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Line is one line of an import: a role (Perm and User -1), a grant
// (Perm set) or a membership (User set).
type Line struct {
	Role, Perm, User int8
}

// Input is an operation's request: what it asks, in the universe's
// indices.
type Input struct {
	Kind             Kind
	Role, Perm, User int8
	// Lines are an Import's lines; Bulk adds the big block: the bulk role
	// and its members bulkUser(0..n-1).
	Lines []Line
	Bulk  bool
	// State is Init's state.
	State State
}

// Output is an operation's answer.
type Output struct {
	// Unknown: the write failed in a way that leaves its outcome open
	// (a timeout, a cut connection, a 504, any answer but 200 and 503);
	// it may or may not have happened.
	Unknown bool
	// Result is the write's boolean answer.
	Result bool
	// Seq is the tenant's seq the write or read answered; SeqKnown says
	// whether the answer carried one.
	Seq      uint64
	SeqKnown bool
	// State is what a Read saw; Garbled, if not empty, says why what it
	// saw is no state of the model at all (a name outside the universe, a
	// part of the big import).
	State   State
	Garbled string
}

// State is a tenant's state in the model: roles, grants and memberships as
// bitmasks, and the range of seqs the tenant may be at. The range is one
// seq but after writes of unknown outcome, each of which may or may not
// have made an event.
type State struct {
	Roles   uint8
	Grants  uint64 // bit role*8+perm
	Members uint64 // bit role*8+user
	// Bulk: the big import's members are members of the bulk role.
	Bulk         bool
	SeqLo, SeqHi uint64
}

func bit(role, x int8) uint64 { return 1 << (uint(role)*8 + uint(x)) }

// roleMask is the bits of one role's row in Grants or Members.
func roleMask(role int8) uint64 { return 0xff << (uint(role) * 8) }

// sameContent says whether two states hold the same roles, grants and
// members, whatever their seqs.
func (s State) sameContent(o State) bool {
	return s.Roles == o.Roles && s.Grants == o.Grants && s.Members == o.Members && s.Bulk == o.Bulk
}

// apply applies a write to s, as the engine does: it returns the answer
// the original API gives, whether the write changes anything (a write that
// changes nothing needs no event), and the state after it (seqs untouched).
func apply(s State, in *Input) (result, changed bool, next State) {
	next = s
	hasRole := func(r int8) bool { return s.Roles&(1<<uint(r)) != 0 }
	switch in.Kind {
	case AddRole:
		if hasRole(in.Role) {
			return false, false, s
		}
		next.Roles |= 1 << uint(in.Role)
		return true, true, next
	case DelRole:
		if !hasRole(in.Role) {
			return false, false, s
		}
		next.Roles &^= 1 << uint(in.Role)
		next.Grants &^= roleMask(in.Role)
		next.Members &^= roleMask(in.Role)
		if in.Role == bulkRole {
			next.Bulk = false
		}
		return true, true, next
	case AddPerm:
		if !hasRole(in.Role) {
			return false, false, s
		}
		b := bit(in.Role, in.Perm)
		next.Grants |= b
		return true, s.Grants&b == 0, next
	case DelPerm:
		b := bit(in.Role, in.Perm)
		next.Grants &^= b
		return true, s.Grants&b != 0, next
	case AddMember:
		if !hasRole(in.Role) {
			return false, false, s
		}
		b := bit(in.Role, in.User)
		next.Members |= b
		return true, s.Members&b == 0, next
	case DelMember:
		b := bit(in.Role, in.User)
		next.Members &^= b
		return true, s.Members&b != 0, next
	case Import:
		// Roles first, then grants and memberships in order; a grant or a
		// membership of a role that does not exist is skipped, as the
		// engine skips it. An import is one event whatever it changes.
		for _, l := range in.Lines {
			if l.Perm < 0 && l.User < 0 {
				next.Roles |= 1 << uint(l.Role)
			}
		}
		if in.Bulk {
			next.Roles |= 1 << bulkRole
		}
		for _, l := range in.Lines {
			if next.Roles&(1<<uint(l.Role)) == 0 {
				continue
			}
			switch {
			case l.Perm >= 0:
				next.Grants |= bit(l.Role, l.Perm)
			case l.User >= 0:
				next.Members |= bit(l.Role, l.User)
			}
		}
		if in.Bulk {
			next.Bulk = true
		}
		return true, true, next
	}
	return false, false, s
}

// step is the model's step function; see the package documentation for
// what it accepts. Unless strict, a write that changes nothing may answer
// a seq older than the state's (a stale consistency token): the check
// then tells stale seqs from wrong answers and lost writes.
func step(s State, in *Input, out *Output, strict bool) (bool, State) {
	switch in.Kind {
	case Init:
		return true, in.State
	case Read:
		if out.Garbled != "" || !s.sameContent(out.State) {
			return false, s
		}
		if out.SeqKnown {
			if out.Seq < s.SeqLo || out.Seq > s.SeqHi {
				return false, s
			}
			s.SeqLo, s.SeqHi = out.Seq, out.Seq
		}
		return true, s
	}
	result, changed, next := apply(s, in)
	if out.Unknown && out.SeqKnown {
		// Settled by the store (see eventlog.go): it made the event at
		// out.Seq; its answer is unknown.
		if out.Seq < s.SeqLo+1 || out.Seq > s.SeqHi+1 {
			return false, s
		}
		next.SeqLo, next.SeqHi = out.Seq, out.Seq
		return true, next
	}
	if out.Unknown || !out.SeqKnown {
		if !out.Unknown && result != out.Result {
			return false, s
		}
		// It made one event if it changed anything, and may have made an
		// empty one if it did not.
		if changed {
			next.SeqLo++
		}
		next.SeqHi++
		return true, next
	}
	if result != out.Result {
		return false, s
	}
	// A write that changes the state is the next event: its seq is the one
	// after the state's. One that changes nothing answers the state's seq,
	// or the seq of an empty event of its own.
	lo := s.SeqLo
	if changed {
		lo++
	}
	if !strict && !changed && out.Seq < lo {
		return true, next // stale, and tells nothing of the state's seq
	}
	if out.Seq < lo || out.Seq > s.SeqHi+1 {
		return false, s
	}
	next.SeqLo, next.SeqHi = out.Seq, out.Seq
	return true, next
}

// model is the porcupine model of one tenant: the history is partitioned
// beforehand (see check.go), so Partition is left unset.
func model(strict bool) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return State{} },
		Step: func(state, input, output any) (bool, any) {
			return step(state.(State), input.(*Input), output.(*Output), strict)
		},
		Hash: func(state any) uint64 {
			s := state.(State)
			h := s.Grants*0x9e3779b97f4a7c15 ^ bits.RotateLeft64(s.Members, 21) ^ uint64(s.Roles)<<56 ^ s.SeqLo*0xbf58476d1ce4e5b9 ^ s.SeqHi
			if s.Bulk {
				h = ^h
			}
			return h
		},
		DescribeOperation: func(input, output any) string {
			return describeOp(input.(*Input), output.(*Output))
		},
		DescribeState: func(state any) string { return state.(State).String() },
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return info.(string)
		},
	}
}

// String describes the input as a call: add_membership(mallory, admin).
func (in *Input) String() string {
	switch in.Kind {
	case AddRole, DelRole:
		return fmt.Sprintf("%s(%s)", in.Kind, roleNames[in.Role])
	case AddPerm, DelPerm:
		return fmt.Sprintf("%s(%s, %s)", in.Kind, roleNames[in.Role], permNames[in.Perm])
	case AddMember, DelMember:
		return fmt.Sprintf("%s(%s, %s)", in.Kind, userNames[in.User], roleNames[in.Role])
	case Import:
		parts := make([]string, 0, len(in.Lines)+1)
		for _, l := range in.Lines {
			switch {
			case l.Perm >= 0:
				parts = append(parts, roleNames[l.Role]+"+"+permNames[l.Perm])
			case l.User >= 0:
				parts = append(parts, userNames[l.User]+"@"+roleNames[l.Role])
			default:
				parts = append(parts, roleNames[l.Role])
			}
		}
		if in.Bulk {
			parts = append(parts, "bulk members")
		}
		return "import(" + strings.Join(parts, ", ") + ")"
	case Init:
		return "init " + in.State.String()
	}
	return in.Kind.String()
}

func describeOp(in *Input, out *Output) string {
	switch {
	case in.Kind == Init:
		return in.String()
	case in.Kind == Read:
		if out.Garbled != "" {
			return fmt.Sprintf("read -> garbled (%s) @%d", out.Garbled, out.Seq)
		}
		return fmt.Sprintf("read -> %s", out.State.withSeq(out.Seq))
	case out.Unknown && out.SeqKnown:
		return fmt.Sprintf("%s -> unknown, its event @%d", in, out.Seq)
	case out.Unknown:
		return in.String() + " -> unknown"
	case !out.SeqKnown:
		return fmt.Sprintf("%s -> %v (no seq)", in, out.Result)
	}
	return fmt.Sprintf("%s -> %v @%d", in, out.Result, out.Seq)
}

func (s State) withSeq(seq uint64) State {
	s.SeqLo, s.SeqHi = seq, seq
	return s
}

// String describes a state: seq, then each role with its grants and
// members.
func (s State) String() string {
	var b strings.Builder
	if s.SeqLo == s.SeqHi {
		fmt.Fprintf(&b, "@%d {", s.SeqLo)
	} else {
		fmt.Fprintf(&b, "@%d..%d {", s.SeqLo, s.SeqHi)
	}
	first := true
	for r := range int8(len(roleNames)) {
		if s.Roles&(1<<uint(r)) == 0 {
			continue
		}
		if !first {
			b.WriteString("; ")
		}
		first = false
		b.WriteString(roleNames[r])
		var grants, members []string
		for p := range int8(len(permNames)) {
			if s.Grants&bit(r, p) != 0 {
				grants = append(grants, permNames[p])
			}
		}
		for u := range int8(len(userNames)) {
			if s.Members&bit(r, u) != 0 {
				members = append(members, userNames[u])
			}
		}
		if r == bulkRole && s.Bulk {
			members = append(members, "bulk members")
		}
		if len(grants) > 0 {
			b.WriteString(" may " + strings.Join(grants, ","))
		}
		if len(members) > 0 {
			b.WriteString(" has " + strings.Join(members, ","))
		}
	}
	// Bits of roles that do not exist are no state the engine can be in;
	// show them rather than hide a bug of the model.
	var stray []string
	for r := range int8(len(roleNames)) {
		if s.Roles&(1<<uint(r)) == 0 && (s.Grants|s.Members)&roleMask(r) != 0 {
			stray = append(stray, roleNames[r])
		}
	}
	if len(stray) > 0 {
		b.WriteString(" !rows of missing roles: " + strings.Join(stray, ","))
	}
	b.WriteString("}")
	return b.String()
}
