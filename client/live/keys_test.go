package live_test

import (
	"context"
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

// TestKeyRefusedFailsClosed: a live replica whose tenant is deleted, or
// whose own key is revoked (even one told to serve stale), stops
// answering: the stream ends saying the key is refused, reads fail with
// ErrRevoked rather than answer from the state before, and a wait for any
// seq says why rather than wait.
func TestKeyRefusedFailsClosed(t *testing.T) {
	for _, c := range []struct {
		name string
		opts live.Options
		cut  func(ctx context.Context, admin *client.Client, reader client.NewKey) error
	}{
		{"tenant deleted", live.Options{}, func(ctx context.Context, admin *client.Client, _ client.NewKey) error {
			_, err := admin.DeleteTenant(ctx)
			return err
		}},
		{"key revoked, serving stale", live.Options{ServeStale: true}, func(ctx context.Context, admin *client.Client, reader client.NewKey) error {
			_, err := admin.RevokeKey(ctx, reader.ID)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := clienttest.New(t)
			ctx := ctxT(t, time.Minute)
			admin := client.New(srv.URL, testKey+"-refused")
			admin.AddRole(ctx, "cookers")
			admin.AddPermission(ctx, "cookers", "cook")
			admin.AddMembership(ctx, "sara", "cookers")
			reader, err := admin.AddKey(ctx, "follower", client.ScopeRead)
			if err != nil {
				t.Fatal(err)
			}
			r, err := live.Open(ctx, srv.URL, reader.Key, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			if ok, err := r.Check("sara", "cook"); !ok || err != nil {
				t.Fatalf("Check before = %v, %v", ok, err)
			}
			if err := c.cut(ctx, admin, reader); err != nil {
				t.Fatal(err)
			}
			if err := r.Wait(ctx, 1<<40); !errors.Is(err, live.ErrRevoked) {
				t.Fatalf("Wait after: %v, want ErrRevoked", err)
			}
			if ok, err := r.Check("sara", "cook"); ok || !errors.Is(err, live.ErrRevoked) {
				t.Fatalf("Check after = %v, %v; want false, ErrRevoked", ok, err)
			}
			if roles, err := r.Roles(); len(roles) != 0 || !errors.Is(err, live.ErrRevoked) {
				t.Fatalf("Roles after = %v, %v", roles, err)
			}
		})
	}
}
