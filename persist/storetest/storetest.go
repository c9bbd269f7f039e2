// Package storetest is the conformance suite for persist.Store
// implementations: every store runs [Run] in its own tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/engine"
	"auth/persist"
)

// Harness gives the suite stores to test.
type Harness struct {
	// New prepares a fresh, empty location and returns a function that
	// opens a store over it. Every call of open must return a new handle
	// over the same location, so that the suite can close and reopen it.
	// The harness closes nothing: the suite closes every store it opens.
	New func(t *testing.T) (open func() persist.Store)
	// Shared says that several handles may be open over one location at
	// once (as several processes share one MongoDB), so the suite also
	// appends through two handles concurrently.
	Shared bool
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Run("DenseSeqPerTenant", func(t *testing.T) { testDenseSeq(t, h) })
	t.Run("EventsRoundTrip", func(t *testing.T) { testRoundTrip(t, h) })
	t.Run("EventsAfterAndLimit", func(t *testing.T) { testEventsAfter(t, h) })
	t.Run("LargeBatch", func(t *testing.T) { testLargeBatch(t, h) })
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrent(t, h, false) })
	if h.Shared {
		t.Run("ConcurrentAppendsTwoHandles", func(t *testing.T) { testConcurrent(t, h, true) })
	}
	t.Run("SnapshotAndLoad", func(t *testing.T) { testSnapshotLoad(t, h) })
	t.Run("SnapshotNotAhead", func(t *testing.T) { testSnapshotAhead(t, h) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, h) })
	t.Run("CanceledAppendChangesNothing", func(t *testing.T) { testCanceled(t, h) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, h) })
	t.Run("PurgeDeletedTenant", func(t *testing.T) { Purge(t, h) })
}

func tenant(name string) engine.TenantID { return engine.KeyID("storetest/" + name) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, h Harness) (persist.Store, func() persist.Store) {
	t.Helper()
	opener := h.New(t)
	s := opener()
	t.Cleanup(func() { _ = s.Close() })
	return s, opener
}

func event(tn engine.TenantID, i int) engine.Event {
	role := fmt.Sprintf("role-%d", i%7)
	var c engine.Change
	switch i % 4 {
	case 0:
		c = engine.Change{Op: engine.OpAddRole, Role: role}
	case 1:
		c = engine.Change{Op: engine.OpAddPermission, Role: role, Permission: fmt.Sprintf("perm %d/ü", i)}
	case 2:
		c = engine.Change{Op: engine.OpAddMembership, Role: role, User: fmt.Sprintf("user+%d", i)}
	default:
		c = engine.Change{Op: engine.OpDelRole, Role: role}
	}
	return engine.Event{
		Tenant: tn,
		ID:     uint64(i)*0x9E3779B97F4A7C15 + 1,
		Time:   time.Date(2026, 1, 2, 3, 4, 5, i*1000, time.UTC),
		Change: c,
	}
}

// appendEvents appends tn's events 0 to n-1 and returns them as
// appended.
func appendEvents(t *testing.T, s persist.Store, tn engine.TenantID, n int) []engine.Event {
	t.Helper()
	evs := make([]engine.Event, n)
	for i := range evs {
		evs[i] = event(tn, i)
		mustAppend(t, s, &evs[i])
	}
	return evs
}

func mustAppend(t *testing.T, s persist.Store, ev *engine.Event) {
	t.Helper()
	if err := s.Append(ctxT(t), ev); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func mustEvents(t *testing.T, s persist.Store, tn engine.TenantID, after uint64, limit int) []engine.Event {
	t.Helper()
	evs, err := s.Events(ctxT(t), tn, after, limit)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return evs
}

func seqs(evs []engine.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i := range evs {
		out[i] = evs[i].Seq
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func testDenseSeq(t *testing.T, h Harness) {
	s, _ := open(t, h)
	a, b := tenant("a"), tenant("b")
	for i := range 5 {
		ev := event(a, i)
		mustAppend(t, s, &ev)
		if ev.Seq != uint64(i+1) {
			t.Fatalf("append %d to a: seq %d, want %d", i, ev.Seq, i+1)
		}
	}
	ev := event(b, 0)
	mustAppend(t, s, &ev)
	if ev.Seq != 1 {
		t.Fatalf("first append to b: seq %d, want 1", ev.Seq)
	}
	for _, c := range []struct {
		tn   engine.TenantID
		want uint64
	}{{a, 5}, {b, 1}, {tenant("none"), 0}} {
		head, err := s.Head(ctxT(t), c.tn)
		if err != nil || head != c.want {
			t.Errorf("Head = %d, %v; want %d", head, err, c.want)
		}
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	s, _ := open(t, h)
	a := tenant("a")
	want := appendEvents(t, s, a, 12)
	batch := engine.Event{Tenant: a, ID: 77, Time: time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC),
		Change: engine.Change{Op: engine.OpBatch},
		Changes: []engine.Change{
			{Op: engine.OpAddRole, Role: "b1"},
			{Op: engine.OpAddPermission, Role: "b1", Permission: "p"},
			{Op: engine.OpAddMembership, Role: "b1", User: "u"},
		}}
	mustAppend(t, s, &batch)
	want = append(want, batch)
	got := mustEvents(t, s, a, 0, -1)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events differ (-want +got):\n%s", diff)
	}
}

func testEventsAfter(t *testing.T, h Harness) {
	s, _ := open(t, h)
	a, b := tenant("a"), tenant("b")
	for i := range 10 {
		ea, eb := event(a, i), event(b, i)
		mustAppend(t, s, &ea)
		mustAppend(t, s, &eb)
	}
	for _, c := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, -1, span(1, 10)},
		{3, -1, span(4, 10)},
		{3, 2, span(4, 5)},
		{9, 5, span(10, 10)},
		{10, -1, nil},
		{50, 5, nil},
	} {
		got := seqs(mustEvents(t, s, a, c.after, c.limit))
		if !slices.Equal(got, c.want) {
			t.Errorf("Events(after %d, limit %d) = %v, want %v", c.after, c.limit, got, c.want)
		}
	}
	for _, ev := range mustEvents(t, s, b, 0, -1) {
		if ev.Tenant != b {
			t.Fatalf("Events of b returned an event of another tenant")
		}
	}
}

func testConcurrent(t *testing.T, h Harness, twoHandles bool) {
	s, opener := open(t, h)
	stores := []persist.Store{s}
	if twoHandles {
		other := opener()
		t.Cleanup(func() { _ = other.Close() })
		stores = append(stores, other)
	}
	Concurrent(t, stores, []engine.TenantID{tenant("a"), tenant("b")}, 16, 25)
}

// Concurrent appends from writers goroutines per store, each appending each
// events spread over tenants, all at once, and checks through every store
// that no seq was given twice, seqs are dense, every acknowledged event is
// stored at its seq and Head agrees. Stores may be handles over one
// location (as processes sharing a database).
func Concurrent(t *testing.T, stores []persist.Store, tenants []engine.TenantID, writers, each int) {
	t.Helper()
	var (
		mu    sync.Mutex
		acked = map[engine.TenantID]map[uint64]uint64{} // seq -> event id
		wg    sync.WaitGroup
	)
	for _, tn := range tenants {
		acked[tn] = map[uint64]uint64{}
	}
	errs := make(chan error, len(stores)*writers*each)
	for h, st := range stores {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					tn := tenants[(w+i)%len(tenants)]
					ev := event(tn, (h*writers+w)*1000+i)
					if err := st.Append(context.Background(), &ev); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if prev, dup := acked[tn][ev.Seq]; dup {
						errs <- fmt.Errorf("seq %d given to events %d and %d", ev.Seq, prev, ev.ID)
					}
					acked[tn][ev.Seq] = ev.ID
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, tn := range tenants {
		n := uint64(len(acked[tn]))
		total += int(n)
		for _, st := range stores {
			stored := mustEvents(t, st, tn, 0, -1)
			if !slices.Equal(seqs(stored), span(1, n)) {
				t.Fatalf("stored seqs %v, want 1..%d", seqs(stored), n)
			}
			for _, ev := range stored {
				if acked[tn][ev.Seq] != ev.ID {
					t.Fatalf("seq %d holds event %d, acknowledged as %d", ev.Seq, ev.ID, acked[tn][ev.Seq])
				}
			}
			if head, err := st.Head(ctxT(t), tn); err != nil || head != n {
				t.Fatalf("Head = %d, %v; want %d", head, err, n)
			}
		}
	}
	if want := len(stores) * writers * each; total != want {
		t.Fatalf("%d events acknowledged, want %d", total, want)
	}
}

func testSnapshotLoad(t *testing.T, h Harness) {
	s, _ := open(t, h)
	a, b, c := tenant("a"), tenant("b"), tenant("c")
	eng := engine.New()
	for i := range 20 {
		ev := event(a, i)
		mustAppend(t, s, &ev)
		if _, err := eng.Apply(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.Seq == 12 {
			if err := s.SaveSnapshot(ctxT(t), eng.Snapshot(a)); err != nil {
				t.Fatalf("SaveSnapshot: %v", err)
			}
		}
		if ev.Seq == 8 {
			// An older snapshot saved later must not replace the newer one.
			defer func(old *engine.Snapshot) {
				if err := s.SaveSnapshot(ctxT(t), old); err != nil {
					t.Fatalf("SaveSnapshot(older): %v", err)
				}
				checkLoad(t, s, a, b, c, eng)
			}(eng.Snapshot(a))
		}
	}
	appendEvents(t, s, b, 3)
	checkLoad(t, s, a, b, c, eng)
}

// CheckLoaded fails t unless st, a tenant's state as a store loaded it
// with a snapshot, restored and replayed into a fresh engine, is the live
// engine's state of that tenant.
func CheckLoaded(t testing.TB, live *engine.Engine, st persist.TenantState) {
	t.Helper()
	fresh := engine.New()
	if err := fresh.Restore(st.Snapshot); err != nil {
		t.Fatal(err)
	}
	for i := range st.Events {
		if _, err := fresh.Apply(&st.Events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(live.Snapshot(st.Tenant), fresh.Snapshot(st.Tenant)); diff != "" {
		t.Fatalf("loaded state differs from live state (-live +loaded):\n%s", diff)
	}
}

func checkLoad(t *testing.T, s persist.Store, a, b, c engine.TenantID, eng *engine.Engine) {
	t.Helper()
	states := map[engine.TenantID]persist.TenantState{}
	err := s.Load(ctxT(t), func(st persist.TenantState) error {
		if _, dup := states[st.Tenant]; dup {
			return fmt.Errorf("tenant %s loaded twice", st.Tenant)
		}
		states[st.Tenant] = st
		return nil
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(states) != 2 {
		t.Fatalf("Load gave %d tenants, want 2", len(states))
	}
	if _, ok := states[c]; ok {
		t.Fatal("Load gave a tenant that has no events")
	}
	sa := states[a]
	if sa.Snapshot == nil || sa.Snapshot.Seq != 12 {
		t.Fatalf("tenant a: snapshot %v, want one at seq 12", sa.Snapshot)
	}
	if !slices.Equal(seqs(sa.Events), span(13, 20)) {
		t.Fatalf("tenant a: tail %v, want 13..20", seqs(sa.Events))
	}
	CheckLoaded(t, eng, sa)
	sb := states[b]
	if sb.Snapshot != nil || !slices.Equal(seqs(sb.Events), span(1, 3)) {
		t.Fatalf("tenant b: snapshot %v, events %v; want none, 1..3", sb.Snapshot, seqs(sb.Events))
	}

	// LoadTenant gives each tenant as Load does, and an empty state for
	// a tenant without events.
	for _, id := range []engine.TenantID{a, b, c} {
		got, err := s.LoadTenant(ctxT(t), id)
		if err != nil {
			t.Fatalf("LoadTenant(%s): %v", id, err)
		}
		want := states[id]
		want.Tenant = id
		if got.Tenant != id || !slices.Equal(seqs(got.Events), seqs(want.Events)) ||
			(got.Snapshot == nil) != (want.Snapshot == nil) ||
			(got.Snapshot != nil && got.Snapshot.Seq != want.Snapshot.Seq) {
			t.Fatalf("LoadTenant(%s) = snapshot %v, events %v; Load gave snapshot %v, events %v",
				id, got.Snapshot, seqs(got.Events), want.Snapshot, seqs(want.Events))
		}
	}

	// Heads lists every tenant with events once, at its head.
	heads := map[engine.TenantID]uint64{}
	if err := s.Heads(ctxT(t), func(id engine.TenantID, head uint64) error {
		if _, dup := heads[id]; dup {
			return fmt.Errorf("tenant %s listed twice", id)
		}
		heads[id] = head
		return nil
	}); err != nil {
		t.Fatalf("Heads: %v", err)
	}
	if diff := cmp.Diff(map[engine.TenantID]uint64{a: 20, b: 3}, heads); diff != "" {
		t.Fatalf("Heads (-want +got):\n%s", diff)
	}
}

func testSnapshotAhead(t *testing.T, h Harness) {
	s, _ := open(t, h)
	a := tenant("a")
	ev := event(a, 0)
	mustAppend(t, s, &ev)
	snap := &engine.Snapshot{Tenant: a, Seq: 5}
	if err := s.SaveSnapshot(ctxT(t), snap); !errors.Is(err, persist.ErrSnapshotAhead) {
		t.Fatalf("SaveSnapshot past head: %v, want ErrSnapshotAhead", err)
	}
}

func testReopen(t *testing.T, h Harness) {
	opener := h.New(t)
	s := opener()
	a := tenant("a")
	want := appendEvents(t, s, a, 7)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = opener()
	t.Cleanup(func() { _ = s.Close() })
	if diff := cmp.Diff(want, mustEvents(t, s, a, 0, -1)); diff != "" {
		t.Fatalf("events after reopen differ (-want +got):\n%s", diff)
	}
	ev := event(a, 7)
	mustAppend(t, s, &ev)
	if ev.Seq != 8 {
		t.Fatalf("append after reopen: seq %d, want 8", ev.Seq)
	}
}

func testCanceled(t *testing.T, h Harness) {
	s, _ := open(t, h)
	a := tenant("a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := event(a, 0)
	if err := s.Append(ctx, &ev); err == nil {
		// A store may finish an append whose context ended, but then it
		// must be there.
		if got := mustEvents(t, s, a, 0, -1); len(got) != 1 {
			t.Fatalf("append answered ok but %d events stored", len(got))
		}
		return
	}
	if ev.Seq != 0 {
		t.Fatalf("failed append left seq %d", ev.Seq)
	}
	if got := mustEvents(t, s, a, 0, -1); len(got) != 0 {
		t.Fatalf("failed append stored %d events", len(got))
	}
}

func testClosed(t *testing.T, h Harness) {
	opener := h.New(t)
	s := opener()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ev := event(tenant("a"), 0)
	if err := s.Append(context.Background(), &ev); !errors.Is(err, persist.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Head(context.Background(), tenant("a")); !errors.Is(err, persist.ErrClosed) {
		t.Fatalf("Head after Close: %v, want ErrClosed", err)
	}
}

// largeBatchChanges is the number of memberships in the batch event of the
// LargeBatch case: enough that the event's binary form (about 19 MB) is over
// MongoDB's 16 MiB document limit even without field names.
const largeBatchChanges = 600_000

// largeBatch returns an OpBatch event of tenant tn that adds 10 roles and
// then n memberships of 12-byte user names to them, as one import does.
func largeBatch(tn engine.TenantID, id uint64, n int) engine.Event {
	roles := make([]string, 10)
	changes := make([]engine.Change, 0, len(roles)+n)
	for i := range roles {
		roles[i] = "storetest-role-" + strconv.Itoa(i)
		changes = append(changes, engine.Change{Op: engine.OpAddRole, Role: roles[i]})
	}
	// One allocation for every user name: "u" and 11 digits each.
	const userLen = 12
	names := make([]byte, 0, n*userLen)
	for i := range n {
		names = append(names, 'u')
		names = append(names, "00000000000"[len(strconv.Itoa(i)):]...)
		names = strconv.AppendInt(names, int64(i), 10)
	}
	all := string(names)
	for i := range n {
		changes = append(changes, engine.Change{Op: engine.OpAddMembership, Role: roles[i%len(roles)], User: all[i*userLen : (i+1)*userLen]})
	}
	return engine.Event{Tenant: tn, ID: id, Time: time.Date(2026, 6, 7, 8, 9, 10, 123456789, time.UTC),
		Change: engine.Change{Op: engine.OpBatch}, Changes: changes}
}

// testLargeBatch appends a batch too large for one MongoDB document between
// ordinary events: Events and Load give it back whole, at its seq, with the
// next event at the seq after it.
func testLargeBatch(t *testing.T, h Harness) {
	s, _ := open(t, h)
	a := tenant("large")
	first := event(a, 0)
	mustAppend(t, s, &first)
	batch := largeBatch(a, 0xb16b47c4, largeBatchChanges)
	if bin, err := batch.MarshalBinary(); err != nil || len(bin) <= 16<<20 {
		t.Fatalf("batch binary form: %d bytes, %v; want over 16 MiB", len(bin), err)
	}
	start := time.Now()
	mustAppend(t, s, &batch)
	t.Logf("append of a %d-change batch took %v", len(batch.Changes), time.Since(start).Round(time.Millisecond))
	last := event(a, 1)
	mustAppend(t, s, &last)
	if first.Seq != 1 || batch.Seq != 2 || last.Seq != 3 {
		t.Fatalf("seqs %d, %d, %d; want 1, 2, 3", first.Seq, batch.Seq, last.Seq)
	}
	want := []engine.Event{first, batch, last}

	start = time.Now()
	got := mustEvents(t, s, a, 0, -1)
	t.Logf("Events took %v", time.Since(start).Round(time.Millisecond))
	if diff := diffEvents(want, got); diff != "" {
		t.Fatalf("Events differ (-want +got):\n%s", diff)
	}
	got = mustEvents(t, s, a, 1, 1)
	if diff := diffEvents(want[1:2], got); diff != "" {
		t.Fatalf("Events(after 1, limit 1) differ (-want +got):\n%s", diff)
	}
	got = nil

	start = time.Now()
	var loaded *persist.TenantState
	err := s.Load(ctxT(t), func(st persist.TenantState) error {
		if st.Tenant == a {
			loaded = &st
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Logf("Load took %v", time.Since(start).Round(time.Millisecond))
	if loaded == nil || loaded.Snapshot != nil {
		t.Fatalf("Load gave %+v for the tenant, want its events and no snapshot", loaded)
	}
	if diff := diffEvents(want, loaded.Events); diff != "" {
		t.Fatalf("Load differs (-want +got):\n%s", diff)
	}
}

// diffEvents is cmp.Diff(want, got) for events with many changes: cmp
// takes seconds per million changes, so the changes are compared with ==
// (Change is comparable, and cmp compares such structs field by field
// alike) and only a stretch around the first difference is diffed.
func diffEvents(want, got []engine.Event) string {
	header := func(evs []engine.Event) []engine.Event {
		out := slices.Clone(evs)
		for i := range out {
			out[i].Changes = nil
		}
		return out
	}
	if diff := cmp.Diff(header(want), header(got)); diff != "" {
		return diff
	}
	for i := range want {
		w, g := want[i].Changes, got[i].Changes
		if (w == nil) != (g == nil) {
			return fmt.Sprintf("event %d: changes nil %v, want nil %v", i, g == nil, w == nil)
		}
		if slices.Equal(w, g) {
			continue
		}
		j := 0
		for j < min(len(w), len(g)) && w[j] == g[j] {
			j++
		}
		lo := max(j-2, 0)
		return fmt.Sprintf("event %d: %d changes, want %d; from change %d:\n%s", i, len(g), len(w), lo,
			cmp.Diff(w[lo:min(j+3, len(w))], g[lo:min(j+3, len(g))]))
	}
	return ""
}

// Purge deletes a tenant (events with names and a large batch, then
// del_tenant), saves its tombstone, and purges: no name of it is left in
// any event the store gives, Load gives the tombstone, the next append
// still takes the next seq (through a handle whose head is from before the
// purge too, for a shared store), another tenant is untouched, and a purge
// its snapshot does not cover is refused. Run runs it; a store runs it
// again under other settings (retention).
func Purge(t *testing.T, h Harness) {
	s, opener := open(t, h)
	var stale persist.Store // a handle that last appended at seq 2
	if h.Shared {
		stale = opener()
		t.Cleanup(func() { _ = stale.Close() })
	}
	a, b := tenant("purged"), tenant("kept")
	var keptEvents []engine.Event
	for i := range 9 {
		ev := event(a, i)
		if i == 4 {
			ev = largeBatch(a, 99, 30000)
		}
		if i == 1 && stale != nil {
			mustAppend(t, stale, &ev)
		} else {
			mustAppend(t, s, &ev)
		}
		other := event(b, i)
		mustAppend(t, s, &other)
		keptEvents = append(keptEvents, other)
	}
	if err := s.Purge(ctxT(t), a, 5); !errors.Is(err, persist.ErrSnapshotBehind) {
		t.Fatalf("Purge without a snapshot: %v, want ErrSnapshotBehind", err)
	}
	live := engine.New()
	del := engine.Event{Tenant: a, ID: 1234, Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Change: engine.Change{Op: engine.OpDelTenant}}
	mustAppend(t, s, &del)
	if del.Seq != 10 {
		t.Fatalf("del_tenant at seq %d, want 10", del.Seq)
	}
	st, err := s.LoadTenant(ctxT(t), a)
	if err != nil {
		t.Fatal(err)
	}
	for i := range st.Events {
		if _, err := live.Apply(&st.Events[i]); err != nil {
			t.Fatal(err)
		}
	}
	tomb := live.Snapshot(a)
	if !tomb.Deleted || tomb.Seq != 10 {
		t.Fatalf("tombstone %+v", tomb)
	}
	if err := s.SaveSnapshot(ctxT(t), tomb); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second purge does nothing more
		if err := s.Purge(ctxT(t), a, 9); err != nil {
			t.Fatalf("Purge: %v", err)
		}
	}
	check := func(s persist.Store) {
		t.Helper()
		for after := uint64(0); after <= 10; after++ {
			evs, err := s.Events(ctxT(t), a, after, -1)
			if errors.Is(err, persist.ErrPruned) && after < 9 {
				continue
			}
			if err != nil {
				t.Fatalf("Events after %d: %v", after, err)
			}
			if want := span(after+1, 10); !slices.Equal(seqs(evs), want) {
				t.Fatalf("Events after %d: seqs %v, want %v", after, seqs(evs), want)
			}
			for _, ev := range evs {
				if ev.Seq < 10 && (ev.Op != engine.OpBatch || len(ev.Changes) != 0 || ev.By != "") {
					t.Fatalf("a purged event still holds something: %+v", ev)
				}
			}
		}
		st, err := s.LoadTenant(ctxT(t), a)
		if err != nil {
			t.Fatal(err)
		}
		if st.Snapshot == nil || !st.Snapshot.Deleted || st.Snapshot.Seq != 10 || len(st.Events) != 0 {
			t.Fatalf("LoadTenant after the purge: snapshot %+v, %d events", st.Snapshot, len(st.Events))
		}
		if diff := cmp.Diff(keptEvents, mustEvents(t, s, b, 0, -1)); diff != "" {
			t.Fatalf("the other tenant's events changed (-want +got):\n%s", diff)
		}
	}
	check(s)
	head := uint64(10)
	for _, w := range []persist.Store{stale, s} {
		if w == nil {
			continue
		}
		next := engine.Event{Tenant: a, ID: 777 + head, Change: engine.Change{Op: engine.OpAddRole, Role: "back"}}
		mustAppend(t, w, &next)
		if head++; next.Seq != head {
			t.Fatalf("append after the purge: seq %d, want %d", next.Seq, head)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = opener()
	t.Cleanup(func() { _ = s.Close() })
	if h, err := s.Head(ctxT(t), a); err != nil || h != head {
		t.Fatalf("head after reopen: %d, %v; want %d", h, err, head)
	}
	if evs := mustEvents(t, s, a, 10, -1); !slices.Equal(seqs(evs), span(11, head)) {
		t.Fatalf("events after the tombstone: %v", seqs(evs))
	}
}
