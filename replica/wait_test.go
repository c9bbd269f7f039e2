package replica_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"auth/engine"
	"auth/internal/liveheap"
	"auth/replica"
)

// TestWaitSeqReadsYourWritesElsewhere: a replica that never heard of a
// write reaches its seq by asking the store.
func TestWaitSeqReadsYourWritesElsewhere(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	a, b := twoReplicas(t, store)
	id := engine.KeyID("k")
	for i := range 50 {
		role := string(rune('a' + i%26))
		_, seq, err := a.Write(context.Background(), "k", engine.Change{Op: engine.OpAddRole, Role: role + "x"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = b.WaitSeq(ctx, id, seq)
		cancel()
		if err != nil {
			t.Fatalf("WaitSeq(%d): %v", seq, err)
		}
		if !b.Engine().HasRole("k", role+"x") {
			t.Fatalf("b reached seq %d without the write", seq)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.WaitSeq(ctx, id, 1000); !errors.Is(err, replica.ErrBehind) {
		t.Fatalf("WaitSeq past the head: %v, want ErrBehind", err)
	}
}

func TestChanged(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newReplica(t, store, replica.DefaultConfig())
	id := engine.KeyID("k")
	ch := r.Changed(id, 0)
	select {
	case <-ch:
		t.Fatal("Changed fired before any event")
	default:
	}
	if _, _, err := r.Write(context.Background(), "k", engine.Change{Op: engine.OpAddRole, Role: "r"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed did not fire after an event")
	}
	select {
	case <-r.Changed(id, 0):
	default:
		t.Fatal("Changed(0) at seq 1 must be closed already")
	}
}

// TestWaitSeqUnknownTenant: a wait for a tenant neither this replica nor
// the store has heard of answers at once, and leaves nothing behind: any
// client can name any key.
func TestWaitSeqUnknownTenant(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newReplica(t, store, replica.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.WaitSeq(ctx, engine.KeyID("nobody"), 1); !errors.Is(err, replica.ErrBehind) {
		t.Fatalf("WaitSeq of an unknown tenant: %v, want ErrBehind", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("WaitSeq of an unknown tenant took %s: it waited for nothing", d)
	}
	before := liveheap.Bytes()
	var id engine.TenantID
	for i := range 20_000 {
		id[0], id[1], id[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := r.WaitSeq(ctx, id, 1); !errors.Is(err, replica.ErrBehind) {
			t.Fatal(err)
		}
	}
	if grew := int64(liveheap.Bytes()) - int64(before); grew > 2<<20 {
		t.Fatalf("20,000 waits for unknown tenants grew the live heap by %d KiB", grew>>10)
	}
	// A tenant the store has is still caught up to.
	w := newReplica(t, store, replica.DefaultConfig())
	_, seq, err := w.Write(ctx, "k", engine.Change{Op: engine.OpAddRole, Role: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSeq(ctx, engine.KeyID("k"), seq); err != nil {
		t.Fatalf("WaitSeq of a tenant written elsewhere: %v", err)
	}
}
