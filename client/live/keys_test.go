package live_test

import (
	"errors"
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

// TestFollowsTenantDeletion: a live replica applies its tenant's deletion
// from the stream: nothing of the tenant answers any more, and it never
// answers from the state before it.
func TestFollowsTenantDeletion(t *testing.T) {
	srv := clienttest.New(t)
	ctx := ctxT(t, time.Minute)
	admin := client.New(srv.URL, testKey+"-deleted")
	admin.AddRole(ctx, "cookers")
	admin.AddPermission(ctx, "cookers", "cook")
	admin.AddMembership(ctx, "sara", "cookers")
	reader, err := admin.AddKey(ctx, "follower", client.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	r, err := live.Open(ctx, srv.URL, reader.Key, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if ok, err := r.Check("sara", "cook"); !ok || err != nil {
		t.Fatalf("Check before the deletion = %v, %v", ok, err)
	}
	if _, err := admin.DeleteTenant(ctx); err != nil {
		t.Fatal(err)
	}
	// The stream ends saying the key is refused: reads fail closed, and a
	// wait for any seq says why rather than wait.
	if err := r.Wait(ctx, 1<<40); !errors.Is(err, live.ErrRevoked) {
		t.Fatalf("Wait after the deletion: %v, want ErrRevoked", err)
	}
	if ok, err := r.Check("sara", "cook"); ok || !errors.Is(err, live.ErrRevoked) {
		t.Fatalf("Check after the deletion = %v, %v; want false, ErrRevoked", ok, err)
	}
	if roles, err := r.Roles(); len(roles) != 0 || !errors.Is(err, live.ErrRevoked) {
		t.Fatalf("Roles after the deletion = %v, %v", roles, err)
	}
}

// TestRevokedKeyFailsClosed: a live replica whose own key is revoked
// stops answering (ErrRevoked), even when told to serve stale.
func TestRevokedKeyFailsClosed(t *testing.T) {
	srv := clienttest.New(t)
	ctx := ctxT(t, time.Minute)
	admin := client.New(srv.URL, testKey+"-revoked")
	admin.AddRole(ctx, "cookers")
	admin.AddPermission(ctx, "cookers", "cook")
	admin.AddMembership(ctx, "sara", "cookers")
	reader, err := admin.AddKey(ctx, "follower", client.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	r, err := live.Open(ctx, srv.URL, reader.Key, live.Options{ServeStale: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if ok, err := r.Check("sara", "cook"); !ok || err != nil {
		t.Fatalf("Check before the revocation = %v, %v", ok, err)
	}
	if _, err := admin.RevokeKey(ctx, reader.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(ctx, 1<<40); !errors.Is(err, live.ErrRevoked) {
		t.Fatalf("Wait after the revocation: %v, want ErrRevoked", err)
	}
	if ok, err := r.Check("sara", "cook"); ok || !errors.Is(err, live.ErrRevoked) {
		t.Fatalf("Check after the revocation = %v, %v; want false, ErrRevoked", ok, err)
	}
}
