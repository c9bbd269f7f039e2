package engine

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestUserHasPermissionAtIsOneState: the check's answer and the seq
// UserHasPermissionAt returns are of the same state, while a writer
// toggles the answer on every event, on a compact tenant and on a full one
// (changed in place). After the setup, u has p exactly at the odd seqs past
// it; an answer paired with a seq of the other parity is from two states.
// Run it with -race.
func TestUserHasPermissionAtIsOneState(t *testing.T) {
	for _, c := range []struct {
		name    string
		filler  int // users beside u, to make the tenant full
		compact bool
	}{
		{"compact", 0, true},
		{"full", compactMaxNames + 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New()
			const key = "key"
			setup := []Change{
				{Op: OpAddRole, Role: "r"},
				{Op: OpAddPermission, Role: "r", Permission: "p"},
			}
			for i := range c.filler {
				setup = append(setup, Change{Op: OpAddMembership, Role: "r", User: "f" + strconv.Itoa(i)})
			}
			if _, err := e.Apply(&Event{Tenant: KeyID(key), Seq: 1, Change: Change{Op: OpBatch}, Changes: setup}); err != nil {
				t.Fatal(err)
			}
			tn := e.Tenant(KeyID(key))
			base := tn.Seq()
			if got := tn.small.Load() != nil; got != c.compact {
				t.Fatalf("tenant compact = %v, want %v", got, c.compact)
			}
			if ok, seq := tn.UserHasPermissionAt("u", "p"); ok || seq != base {
				t.Fatalf("before the writes: %v at %d, want false at %d", ok, seq, base)
			}

			const writes = 3000
			var done atomic.Bool
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Go(func() {
				defer done.Store(true)
				for i := range writes {
					op := OpAddMembership
					if i%2 == 1 {
						op = OpDelMembership
					}
					if _, err := e.Write(key, Change{Op: op, Role: "r", User: "u"}); err != nil {
						errs <- err
						return
					}
				}
			})
			checks := 0
			wg.Go(func() {
				for !done.Load() {
					ok, seq := e.Tenant(KeyID(key)).UserHasPermissionAt("u", "p")
					if want := (seq-base)%2 == 1; ok != want {
						errs <- fmt.Errorf("answer %v at seq %d: that state answers %v", ok, seq, want)
						return
					}
					checks++
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if ok, seq := tn.UserHasPermissionAt("u", "p"); ok || seq != base+writes {
				t.Fatalf("after the writes: %v at %d, want false at %d", ok, seq, base+writes)
			}
			if got := e.Tenant(KeyID(key)).small.Load() != nil; got != c.compact {
				t.Fatalf("after the writes, tenant compact = %v, want %v", got, c.compact)
			}
			t.Logf("%d checks during %d writes", checks, writes)
		})
	}
	var nilTenant *Tenant
	if ok, seq := nilTenant.UserHasPermissionAt("u", "p"); ok || seq != 0 {
		t.Fatalf("a nil tenant answers %v at %d", ok, seq)
	}
}
