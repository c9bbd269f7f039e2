package client_test

import (
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
)

// TestMembershipWindow: a window written through the client reads back,
// counts only within it, and a plain write makes the membership
// permanent again.
func TestMembershipWindow(t *testing.T) {
	srv := clienttest.New(t)
	c := client.New(srv.URL, "window-client-key")
	ctx := t.Context()
	if _, err := c.AddRole(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	future := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		user            string
		starts, expires time.Time
		member          bool
	}{{"jack", time.Time{}, past, false}, {"ann", past, future, true}, {"bob", future, time.Time{}, false}} {
		w, err := c.AddMembershipWindow(ctx, tc.user, "admin", tc.starts, tc.expires)
		if err != nil || !w.Result {
			t.Fatalf("%s: %+v, %v", tc.user, w, err)
		}
		m, err := c.MembershipWindow(ctx, tc.user, "admin", client.MinSeq(w.Seq))
		if err != nil || m.Result != tc.member || !m.StartsAt.Equal(tc.starts) || !m.ExpiresAt.Equal(tc.expires) || m.Seq < w.Seq {
			t.Fatalf("%s: %+v, %v", tc.user, m, err)
		}
		if a, err := c.HasMembership(ctx, tc.user, "admin"); err != nil || a.Result != tc.member {
			t.Fatalf("%s: HasMembership %+v, %v", tc.user, a, err)
		}
	}
	if _, err := c.AddMembership(ctx, "jack", "admin"); err != nil {
		t.Fatal(err)
	}
	if m, err := c.MembershipWindow(ctx, "jack", "admin"); err != nil || !m.Result || !m.ExpiresAt.IsZero() {
		t.Fatalf("jack made permanent: %+v, %v", m, err)
	}
}
