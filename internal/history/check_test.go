package history

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// history builds a runner holding a made-up history, to check the checker
// without a cluster.
type history struct {
	r *runner
}

func newHistory(dir string, rounds int) *history {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Tenants = 1
	cfg.CheckTimeout = 5 * time.Second
	r := &runner{cfg: cfg}
	for i := range rounds {
		r.rounds = append(r.rounds, &RoundReport{Index: i, Fault: FaultNATS, Converged: true})
	}
	return &history{r: r}
}

// write adds an acknowledged write.
func (h *history) write(round, replica int, call, ret int64, in Input, result bool, seq uint64) *Op {
	op := &Op{ID: len(h.r.ops), Round: round, Replica: replica, API: "v1", Input: in, Call: call, Return: ret,
		Status: 200, Output: Output{Result: result, Seq: seq, SeqKnown: true}}
	h.r.ops = append(h.r.ops, op)
	return op
}

// failed adds a write whose outcome is unknown, or that was refused.
func (h *history) failed(round int, call, ret int64, in Input, refused bool) *Op {
	op := &Op{ID: len(h.r.ops), Round: round, Input: in, Call: call, Return: ret, Err: "failed", Failure: "failed"}
	if refused {
		op.Refused, op.Status = true, 503
	} else {
		op.Output.Unknown = true
	}
	h.r.ops = append(h.r.ops, op)
	return op
}

// event puts the event of in at seq in the store's log the harness read.
func (h *history) event(seq uint64, in Input) {
	if h.r.logs == nil {
		h.r.logs = make([]eventLog, 1)
		h.r.logs[0].events = map[uint64]string{}
	}
	h.r.logs[0].events[seq] = in.key(testBulk)
	h.r.logs[0].top = max(h.r.logs[0].top, seq)
}

func (h *history) unevent(seq uint64) {
	delete(h.r.logs[0].events, seq)
	h.r.logs[0].top = seq - 1
}

// checkpoint adds the reads of a converged round's end, at every replica.
func (h *history) checkpoint(round int, at int64, s State) {
	cp := checkpoint{round: round, states: map[int]State{0: s}}
	for i := range 2 {
		op := &Op{ID: len(h.r.ops), Round: round, Replica: i, Input: Input{Kind: Read}, Call: at + int64(10*i), Return: at + int64(10*i+5),
			Output: Output{State: s, Seq: s.SeqLo, SeqKnown: true}}
		h.r.ops = append(h.r.ops, op)
		cp.end = op.Return
	}
	h.r.marks = append(h.r.marks, cp)
}

func addRole(r int8) Input            { return Input{Kind: AddRole, Role: r, Perm: -1, User: -1} }
func addMember(u, r int8) Input       { return Input{Kind: AddMember, Role: r, Perm: -1, User: u} }
func delMember(u, r int8) Input       { return Input{Kind: DelMember, Role: r, Perm: -1, User: u} }
func addPerm(r, p int8) Input         { return Input{Kind: AddPerm, Role: r, Perm: p, User: -1} }
func state(seq uint64, s State) State { s.SeqLo, s.SeqHi = seq, seq; return s }

// TestCheckFindsLostRevoke: mallory is added at A, then removed at B,
// which had not seen her added and answered from its own state; she is
// still a member at every replica.
func TestCheckFindsLostRevoke(t *testing.T) {
	h := newHistory(t.TempDir(), 1)
	h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
	h.write(0, 0, 20, 30, addMember(malloryUser, adminRole), true, 2)
	h.write(0, 1, 40, 50, delMember(malloryUser, adminRole), true, 1)
	h.checkpoint(0, 100, state(2, State{Roles: 1, Members: bit(adminRole, malloryUser)}))
	rep := h.r.check()
	if len(rep.Violations) != 1 {
		t.Fatalf("violations: %+v, want the lost revoke", rep.Violations)
	}
	v := rep.Violations[0]
	text := v.Summary + "\n" + strings.Join(v.Details, "\n")
	if v.Kind != KindLinearizability || v.Class != ClassState || !strings.Contains(text, "del_membership(mallory, admin) -> true @1") {
		t.Errorf("violation %s/%s:\n%s", v.Kind, v.Class, text)
	}
	if rep.Visualization == "" {
		t.Error("no visualization written")
	}

	// The same history with the revoke made as an event of its own is
	// linearizable.
	h = newHistory(t.TempDir(), 1)
	h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
	h.write(0, 0, 20, 30, addMember(malloryUser, adminRole), true, 2)
	h.write(0, 1, 40, 50, delMember(malloryUser, adminRole), true, 3)
	h.checkpoint(0, 100, state(3, State{Roles: 1}))
	if rep := h.r.check(); rep.Failed() {
		t.Errorf("a correct history: %+v", rep.Violations)
	}
}

// TestCheckFindsRefusedWriteThatHappened: a write answered 503 (nothing
// changed) whose event is there all the same.
func TestCheckFindsRefusedWriteThatHappened(t *testing.T) {
	h := newHistory(t.TempDir(), 1)
	h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
	h.failed(0, 20, 30, addMember(malloryUser, adminRole), true)
	h.write(0, 1, 40, 50, addPerm(adminRole, 1), true, 3)
	h.checkpoint(0, 100, state(3, State{Roles: 1, Members: bit(adminRole, malloryUser), Grants: bit(adminRole, 1)}))
	rep := h.r.check()
	if len(rep.Violations) != 1 {
		t.Fatalf("violations: %+v", rep.Violations)
	}
	text := strings.Join(rep.Violations[0].Details, "\n")
	if !strings.Contains(text, "seq 2 is no write's") || !strings.Contains(text, "add_membership(mallory, admin) refused") {
		t.Errorf("the explanation does not name the missing seq and the refused write:\n%s", text)
	}
	// Had its outcome been unknown, it may have happened.
	h.r.ops[1].Refused, h.r.ops[1].Output.Unknown = false, true
	if rep := h.r.check(); rep.Failed() {
		t.Errorf("with the write's outcome unknown: %+v", rep.Violations)
	}
}

// TestCheckUnknownSpansACheckpoint: a write of unknown outcome may take
// effect after the checkpoint that ends its round.
func TestCheckUnknownSpansACheckpoint(t *testing.T) {
	h := newHistory(t.TempDir(), 2)
	h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
	h.failed(0, 20, 30, addMember(malloryUser, adminRole), false)
	h.checkpoint(0, 100, state(1, State{Roles: 1}))
	h.write(1, 1, 200, 210, addPerm(adminRole, 0), true, 3)
	h.checkpoint(1, 300, state(3, State{Roles: 1, Grants: bit(adminRole, 0), Members: bit(adminRole, malloryUser)}))
	if rep := h.r.check(); rep.Failed() {
		t.Errorf("violations: %+v", rep.Violations)
	}
}

// TestCheckAcceptsLinearizableHistories: histories made by applying
// writes one at a time to the model, each inside its own interval (the
// intervals overlapping at random), some with an unknown outcome (which
// took effect or not), are linearizable; changing one delete's answer to
// false (deletes always answer true) makes them not.
func TestCheckAcceptsLinearizableHistories(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		h := newHistory(dir, 1)
		var s State
		n := rapid.IntRange(1, 40).Draw(t, "n")
		var deletes []*Op
		for i := range n {
			at := int64(100 * (i + 1))
			call := at - int64(rapid.IntRange(0, 250).Draw(t, "before"))
			ret := at + int64(rapid.IntRange(0, 250).Draw(t, "after"))
			in := drawInput(t)
			if in.Kind == Import {
				in.Bulk = false // no bulk members in these exports
			}
			if in.Kind == DelRole && in.Role == bulkRole {
				in.Role = adminRole
			}
			result, changed, next := apply(s, &in)
			if changed {
				h.event(s.SeqLo+1, in)
			}
			switch rapid.IntRange(0, 5).Draw(t, "outcome") {
			case 0: // unknown, did not happen
				h.failed(0, call, ret, in, false)
				if changed {
					h.unevent(s.SeqLo + 1)
				}
				continue
			case 1: // unknown, happened
				h.failed(0, call, ret, in, false)
			default:
				seq := s.SeqLo
				if changed {
					seq++
				}
				op := h.write(0, i%2, call, ret, in, result, seq)
				if in.Kind == DelMember || in.Kind == DelPerm {
					deletes = append(deletes, op)
				}
			}
			if changed {
				next.SeqLo, next.SeqHi = s.SeqLo+1, s.SeqLo+1
			}
			s = next
		}
		h.checkpoint(0, int64(100*(n+5)), s)
		if rep := h.r.check(); rep.Failed() {
			t.Fatalf("a linearizable history: %+v", rep.Violations)
		}
		if len(deletes) > 0 {
			deletes[0].Output.Result = false
			if rep := h.r.check(); !rep.Failed() {
				t.Fatalf("a delete answered false, and the history passed")
			}
		}
	})
}

// TestCheckMinSeqReads: a read with a write's seq must see it, unless a
// write after it in seq order may have changed it.
func TestCheckMinSeqReads(t *testing.T) {
	member := elem{elemMember, adminRole, malloryUser}
	tests := []struct {
		name  string
		other func(h *history)
		want  int
	}{
		{"nothing else", func(*history) {}, 1},
		{"a later delete", func(h *history) { h.write(0, 1, 25, 60, delMember(malloryUser, adminRole), true, 3) }, 0},
		{"an earlier delete", func(h *history) { h.write(0, 1, 0, 5, delMember(malloryUser, adminRole), true, 1) }, 1},
		{"a delete of unknown outcome", func(h *history) { h.failed(0, 0, 5, delMember(malloryUser, adminRole), false) }, 0},
		{"a delete refused", func(h *history) { h.failed(0, 0, 5, delMember(malloryUser, adminRole), true) }, 1},
		{"a delete called after the read", func(h *history) { h.write(0, 1, 80, 90, delMember(malloryUser, adminRole), true, 3) }, 1},
		{"a later delete of someone else", func(h *history) { h.write(0, 1, 25, 60, delMember(1, adminRole), true, 3) }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(t.TempDir(), 1)
			w := h.write(0, 0, 10, 20, addMember(malloryUser, adminRole), true, 2)
			tc.other(h)
			h.r.reads = append(h.r.reads, &minSeqRead{Write: w, Replica: 1, Elem: member, Call: 30, Return: 70, Status: 200, Value: false})
			rep := &Report{}
			h.r.checkMinSeqReads(rep)
			if len(rep.Violations) != tc.want {
				t.Errorf("%d violations, want %d: %+v", len(rep.Violations), tc.want, rep.Violations)
			}
		})
	}
}

func TestParseExport(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    State
		garbled string
	}{
		{"empty", "", State{}, ""},
		{"roles, grants, members", `{"role": "admin"}
{"role": "ops/on call"}
{"role": "admin", "permission": "read"}
{"role": "admin", "user": "zoë"}
{"role": "ops/on call", "user": "mallory"}
`, State{Roles: 1 | 1<<2, Grants: bit(0, 0), Members: bit(0, 3) | bit(2, 0)}, ""},
		{"the big import", `{"role": "bulk"}
{"role": "bulk", "user": "b-000000"}
{"role": "bulk", "user": "b-000001"}
{"role": "bulk", "user": "b-000002"}
`, State{Roles: 1 << bulkRole, Bulk: true}, ""},
		{"part of the big import", `{"role": "bulk"}
{"role": "bulk", "user": "b-000001"}
`, State{Roles: 1 << bulkRole}, "1 of the big import's 3 members"},
		{"a stranger", `{"role": "admin"}
{"role": "admin", "user": "eve"}
`, State{Roles: 1}, `unknown user "eve"`},
		{"a member before its role", `{"role": "admin", "user": "bob"}
{"role": "admin"}
`, State{Roles: 1, Members: bit(0, 2)}, "a line of role admin before its role line"},
		{"not JSON", "role admin\n", State{}, `bad line "role admin"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, garbled := parseExport([]byte(tc.body), testBulk)
			if diff := cmp.Diff(tc.want, got); diff != "" || garbled != tc.garbled {
				t.Errorf("garbled %q, want %q; state (-want +got):\n%s", garbled, tc.garbled, diff)
			}
		})
	}
}

// FuzzParseExport: an export, whatever the bytes, parses without a panic,
// and a state it parses cleanly describes without one.
func FuzzParseExport(f *testing.F) {
	f.Add([]byte("{\"role\": \"admin\"}\n{\"role\": \"admin\", \"user\": \"bob\"}\n"))
	f.Add([]byte("{\"role\": \"bulk\"}\n{\"role\": \"bulk\", \"user\": \"b-000001\"}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, garbled := parseExport(body, testBulk)
		if garbled == "" {
			_ = s.String()
		}
	})
}

// TestSettleUnknown: the store's events settle what they can of writes of
// unknown outcome, and nothing more.
func TestSettleUnknown(t *testing.T) {
	type want struct {
		noEvent bool
		seq     uint64 // 0: not pinned
	}
	tests := []struct {
		name  string
		build func(h *history) []*Op
		want  []want
	}{
		{"no event of it: it changed nothing", func(h *history) []*Op {
			h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
			h.event(1, addRole(adminRole))
			return []*Op{h.failed(0, 20, 30, addMember(malloryUser, adminRole), false)}
		}, []want{{noEvent: true}}},
		{"its event: pinned", func(h *history) []*Op {
			h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
			h.event(1, addRole(adminRole))
			h.event(2, addMember(malloryUser, adminRole))
			return []*Op{h.failed(0, 20, 30, addMember(malloryUser, adminRole), false)}
		}, []want{{seq: 2}}},
		{"an event of the same change before it: not its own", func(h *history) []*Op {
			h.event(1, addRole(adminRole))
			h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
			return []*Op{h.failed(0, 20, 30, addRole(adminRole), false)}
		}, []want{{noEvent: true}}},
		{"a deleted event after it: open", func(h *history) []*Op {
			h.write(0, 0, 0, 10, addRole(adminRole), true, 1)
			h.event(1, addRole(adminRole))
			h.event(3, addPerm(adminRole, 0))
			return []*Op{h.failed(0, 20, 30, addMember(malloryUser, adminRole), false)}
		}, []want{{}}},
		{"two of the same change, one event: open", func(h *history) []*Op {
			h.event(1, addRole(adminRole))
			return []*Op{h.failed(0, 0, 30, addRole(adminRole), false), h.failed(0, 0, 30, addRole(adminRole), false)}
		}, []want{{}, {}}},
		{"an acknowledged write of the same change answered that seq: open", func(h *history) []*Op {
			h.event(1, addRole(adminRole))
			h.write(0, 0, 5, 40, addRole(adminRole), false, 1)
			return []*Op{h.failed(0, 0, 30, addRole(adminRole), false)}
		}, []want{{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(t.TempDir(), 1)
			ops := tc.build(h)
			h.r.settleUnknown()
			for i, op := range ops {
				got := want{noEvent: op.NoEvent}
				if op.Output.SeqKnown {
					got.seq = op.Output.Seq
				}
				if got != tc.want[i] {
					t.Errorf("write %d: %+v, want %+v", i, got, tc.want[i])
				}
			}
		})
	}
}
