package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bigRole returns the changes that make role with n members u0..u(n-1),
// each granted perm.
func bigRole(role, perm string, n int) []Change {
	cs := []Change{{Op: OpAddRole, Role: role}, {Op: OpAddPermission, Role: role, Permission: perm}}
	for i := range n {
		cs = append(cs, Change{Op: OpAddMembership, Role: role, User: "u" + strconv.Itoa(i)})
	}
	return cs
}

// TestChecksDoNotWaitForALargeChange holds each kind of large change
// (a batch, a role deletion, a clearing batch, a restore) at the moment
// it is built and not yet published, and reads the tenant meanwhile: every
// read answers at once, from the state before the change. Were the change
// made under a lock that readers take, the reads would wait for it, and
// the test would time out.
func TestChecksDoNotWaitForALargeChange(t *testing.T) {
	const n = 3000 // past inPlaceMax
	e := New()
	id := KeyID("k")
	seq := uint64(0)
	apply := func(ev Event) {
		seq++
		ev.Tenant, ev.Seq = id, seq
		if _, err := e.Apply(&ev); err != nil {
			t.Fatal(err)
		}
	}
	apply(Event{Change: Change{Op: OpBatch}, Changes: bigRole("old", "read", n)})

	h := holdAside(t)

	for _, tc := range []struct {
		name   string
		change func()
		before func() bool // what readers must see while the change is held
		after  func() bool
	}{
		{
			name:   "batch",
			change: func() { apply(Event{Change: Change{Op: OpBatch}, Changes: bigRole("new", "write", n)}) },
			before: func() bool { return !e.UserHasPermission("k", "u7", "write") && len(e.RoleMembers("k", "new")) == 0 },
			after:  func() bool { return e.UserHasPermission("k", "u7", "write") && len(e.RoleMembers("k", "new")) == n },
		},
		{
			name:   "role deletion",
			change: func() { apply(Event{Change: Change{Op: OpDelRole, Role: "new"}}) },
			before: func() bool { return e.UserHasPermission("k", "u7", "write") && e.HasRole("k", "new") },
			after:  func() bool { return !e.UserHasPermission("k", "u7", "write") && !e.HasRole("k", "new") },
		},
		{
			name: "replace",
			change: func() {
				apply(Event{Change: Change{Op: OpBatch}, Changes: append([]Change{{Op: OpClear}}, bigRole("other", "list", 10)...)})
			},
			before: func() bool { return e.UserHasPermission("k", "u7", "read") && !e.HasRole("k", "other") },
			after: func() bool {
				return !e.UserHasPermission("k", "u7", "read") && e.UserHasPermission("k", "u7", "list") && slices.Equal(e.Roles("k"), []string{"other"})
			},
		},
		{
			name: "restore",
			change: func() {
				if err := e.Restore(&Snapshot{Tenant: id, Seq: 100, Users: []string{"u7"}, Permissions: []string{"x"},
					Roles: []RoleSnapshot{{Name: "r", Permissions: []uint32{0}, Members: []uint32{0}}}}); err != nil {
					t.Error(err)
				}
				seq = 100
			},
			before: func() bool { return e.UserHasPermission("k", "u7", "list") && e.Tenant(id).Seq() < 100 },
			after:  func() bool { return e.UserHasPermission("k", "u7", "x") && e.Tenant(id).Seq() == 100 },
		},
	} {
		h.run(t, tc.name, tc.change, tc.before, tc.after)
	}
}

// asideHold holds each change built aside at the moment before it is
// published, until the test lets it go.
type asideHold struct {
	held, release chan struct{}
	n             atomic.Int32 // changes built aside
}

func holdAside(t *testing.T) *asideHold {
	h := &asideHold{held: make(chan struct{}), release: make(chan struct{})}
	builtAside = func() { h.n.Add(1); h.held <- struct{}{}; <-h.release }
	t.Cleanup(func() { builtAside = nil })
	return h
}

// run makes change, which must be built aside; while it is held there,
// before must answer at once, and true (readers see the state before the
// change, and do not wait for it); once it is published, after must be
// true.
func (h *asideHold) run(t *testing.T, name string, change func(), before, after func() bool) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); change() }()
	select {
	case <-h.held:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the change was never built aside", name)
	}
	read := make(chan bool)
	go func() { read <- before() }()
	select {
	case ok := <-read:
		if !ok {
			t.Errorf("%s: while the change is built, readers do not see the state before it", name)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: readers wait for a change being built", name)
	}
	h.release <- struct{}{}
	<-done
	if !after() {
		t.Errorf("%s: once published, readers do not see the state after it", name)
	}
}

// TestChecksSeeBeforeOrAfter runs checks and lists while a writer applies
// large batches, clearing batches (replace imports), role deletions with
// many members and small changes, and asserts that every answer is the
// answer of some state the tenant was in while it was read (the model's,
// at a seq between those read before and after it), never one between two
// states. The probes are built so that a half-applied change answers what
// neither side does: a replace import of the same facts keeps every answer
// (half of it loses some); a role deletion takes every member's permission
// at once (CheckMany over its first and last members would differ half
// way); a batch moving users between two roles keeps their permission.
func TestChecksSeeBeforeOrAfter(t *testing.T) {
	const members = 2 * 1024 // past inPlaceMax
	id := KeyID("k")
	rng := rand.New(rand.NewPCG(1, 2))

	// The plan: events, fixed in advance, so that the model gives the
	// answers of every seq.
	base := append(bigRole("big", "use", members), bigRole("small", "see", 5)...)
	base = append(base, Change{Op: OpAddRole, Role: "a"}, Change{Op: OpAddRole, Role: "b"},
		Change{Op: OpAddPermission, Role: "a", Permission: "move"}, Change{Op: OpAddPermission, Role: "b", Permission: "move"})
	for i := range members {
		base = append(base, Change{Op: OpAddMembership, Role: "a", User: "m" + strconv.Itoa(i)})
	}
	plan := []Event{{Change: Change{Op: OpBatch}, Changes: base}}
	inA := true
	for range 24 {
		switch rng.IntN(4) {
		case 0: // replace with the same facts
			plan = append(plan, Event{Change: Change{Op: OpBatch}, Changes: append([]Change{{Op: OpClear}}, base...)})
			inA = true
		case 1: // delete the big role, then make it again
			plan = append(plan, Event{Change: Change{Op: OpDelRole, Role: "big"}},
				Event{Change: Change{Op: OpBatch}, Changes: bigRole("big", "use", members)})
		case 2: // move every m user from one role to the other
			from, to := "a", "b"
			if !inA {
				from, to = to, from
			}
			var cs []Change
			for i := range members {
				u := "m" + strconv.Itoa(i)
				cs = append(cs, Change{Op: OpDelMembership, Role: from, User: u}, Change{Op: OpAddMembership, Role: to, User: u})
			}
			plan = append(plan, Event{Change: Change{Op: OpBatch}, Changes: cs})
			inA = !inA
		case 3: // small changes, in place
			for range 5 {
				u := "s" + strconv.Itoa(rng.IntN(10))
				op := OpAddMembership
				if rng.IntN(2) == 0 {
					op = OpDelMembership
				}
				plan = append(plan, Event{Change: Change{Op: op, Role: "small", User: u}})
			}
		}
	}
	last := "u" + strconv.Itoa(members-1)
	lastM := "m" + strconv.Itoa(members-1)
	probes := []Check{{"u0", "use"}, {last, "use"}, {"m0", "move"}, {lastM, "move"}, {"u3", "see"}, {"s1", "see"}, {"s2", "see"}}
	// answers[seq] is the probes' answers and the big role's member count
	// at seq.
	type answer struct {
		checks  string
		members int
	}
	answers := make([]answer, len(plan)+1)
	m := newModelTenant()
	for i := range plan {
		plan[i].Tenant, plan[i].Seq = id, uint64(i+1)
		m.apply(&plan[i])
		var b []byte
		for _, p := range probes {
			b = strconv.AppendBool(b, m.UserHasPermission(p.User, p.Permission))
		}
		answers[i+1] = answer{string(b), len(m.RoleMembers("big"))}
	}

	e := New()
	if _, err := e.Apply(&plan[0]); err != nil {
		t.Fatal(err)
	}
	tn := e.Tenant(id)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Go(func() {
		defer done.Store(true)
		for i := 1; i < len(plan); i++ {
			if _, err := e.Apply(&plan[i]); err != nil {
				errs <- err
				return
			}
		}
	})
	var reads atomic.Int64
	for range 3 {
		wg.Go(func() {
			out := make([]bool, 0, len(probes))
			for !done.Load() {
				lo := tn.Seq()
				out = tn.CheckMany(probes, out[:0])
				nMembers := len(tn.RoleMembers("big"))
				hi := tn.Seq()
				var b []byte
				for _, ok := range out {
					b = strconv.AppendBool(b, ok)
				}
				checksOK, membersOK := false, false
				for s := lo; s <= hi; s++ {
					checksOK = checksOK || answers[s].checks == string(b)
					membersOK = membersOK || answers[s].members == nMembers
				}
				if !checksOK || !membersOK {
					errs <- fmt.Errorf("read between seqs %d and %d: checks %s, %d members of big: no state in that range answers that", lo, hi, b, nMembers)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := tn.Seq(); got != uint64(len(plan)) {
		t.Fatalf("seq %d, want %d", got, len(plan))
	}
	checkSame(t, "after the plan", tn, m, pools{roles: []string{"big", "small", "a", "b"}, perms: []string{"use", "see", "move"}, users: []string{"u0", last, "m0", lastM, "s1", "s2"}})
	t.Logf("%d reads during %d events", reads.Load(), len(plan)-1)
}

// TestLargeInclusionChangesAreBuiltAside: an inclusion that changes the
// check sets of many permissions for many roles (here 40 permissions for
// 31 roles) is built aside, as a large batch is: readers see the state
// before it until it is published, and never wait for it. So is its
// removal. (Its cost is the permissions below the included role times
// the roles that reach the including one.)
func TestLargeInclusionChangesAreBuiltAside(t *testing.T) {
	e := New()
	const key = "k"
	must := func(_ bool, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.AddRole(key, "top"))
	must(e.AddRole(key, "hub"))
	for i := range 40 {
		must(e.AddPermission(key, "hub", fmt.Sprintf("p%d", i)))
	}
	for i := range 30 {
		a := fmt.Sprintf("a%d", i)
		must(e.AddRole(key, a))
		must(e.AddInclusion(key, a, "top"))
	}
	must(e.AddMembership(key, "u7", "a3"))

	h := holdAside(t)
	has := func(want bool) func() bool {
		return func() bool { return e.UserHasPermission(key, "u7", "p17") == want }
	}
	h.run(t, "inclusion", func() { must(e.AddInclusion(key, "top", "hub")) }, has(false), has(true))
	h.run(t, "its removal", func() { must(e.DelInclusion(key, "top", "hub")) }, has(true), has(false))
	if n := h.n.Load(); n != 2 {
		t.Errorf("%d changes built aside, want 2", n)
	}
}
