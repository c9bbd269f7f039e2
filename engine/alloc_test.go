//go:build !race

package engine

import (
	"strings"
	"testing"
)

var allocSink bool

// TestChecksDoNotAllocate holds the engine to its promise that a check
// allocates nothing: not the tenant lookup, not the key hash, not the probe
// of a small or a bitset role set, not a user past the inline roles.
func TestChecksDoNotAllocate(t *testing.T) {
	e := New()
	longKey := strings.Repeat("k", MaxKeyLen) // hashed by the streaming path
	for _, key := range []string{"k", longKey} {
		w := func(c Change) {
			if _, err := e.Write(key, c); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range names("r", 2*smallRoleSet) {
			w(Change{Op: OpAddRole, Role: r})
			w(Change{Op: OpAddPermission, Role: r, Permission: "wide"}) // a bitset
		}
		w(Change{Op: OpAddPermission, Role: "r0", Permission: "narrow"}) // a small set
		w(Change{Op: OpAddPermission, Role: "r7", Permission: "narrow"})
		w(Change{Op: OpAddMembership, Role: "r0", User: "one"})
		for _, r := range names("r", inlineRoles+3) {
			w(Change{Op: OpAddMembership, Role: r, User: "many"}) // past the inline roles
		}
	}
	queries := []struct {
		user, perm string
		want       bool
	}{
		{"one", "narrow", true},
		{"one", "wide", true},
		{"many", "narrow", true},
		{"many", "wide", true},
		{"many", "nothing", false},
		{"nobody", "wide", false},
		{"", "", false},
	}
	id := KeyID("k")
	tn := e.Tenant(id)
	var nilTenant *Tenant
	for _, q := range queries {
		if got := tn.UserHasPermission(q.user, q.perm); got != q.want {
			t.Fatalf("UserHasPermission(%q, %q) = %v, want %v", q.user, q.perm, got, q.want)
		}
		allocs := map[string]float64{
			"Tenant.UserHasPermission": testing.AllocsPerRun(1000, func() {
				allocSink = tn.UserHasPermission(q.user, q.perm)
			}),
			"nil Tenant.UserHasPermission": testing.AllocsPerRun(1000, func() {
				allocSink = nilTenant.UserHasPermission(q.user, q.perm)
			}),
			"Tenant.UserHasPermissionAt": testing.AllocsPerRun(1000, func() {
				ok, seq := tn.UserHasPermissionAt(q.user, q.perm)
				allocSink = ok && seq > 0
			}),
			"Engine.UserHasPermission": testing.AllocsPerRun(1000, func() {
				allocSink = e.UserHasPermission("k", q.user, q.perm)
			}),
			"Engine.UserHasPermission, long key": testing.AllocsPerRun(1000, func() {
				allocSink = e.UserHasPermission(longKey, q.user, q.perm)
			}),
			"Engine.UserHasPermission, unknown key": testing.AllocsPerRun(1000, func() {
				allocSink = e.UserHasPermission("unknown", q.user, q.perm)
			}),
		}
		for what, n := range allocs {
			if n != 0 {
				t.Errorf("%s(%q, %q): %v allocs/op, want 0", what, q.user, q.perm, n)
			}
		}
	}
	unknown := KeyID("unknown")
	for what, fn := range map[string]func(){
		"Engine.Tenant":          func() { allocSink = e.Tenant(id) != nil },
		"Engine.Tenant, unknown": func() { allocSink = e.Tenant(unknown) != nil },
		"KeyID":                  func() { allocSink = KeyID("pleaSeDoN0tKillMyC_at") == id },
		"KeyID, long key":        func() { allocSink = KeyID(longKey) == id },
		"Tenant.HasRole":         func() { allocSink = tn.HasRole("r3") },
		"Tenant.HasPermission":   func() { allocSink = tn.HasPermission("r3", "wide") },
		"Tenant.HasMembership":   func() { allocSink = tn.HasMembership("many", "r4") },
		"Engine.HasMembership":   func() { allocSink = e.HasMembership("k", "many", "r4") },
		"Tenant.Answer":          func() { r, c := tn.Answer(&Change{Op: OpAddMembership, Role: "r1", User: "one"}); allocSink = r && c },
		"ValidName":              func() { allocSink = ValidName("日本語 name/+") == nil },
		"ValidKey":               func() { allocSink = ValidKey(longKey) == nil },
	} {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", what, n)
		}
	}
}

func TestTenantByKeyDoesNotAllocate(t *testing.T) {
	e := New()
	if _, err := e.AddRole("cached-key", "r"); err != nil {
		t.Fatal(err)
	}
	e.TenantByKey("cached-key") // fills the cache
	for what, fn := range map[string]func(){
		"cached":  func() { allocSink = e.TenantByKey("cached-key") != nil },
		"unknown": func() { allocSink = e.TenantByKey("unknown-key") != nil },
	} {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("TenantByKey, %s: %v allocations", what, n)
		}
	}
}

// TestValidateDoesNotAllocate: the table's loops must not cost a valid
// write an allocation.
func TestValidateDoesNotAllocate(t *testing.T) {
	for _, op := range Ops() {
		if op.IsBatch() {
			continue
		}
		c := sampleChange(op)
		if n := testing.AllocsPerRun(100, func() { allocSink = c.Validate() == nil }); n != 0 {
			t.Errorf("%v: Validate makes %v allocations", op, n)
		}
	}
}
