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
