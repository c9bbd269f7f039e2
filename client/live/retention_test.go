package live_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"auth/client"
	"auth/client/live"
	"auth/engine"
	"auth/httpapi"
	"auth/internal/await"
	"auth/internal/logbuf"
	"auth/persist/mongo"
	"auth/persist/mongo/mongotest"
	"auth/replica"
)

// mongoService is a replica over MongoDB, telling its store's epoch, as
// auth-server serves it.
type mongoService struct {
	*replica.Replica
	epoch string
}

func (s mongoService) StoreEpoch() string { return s.epoch }

// TestRetentionGapRebuilds: the replica is cut off from the server while
// the tenant moves on, and retention deletes the events it would resume
// from (MongoDB with -mongo-keep-events, snapshots every 10 events): the
// server answers the resumed stream with a reset (reason pruned), and the
// replica rebuilds from an export, then follows again.
func TestRetentionGapRebuilds(t *testing.T) {
	cfg := mongotest.Config(t)
	cfg.KeepEvents = 2
	ctx := ctxT(t, 2*time.Minute)
	store, err := mongo.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rcfg := replica.DefaultConfig()
	rcfg.SnapshotEvery = 10
	rep, err := replica.New(engine.New(), store, rcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if _, err := rep.Load(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.DefaultConfig(), mongoService{rep, store.Epoch()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()

	p := newSwitchProxy(t, base)
	c := client.New(base, testKey)
	if _, err := c.AddRole(ctx, "cookers"); err != nil {
		t.Fatal(err)
	}
	var logs logbuf.Buffer
	r := open(t, p.URL, live.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// Cut off: the proxy points nowhere.
	p.point("http://127.0.0.1:1")
	p.cutNext.Store(true)
	w, err := c.AddPermission(ctx, "cookers", "cook") // ends the open stream, mid-event
	if err != nil {
		t.Fatal(err)
	}
	var last client.Write
	for i := range 30 {
		if last, err = c.AddMembership(ctx, "user"+string(rune('a'+i)), "cookers"); err != nil {
			t.Fatal(err)
		}
	}
	// Retention has deleted the events after the replica's seq.
	await.Cond(t, 30*time.Second, "events after the replica's seq pruned", func() bool {
		_, err := c.Events(ctx, client.EventsQuery{After: w.Seq - 1, Limit: 1})
		return err != nil
	})
	if r.Seq() >= w.Seq {
		t.Fatalf("the replica got seq %d before it was cut off", r.Seq())
	}
	p.point(base)
	if err := r.Wait(ctx, last.Seq); err != nil {
		t.Fatalf("Wait(%d): %v (at %d)", last.Seq, err, r.Seq())
	}
	if rebuilds, _ := r.Stats(); rebuilds != 1 || !strings.Contains(logs.String(), "the server reset the stream (pruned)") {
		t.Errorf("%d rebuilds, want 1, after the server's reset for pruned events; the log:\n%s", rebuilds, logs.String())
	}
	sameAsServer(t, r, c, last.Seq)
	// And it follows again.
	w2, err := c.DelMembership(ctx, "usera", "cookers")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(ctx, w2.Seq); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Check("usera", "cook"); ok {
		t.Error("usera can still cook")
	}
}
