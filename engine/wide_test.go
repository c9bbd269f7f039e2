package engine

import (
	"slices"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// TestRoleIndicesPast16Bits covers a tenant with more roles than a
// permission entry's 16-bit inline role indices can name: a role whose
// index shares its low 16 bits with an inline role must not match it, and
// a permission granted to such a role is found through its record.
func TestRoleIndicesPast16Bits(t *testing.T) {
	const roles = 1<<16 + 100
	tn := newTenant(KeyID("wide"))
	seq := uint64(0)
	apply := func(c Change) {
		seq++
		if _, err := tn.apply(&Event{Tenant: tn.id, Seq: seq, Change: c}); err != nil {
			t.Fatal(err)
		}
	}
	role := func(i int) string { return "r" + strconv.Itoa(i) }
	for i := range roles {
		apply(Change{Op: OpAddRole, Role: role(i)})
	}
	if idx := tn.roles[role(roles-1)]; idx < 1<<16 {
		t.Fatalf("role indices are not past 16 bits: last is %d", idx)
	}
	low, high := 5, 1<<16+5 // the same low 16 bits
	if tn.roles[role(high)]&0xffff != tn.roles[role(low)]&0xffff {
		t.Fatalf("indices %d and %d differ in their low 16 bits", tn.roles[role(high)], tn.roles[role(low)])
	}
	apply(Change{Op: OpAddPermission, Role: role(low), Permission: "low"})
	apply(Change{Op: OpAddPermission, Role: role(high), Permission: "high"})
	apply(Change{Op: OpAddPermission, Role: role(low), Permission: "both"})
	apply(Change{Op: OpAddPermission, Role: role(high), Permission: "both"})
	apply(Change{Op: OpAddMembership, Role: role(high), User: "u-high"})
	apply(Change{Op: OpAddMembership, Role: role(low), User: "u-low"})
	for _, q := range []struct {
		user, perm string
		want       bool
	}{
		{"u-high", "low", false},
		{"u-high", "high", true},
		{"u-high", "both", true},
		{"u-low", "low", true},
		{"u-low", "high", false},
		{"u-low", "both", true},
	} {
		if got := tn.UserHasPermission(q.user, q.perm); got != q.want {
			t.Errorf("UserHasPermission(%q, %q) = %v, want %v", q.user, q.perm, got, q.want)
		}
	}
	// Past the inline roles, and back.
	for i := range inlinePermRoles + 2 {
		apply(Change{Op: OpAddPermission, Role: role(100 + i), Permission: "low"})
	}
	apply(Change{Op: OpAddMembership, Role: role(100 + inlinePermRoles + 1), User: "u-last"})
	if !tn.UserHasPermission("u-last", "low") || tn.UserHasPermission("u-high", "low") {
		t.Error("a permission past its inline roles answers wrongly")
	}
	for i := range inlinePermRoles + 2 {
		apply(Change{Op: OpDelPermission, Role: role(100 + i), Permission: "low"})
	}
	if tn.UserHasPermission("u-last", "low") || !tn.UserHasPermission("u-low", "low") {
		t.Error("a permission back within its inline roles answers wrongly")
	}
}

// TestIntersectInline compares the word-at-a-time intersection with a
// plain one, over role indices that share lanes' bits and that reach past
// 16 bits.
func TestIntersectInline(t *testing.T) {
	roleGen := rapid.OneOf(rapid.Uint32Range(0, 40), rapid.Uint32Range(noLane-3, noLane+3), rapid.Uint32Range(1<<16, 1<<16+40))
	rapid.Check(t, func(rt *rapid.T) {
		userRoles := rapid.SliceOfNDistinct(roleGen, 0, inlineRoles, rapid.ID[uint32]).Draw(rt, "user")
		slices.Sort(userRoles)
		permRoles := rapid.SliceOfNDistinct(rapid.OneOf(rapid.Uint32Range(0, 40), rapid.Uint32Range(noLane-3, noLane-1)), 0, inlinePermRoles, rapid.ID[uint32]).Draw(rt, "perm")
		slices.Sort(permRoles)
		u := userEntry{n: uint32(len(userRoles))}
		copy(u.inl[:], userRoles)
		tn := newTenant(KeyID("x"))
		tn.permRecs = []permRec{{name: "p", roles: roleSet{small: permRoles, n: len(permRoles)}}}
		tn.syncPerm(0)
		p := tn.perms.get("p")
		if p.n != uint16(len(permRoles)) {
			rt.Fatalf("entry holds %d roles, want %d inline", p.n, len(permRoles))
		}
		want := false
		for _, r := range userRoles {
			want = want || slices.Contains(permRoles, r)
		}
		if got := intersectInline(&u, p); got != want {
			rt.Fatalf("intersectInline(%v, %v) = %v, want %v", userRoles, permRoles, got, want)
		}
	})
}
