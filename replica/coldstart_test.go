package replica_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"auth/engine"
	"auth/persist/bolt"
	"auth/replica"
)

// dataset1M is the reference dataset: one tenant, 1M users in 3 roles each,
// 1k roles, 10k permissions, 20 grants per role.
func dataset1M(id engine.TenantID, seq uint64) *engine.Snapshot {
	const users, roles, perms, rolesPerUser, grants = 1_000_000, 1_000, 10_000, 3, 20
	rng := rand.New(rand.NewPCG(1, 2))
	s := &engine.Snapshot{Tenant: id, Seq: seq, Users: make([]string, users), Permissions: make([]string, perms), Roles: make([]engine.RoleSnapshot, roles)}
	for i := range s.Users {
		s.Users[i] = fmt.Sprintf("user-%07d", i)
	}
	for i := range s.Permissions {
		s.Permissions[i] = fmt.Sprintf("perm-%05d", i)
	}
	members := make([][]uint32, roles)
	for u := range users {
		picked := map[int]bool{}
		for len(picked) < rolesPerUser {
			picked[rng.IntN(roles)] = true
		}
		for r := range picked {
			members[r] = append(members[r], uint32(u))
		}
	}
	for r := range s.Roles {
		ps := map[uint32]bool{}
		for len(ps) < grants {
			ps[uint32(rng.IntN(perms))] = true
		}
		rs := engine.RoleSnapshot{Name: fmt.Sprintf("role-%04d", r), Members: members[r]}
		for p := range perms {
			if ps[uint32(p)] {
				rs.Permissions = append(rs.Permissions, uint32(p))
			}
		}
		s.Roles[r] = rs
	}
	return s
}

// BenchmarkColdStart1M measures a start from the embedded store: the
// reference dataset as a snapshot plus a tail of events, loaded into a
// fresh engine.
//
//	go test ./replica -run '^$' -bench ColdStart1M -benchtime 3x
func BenchmarkColdStart1M(b *testing.B) {
	const tail = 5000
	dir := b.TempDir()
	store, err := bolt.Open(bolt.DefaultConfig(dir))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id := engine.KeyID("bench")
	// The events the snapshot stands for must exist before it; write one
	// event per seq the snapshot covers would take long, so the snapshot
	// sits at seq 1 and the tail follows it.
	first := engine.Event{Tenant: id, Change: engine.Change{Op: engine.OpAddRole, Role: "role-0000"}}
	if err := store.Append(ctx, &first); err != nil {
		b.Fatal(err)
	}
	snap := dataset1M(id, 1)
	if err := store.SaveSnapshot(ctx, snap); err != nil {
		b.Fatal(err)
	}
	data, _ := snap.MarshalBinary()
	for i := range tail {
		ev := engine.Event{Tenant: id, Time: time.Now(), Change: engine.Change{Op: engine.OpAddMembership, Role: fmt.Sprintf("role-%04d", i%1000), User: fmt.Sprintf("new-user-%d", i)}}
		if err := store.Append(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
	store.Close()

	b.ResetTimer()
	for b.Loop() {
		store, err := bolt.Open(bolt.DefaultConfig(dir))
		if err != nil {
			b.Fatal(err)
		}
		cfg := replica.DefaultConfig()
		cfg.SnapshotEvery = 0
		r, err := replica.New(engine.New(), store, cfg)
		if err != nil {
			b.Fatal(err)
		}
		st, err := r.Load(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st.Events != tail {
			b.Fatalf("loaded a tail of %d events, want %d", st.Events, tail)
		}
		if got := r.Engine().Tenant(id).Stats().Memberships; got != 3_000_000+tail {
			b.Fatalf("loaded %d memberships, want %d", got, 3_000_000+tail)
		}
		b.StopTimer()
		r.Close()
		store.Close()
		runtime.GC()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(data))/1e6, "snapshot-MB")
}
