//go:build !race

package engine

import (
	"slices"
	"testing"
)

// TestHierarchyChecksDoNotAllocate holds the check in a tenant with role
// inclusion to the promise of TestChecksDoNotAllocate: the benchmarks'
// hierarchy (chains of 5) on a smaller dataset, where 40 more roles include
// the last role of chain 0 so that its permissions' check sets are past the
// inline lanes (far), checked for true and false answers, inline and far.
func TestHierarchyChecksDoNotAllocate(t *testing.T) {
	d := genDataset(5_000, 200)
	e := New()
	if err := e.Restore(d.hierSnapshot()); err != nil {
		t.Fatal(err)
	}
	bottom := d.roles[hierChain-1]
	for r := hierChain; r < hierChain+40; r++ {
		if _, err := e.AddInclusion(benchKey, d.roles[r], bottom); err != nil {
			t.Fatal(err)
		}
	}
	tn := e.Tenant(KeyID(benchKey))
	farPerm := d.perms[d.grants[hierChain-1][0]]
	if _, s := tn.view(); s == nil || s.perms.get(farPerm).n != permFar {
		t.Fatalf("%s is not far", farPerm)
	}
	// A member of chain 0's first role has the grants of chain 0 through
	// inclusion; a member of role 5 has the far ones through two.
	memberOf := func(r uint32) int {
		for u, rs := range d.userRoles {
			if slices.Contains(rs[:], r) {
				return u
			}
		}
		t.Fatalf("role %d has no member", r)
		return 0
	}
	head, far := memberOf(0), memberOf(hierChain)
	inlinePerm := d.perms[d.grants[2][0]] // of role 2, which role 0 includes
	type query struct {
		user, perm string
		want       bool
	}
	queries := []query{
		{d.users[head], inlinePerm, true},
		{d.users[head], farPerm, true},
		{d.users[far], farPerm, true},
		{"user:none", farPerm, false},
		{d.users[head], "perm:none", false},
	}
	// A false answer, inline and far: a user none of whose roles reaches
	// either permission, through the chains or the 40 extra inclusions.
	has := func(u int, perm string) bool {
		for _, r := range d.userRoles[u] {
			rs := hierReach(int(r))
			if slices.ContainsFunc(rs, func(x uint32) bool { return x >= hierChain && x < hierChain+40 }) {
				rs = append(rs, hierChain-1)
			}
			for _, x := range rs {
				if slices.ContainsFunc(d.grants[x], func(g uint32) bool { return d.perms[g] == perm }) {
					return true
				}
			}
		}
		return false
	}
	for u := range d.users {
		if !has(u, inlinePerm) && !has(u, farPerm) {
			queries = append(queries, query{d.users[u], inlinePerm, false}, query{d.users[u], farPerm, false})
			break
		}
	}
	if len(queries) != 7 {
		t.Fatal("no user without either permission")
	}
	for _, q := range queries {
		if got := tn.UserHasPermission(q.user, q.perm); got != q.want {
			t.Fatalf("UserHasPermission(%q, %q) = %v, want %v", q.user, q.perm, got, q.want)
		}
		if n := testing.AllocsPerRun(1000, func() { allocSink = tn.UserHasPermission(q.user, q.perm) }); n != 0 {
			t.Errorf("UserHasPermission(%q, %q): %v allocs/op, want 0", q.user, q.perm, n)
		}
	}
}
