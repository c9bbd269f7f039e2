package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"auth/engine"
	"auth/internal/await"
	"auth/persist"
)

// TestDeletionReachesALaggingReplica: a tenant is written and deleted at
// replica A while replica C, on another NATS server, hears nothing and
// catches up only by comparing heads with the store; A purges the store
// before C looks. C ends deleted at the store's head, whether the purge
// deleted the events (embedded store: C installs the tombstone) or
// emptied them (MongoDB keeping every event: C applies them as no-ops);
// and a replica started afterwards loads the tenant deleted.
func TestDeletionReachesALaggingReplica(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		store := openStore(t)
		testDeletionLagging(t, func(int) persist.Store { return store })
	})
	t.Run("mongodb", func(t *testing.T) { testDeletionLagging(t, mongoStores(t)) })
}

func testDeletionLagging(t *testing.T, stores func(i int) persist.Store) {
	natsA, natsC := startNATS(t), startNATS(t)
	cfg := testBusConfig(natsA.URL())
	a := startNode(t, "replica-a", stores(0), cfg)
	defer a.close()
	cfg = testBusConfig(natsC.URL())
	cfg.Converge = 3 * time.Second // C looks at the store's heads every 1.5 s
	c := startNode(t, "replica-c", stores(1), cfg)
	defer c.close()

	ctx := context.Background()
	const key = "deleted-while-c-lags"
	id := engine.KeyID(key)
	write := func(ch engine.Change) uint64 {
		t.Helper()
		_, seq, err := a.rep.Write(ctx, key, ch)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	write(engine.Change{Op: engine.OpAddRole, Role: "r"})
	for i := range 20 {
		write(engine.Change{Op: engine.OpAddMembership, Role: "r", User: fmt.Sprintf("u%d", i)})
	}
	del := write(engine.Change{Op: engine.OpDelTenant})
	// A purges at once (the store's events before the deletion go or
	// are emptied); C has not looked yet.
	await.Cond(t, 10*time.Second, "A's purge", func() bool {
		st, err := stores(0).LoadTenant(ctx, id)
		return err == nil && st.Snapshot != nil && st.Snapshot.Deleted
	})
	if s := c.eng.Seq(id); s >= del {
		t.Logf("C caught up before the purge (seq %d): the test shows less than it could", s)
	}
	await.Cond(t, 20*time.Second, "C deleted", func() bool { return c.eng.Tenant(id).Deleted() && c.eng.Seq(id) == del })
	if tn := c.eng.Tenant(id); len(tn.Roles()) != 0 || tn.HasMembership("u1", "r") || c.eng.Access(key).Status != engine.KeyRevoked {
		t.Fatalf("C after the deletion: roles %v", tn.Roles())
	}
	if _, err := stores(1).Events(ctx, id, 0, -1); err != nil && !errors.Is(err, persist.ErrPruned) {
		t.Fatal(err)
	}
	late := startNode(t, "replica-late", stores(2), testBusConfig(natsA.URL()))
	defer late.close()
	if tn := late.eng.Tenant(id); !tn.Deleted() || late.eng.Seq(id) != del {
		t.Fatalf("a replica started after the deletion: deleted %v at seq %d, want %d", tn.Deleted(), late.eng.Seq(id), del)
	}
}
