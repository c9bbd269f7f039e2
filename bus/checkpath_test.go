//go:build !race

package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"auth/engine"
)

// TestCheckPathWithBus: with the bus running and events arriving, a check
// at the receiving replica still allocates nothing (the bus never touches
// the read path). testing.AllocsPerRun counts the whole process, bus
// included, so the background traffic is bounded to a trickle.
func TestCheckPathWithBus(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	cfg := testBusConfig(ns.URL())
	a := startNode(t, "replica-a", store, cfg)
	defer a.close()
	b := startNode(t, "replica-b", store, cfg)
	defer b.close()

	ctx := context.Background()
	for _, c := range []engine.Change{
		{Op: engine.OpAddRole, Role: "r"},
		{Op: engine.OpAddPermission, Role: "r", Permission: "p"},
		{Op: engine.OpAddMembership, Role: "r", User: "u"},
	} {
		if _, _, err := a.rep.Write(ctx, "k", c); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "B to apply A's writes", func() bool {
		return b.rep.Engine().UserHasPermission("k", "u", "p")
	})

	// A trickle of writes at A while B answers checks.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			a.rep.Write(ctx, "k", engine.Change{Op: engine.OpAddMembership, Role: "r", User: fmt.Sprint("w", i)})
		}
	}()
	delivered := b.bus.Stats().Delivered
	for begin := time.Now(); time.Since(begin) < 500*time.Millisecond; {
		allocs := testing.AllocsPerRun(100000, func() {
			if !b.rep.TenantByKey("k").UserHasPermission("u", "p") {
				panic("check answered false")
			}
		})
		if allocs != 0 {
			t.Fatalf("check at a replica with the bus running: %v allocations", allocs)
		}
	}
	close(stop)
	<-done
	if b.bus.Stats().Delivered == delivered {
		t.Fatal("no event was delivered during the measurement")
	}
}
