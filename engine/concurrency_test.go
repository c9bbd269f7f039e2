package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentSnapshotsAreConsistent runs one writer per tenant, readers
// on every tenant and a snapshotter at the same time (run it with -race).
// Each writer's changes are fixed in advance, so the state at seq n is the
// model after the first n changes: every snapshot, taken while writes go
// on, must be exactly that state.
func TestConcurrentSnapshotsAreConsistent(t *testing.T) {
	const tenants, changesPerTenant = 4, 1500
	p := pools{roles: names("r", 8), perms: names("p", 4), users: names("u", 6)}
	keys := make([]string, tenants)
	plans := make([][]Change, tenants)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		pick := func(s []string) string { return s[rng.IntN(len(s))] }
		for range changesPerTenant {
			c := Change{Op: Op(1 + rng.IntN(6)), Role: pick(p.roles)}
			switch c.Op {
			case OpAddPermission, OpDelPermission:
				c.Permission = pick(p.perms)
			case OpAddMembership, OpDelMembership:
				c.User = pick(p.users)
			}
			if c.Op == OpDelRole && rng.IntN(3) > 0 {
				c.Op = OpAddRole // keep roles around
			}
			plans[i] = append(plans[i], c)
		}
	}
	stateAt := func(i int, seq uint64) *modelTenant {
		m := newModelTenant()
		for _, c := range plans[i][:seq] {
			m.change(c)
		}
		m.seq = seq
		return m
	}

	e := New()
	var wg sync.WaitGroup
	var writing atomic.Int32
	writing.Store(tenants)
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for i := range tenants {
		wg.Go(func() {
			defer writing.Add(-1)
			for n, c := range plans[i] {
				if _, err := e.Write(keys[i], c); err != nil {
					fail(fmt.Errorf("tenant %d change %d: %w", i, n, err))
					return
				}
			}
		})
	}
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for writing.Load() > 0 {
				k := keys[rng.IntN(tenants)]
				role, perm, user := p.roles[rng.IntN(len(p.roles))], p.perms[rng.IntN(len(p.perms))], p.users[rng.IntN(len(p.users))]
				e.UserHasPermission(k, user, perm)
				e.HasMembership(k, user, role)
				if e.WhichUsersCan(k, perm) == nil || e.UserPermissions(k, user) == nil || e.RoleMembers(k, role) == nil {
					fail(fmt.Errorf("a list read returned nil"))
				}
				e.Tenant(KeyID(k)).Answer(&Change{Op: OpAddMembership, Role: role, User: user})
				e.Tenant(KeyID(k)).Stats()
			}
		})
	}
	snapshots := 0
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 3))
		for writing.Load() > 0 {
			i := rng.IntN(tenants)
			snap := e.Snapshot(KeyID(keys[i]))
			f := New()
			if err := f.Restore(snap); err != nil {
				fail(err)
				return
			}
			want := readState(stateAt(i, snap.Seq), p)
			if got := readState(f.Tenant(snap.Tenant), p); !reflect.DeepEqual(got, want) {
				fail(fmt.Errorf("snapshot of tenant %d at seq %d is not the state at that seq", i, snap.Seq))
				return
			}
			snapshots++
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, k := range keys {
		checkSame(t, "after the writers, "+k, keyReader{e, k}, stateAt(i, changesPerTenant), p)
	}
	t.Logf("%d consistent snapshots taken during the writes", snapshots)
}

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
			wg.Go(func() {
				defer done.Store(true)
				for i := range writes {
					op := OpAddMembership
					if i%2 == 1 {
						op = OpDelMembership
					}
					if _, err := e.Write(key, Change{Op: op, Role: "r", User: "u"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
			checks := 0
			wg.Go(func() {
				for !done.Load() {
					ok, seq := e.Tenant(KeyID(key)).UserHasPermissionAt("u", "p")
					if want := (seq-base)%2 == 1; ok != want {
						t.Errorf("answer %v at seq %d: that state answers %v", ok, seq, want)
						return
					}
					checks++
				}
			})
			wg.Wait()
			if t.Failed() {
				return
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
