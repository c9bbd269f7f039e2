package replica_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"auth/engine"
	"auth/replica"
)

// TestSweepWindowsTwoReplicas: two replicas of one store sweep at the same
// time. Memberships expired longer than the grace go, once; the others
// stay; the second sweep removes nothing more, whether it finds the first
// already applied (and writes nothing) or writes its own event; a replica
// that replays the log from the start has the same state.
func TestSweepWindowsTwoReplicas(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	a, b := twoReplicas(t, store)
	ctx := context.Background()
	const key = "sweep-key"
	now := time.Date(2026, 11, 30, 12, 0, 30, 0, time.UTC)
	write := func(c engine.Change) { t.Helper(); mustWrite(t, a, key, c, true) }
	write(engine.Change{Op: engine.OpAddRole, Role: "admin"})
	write(engine.MembershipChange("old", "admin", engine.Window{ExpiresAt: now.Add(-48 * time.Hour)}))
	write(engine.MembershipChange("within-grace", "admin", engine.Window{ExpiresAt: now.Add(-time.Hour)}))
	write(engine.MembershipChange("later", "admin", engine.Window{StartsAt: now.Add(time.Hour)}))
	write(engine.Change{Op: engine.OpAddMembership, User: "always", Role: "admin"})
	id := engine.KeyID(key)
	if err := b.Sync(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*replica.Replica{a, b, a} {
		if _, err := r.SweepWindows(ctx, now, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.SweepWindows(ctx, now, 24*time.Hour); err != nil || n != 0 {
		t.Fatalf("a sweep with nothing left to remove wrote %d events (%v)", n, err)
	}
	for _, r := range []*replica.Replica{a, b} {
		if err := r.Sync(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	c := newReplica(t, store, replica.DefaultConfig()) // replays the log
	var sweeps int
	evs, err := a.Events(ctx, id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Op == engine.OpSweepWindows {
			sweeps++
			if got := engine.FieldExpiresAt.Of(&ev.Change); got != "2026-11-29T12:00:00Z" {
				t.Errorf("sweep cutoff %q, want the grace before now rounded down to the minute", got)
			}
		}
	}
	if sweeps < 1 || sweeps > 2 {
		t.Fatalf("%d sweep events", sweeps)
	}
	for i, r := range []*replica.Replica{a, b, c} {
		tn := r.Tenant(id)
		if st := tn.Stats(); st.Memberships != 3 {
			t.Errorf("replica %d: %d memberships, want 3", i, st.Memberships)
		}
		if _, member := tn.MembershipWindow("old", "admin"); member {
			t.Errorf("replica %d: the old membership stayed", i)
		}
		if w, member := tn.MembershipWindow("within-grace", "admin"); !member || w.ExpiresAt.IsZero() {
			t.Errorf("replica %d: the membership within the grace: %+v, %v", i, w, member)
		}
		if got := tn.ListAt(engine.ListRoleMembers, "admin", false, now); !slices.Equal(got, []string{"always"}) {
			t.Errorf("replica %d: members at now %v", i, got)
		}
	}
}
