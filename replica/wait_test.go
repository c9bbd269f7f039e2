package replica_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"auth/engine"
	"auth/replica"
)

// TestWaitSeqReadsYourWritesElsewhere: a replica that never heard of a
// write reaches its seq by asking the store.
func TestWaitSeqReadsYourWritesElsewhere(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	a := newReplica(t, store, replica.DefaultConfig())
	b := newReplica(t, store, replica.DefaultConfig())
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
