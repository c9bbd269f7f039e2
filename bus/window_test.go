package bus_test

import (
	"context"
	"testing"
	"time"

	"auth/engine"
)

// TestWindowClosesAtEveryReplica: a membership that expires 2-3 s after it
// is written answers true at both replicas of a cluster over NATS, then
// false at both once its expiry has passed, with no write in between; one
// that starts then answers false until then and true after. Each replica
// judges by its own clock. Only answers read wholly before the boundary
// (less a margin) or after it (plus one) are asserted, so a stalled
// machine cannot make the test wrong.
func TestWindowClosesAtEveryReplica(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	cfg := testBusConfig(ns.URL())
	a := startNode(t, "a", store, cfg)
	defer a.close()
	b := startNode(t, "b", store, cfg)
	defer b.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const key = "window-bus-key"
	id := engine.KeyID(key)
	boundary := time.Now().Truncate(time.Second).Add(3 * time.Second)
	var seq uint64
	for _, c := range []engine.Change{
		{Op: engine.OpAddRole, Role: "admin"},
		{Op: engine.OpAddPermission, Role: "admin", Permission: "sudo"},
		engine.MembershipChange("jack", "admin", engine.Window{ExpiresAt: boundary}),
		engine.MembershipChange("ann", "admin", engine.Window{StartsAt: boundary}),
	} {
		ok, s, err := a.rep.Write(ctx, key, c)
		if err != nil || !ok {
			t.Fatalf("%+v: (%v, %v)", c, ok, err)
		}
		seq = s
	}
	if err := b.rep.WaitSeq(ctx, id, seq); err != nil {
		t.Fatal(err)
	}
	const margin = 50 * time.Millisecond // past the engine's coarse clock's tick
	type answer struct{ jack, ann bool }
	read := func(n *node) (answer, time.Time, time.Time) {
		before := time.Now()
		tn := n.eng.Tenant(id)
		got := answer{tn.UserHasPermission("jack", "sudo"), tn.UserHasPermission("ann", "sudo")}
		return got, before, time.Now()
	}
	sawBefore := 0
	for time.Now().Before(boundary.Add(-margin)) {
		for _, n := range []*node{a, b} {
			got, _, after := read(n)
			if after.Before(boundary.Add(-margin)) {
				sawBefore++
				if got != (answer{jack: true, ann: false}) {
					t.Fatalf("%s before the boundary: %+v", n.name, got)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sawBefore == 0 {
		t.Fatal("no answer was read before the boundary")
	}
	time.Sleep(time.Until(boundary.Add(margin)))
	for _, n := range []*node{a, b} {
		got, before, _ := read(n)
		if before.Before(boundary.Add(margin)) {
			t.Fatalf("%s: read before the boundary had passed", n.name)
		}
		if got != (answer{jack: false, ann: true}) {
			t.Errorf("%s after the boundary: %+v", n.name, got)
		}
		if s := n.eng.Seq(id); s != seq {
			t.Errorf("%s: seq %d, want %d: something was written", n.name, s, seq)
		}
	}
}
