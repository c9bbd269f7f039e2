package engine

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
)

func TestCloneBig(t *testing.T) {
	if cloneBig([]string(nil)) != nil {
		t.Fatal("cloneBig(nil) is not nil")
	}
	for _, n := range []int{0, 1, copyStep/8 - 1, copyStep / 8, 3*copyStep/8 + 5} {
		s := make([]uint64, n)
		for i := range s {
			s[i] = uint64(i) * 0x9e3779b97f4a7c15
		}
		c := cloneBig(s)
		if !slices.Equal(c, s) || (n > 0 && &c[0] == &s[0]) {
			t.Fatalf("cloneBig of %d words: not an equal copy of its own", n)
		}
	}
	names := []string{"a", "", "ccc"}
	if c := cloneBig(names); !slices.Equal(c, names) {
		t.Fatalf("cloneBig(%q) = %q", names, c)
	}
}

// turnsDuring returns how many turns another goroutine got on the one
// processor while f ran: it takes a turn, yields, and takes the next as
// soon as the scheduler gives it one.
func turnsDuring(f func()) int {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var turns atomic.Int64
	stop := make(chan struct{})
	started := make(chan struct{})
	go func() {
		close(started)
		for {
			select {
			case <-stop:
				return
			default:
				turns.Add(1)
				runtime.Gosched()
			}
		}
	}()
	<-started
	before := turns.Load()
	f()
	n := turns.Load() - before
	close(stop)
	return int(n)
}

// TestCloneBigYields: copying a big tenant's tables for a large change
// lets the other goroutines of the process run between its steps, even
// on one processor. Checks wait otherwise for the whole copy: a plain copy
// runs to its end once started (and a collection that stops the world
// meanwhile stops every goroutine until it does), 0.4 to 0.9 s for the
// tables of 2M users.
func TestCloneBigYields(t *testing.T) {
	names := []string{"ann", "bob", "cy", "dee"}
	src := make([]string, 2<<20) // 32 MiB, as the names of 2M users
	for i := range src {
		src[i] = names[i%len(names)]
	}
	var c []string
	turns := turnsDuring(func() { c = cloneBig(src) })
	if !slices.Equal(c, src) {
		t.Fatal("cloneBig made an unequal copy")
	}
	steps := len(src) * 16 / copyStep
	t.Logf("%d turns for others during a copy of %d steps", turns, steps)
	if turns < steps/2 {
		t.Fatalf("others got %d turns during a copy of %d steps, want at least %d", turns, steps, steps/2)
	}
}

// TestLargeChangesYield: a large batch, and the deletion of a role with
// many members, built aside, let the other goroutines run every
// paceEvery steps, even on one processor: checks wait for a turn at most
// a millisecond or so, not for the whole change.
func TestLargeChangesYield(t *testing.T) {
	const n = 100_000
	e := New()
	id := KeyID("k")
	applyNext(t, e, id, "", Change{Op: OpAddRole, Role: "small"})
	for _, tc := range []struct {
		name    string
		changes []Change
	}{
		{"batch", bigRole("big", "read", n)},
		{"role deletion", []Change{{Op: OpDelRole, Role: "big"}}},
	} {
		turns := turnsDuring(func() { applyNext(t, e, id, "", tc.changes...) })
		t.Logf("%s: %d turns for others during %d steps", tc.name, turns, n)
		if want := n / paceEvery / 2; turns < want {
			t.Errorf("%s of %d steps: others got %d turns, want at least %d", tc.name, n, turns, want)
		}
	}
	if e.HasRole("k", "big") || !e.HasRole("k", "small") {
		t.Fatal("the changes were not applied")
	}

	// A restore of a big tenant while running (a replica installing a
	// snapshot) builds its tables aside too.
	applyNext(t, e, id, "", bigRole("big", "read", n)...)
	snap := e.Snapshot(id)
	other := KeyID("other")
	snap.Tenant = other
	turns := turnsDuring(func() {
		if err := e.Restore(snap); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("restore: %d turns for others during %d members", turns, n)
	if want := n / paceEvery; turns < want {
		t.Errorf("restore of %d members: others got %d turns, want at least %d", n, turns, want)
	}
	if st := e.Tenant(other).Stats(); st.Memberships != n {
		t.Fatalf("the restored tenant has %d memberships, want %d", st.Memberships, n)
	}
}

func TestGrowBig(t *testing.T) {
	small := make([]byte, 10, 16)
	if g := growBig(small); &g[0] != &small[0] {
		t.Fatal("growBig moved a small buffer")
	}
	b := make([]byte, bigRoom+5, bigRoom+10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	g := growBig(b)
	if !slices.Equal(g, b) || cap(g)-len(g) < bigRoom {
		t.Fatalf("growBig: len %d cap %d, equal %v; want the same bytes and %d of room", len(g), cap(g), slices.Equal(g, b), bigRoom)
	}
	if h := growBig(g); &h[0] != &g[0] {
		t.Fatal("growBig moved a buffer with room")
	}
}
