package history

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"auth/engine"
	"auth/internal/refmodel"
)

// testBulk is the size of the big import in the model tests.
const testBulk = 4

// drawInput draws any write of the universe, the bulk role's deletion
// and big imports included.
func drawInput(t *rapid.T) Input {
	kind := rapid.SampledFrom([]Kind{AddRole, DelRole, AddPerm, DelPerm, AddMember, DelMember, Import}).Draw(t, "kind")
	in := Input{Kind: kind,
		Role: int8(rapid.IntRange(0, len(roleNames)-1).Draw(t, "role")),
		Perm: int8(rapid.IntRange(0, len(permNames)-1).Draw(t, "perm")),
		User: int8(rapid.IntRange(0, len(userNames)-1).Draw(t, "user"))}
	switch kind {
	case AddRole, DelRole:
		in.Perm, in.User = -1, -1
	case AddPerm, DelPerm:
		in.User = -1
	case AddMember, DelMember:
		in.Perm = -1
	case Import:
		in.Role, in.Perm, in.User = -1, -1, -1
		for range rapid.IntRange(0, 6).Draw(t, "lines") {
			l := Line{Role: int8(rapid.IntRange(0, len(roleNames)-1).Draw(t, "lrole")), Perm: -1, User: -1}
			switch rapid.IntRange(0, 2).Draw(t, "lkind") {
			case 1:
				l.Perm = int8(rapid.IntRange(0, len(permNames)-1).Draw(t, "lperm"))
			case 2:
				l.User = int8(rapid.IntRange(0, len(userNames)-1).Draw(t, "luser"))
			}
			in.Lines = append(in.Lines, l)
		}
		in.Bulk = rapid.Bool().Draw(t, "bulk")
		if len(in.Lines) == 0 {
			in.Bulk = true
		}
	}
	return in
}

// engineChange is what the server makes of a write (Input.event).
func engineChange(in *Input) engine.Event { return in.event(testBulk) }

// tenantReader is what engineState reads: a tenant of the engine or of
// the reference model.
type tenantReader interface {
	HasRole(role string) bool
	HasPermission(role, perm string) bool
	HasMembership(user, role string) bool
}

// refChange is c as the reference model takes it.
func refChange(c engine.Change) refmodel.Change {
	return refmodel.Change{Op: c.Op.String(), Role: c.Role, Permission: c.Permission, User: c.User}
}

// engineState reads a tenant of the engine as a model state.
func engineState(t *engine.Tenant) State {
	s := readState(t)
	s.SeqLo, s.SeqHi = t.Seq(), t.Seq()
	return s
}

// readState reads a tenant's content as a model state (seqs left zero).
func readState(t tenantReader) State {
	var s State
	for r := range int8(len(roleNames)) {
		if t.HasRole(roleNames[r]) {
			s.Roles |= 1 << uint(r)
		}
		for p := range int8(len(permNames)) {
			if t.HasPermission(roleNames[r], permNames[p]) {
				s.Grants |= bit(r, p)
			}
		}
		for u := range int8(len(userNames)) {
			if t.HasMembership(userNames[u], roleNames[r]) {
				s.Members |= bit(r, u)
			}
		}
	}
	s.Bulk = t.HasMembership(bulkUser(0), roleNames[bulkRole])
	for i := range testBulk - 1 {
		if t.HasMembership(bulkUser(i), roleNames[bulkRole]) != s.Bulk {
			s.Bulk = !s.Bulk // neither all nor none: no model state
			s.Roles = 0xff
		}
	}
	return s
}

// TestModelIsTheEngine: the model answers every write as the engine does,
// says whether it changes anything as the engine does (a write that
// changes nothing makes no event), and reaches the same state; and the
// same as the naive reference model (internal/refmodel).
func TestModelIsTheEngine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		eng := engine.New()
		id := engine.KeyID("model")
		ref := refmodel.New()
		var s State
		for i := range rapid.IntRange(1, 60).Draw(t, "n") {
			in := drawInput(t)
			ev := engineChange(&in)
			ev.Tenant = id
			wantResult, wantChanged := eng.Tenant(id).Answer(&ev.Change)
			result, changed, next := apply(s, &in)
			if result != wantResult || changed != wantChanged {
				t.Fatalf("write %d %s: model answers %v (changes %v), engine %v (changes %v) in %s", i, in.String(), result, changed, wantResult, wantChanged, s)
			}
			if changed {
				ev.Seq = eng.Seq(id) + 1
				got, err := eng.Apply(&ev)
				if err != nil || got != result {
					t.Fatalf("write %d %s: engine applied %v, %v; model %v", i, in.String(), got, err, result)
				}
				next.SeqLo, next.SeqHi = ev.Seq, ev.Seq
			}
			var refResult, refChanged bool
			if ev.Op == engine.OpBatch {
				changes := make([]refmodel.Change, len(ev.Changes))
				for i, c := range ev.Changes {
					changes[i] = refChange(c)
				}
				refResult, _ = ref.Batch(changes)
				refChanged = true // an import is one event whatever it changes
			} else {
				refResult, refChanged = ref.Change(refChange(ev.Change))
			}
			if refResult != result || refChanged != changed {
				t.Fatalf("write %d %s: model answers %v (changes %v), reference model %v (changes %v)", i, in.String(), result, changed, refResult, refChanged)
			}
			s = next
			if diff := cmp.Diff(engineState(eng.Tenant(id)), s); diff != "" {
				t.Fatalf("after write %d %s (-engine +model):\n%s", i, in.String(), diff)
			}
			if diff := cmp.Diff(readState(ref), s.withSeq(0)); diff != "" {
				t.Fatalf("after write %d %s (-reference +model):\n%s", i, in.String(), diff)
			}
		}
	})
}

// TestStep is the model's step on answers the servers may and may not
// give.
func TestStep(t *testing.T) {
	admin := State{Roles: 1, SeqLo: 5, SeqHi: 5}
	mallory := admin
	mallory.Members = bit(adminRole, malloryUser)
	add := &Input{Kind: AddMember, Role: adminRole, Perm: -1, User: malloryUser}
	del := &Input{Kind: DelMember, Role: adminRole, Perm: -1, User: malloryUser}
	known := func(result bool, seq uint64) *Output { return &Output{Result: result, Seq: seq, SeqKnown: true} }
	tests := []struct {
		name   string
		state  State
		in     *Input
		out    *Output
		strict bool
		ok     bool
		next   State
	}{
		{"add, the next event", admin, add, known(true, 6), true, true, mallory.withSeq(6)},
		{"add, a seq ahead", admin, add, known(true, 7), true, false, admin},
		{"add, a seq behind", admin, add, known(true, 5), true, false, admin},
		{"add answered false with the role there", admin, add, known(false, 6), true, false, admin},
		{"add of a member, no event", mallory, add, known(true, 5), true, true, mallory},
		{"add of a member, an empty event", mallory, add, known(true, 6), true, true, mallory.withSeq(6)},
		{"add of a member, a stale seq", mallory, add, known(true, 3), true, false, mallory},
		{"add of a member, a stale seq, lenient", mallory, add, known(true, 3), false, true, mallory},
		{"the lost revoke: delete of a member, no event", mallory, del, known(true, 5), false, false, mallory},
		{"delete of a member", mallory, del, known(true, 6), true, true, admin.withSeq(6)},
		{"unknown add: the event may be there", admin, add, &Output{Unknown: true}, true, true, State{Roles: 1, Members: mallory.Members, SeqLo: 6, SeqHi: 6}},
		{"unknown delete of nothing: an empty event or none", admin, del, &Output{Unknown: true}, true, true, State{Roles: 1, SeqLo: 5, SeqHi: 6}},
		{"read of the state", mallory, &Input{Kind: Read}, &Output{State: mallory, Seq: 5, SeqKnown: true}, true, true, mallory},
		{"read of another state", mallory, &Input{Kind: Read}, &Output{State: admin, Seq: 5, SeqKnown: true}, true, false, mallory},
		{"read at another seq", mallory, &Input{Kind: Read}, &Output{State: mallory, Seq: 6, SeqKnown: true}, true, false, mallory},
		{"read of a garbled export", mallory, &Input{Kind: Read}, &Output{State: mallory, Seq: 5, SeqKnown: true, Garbled: "x"}, true, false, mallory},
		{"read in a range", State{Roles: 1, SeqLo: 5, SeqHi: 7}, &Input{Kind: Read}, &Output{State: admin, Seq: 6, SeqKnown: true}, true, true, admin.withSeq(6)},
		{"init", mallory, &Input{Kind: Init, State: admin}, &Output{}, true, true, admin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, next := step(tc.state, tc.in, tc.out, tc.strict)
			if ok != tc.ok {
				t.Fatalf("step = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.next, next); ok && diff != "" {
				t.Errorf("next state (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCascade: deleting a role takes its grants and members with it, the
// big import's members too.
func TestCascade(t *testing.T) {
	var s State
	_, _, s = apply(s, &Input{Kind: Import, Role: -1, Perm: -1, User: -1, Bulk: true,
		Lines: []Line{{Role: bulkRole, Perm: 1, User: -1}, {Role: bulkRole, Perm: -1, User: 2}, {Role: adminRole, Perm: -1, User: -1}}})
	want := State{Roles: 1<<bulkRole | 1, Grants: bit(bulkRole, 1), Members: bit(bulkRole, 2), Bulk: true}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Fatalf("after the import (-want +got):\n%s", diff)
	}
	result, changed, s := apply(s, &Input{Kind: DelRole, Role: bulkRole, Perm: -1, User: -1})
	if diff := cmp.Diff(State{Roles: 1}, s); !result || !changed || diff != "" {
		t.Fatalf("delete of the bulk role: %v %v (-want +got):\n%s", result, changed, diff)
	}
}
