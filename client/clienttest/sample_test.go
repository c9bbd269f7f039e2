package clienttest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"auth/client"
	"auth/client/clienttest"
)

// TestSampleTenant: the sample tenant imports, and holds what its doc
// says: user-U has perm-P exactly when P/10 == U%10.
func TestSampleTenant(t *testing.T) {
	s := clienttest.New(t)
	ctx := context.Background()
	c := client.New(s.URL, "sample-key")
	defer c.CloseIdleConnections()
	if _, err := c.Import(ctx, strings.NewReader(clienttest.SampleTenant())); err != nil {
		t.Fatal(err)
	}
	for _, u := range []int{0, 1, 9, 10, 537, 999} {
		for _, p := range []int{0, 9, 10, 37, 99} {
			a, err := c.UserHasPermission(ctx, fmt.Sprintf("user-%d", u), fmt.Sprintf("perm-%d", p))
			if err != nil {
				t.Fatal(err)
			}
			if want := p/10 == u%10; a.Result != want {
				t.Errorf("user-%d has perm-%d: %v, want %v", u, p, a.Result, want)
			}
		}
	}
	roles, err := c.Roles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(roles.Names) != 10 {
		t.Errorf("%d roles, want 10", len(roles.Names))
	}
}
