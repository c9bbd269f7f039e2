// Package storetest is the conformance suite for persist.Store
// implementations: every store runs [Run] in its own tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrent(t, h, false) })
	if h.Shared {
		t.Run("ConcurrentAppendsTwoHandles", func(t *testing.T) { testConcurrent(t, h, true) })
	}
	t.Run("SnapshotAndLoad", func(t *testing.T) { testSnapshotLoad(t, h) })
	t.Run("SnapshotNotAhead", func(t *testing.T) { testSnapshotAhead(t, h) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, h) })
	t.Run("CanceledAppendChangesNothing", func(t *testing.T) { testCanceled(t, h) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, h) })
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
	var want []engine.Event
	for i := range 12 {
		ev := event(a, i)
		mustAppend(t, s, &ev)
		want = append(want, ev)
	}
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
	other := s
	if twoHandles {
		other = opener()
		t.Cleanup(func() { _ = other.Close() })
	}
	tenants := []engine.TenantID{tenant("a"), tenant("b")}
	const writers, each = 16, 25
	var (
		mu  sync.Mutex
		got = map[engine.TenantID]map[uint64]uint64{} // seq -> event id
		wg  sync.WaitGroup
	)
	for _, tn := range tenants {
		got[tn] = map[uint64]uint64{}
	}
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if w%2 == 1 {
				st = other
			}
			for i := range each {
				tn := tenants[(w+i)%len(tenants)]
				ev := event(tn, w*1000+i)
				if err := st.Append(context.Background(), &ev); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := got[tn][ev.Seq]; dup {
					errs <- fmt.Errorf("seq %d given to events %d and %d", ev.Seq, prev, ev.ID)
				}
				got[tn][ev.Seq] = ev.ID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, tn := range tenants {
		n := uint64(len(got[tn]))
		total += int(n)
		stored := mustEvents(t, s, tn, 0, -1)
		if !slices.Equal(seqs(stored), span(1, n)) {
			t.Fatalf("stored seqs %v, want 1..%d", seqs(stored), n)
		}
		for _, ev := range stored {
			if got[tn][ev.Seq] != ev.ID {
				t.Fatalf("seq %d holds event %d, acknowledged as %d", ev.Seq, ev.ID, got[tn][ev.Seq])
			}
		}
	}
	if total != writers*each {
		t.Fatalf("%d events acknowledged, want %d", total, writers*each)
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
	for i := range 3 {
		ev := event(b, i)
		mustAppend(t, s, &ev)
	}
	checkLoad(t, s, a, b, c, eng)
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
	fresh := engine.New()
	if err := fresh.Restore(sa.Snapshot); err != nil {
		t.Fatal(err)
	}
	for i := range sa.Events {
		if _, err := fresh.Apply(&sa.Events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(eng.Snapshot(a), fresh.Snapshot(a)); diff != "" {
		t.Fatalf("loaded state differs from live state (-live +loaded):\n%s", diff)
	}
	sb := states[b]
	if sb.Snapshot != nil || !slices.Equal(seqs(sb.Events), span(1, 3)) {
		t.Fatalf("tenant b: snapshot %v, events %v; want none, 1..3", sb.Snapshot, seqs(sb.Events))
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
	var want []engine.Event
	for i := range 7 {
		ev := event(a, i)
		mustAppend(t, s, &ev)
		want = append(want, ev)
	}
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
