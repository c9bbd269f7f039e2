package live_test

import (
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
	"auth/client/live"
)

// TestFollowsKeyEvents: a live replica opened with a read key follows a
// tenant through the key events of its feed (made, rotated, revoked) and
// answers as the server does.
func TestFollowsKeyEvents(t *testing.T) {
	srv := clienttest.New(t)
	ctx := ctxT(t, time.Minute)
	admin := client.New(srv.URL, testKey)
	admin.AddRole(ctx, "cookers")
	admin.AddPermission(ctx, "cookers", "cook")
	reader, err := admin.AddKey(ctx, "follower", client.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	r, err := live.Open(ctx, srv.URL, reader.Key, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	other, err := admin.AddKey(ctx, "other", client.ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeKey(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	rot, err := admin.RotateKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	w, err := client.New(srv.URL, rot.Key).AddMembership(ctx, "sara", "cookers")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(ctx, w.Seq); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Check("sara", "cook"); !ok || err != nil {
		t.Fatalf("Check = %v, %v", ok, err)
	}
	// The key events were applied one by one, not got round by a rebuild.
	if rebuilds, _ := r.Stats(); rebuilds != 0 {
		t.Fatalf("%d rebuilds following key events", rebuilds)
	}
}
