package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
)

// TestKeys: the client makes, lists, rotates and revokes keys; scoped
// keys are refused outside their scope (ErrForbidden), revoked ones
// everywhere (ErrUnauthorized).
func TestKeys(t *testing.T) {
	ctx := context.Background()
	srv := clienttest.New(t)
	admin := client.New(srv.URL, "client-keys-first")
	if _, err := admin.AddRole(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddPermission(ctx, "r", "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddMembership(ctx, "u", "r"); err != nil {
		t.Fatal(err)
	}
	k, err := admin.AddKey(ctx, "billing", client.ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Key, "ak_") || k.Scope != client.ScopeCheck || k.Name != "billing" || k.Seq != 4 {
		t.Fatalf("AddKey: %+v", k)
	}
	if s := fmt.Sprintf("%v %+v %#v", k, k, k); strings.Contains(s, k.Key) {
		t.Fatalf("a NewKey prints its secret: %s", s)
	}
	checker := client.New(srv.URL, k.Key)
	if a, err := checker.UserHasPermission(ctx, "u", "p"); err != nil || !a.Result {
		t.Fatalf("check with the check key: %+v, %v", a, err)
	}
	if _, err := checker.Roles(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("list with the check key: %v, want ErrForbidden", err)
	}
	if _, err := checker.AddRole(ctx, "x"); !errors.Is(err, client.ErrForbidden) || !errors.Is(err, client.ErrNotApplied) {
		t.Fatalf("write with the check key: %v, want ErrForbidden and ErrNotApplied", err)
	}
	keys, err := admin.Keys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != client.FirstKey || keys[1].ID != k.ID || keys[1].Created.IsZero() {
		t.Fatalf("Keys: %+v, %v", keys, err)
	}
	rot, err := admin.RotateKey(ctx, "")
	if err != nil || rot.Revoked != client.FirstKey || rot.Scope != client.ScopeAdmin {
		t.Fatalf("RotateKey: %+v, %v", rot, err)
	}
	if _, err := admin.Roles(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("the rotated-away key: %v, want ErrUnauthorized", err)
	}
	next := client.New(srv.URL, rot.Key)
	if roles, err := next.Roles(ctx); err != nil || len(roles.Names) != 1 {
		t.Fatalf("roles with the new key: %+v, %v", roles, err)
	}
	if w, err := next.RevokeKey(ctx, k.ID); err != nil || !w.Result {
		t.Fatalf("RevokeKey: %+v, %v", w, err)
	}
	if _, err := next.RevokeKey(ctx, k.ID); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("RevokeKey again: %v, want ErrNotFound", err)
	}
	if _, err := checker.UserHasPermission(ctx, "u", "p"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("the revoked key: %v, want ErrUnauthorized", err)
	}
}

// TestDeleteTenant: only an admin key deletes; afterwards every key of the
// tenant is refused, its first key names no fresh tenant, and the answer
// says by when every replica has it.
func TestDeleteTenant(t *testing.T) {
	ctx := context.Background()
	srv := clienttest.New(t)
	first := client.New(srv.URL, "client-delete-first")
	if _, err := first.AddRole(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	k, err := first.AddKey(ctx, "reader", client.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	reader := client.New(srv.URL, k.Key)
	if _, err := reader.DeleteTenant(ctx); !errors.Is(err, client.ErrForbidden) || !errors.Is(err, client.ErrNotApplied) {
		t.Fatalf("DeleteTenant with a read key: %v, want ErrForbidden, ErrNotApplied", err)
	}
	before := time.Now().Add(-time.Second)
	d, err := first.DeleteTenant(ctx)
	if err != nil || !d.Result || d.Seq != 3 || d.GoneEverywhereBy.Before(before) {
		t.Fatalf("DeleteTenant: %+v, %v", d, err)
	}
	for _, c := range []*client.Client{first, reader} {
		if _, err := c.Roles(ctx); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("a key of the deleted tenant: %v, want ErrUnauthorized", err)
		}
	}
	if _, err := first.AddRole(ctx, "r"); !errors.Is(err, client.ErrUnauthorized) || !errors.Is(err, client.ErrNotApplied) {
		t.Fatalf("a write with the deleted tenant's first key: %v, want ErrUnauthorized, ErrNotApplied", err)
	}
}
