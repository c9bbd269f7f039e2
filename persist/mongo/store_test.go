package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
	"auth/persist"
	"auth/persist/mongo"
	"auth/persist/mongo/mongotest"
	"auth/persist/storetest"
)

func open(t testing.TB, cfg mongo.Config) *mongo.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawDB gives direct access to the store's database.
func rawDB(t testing.TB, cfg mongo.Config) *driver.Database {
	t.Helper()
	client, err := driver.Connect(options.Client().ApplyURI(cfg.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(cfg.Database)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func addRole(tn engine.TenantID, id uint64, role string) engine.Event {
	return engine.Event{Tenant: tn, ID: id, Time: time.Unix(1700000000, int64(id)).UTC(),
		Change: engine.Change{Op: engine.OpAddRole, Role: role}}
}

// TestConformance runs the conformance suite over each access: the one
// Open chooses for the test server (_id lookups), and the plain indexed
// queries of MongoDB, which the test server answers too, only slowly.
func TestConformance(t *testing.T) { eachAccess(t, testConformance) }

func testConformance(t *testing.T, access string) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) func() persist.Store {
			cfg := mongotest.Config(t)
			cfg.Access = access
			if access == mongo.AccessMongoDB {
				// The test server answers MongoDB's range queries by
				// decoding every document: slow, more so on a loaded
				// machine. What is tested here is their answers.
				cfg.Timeout = 30 * time.Second
			}
			return func() persist.Store {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s, err := mongo.Open(ctx, cfg)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return s
			}
		},
		Shared: true,
	})
}

// Two handles with clients of their own, as two processes: many writers,
// three tenants. No seq may be given twice, seqs stay dense, and every
// acknowledged event is stored at its seq.
func TestConcurrentHandles(t *testing.T) {
	cfg := mongotest.Config(t)
	storetest.Concurrent(t, []persist.Store{open(t, cfg), open(t, cfg)},
		[]engine.TenantID{engine.KeyID("c/a"), engine.KeyID("c/b"), engine.KeyID("c/c")}, 16, 50)
}

// The server goes away: calls fail with ErrUnavailable within the timeout;
// it comes back: the same Store works again without being reopened.
func TestOutage(t *testing.T) {
	srv := mongotest.Start(t)
	cfg := mongo.DefaultConfig(srv.URI())
	cfg.Database = mongotest.Database(t)
	s := open(t, cfg)
	tn := engine.KeyID("outage")
	var acked []uint64
	appendOK := func(id uint64) {
		t.Helper()
		ev := addRole(tn, id, fmt.Sprintf("r%d", id))
		if err := s.Append(ctxT(t), &ev); err != nil {
			t.Fatalf("Append %d: %v", id, err)
		}
		acked = append(acked, ev.ID)
	}
	for i := range 5 {
		appendOK(uint64(i + 1))
	}

	srv.Stop()
	// Two appends and a Head, at once: each must fail within ~3s.
	var (
		mu    sync.Mutex
		maybe []uint64 // appends whose outcome is unknown
		wg    sync.WaitGroup
	)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := addRole(tn, uint64(100+i), "down")
			start := time.Now()
			err := s.Append(context.Background(), &ev)
			took := time.Since(start)
			if !errors.Is(err, persist.ErrUnavailable) {
				t.Errorf("Append while down: %v, want ErrUnavailable", err)
			}
			if took > 3500*time.Millisecond {
				t.Errorf("Append while down took %v", took)
			}
			if ev.Seq != 0 {
				t.Errorf("failed Append left seq %d", ev.Seq)
			}
			mu.Lock()
			if errors.Is(err, persist.ErrAmbiguous) {
				maybe = append(maybe, ev.ID)
			}
			mu.Unlock()
			t.Logf("Append while down: %v after %v", err, took.Round(time.Millisecond))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		_, err := s.Head(context.Background(), tn)
		if took := time.Since(start); !errors.Is(err, persist.ErrUnavailable) || took > 3500*time.Millisecond {
			t.Errorf("Head while down: %v after %v", err, took)
		}
	}()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	srv.Start()
	// The first append after the restart may meet a connection that died
	// with the old server; Append retries within its time and must succeed.
	start := time.Now()
	appendOK(6)
	t.Logf("first Append after the restart took %v", time.Since(start).Round(time.Millisecond))
	for i := range 3 {
		appendOK(uint64(7 + i))
	}
	evs, err := s.Events(ctxT(t), tn, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if !slices.Contains(maybe, ev.ID) {
			got = append(got, ev.ID)
		}
	}
	if !slices.Equal(got, acked) {
		t.Fatalf("stored %v, acknowledged %v (unknown outcome: %v)", got, acked, maybe)
	}
}

func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	cfg := mongo.DefaultConfig(mongo.URIFromHostPort("127.0.0.1", fmt.Sprint(addr.Port)))
	cfg.Timeout = 500 * time.Millisecond
	start := time.Now()
	_, err = mongo.Open(context.Background(), cfg)
	if !errors.Is(err, persist.ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Fatalf("Open on a closed port: %v after %v", err, time.Since(start))
	}
}

// bigSnapshot builds a valid snapshot of users long-named users in three
// roles, at seq.
func bigSnapshot(t testing.TB, tn engine.TenantID, seq uint64, users, nameLen int) *engine.Snapshot {
	snap := &engine.Snapshot{Tenant: tn, Seq: seq, Users: make([]string, users), Permissions: []string{"read", "write"}}
	pad := strings.Repeat("x", max(nameLen-12, 0))
	members := make([]uint32, users)
	for i := range users {
		snap.Users[i] = fmt.Sprintf("%s%012d", pad, i)
		members[i] = uint32(i)
	}
	snap.Roles = []engine.RoleSnapshot{
		{Name: "reader", Permissions: []uint32{0}, Members: members},
		{Name: "writer", Permissions: []uint32{1}, Members: members[:users/2]},
		{Name: "admin", Permissions: []uint32{0, 1}, Members: members[:10]},
	}
	eng := engine.New()
	if err := eng.Restore(snap); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return eng.Snapshot(tn)
}

func loadAll(t testing.TB, s persist.Store) map[engine.TenantID]persist.TenantState {
	t.Helper()
	out := map[engine.TenantID]persist.TenantState{}
	if err := s.Load(ctxT(t), func(st persist.TenantState) error {
		out[st.Tenant] = st
		return nil
	}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return out
}

// countChunks counts the snapshot chunks.
func countChunks(t testing.TB, db *driver.Database) int64 {
	t.Helper()
	return countDocs(t, db, "snapshot_chunks")
}

// A snapshot over MongoDB's 16 MiB document limit goes in chunks and comes
// back whole; a newer one replaces it and its chunks go.
func TestSnapshotChunks(t *testing.T) {
	cfg := mongotest.Config(t)
	s := open(t, cfg)
	tn := engine.KeyID("big")
	for i := range 2 {
		ev := addRole(tn, uint64(i+1), fmt.Sprintf("r%d", i))
		if err := s.Append(ctxT(t), &ev); err != nil {
			t.Fatal(err)
		}
	}
	snap := bigSnapshot(t, tn, 1, 90_000, 200)
	data, _ := snap.MarshalBinary()
	if len(data) <= 16<<20 {
		t.Fatalf("snapshot is %d bytes, want over 16 MiB", len(data))
	}
	if err := s.SaveSnapshot(ctxT(t), snap); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	db := rawDB(t, cfg)
	want := int64((len(data) + cfg.ChunkSize - 1) / cfg.ChunkSize)
	if n := countChunks(t, db); n != want {
		t.Fatalf("%d chunks stored, want %d", n, want)
	}
	st := loadAll(t, open(t, cfg))[tn]
	if st.Snapshot == nil {
		t.Fatal("Load gave no snapshot")
	}
	got, _ := st.Snapshot.MarshalBinary()
	if !slices.Equal(got, data) {
		t.Fatal("loaded snapshot differs from the saved one")
	}
	if len(st.Events) != 1 || st.Events[0].Seq != 2 {
		t.Fatalf("events after the snapshot: %v", st.Events)
	}

	small := &engine.Snapshot{Tenant: tn, Seq: 2}
	if err := s.SaveSnapshot(ctxT(t), small); err != nil {
		t.Fatal(err)
	}
	if n := countChunks(t, db); n != 1 {
		t.Fatalf("%d chunks after replacing the big snapshot, want 1", n)
	}
	st = loadAll(t, s)[tn]
	if st.Snapshot == nil || st.Snapshot.Seq != 2 || len(st.Events) != 0 {
		t.Fatalf("after the second snapshot: %+v", st)
	}
}

// Readers that load while snapshots are replaced never see a torn one.
func TestSnapshotReplaceWhileLoading(t *testing.T) {
	cfg := mongotest.Config(t)
	cfg.ChunkSize = 1024
	w, r := open(t, cfg), open(t, cfg)
	tn := engine.KeyID("torn")
	const n = 12
	for i := range n {
		ev := addRole(tn, uint64(i+1), fmt.Sprintf("r%d", i))
		if err := w.Append(ctxT(t), &ev); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		for seq := uint64(1); seq <= n; seq++ {
			if err := w.SaveSnapshot(ctxT(t), bigSnapshot(t, tn, seq, 300, 40)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	loads := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			st := loadAll(t, r)[tn]
			if st.Snapshot == nil || st.Snapshot.Seq != n || len(st.Events) != 0 {
				t.Fatalf("final load: snapshot %v, %d events", st.Snapshot != nil, len(st.Events))
			}
			t.Logf("%d loads during the saves", loads)
			return
		default:
		}
		st := loadAll(t, r)[tn]
		var after uint64
		if st.Snapshot != nil {
			after = st.Snapshot.Seq
			if len(st.Snapshot.Users) != 300 {
				t.Fatalf("snapshot with %d users", len(st.Snapshot.Users))
			}
		}
		if uint64(len(st.Events)) != n-after {
			t.Fatalf("snapshot at %d and %d events", after, len(st.Events))
		}
		loads++
	}
}

// With retention, a snapshot deletes old events; Load still gives the whole
// state, and a handle whose cached head predates the deletion does not
// reuse a deleted seq.
func TestRetention(t *testing.T) { eachAccess(t, testRetention) }

// eachAccess runs test over each access of the test server (see Access in
// the package doc).
func eachAccess(t *testing.T, test func(t *testing.T, access string)) {
	for _, access := range []string{mongo.AccessAuto, mongo.AccessMongoDB} {
		t.Run("access="+accessName(access), func(t *testing.T) { test(t, access) })
	}
}

// retention opens two handles on a store that keeps 5 events behind a
// snapshot, and returns them with an append that also applies the event to
// eng, a live copy of the tenant.
func retention(t *testing.T, access, name string) (a, b *mongo.Store, tn engine.TenantID, eng *engine.Engine, appendTo func(*mongo.Store, uint64) engine.Event, cfg mongo.Config) {
	cfg = mongotest.Config(t)
	cfg.Access = access
	cfg.KeepEvents = 5
	a, b = open(t, cfg), open(t, cfg)
	tn, eng = engine.KeyID(name), engine.New()
	appendTo = func(s *mongo.Store, id uint64) engine.Event {
		t.Helper()
		ev := addRole(tn, id, fmt.Sprintf("r%d", id))
		if err := s.Append(ctxT(t), &ev); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Apply(&ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	return a, b, tn, eng, appendTo, cfg
}

func testRetention(t *testing.T, access string) {
	a, b, tn, eng, appendTo, _ := retention(t, access, "retention")
	appendTo(b, 1) // b now caches head 1
	for i := 2; i <= 20; i++ {
		ev := appendTo(a, uint64(i))
		if ev.Seq == 15 {
			if err := a.SaveSnapshot(ctxT(t), eng.Snapshot(tn)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := a.Events(ctxT(t), tn, 0, -1); !errors.Is(err, persist.ErrPruned) {
		t.Fatalf("events after 0, deleted by retention: %v, want ErrPruned", err)
	}
	evs, err := a.Events(ctxT(t), tn, 10, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 10 || evs[0].Seq != 11 {
		t.Fatalf("after retention: %d events from seq %d, want 10 from 11", len(evs), evs[0].Seq)
	}
	if ev := appendTo(b, 21); ev.Seq != 21 {
		t.Fatalf("stale handle appended at seq %d, want 21", ev.Seq)
	}
	storetest.CheckLoaded(t, eng, loadAll(t, b)[tn])
}

// The events collection reads as an audit trail.
func TestEventDocumentReadable(t *testing.T) {
	cfg := mongotest.Config(t)
	s := open(t, cfg)
	tn := engine.KeyID("audit")
	ev := engine.Event{Tenant: tn, ID: 0xabcdef, Time: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC),
		Change: engine.Change{Op: engine.OpBatch},
		Changes: []engine.Change{
			{Op: engine.OpAddRole, Role: "editor"},
			{Op: engine.OpAddMembership, Role: "editor", User: "ann"},
		}}
	if err := s.Append(ctxT(t), &ev); err != nil {
		t.Fatal(err)
	}
	var doc bson.M
	if err := rawDB(t, cfg).Collection("events").FindOne(ctxT(t), bson.D{}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := bson.M{
		"_id":     tn.String() + ":00000000000000000001",
		"tenant":  tn.String(),
		"seq":     int64(1),
		"id":      "0000000000abcdef",
		"time":    bson.NewDateTimeFromTime(ev.Time),
		"time_ns": int32(456789),
		"op":      "batch",
		"changes": bson.A{
			bson.D{{Key: "op", Value: "add_role"}, {Key: "role", Value: "editor"}},
			bson.D{{Key: "op", Value: "add_membership"}, {Key: "role", Value: "editor"}, {Key: "user", Value: "ann"}},
		},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Fatalf("stored document (-want +got):\n%s", diff)
	}
}

// TestRetentionRace: two handles with stale heads append after retention
// deleted the range their heads point into. One's insert lands first, at
// a deleted seq, and stays there for a moment (here: for good, as if its
// process died before taking it back out); the other's insert lands just
// above it. That second write must not be acknowledged at a seq below the
// floor, where no replica would ever read it (before: its "predecessor
// exists" check passed on the first one's stray, and it was acknowledged
// and lost); and no reader may take the stray for an event.
func TestRetentionRace(t *testing.T) { eachAccess(t, testRetentionRace) }

func testRetentionRace(t *testing.T, access string) {
	a, c, tn, eng, appendTo, cfg := retention(t, access, "retention-race")
	appendTo(c, 1)
	appendTo(c, 2) // c now caches head 2
	for i := 3; i <= 20; i++ {
		appendTo(a, uint64(i))
	}
	if err := a.SaveSnapshot(ctxT(t), eng.Snapshot(tn)); err != nil { // deletes up to 15
		t.Fatal(err)
	}
	// Another stale handle's insert at seq 2, not yet taken back out.
	stray := addRole(tn, 999, "stray")
	db := rawDB(t, cfg)
	if _, err := db.Collection("events").InsertOne(ctxT(t), bson.D{
		{Key: "_id", Value: tn.String() + ":" + fmt.Sprintf("%020d", 2)},
		{Key: "tenant", Value: tn.String()}, {Key: "seq", Value: int64(2)},
		{Key: "id", Value: fmt.Sprintf("%016x", stray.ID)}, {Key: "op", Value: "add_role"}, {Key: "role", Value: "stray"},
	}); err != nil {
		t.Fatal(err)
	}

	ev := appendTo(c, 21)
	if ev.Seq != 21 {
		t.Fatalf("stale handle's write acknowledged at seq %d, want 21 (retention deleted up to 15)", ev.Seq)
	}
	// A reader behind the floor is told so, and never given the stray.
	if evs, err := c.Events(ctxT(t), tn, 1, -1); !errors.Is(err, persist.ErrPruned) {
		t.Fatalf("events after 1: %d events, %v; want ErrPruned", len(evs), err)
	}
	evs, err := c.Events(ctxT(t), tn, 15, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(evs); fmt.Sprint(got) != fmt.Sprint([]uint64{16, 17, 18, 19, 20, 21}) {
		t.Fatalf("events after 15: %v", got)
	}
	heads := map[engine.TenantID]uint64{}
	if err := c.Heads(ctxT(t), func(id engine.TenantID, h uint64) error { heads[id] = h; return nil }); err != nil {
		t.Fatal(err)
	}
	if heads[tn] != 21 {
		t.Fatalf("head %d, want 21", heads[tn])
	}
}

func seqsOf(evs []engine.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i := range evs {
		out[i] = evs[i].Seq
	}
	return out
}

func accessName(a string) string {
	if a == mongo.AccessAuto {
		return "auto"
	}
	return a
}

// TestPurgeWithRetention runs the conformance suite's purge where
// retention is on: the purge then deletes the events behind the floor.
func TestPurgeWithRetention(t *testing.T) {
	eachAccess(t, func(t *testing.T, access string) {
		storetest.Purge(t, storetest.Harness{Shared: true, New: func(t *testing.T) func() persist.Store {
			cfg := mongotest.Config(t)
			cfg.Access, cfg.KeepEvents = access, 5
			return func() persist.Store { return open(t, cfg) }
		}})
	})
}
