package replica_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/engine"
	"auth/persist"
	"auth/persist/bolt"
	"auth/replica"
)

func openStore(t testing.TB, dir string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(bolt.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newReplica(t testing.TB, store persist.Store, cfg replica.Config) *replica.Replica {
	t.Helper()
	r, err := replica.New(engine.New(), store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func randomChange(rng *rand.Rand) engine.Change {
	role := fmt.Sprintf("r%d", rng.IntN(4))
	switch rng.IntN(6) {
	case 0:
		return engine.Change{Op: engine.OpAddRole, Role: role}
	case 1:
		return engine.Change{Op: engine.OpDelRole, Role: role}
	case 2:
		return engine.Change{Op: engine.OpAddPermission, Role: role, Permission: fmt.Sprintf("p%d", rng.IntN(4))}
	case 3:
		return engine.Change{Op: engine.OpDelPermission, Role: role, Permission: fmt.Sprintf("p%d", rng.IntN(4))}
	case 4:
		return engine.Change{Op: engine.OpAddMembership, Role: role, User: fmt.Sprintf("u%d", rng.IntN(4))}
	default:
		return engine.Change{Op: engine.OpDelMembership, Role: role, User: fmt.Sprintf("u%d", rng.IntN(4))}
	}
}

// TestConcurrentWritesMatchTheLog: many goroutines write to a few tenants
// at once. Every write's answer and seq must be those of replaying the
// store's log in seq order, and the live state must equal the replay.
func TestConcurrentWritesMatchTheLog(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	cfg := replica.DefaultConfig()
	cfg.SnapshotEvery = 50
	r := newReplica(t, store, cfg)
	keys := []string{"k1", "k2"}

	type ack struct {
		seq    uint64
		result bool
		change engine.Change
	}
	var (
		mu   sync.Mutex
		acks = map[string][]ack{}
		wg   sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 150 {
				key := keys[rng.IntN(len(keys))]
				c := randomChange(rng)
				result, seq, err := r.Write(context.Background(), key, c)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acks[key] = append(acks[key], ack{seq, result, c})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	for _, key := range keys {
		id := engine.KeyID(key)
		evs, err := store.Events(context.Background(), id, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		// Replay the log; at each state s, check the writes acknowledged
		// at seq s. A write that changed state is the event at s and gets
		// that event's answer; a write answered without an event changed
		// nothing and gets the answer state s gives.
		bySeq := map[uint64][]ack{}
		for _, a := range acks[key] {
			if a.seq > uint64(len(evs)) {
				t.Fatalf("write acknowledged at seq %d, the log has %d events", a.seq, len(evs))
			}
			bySeq[a.seq] = append(bySeq[a.seq], a)
		}
		replay := engine.New()
		check := func(seq uint64, eventResult bool) {
			for _, a := range bySeq[seq] {
				if seq > 0 && evs[seq-1].Change == a.change && eventResult == a.result {
					continue
				}
				res, changes := replay.Tenant(id).Answer(&a.change)
				if changes || res != a.result {
					t.Errorf("%s seq %d %+v: answered %v; the log gives neither that event nor a no-op with that answer", key, seq, a.change, a.result)
				}
			}
		}
		check(0, false)
		for i := range evs {
			res, err := replay.Apply(&evs[i])
			if err != nil {
				t.Fatal(err)
			}
			check(evs[i].Seq, res)
		}
		if diff := cmp.Diff(replay.Snapshot(id), r.Engine().Snapshot(id)); diff != "" {
			t.Fatalf("live state differs from the log's replay (-replay +live):\n%s", diff)
		}
	}
}

// TestDeliverOrdersAndFillsGaps: events delivered out of order, with gaps,
// are applied in seq order exactly once, the gaps fetched from the store.
func TestDeliverOrdersAndFillsGaps(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	writer, reader := twoReplicas(t, store)
	// reader was loaded before these writes; it learns of them only by
	// delivery and catch-up.
	id := engine.KeyID("k")
	var changes []engine.Change
	rng := rand.New(rand.NewPCG(7, 7))
	for len(changes) < 40 {
		c := randomChange(rng)
		if _, _, err := writer.Write(context.Background(), "k", c); err != nil {
			t.Fatal(err)
		}
		changes = append(changes, c)
	}
	evs, err := store.Events(context.Background(), id, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var applied []uint64
	reader.Observe(func(ev *engine.Event, local bool) {
		if local {
			t.Errorf("event %d delivered from elsewhere counted as local", ev.Seq)
		}
		applied = append(applied, ev.Seq)
	})
	// Deliver a shuffled half, some twice.
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for _, ev := range evs[:len(evs)/2] {
		for range 2 {
			if err := reader.Deliver(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := reader.Sync(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for i, seq := range applied {
		if seq != uint64(i+1) {
			t.Fatalf("applied order %v, want 1..n once each", applied)
		}
	}
	if want := writer.Engine().Seq(id); reader.Engine().Seq(id) != want {
		t.Fatalf("reader at seq %d, want %d", reader.Engine().Seq(id), want)
	}
	if diff := cmp.Diff(writer.Engine().Snapshot(id), reader.Engine().Snapshot(id)); diff != "" {
		t.Fatalf("reader differs from writer (-writer +reader):\n%s", diff)
	}
}

// TestDeliverBeforeLoad: events delivered while the replica is loading are
// held and applied once the load is done.
func TestDeliverBeforeLoad(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	writer := newReplica(t, store, replica.DefaultConfig())
	for _, c := range []engine.Change{{Op: engine.OpAddRole, Role: "a"}, {Op: engine.OpAddRole, Role: "b"}} {
		if _, _, err := writer.Write(context.Background(), "k", c); err != nil {
			t.Fatal(err)
		}
	}
	r, err := replica.New(engine.New(), store, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, err := writer.Write(context.Background(), "k", engine.Change{Op: engine.OpAddRole, Role: "c"}); err != nil {
		t.Fatal(err)
	}
	evs, _ := store.Events(context.Background(), engine.KeyID("k"), 2, -1)
	if err := r.Deliver(context.Background(), evs[0]); err != nil {
		t.Fatal(err)
	}
	if got := r.Engine().Seq(engine.KeyID("k")); got != 0 {
		t.Fatalf("delivery before load applied something: seq %d", got)
	}
	if _, err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.Engine().Roles("k"); !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("roles after load %v, want a b c", got)
	}
}

// TestSnapshotsAreWrittenAndLoaded: after enough events a snapshot lands in
// the store, and a new replica starts from it with a short tail.
func TestSnapshotsAreWrittenAndLoaded(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	cfg := replica.DefaultConfig()
	cfg.SnapshotEvery = 10
	r := newReplica(t, store, cfg)
	// Roles that include roles, so that the snapshot holds inclusions
	// (its format 2), and one in the tail after it.
	for _, c := range []engine.Change{
		{Op: engine.OpAddRole, Role: "r"}, {Op: engine.OpAddRole, Role: "s"}, {Op: engine.OpAddRole, Role: "t"},
		{Op: engine.OpAddInclusion, Role: "r", Includes: "s"}, {Op: engine.OpAddPermission, Role: "s", Permission: "p"},
	} {
		if _, _, err := r.Write(context.Background(), "k", c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		c := engine.Change{Op: engine.OpAddMembership, Role: "r", User: fmt.Sprintf("u%d", i)}
		if _, _, err := r.Write(context.Background(), "k", c); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := r.Write(context.Background(), "k", engine.Change{Op: engine.OpAddInclusion, Role: "s", Includes: "t"}); err != nil {
		t.Fatal(err)
	}
	r.Close() // waits for snapshots in flight
	want := r.Engine().Snapshot(engine.KeyID("k"))
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store = openStore(t, dir)
	defer store.Close()
	var snapSeq uint64
	var tail int
	err := store.Load(context.Background(), func(st persist.TenantState) error {
		if st.Snapshot != nil {
			snapSeq = st.Snapshot.Seq
		}
		tail = len(st.Events)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if snapSeq < 10 || tail >= 10+1 {
		t.Fatalf("store holds a snapshot at %d and a tail of %d; want a snapshot at >= 10 and a short tail", snapSeq, tail)
	}
	r2 := newReplica(t, store, cfg)
	if diff := cmp.Diff(want, r2.Engine().Snapshot(engine.KeyID("k"))); diff != "" {
		t.Fatalf("state after restart differs (-before +after):\n%s", diff)
	}
	tn := r2.Engine().TenantByKey("k")
	if !tn.UserHasPermission("u7", "p") || !tn.HasInclusion("r", "s") || !tn.HasInclusion("s", "t") {
		t.Fatal("the inclusions did not survive the restart")
	}
}

// TestWriteValidates: bad input is refused before the store sees it.
func TestWriteValidates(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newReplica(t, store, replica.DefaultConfig())
	for _, c := range []struct {
		key string
		c   engine.Change
	}{
		{"", engine.Change{Op: engine.OpAddRole, Role: "r"}},
		{"k", engine.Change{Op: engine.OpAddRole, Role: ""}},
		{"k", engine.Change{Op: engine.OpAddRole, Role: "a\x00"}},
		{"k", engine.Change{Op: 99, Role: "r"}},
		{"k", engine.Change{Op: engine.OpAddRole, Role: "r", User: "u"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _, err := r.Write(ctx, c.key, c.c)
		cancel()
		if err == nil {
			t.Errorf("Write(%q, %+v) accepted", c.key, c.c)
		}
	}
	if head, _ := store.Head(context.Background(), engine.KeyID("k")); head != 0 {
		t.Fatalf("bad writes reached the store: head %d", head)
	}
}
