//go:build !race

package engine

import (
	"strings"
	"testing"
	"time"
)

// TestWindowCheckDoesNotAllocate: the check and the batch check of users
// with windows allocate nothing.
func TestWindowCheckDoesNotAllocate(t *testing.T) {
	e, clk := newClockedEngine()
	const key = "alloc-window-key"
	e.AddRole(key, "r")
	e.AddRole(key, "s")
	e.AddPermission(key, "r", "p")
	for i := range 300 { // past the compact limits, to the tables
		e.Write(key, MembershipChange("u"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "r", Window{ExpiresAt: clk.now.Add(time.Hour)}))
	}
	e.AddMembership(key, "ua", "s")
	tn := e.TenantByKey(key)
	if c, _ := tn.view(); c != nil {
		t.Fatal("a tenant with windows is compact")
	}
	checks := []Check{{User: "ua", Permission: "p"}, {User: "nobody", Permission: "p"}}
	out := make([]bool, 0, len(checks))
	for what, fn := range map[string]func(){
		"check": func() { allocSink = tn.UserHasPermission("ua", "p") },
		"batch": func() { out = tn.CheckMany(checks, out[:0]) },
	} {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocations", what, n)
		}
	}
	if !tn.UserHasPermission("ua", "p") || !out[0] || out[1] {
		t.Fatal("wrong answers")
	}
}
