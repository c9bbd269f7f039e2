package replica_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"auth/engine"
	"auth/persist"
	"auth/persist/mongo"
	"auth/persist/mongo/mongotest"
	"auth/replica"
)

// Two replicas over one store, without a bus between them, stand for a
// cluster whose bus lost every message (NATS down, a replica on another
// NATS server) or is merely slower than the client: B hears of nothing A
// writes except through the store.

func twoReplicas(t *testing.T, store persist.Store) (a, b *replica.Replica) {
	t.Helper()
	return newReplica(t, store, replica.DefaultConfig()), newReplica(t, store, replica.DefaultConfig())
}

func mustWrite(t *testing.T, r *replica.Replica, key string, c engine.Change, want bool) uint64 {
	t.Helper()
	got, seq, err := r.Write(context.Background(), key, c)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	if got != want {
		t.Fatalf("%v answered %v, want %v", c, got, want)
	}
	return seq
}

// TestRevokeAtALaggingReplica: a grant made at A and revoked at B, which
// has not heard of the grant, is revoked: B's answer is decided at the
// store's head, and the revoke is written, so every replica ends without
// the grant. Before, B answered true from its own state and wrote nothing,
// and the grant stayed for ever.
func TestRevokeAtALaggingReplica(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	a, b := twoReplicas(t, store)
	const key = "revoke"
	id := engine.KeyID(key)
	mustWrite(t, a, key, engine.Change{Op: engine.OpAddRole, Role: "admin"}, true)
	mustWrite(t, a, key, engine.Change{Op: engine.OpAddMembership, Role: "admin", User: "mallory"}, true)
	mustWrite(t, a, key, engine.Change{Op: engine.OpAddPermission, Role: "admin", Permission: "root"}, true)

	seq := mustWrite(t, b, key, engine.Change{Op: engine.OpDelMembership, Role: "admin", User: "mallory"}, true)
	if seq != 4 {
		t.Fatalf("revoke at B answered seq %d, want 4: it must be written after the grant", seq)
	}
	mustWrite(t, b, key, engine.Change{Op: engine.OpDelPermission, Role: "admin", Permission: "root"}, true)
	if err := a.Sync(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*replica.Replica{"A": a, "B": b} {
		if tn := r.Tenant(id); tn.HasMembership("mallory", "admin") || tn.HasPermission("admin", "root") {
			t.Errorf("replica %s still holds the revoked grant or membership", name)
		}
	}
}

// TestWriteAtAReplicaThatNeverLoadedTheTenant: a membership added at B in
// a role created at A answers true and is made, though B has never loaded
// the tenant (before: false, "role does not exist", and dropped).
func TestWriteAtAReplicaThatNeverLoadedTheTenant(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	a, b := twoReplicas(t, store)
	const key = "unloaded"
	mustWrite(t, a, key, engine.Change{Op: engine.OpAddRole, Role: "admin"}, true)
	mustWrite(t, b, key, engine.Change{Op: engine.OpAddMembership, Role: "admin", User: "jack"}, true)
	mustWrite(t, b, key, engine.Change{Op: engine.OpAddPermission, Role: "admin", Permission: "dance"}, true)
	// A role that exists in the store, added again at B: false, as the
	// original answers, and nothing written.
	if seq := mustWrite(t, b, key, engine.Change{Op: engine.OpAddRole, Role: "admin"}, false); seq != 3 {
		t.Fatalf("no-op at B answered seq %d, want 3 (the head it was decided at)", seq)
	}
	if err := a.Sync(context.Background(), engine.KeyID(key)); err != nil {
		t.Fatal(err)
	}
	if !a.Tenant(engine.KeyID(key)).UserHasPermission("jack", "dance") {
		t.Error("A does not see jack's membership and grant made at B")
	}
	if h, _ := store.Head(context.Background(), engine.KeyID(key)); h != 3 {
		t.Errorf("store head %d, want 3: the no-op must write nothing", h)
	}
}

// TestNoOpForAnUnknownKeyLeavesNothing: a no-op under a key never written
// to reads the store's head and leaves neither an event nor a tenant.
func TestNoOpForAnUnknownKeyLeavesNothing(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newReplica(t, store, replica.DefaultConfig())
	for i := range 100 {
		key := fmt.Sprintf("made-up-%d", i)
		mustWrite(t, r, key, engine.Change{Op: engine.OpDelMembership, Role: "r", User: "u"}, true)
		mustWrite(t, r, key, engine.Change{Op: engine.OpAddMembership, Role: "r", User: "u"}, false)
	}
	if n := r.Engine().TenantCount(); n != 0 {
		t.Errorf("%d tenants after no-ops under made-up keys, want 0", n)
	}
	if err := store.Heads(context.Background(), func(id engine.TenantID, _ uint64) error {
		return fmt.Errorf("store holds tenant %s", id)
	}); err != nil {
		t.Error(err)
	}
}

// failingEvents is a store whose catch-up reads fail on demand: the
// store's failure between a replica's append and its catch-up to that
// event, which no real store can be made to do at a chosen instant.
type failingEvents struct {
	persist.Store
	fail atomic.Bool
}

func (s *failingEvents) Events(ctx context.Context, id engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	if s.fail.Load() {
		return nil, fmt.Errorf("injected: %w", persist.ErrUnavailable)
	}
	return s.Store.Events(ctx, id, after, limit)
}

// TestDurableWriteIsNeverNotApplied: B appends a write while behind, and
// the store fails before B can fetch the events between; the write is
// durable, so its error must say "unknown" with its seq, never "nothing
// changed" (before: ErrNotApplied, which wrapped only ErrUnavailable and
// was answered 503).
func TestDurableWriteIsNeverNotApplied(t *testing.T) {
	base := openStore(t, t.TempDir())
	defer base.Close()
	store := &failingEvents{Store: base}
	a := newReplica(t, base, replica.DefaultConfig())
	cfg := replica.DefaultConfig()
	cfg.AnswerGrace = 10 * time.Millisecond
	b := newReplica(t, store, cfg)
	const key = "durable"
	mustWrite(t, a, key, engine.Change{Op: engine.OpAddRole, Role: "r1"}, true)
	mustWrite(t, a, key, engine.Change{Op: engine.OpAddRole, Role: "r2"}, true)

	store.fail.Store(true)
	_, seq, err := b.Write(context.Background(), key, engine.Change{Op: engine.OpAddRole, Role: "r3"})
	if !errors.Is(err, persist.ErrAmbiguous) || !errors.Is(err, replica.ErrAnswerUnknown) {
		t.Fatalf("write durable at the store, not applicable here: %v, want ErrAnswerUnknown (an unknown outcome)", err)
	}
	if seq != 3 {
		t.Fatalf("unknown outcome with seq %d, want 3, where it was made", seq)
	}
	store.fail.Store(false)
	if err := b.Sync(context.Background(), engine.KeyID(key)); err != nil {
		t.Fatal(err)
	}
	if !b.Tenant(engine.KeyID(key)).HasRole("r3") {
		t.Error("the write of unknown outcome is not visible once the store is back")
	}
}

// TestInstallSnapshotBehindRetention: B falls behind while A writes past
// the store's retention; B then catches up by installing the newest
// snapshot while running, and goes on from there (before: it asked for an
// event retention had deleted, for ever, and its writes to the tenant
// failed).
func TestInstallSnapshotBehindRetention(t *testing.T) {
	cfg := mongotest.Config(t)
	cfg.KeepEvents = 3
	open := func() *mongo.Store { return openMongo(t, cfg) }
	acfg := replica.DefaultConfig()
	acfg.SnapshotEvery = 5
	a := newReplica(t, open(), acfg)
	b := newReplica(t, open(), replica.DefaultConfig())
	const key = "retention"
	id := engine.KeyID(key)
	mustWrite(t, a, key, engine.Change{Op: engine.OpAddRole, Role: "r"}, true)
	if err := b.Sync(context.Background(), id); err != nil || b.Engine().Seq(id) != 1 {
		t.Fatalf("B at %d after Sync: %v", b.Engine().Seq(id), err)
	}
	for i := range 40 {
		mustWrite(t, a, key, engine.Change{Op: engine.OpAddMembership, Role: "r", User: fmt.Sprintf("u%d", i)}, true)
	}
	// A's snapshots are written in the background; wait until retention
	// has deleted B's next event.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := open().Events(context.Background(), id, 1, 1)
		if errors.Is(err, persist.ErrPruned) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not delete event 2: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.Sync(context.Background(), id); err != nil {
		t.Fatalf("Sync behind retention: %v", err)
	}
	if got, want := b.Engine().Seq(id), a.Engine().Seq(id); got != want {
		t.Fatalf("B at seq %d, A at %d", got, want)
	}
	if got, want := b.Tenant(id).RoleMembers("r"), a.Tenant(id).RoleMembers("r"); len(got) != 40 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("B's members %v, A's %v", got, want)
	}
	// B writes to the tenant again, and its answer is decided at the head.
	mustWrite(t, b, key, engine.Change{Op: engine.OpDelMembership, Role: "r", User: "u0"}, true)
	if b.Tenant(id).HasMembership("u0", "r") {
		t.Error("B's write after the install did not apply")
	}
}

// TestLargeEventCatchUpResumes: a batch whose chunks take longer to read
// than one catch-up may take is still caught up, over several catch-ups,
// each going on where the last stopped (before: each started over, and a
// replica never got the event).
func TestLargeEventCatchUpResumes(t *testing.T) {
	cfg := mongotest.Config(t)
	cfg.ChunkSize, cfg.MaxInlineEvent = 4<<10, 4<<10
	open := func() *mongo.Store { return openMongo(t, cfg) }
	a := newReplica(t, open(), replica.DefaultConfig())
	b := newReplica(t, open(), replica.DefaultConfig()) // loaded before the batch
	const key = "large"
	id := engine.KeyID(key)
	changes := []engine.Change{{Op: engine.OpAddRole, Role: "r"}}
	for i := range 12000 {
		changes = append(changes, engine.Change{Op: engine.OpAddMembership, Role: "r", User: fmt.Sprintf("user-%06d", i)})
	}
	if _, err := a.WriteBatch(context.Background(), key, changes); err != nil {
		t.Fatal(err)
	}

	// How long one whole read of the event takes here, now: the fastest
	// of a few, on a handle already connected.
	reader := open()
	whole := time.Hour
	for range 3 {
		begin := time.Now()
		if _, err := reader.Events(context.Background(), id, 0, 1); err != nil {
			t.Fatal(err)
		}
		whole = min(whole, time.Since(begin))
	}

	// B may spend a quarter of that on each catch-up.
	budget := max(whole/4, time.Millisecond)
	for round := 0; b.Engine().Seq(id) < 1; round++ {
		if round == 400 {
			t.Fatalf("B did not catch up the event in %d catch-ups of %v each (a whole read takes %v)", round, budget, whole)
		}
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		_ = b.Sync(ctx, id)
		cancel()
	}
	if n := len(b.Tenant(id).RoleMembers("r")); n != 12000 {
		t.Fatalf("B holds %d members, want 12000", n)
	}
}

func openMongo(t testing.TB, cfg mongo.Config) *mongo.Store {
	t.Helper()
	s, err := mongo.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
