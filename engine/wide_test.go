package engine

import (
	"math/rand/v2"
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
	tn := newTables(KeyID("wide"))
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
		if got := tn.userHasPermission(q.user, q.perm); got != q.want {
			t.Errorf("UserHasPermission(%q, %q) = %v, want %v", q.user, q.perm, got, q.want)
		}
	}
	// Past the inline roles, and back.
	for i := range inlinePermRoles + 2 {
		apply(Change{Op: OpAddPermission, Role: role(100 + i), Permission: "low"})
	}
	apply(Change{Op: OpAddMembership, Role: role(100 + inlinePermRoles + 1), User: "u-last"})
	if !tn.userHasPermission("u-last", "low") || tn.userHasPermission("u-high", "low") {
		t.Error("a permission past its inline roles answers wrongly")
	}
	for i := range inlinePermRoles + 2 {
		apply(Change{Op: OpDelPermission, Role: role(100 + i), Permission: "low"})
	}
	if tn.userHasPermission("u-last", "low") || !tn.userHasPermission("u-low", "low") {
		t.Error("a permission back within its inline roles answers wrongly")
	}
}

// TestIntersectInline compares the checks of a permission's inline roles
// (intersectInline, has, meets) with plain ones, over role indices that
// share lanes' bits, that share buckets (so that places evicts, and fills
// the stash), and that reach past 16 bits.
func TestIntersectInline(t *testing.T) {
	colliding := append(collidingRoles(12, 0, 1), collidingRoles(8, 2, 2)...)
	permGen := rapid.OneOf(rapid.Uint32Range(0, 40), rapid.Uint32Range(noLane-3, noLane-1), rapid.SampledFrom(colliding))
	roleGen := rapid.OneOf(permGen, rapid.Uint32Range(noLane, noLane+3), rapid.Uint32Range(1<<16, 1<<16+40))
	rapid.Check(t, func(rt *rapid.T) {
		permRoles := rapid.SliceOfNDistinct(permGen, 0, inlinePermRoles, rapid.ID[uint32]).Draw(rt, "perm")
		slices.Sort(permRoles)
		tn := newTables(KeyID("x"))
		tn.permRecs = []permRec{{name: "p", roles: roleSet{small: permRoles, n: len(permRoles)}}}
		tn.syncPerm(0)
		p := tn.perms.get("p")
		if p.n == permFar {
			if len(permRoles) <= 2*4 { // two words: a bucket and the stash
				rt.Fatalf("%d roles %v do not fit inline", len(permRoles), permRoles)
			}
			return // kept far: TestRoleIndicesPast16Bits covers the check then
		}
		if p.n != uint16(len(permRoles)) {
			rt.Fatalf("entry holds %d roles, want %d", p.n, len(permRoles))
		}
		for _, r := range append(rapid.SliceOf(roleGen).Draw(rt, "probes"), permRoles...) {
			if got, want := p.has(r), slices.Contains(permRoles, r); got != want {
				rt.Fatalf("has(%d) = %v, want %v, roles %v", r, got, want, permRoles)
			}
		}
		userRoles := rapid.SliceOfNDistinct(roleGen, 0, 2*inlinePermRoles, rapid.ID[uint32]).Draw(rt, "user")
		slices.Sort(userRoles)
		want := false
		for _, r := range userRoles {
			want = want || slices.Contains(permRoles, r)
		}
		if got := p.meets(userRoles); got != want {
			rt.Fatalf("meets(%v) = %v, want %v, roles %v", userRoles, got, want, permRoles)
		}
		if len(userRoles) <= inlineRoles {
			u := userEntry{n: uint32(len(userRoles))}
			copy(u.inl[:], userRoles)
			if got := intersectInline(&u, p); got != want {
				rt.Fatalf("intersectInline(%v, %v) = %v, want %v", userRoles, permRoles, got, want)
			}
		}
	})
}

// collidingRoles returns the first n role indices whose buckets are b1
// and b2.
func collidingRoles(n int, b1, b2 uint32) []uint32 {
	var rs []uint32
	for r := uint32(0); len(rs) < n; r++ {
		if c1, c2 := bucketsOf(r); c1 == b1 && c2 == b2 {
			rs = append(rs, r)
		}
	}
	return rs
}

// TestPermEntryFill holds place to what the permission entry promises: any
// eight roles fit (one bucket and the stash, should all eight have one and
// the same bucket), roles that share two buckets fill them and the stash,
// and random sets of roles fit up to the size at which the
// check stays inline in practice. The role sets are drawn with a fixed
// seed, so the test is deterministic.
func TestPermEntryFill(t *testing.T) {
	var e permEntry
	if same := collidingRoles(8, 3, 3); !e.place(same) {
		t.Fatalf("eight roles with one and the same bucket %v do not fit", same)
	}
	if same := collidingRoles(9, 3, 3); e.place(same) {
		t.Fatalf("nine roles with one and the same bucket fit in eight lanes")
	}
	if same := collidingRoles(12, 4, 5); !e.place(same) {
		t.Fatalf("twelve roles sharing two buckets %v do not fit", same)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const fit, trials = 28, 2000
	for n := 1; n <= fit; n++ {
		for range trials {
			roles := make([]uint32, 0, n)
			for len(roles) < n {
				if r := uint32(rng.IntN(noLane)); !slices.Contains(roles, r) {
					roles = append(roles, r)
				}
			}
			if !e.place(roles) {
				t.Fatalf("%d random roles %v do not fit", n, roles)
			}
			for _, r := range roles {
				if !e.has(r) {
					t.Fatalf("placed %v, and %d is not found", roles, r)
				}
			}
		}
	}
}

// TestZeroPermEntry: a permission entry that was never placed (a fresh
// table value) holds no roles, role 0 included.
func TestZeroPermEntry(t *testing.T) {
	var p permEntry
	u := userEntry{n: 3, inl: [inlineRoles]uint32{0, 1, noLane - 1}}
	if intersectInline(&u, &p) || p.meets(u.inl[:]) || p.has(0) {
		t.Fatal("the zero permission entry holds a role")
	}
}
