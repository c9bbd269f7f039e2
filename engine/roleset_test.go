package engine

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// checkRoleSet compares s with the plain set want, probing every index up
// to limit.
func checkRoleSet(t fataler, s *roleSet, want map[uint32]bool, limit uint32) {
	t.Helper()
	var got []uint32
	s.each(func(r uint32) { got = append(got, r) })
	wantList := slices.Sorted(maps.Keys(want))
	if !slices.Equal(got, wantList) {
		t.Fatalf("each = %v, want %v", got, wantList)
	}
	if s.n != len(want) {
		t.Fatalf("n = %d, want %d", s.n, len(want))
	}
	for r := uint32(0); r <= limit; r++ {
		if s.has(r) != want[r] {
			t.Fatalf("has(%d) = %v, want %v", r, s.has(r), want[r])
		}
	}
	for _, r := range []uint32{limit + 1, 1 << 20, 1<<32 - 1} {
		if s.has(r) != want[r] {
			t.Fatalf("has(%d) = %v, want %v", r, s.has(r), want[r])
		}
	}
	if s.bits != nil && s.small != nil {
		t.Fatalf("roleSet holds both forms")
	}
}

func TestRoleSet(t *testing.T) {
	type step struct {
		add    bool
		r      uint32
		result bool // add/remove's answer
	}
	seq := func(add bool, from, to uint32, result bool) []step {
		var out []step
		for r := from; r < to; r++ {
			out = append(out, step{add, r, result})
		}
		return out
	}
	cat := func(parts ...[]step) []step { return slices.Concat(parts...) }
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty probes", nil},
		{"32 roles stay small", seq(true, 0, 32, true)},
		{"the 33rd role makes a bitset", seq(true, 0, 33, true)},
		{"33 roles with a duplicate", cat(
			seq(true, 0, 32, true),
			[]step{{true, 5, false}, {true, 31, false}, {true, 1000, true}, {true, 1000, false}})},
		{"descending crossing", cat(
			seq(true, 100, 132, true),
			[]step{{true, 3, true}, {true, 3, false}, {false, 99, false}})},
		{"remove below the boundary stays a bitset and stays right", cat(
			seq(true, 0, 40, true),
			seq(false, 0, 39, true),
			[]step{{false, 39, true}, {false, 39, false}, {true, 64, true}, {true, 63, true}, {true, 200, true}})},
		{"word boundaries", cat(
			seq(true, 60, 70, true),
			seq(true, 120, 140, true),
			seq(true, 190, 195, true),
			[]step{{false, 63, true}, {false, 64, true}, {true, 127, false}, {true, 128, false}})},
		{"remove from small", []step{
			{true, 7, true}, {true, 3, true}, {true, 9, true},
			{false, 5, false}, {false, 3, true}, {false, 3, false},
			{false, 10, false}, {false, 9, true}, {false, 7, true}, {false, 7, false},
			{true, 0, true}}},
		{"crossing with a huge index", cat(
			seq(true, 0, 32, true),
			[]step{{true, 1 << 16, true}, {false, 1 << 16, true}, {true, 1<<16 - 1, true}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s roleSet
			want := map[uint32]bool{}
			limit := uint32(300)
			bitset := false // past smallRoleSet roles the set is a bitset for good
			for i, st := range tt.steps {
				var got bool
				if st.add {
					got = s.add(st.r)
					want[st.r] = true
				} else {
					got = s.remove(st.r)
					delete(want, st.r)
				}
				if got != st.result {
					t.Fatalf("step %d (add=%v %d): answered %v, want %v", i, st.add, st.r, got, st.result)
				}
				bitset = bitset || len(want) > smallRoleSet
				if isBits := s.bits != nil; isBits != bitset {
					t.Fatalf("step %d (add=%v %d, %d roles): bitset=%v, want %v", i, st.add, st.r, len(want), isBits, bitset)
				}
				limit = max(limit, st.r)
				checkRoleSet(t, &s, want, limit)
			}
			checkRoleSet(t, &s, want, limit)
		})
	}
}

// TestRoleSetMatchesMap runs random adds and removes over indices that
// straddle the small limit and word boundaries.
func TestRoleSetMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s roleSet
		want := map[uint32]bool{}
		hi := rapid.SampledFrom([]uint32{40, 70, 200, 5000}).Draw(t, "range")
		for range rapid.IntRange(1, 300).Draw(t, "steps") {
			r := rapid.Uint32Range(0, hi).Draw(t, "r")
			if rapid.IntRange(0, 3).Draw(t, "remove?") == 0 {
				if got := s.remove(r); got != want[r] {
					t.Fatalf("remove(%d) = %v, want %v", r, got, want[r])
				}
				delete(want, r)
			} else {
				if got := s.add(r); got != !want[r] {
					t.Fatalf("add(%d) = %v, want %v", r, got, !want[r])
				}
				want[r] = true
			}
		}
		checkRoleSet(t, &s, want, hi)
	})
}

// TestPermissionGrantedToManyRoles drives a permission's role set across
// the small/bitset boundary through the engine, with checks on the way, and
// deletes the roles again until the permission is released and reused.
func TestPermissionGrantedToManyRoles(t *testing.T) {
	e := New()
	const key = "k"
	must := func(ok bool, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	const n = 3*smallRoleSet + 5
	role := func(i int) string { return fmt.Sprintf("role%03d", i) }
	for i := range n {
		must(e.AddRole(key, role(i)))
		must(e.AddMembership(key, fmt.Sprintf("user%03d", i), role(i)))
	}
	// Grant "p" to every other role, from the top down, then to the rest;
	// user j is only in role j.
	granted := map[int]bool{}
	for pass := range 2 {
		for i := n - 1 - pass; i >= 0; i -= 2 {
			if !must(e.AddPermission(key, role(i), "p")) {
				t.Fatalf("AddPermission(%s) answered false", role(i))
			}
			granted[i] = true
			for j := range n {
				if got := e.UserHasPermission(key, fmt.Sprintf("user%03d", j), "p"); got != granted[j] {
					t.Fatalf("after granting %s: user%03d has p = %v, want %v", role(i), j, got, granted[j])
				}
			}
		}
	}
	if got := len(e.WhichRolesCan(key, "p")); got != n {
		t.Fatalf("WhichRolesCan(p) lists %d roles, want %d", got, n)
	}
	if got := len(e.WhichUsersCan(key, "p")); got != n {
		t.Fatalf("WhichUsersCan(p) lists %d users, want %d", got, n)
	}
	// Delete the roles; the permission must disappear with the last one.
	for i := range n {
		must(e.DelRole(key, role(i)))
		if got := len(e.WhichRolesCan(key, "p")); got != n-1-i {
			t.Fatalf("after deleting %d roles, %d roles can p", i+1, got)
		}
		if e.UserHasPermission(key, fmt.Sprintf("user%03d", i), "p") {
			t.Fatalf("user%03d keeps p after its role was deleted", i)
		}
	}
	st := e.Tenant(KeyID(key)).Stats()
	if st.Permissions != 0 || st.Users != 0 || st.Memberships != 0 || st.Roles != 0 {
		t.Fatalf("after deleting every role: %+v", st)
	}
	// The freed permission index comes back as a small set.
	must(e.AddRole(key, "again"))
	must(e.AddPermission(key, "again", "q"))
	must(e.AddMembership(key, "u", "again"))
	if !e.UserHasPermission(key, "u", "q") || e.UserHasPermission(key, "u", "p") {
		t.Fatal("reused permission index answers wrongly")
	}
}
