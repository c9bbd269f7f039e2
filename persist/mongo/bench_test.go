package mongo_test

import (
	"fmt"
	"testing"
	"time"

	"auth/engine"
	"auth/persist"
	"auth/persist/mongo"
	"auth/persist/mongo/mongotest"
)

// coldStartSnapshot builds the 1M-membership dataset as a snapshot: one
// tenant, users users in 3 roles each, roles roles, perms permissions, 20
// grants per role.
func coldStartSnapshot(tn engine.TenantID, seq uint64, users, roles, perms int) *engine.Snapshot {
	snap := &engine.Snapshot{Tenant: tn, Seq: seq, Users: make([]string, users), Permissions: make([]string, perms),
		Roles: make([]engine.RoleSnapshot, roles)}
	for u := range snap.Users {
		snap.Users[u] = fmt.Sprintf("user-%07d", u)
	}
	for p := range snap.Permissions {
		snap.Permissions[p] = fmt.Sprintf("service-%02d:resource-%04d:read", p%50, p)
	}
	for r := range snap.Roles {
		rs := &snap.Roles[r]
		rs.Name = fmt.Sprintf("role-%04d", r)
		// 20 grants, ascending: permission r*20+j wraps around, so sort.
		first := (r * 20) % perms
		for j := range 20 {
			rs.Permissions = append(rs.Permissions, uint32((first+j)%perms))
		}
		if first+20 > perms {
			rs.Permissions = append(rs.Permissions[perms-first:], rs.Permissions[:perms-first]...)
		}
	}
	// User u is in roles u, u+roles/3 and u+2*roles/3 (mod roles): three
	// distinct roles, members added in ascending user order.
	for u := range users {
		for k := range 3 {
			r := (u + k*roles/3) % roles
			snap.Roles[r].Members = append(snap.Roles[r].Members, uint32(u))
		}
	}
	return snap
}

// BenchmarkColdStart1M measures what a server does when it starts against
// a populated store: Load (the tenant's snapshot, read in chunks, and the
// events after it), engine.Restore of the snapshot, and applying the tail.
// The dataset is one tenant with 1M users in 3 roles each (3M memberships),
// 1k roles, 10k permissions, 20 grants per role, and a tail of 5000 events.
// It is not run by `go test`; run it with
//
//	go test ./persist/mongo -run '^$' -bench ColdStart1M -benchtime 3x
func BenchmarkColdStart1M(b *testing.B) {
	const users, roles, perms, tail = 1_000_000, 1000, 10_000, 5000
	cfg := mongotest.Config(b)
	s := open(b, cfg)
	tn := engine.KeyID("bench/coldstart")

	start := time.Now()
	first := engine.Event{Tenant: tn, ID: 1, Time: time.Now(), Change: engine.Change{Op: engine.OpAddRole, Role: "role-0000"}}
	if err := s.Append(ctxT(b), &first); err != nil {
		b.Fatal(err)
	}
	snap := coldStartSnapshot(tn, first.Seq, users, roles, perms)
	data, err := snap.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SaveSnapshot(ctxT(b), snap); err != nil {
		b.Fatal(err)
	}
	b.Logf("snapshot: %d bytes, saved in %v", len(data), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	for i := range tail {
		var ev engine.Event
		switch i % 4 {
		case 0:
			ev.Change = engine.Change{Op: engine.OpAddMembership, Role: fmt.Sprintf("role-%04d", i%roles), User: fmt.Sprintf("new-user-%d", i)}
		case 1:
			ev.Change = engine.Change{Op: engine.OpAddPermission, Role: fmt.Sprintf("role-%04d", i%roles), Permission: fmt.Sprintf("new-perm-%d", i)}
		case 2:
			ev.Change = engine.Change{Op: engine.OpDelMembership, Role: fmt.Sprintf("role-%04d", i%roles), User: fmt.Sprintf("user-%07d", i)}
		default:
			ev.Change = engine.Change{Op: engine.OpAddRole, Role: fmt.Sprintf("new-role-%d", i)}
		}
		ev.Tenant, ev.ID, ev.Time = tn, uint64(i+2), time.Now()
		if err := s.Append(ctxT(b), &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("tail: %d events appended in %v", tail, time.Since(start).Round(time.Millisecond))
	snap, data = nil, nil

	var load, restore, apply time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		store, err := mongo.Open(ctxT(b), cfg)
		if err != nil {
			b.Fatal(err)
		}
		eng := engine.New()
		var st persist.TenantState
		if err := store.Load(ctxT(b), func(ts persist.TenantState) error { st = ts; return nil }); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := eng.Restore(st.Snapshot); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		for i := range st.Events {
			if _, err := eng.Apply(&st.Events[i]); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		load, restore, apply = load+t1.Sub(t0), restore+t2.Sub(t1), apply+t3.Sub(t2)
		if len(st.Events) != tail || eng.Seq(tn) != uint64(tail+1) {
			b.Fatalf("loaded %d events, seq %d", len(st.Events), eng.Seq(tn))
		}
		_ = store.Close()
	}
	b.StopTimer()
	t0 := time.Now()
	if evs, err := s.Events(ctxT(b), tn, 1, -1); err != nil || len(evs) != tail {
		b.Fatalf("Events: %d, %v", len(evs), err)
	}
	b.Logf("of Load: reading the %d tail events takes %v", tail, time.Since(t0).Round(time.Millisecond))
	n := float64(b.N)
	b.ReportMetric(load.Seconds()/n, "load-s/op")
	b.ReportMetric(restore.Seconds()/n, "restore-s/op")
	b.ReportMetric(apply.Seconds()/n, "apply-s/op")
}

// import1M is the batch of a 1M-membership import, as POST /v1/import
// makes it: 1k roles, 20 grants each (20k), then 1M users in one role each.
func import1M(tn engine.TenantID) engine.Event {
	const roles, grants, users, perms = 1000, 20, 1_000_000, 10_000
	ev := engine.Event{Tenant: tn, ID: 1, Time: time.Now().UTC(), Change: engine.Change{Op: engine.OpBatch},
		Changes: make([]engine.Change, 0, roles*(1+grants)+users)}
	for r := range roles {
		ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpAddRole, Role: fmt.Sprintf("role-%04d", r)})
	}
	for r := range roles {
		for g := range grants {
			ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpAddPermission,
				Role: fmt.Sprintf("role-%04d", r), Permission: fmt.Sprintf("perm-%05d", (r*grants+g)%perms)})
		}
	}
	for u := range users {
		ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpAddMembership,
			Role: ev.Changes[u%roles].Role, User: fmt.Sprintf("user-%07d", u)})
	}
	return ev
}

// BenchmarkAppendBatch1M appends the one batch event of a 1M-membership
// import (1k roles, 20k grants, 1M memberships; about 25 MB in binary form,
// so it is stored in chunks) to a fresh database, then reads it back with
// Load through a new handle, as a server starting up does. It is not run by
// `go test`; run it with
//
//	go test ./persist/mongo -run '^$' -bench AppendBatch1M -benchtime 3x
func BenchmarkAppendBatch1M(b *testing.B) {
	uri := mongotest.URI(b)
	tn := engine.KeyID("bench/import")
	ev := import1M(tn)
	bin, _ := ev.MarshalBinary()
	b.Logf("batch: %d changes, %d bytes in binary form", len(ev.Changes), len(bin))
	bin = nil
	var appendT, loadT time.Duration
	b.ResetTimer()
	for b.Loop() {
		cfg := mongo.DefaultConfig(uri)
		cfg.Database = mongotest.Database(b)
		s := open(b, cfg)
		e := ev
		t0 := time.Now()
		if err := s.Append(ctxT(b), &e); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		r := open(b, cfg)
		var st persist.TenantState
		if err := r.Load(ctxT(b), func(ts persist.TenantState) error { st = ts; return nil }); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		appendT, loadT = appendT+t1.Sub(t0), loadT+t2.Sub(t1)
		if len(st.Events) != 1 || len(st.Events[0].Changes) != len(ev.Changes) || st.Events[0].Seq != 1 {
			b.Fatalf("loaded %d events", len(st.Events))
		}
		_ = s.Close()
		_ = r.Close()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(appendT.Seconds()/n, "append-s/op")
	b.ReportMetric(loadT.Seconds()/n, "load-s/op")
}
