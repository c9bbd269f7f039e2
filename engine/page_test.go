package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// pageTenant builds a tenant with names that share prefixes, in a random
// order, so that pages cross prefixes and the heap sees every order.
func pageTenant(t testing.TB) (*Engine, string) {
	t.Helper()
	const key = "page-key"
	e := New()
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(kind string) string {
		return fmt.Sprintf("%s%c%d", kind, "abcé"[rng.IntN(4)], rng.IntN(300))
	}
	must := func(_ bool, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 40 {
		must(e.AddRole(key, word("r")))
	}
	roles := e.Tenant(KeyID(key)).Roles()
	for range 400 {
		role := roles[rng.IntN(len(roles))]
		must(e.AddMembership(key, word("u"), role))
		must(e.AddPermission(key, role, word("p")))
	}
	// Inclusions from each role to some after it (no cycle), so that the
	// effective lists differ from the direct ones.
	for i, r := range roles {
		for range rng.IntN(3) {
			if j := i + 1 + rng.IntN(len(roles)); j < len(roles) {
				must(e.AddInclusion(key, r, roles[j]))
			}
		}
	}
	return e, key
}

func filtered(all []string, q Page) []string {
	out := []string{}
	for _, n := range all {
		if n > q.After && strings.HasPrefix(n, q.Prefix) {
			out = append(out, n)
		}
	}
	return out
}

// TestPagesMatchLists: every paged list, walked page by page with any
// limit, prefix and cursor, gives exactly the whole list's names that pass
// the filter, in order, and says "more" exactly when some are left.
func TestPagesMatchLists(t *testing.T) {
	e, key := pageTenant(t)
	tn := e.Tenant(KeyID(key))
	type list struct {
		name  string
		whole func(arg string) []string
		page  func(arg string, q Page) ([]string, bool)
		args  []string
	}
	roles := tn.Roles()
	var users, perms []string
	for _, r := range roles {
		users = append(users, tn.RoleMembers(r)...)
		perms = append(perms, tn.RolePermissions(r)...)
	}
	users = append(users, "nobody")
	perms = append(perms, "nothing")
	roles = append(roles, "no-role")
	argsOf := map[List][]string{
		ListRoles: {""}, ListRolePermissions: roles, ListRoleMembers: roles, ListUserRoles: users,
		ListUserPermissions: users, ListWhichRolesCan: perms, ListWhichUsersCan: perms, ListInclusions: roles,
	}
	var lists []list
	for l := ListRoles; l <= ListInclusions; l++ {
		for _, eff := range []bool{false, true} {
			lists = append(lists, list{fmt.Sprintf("list %d (effective %v)", l, eff),
				func(arg string) []string { return tn.List(l, arg, eff) },
				func(arg string, q Page) ([]string, bool) { return tn.Page(l, arg, eff, q) }, argsOf[l]})
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	prefixes := []string{"", "u", "ua", "ué", "r", "rb", "p", "pc1", "zzz"}
	for _, l := range lists {
		for i := 0; i < 60; i++ {
			arg := l.args[rng.IntN(len(l.args))]
			whole := l.whole(arg)
			all, more := l.page(arg, Page{})
			if !slices.Equal(all, whole) || more {
				t.Fatalf("%s(%q) without a limit = %q, %v; want %q, false", l.name, arg, all, more, whole)
			}
			q := Page{Prefix: prefixes[rng.IntN(len(prefixes))], Limit: 1 + rng.IntN(7)}
			if len(whole) > 0 && rng.IntN(3) == 0 {
				q.After = whole[rng.IntN(len(whole))]
			}
			want := filtered(whole, q)
			var got []string
			for pages := 0; ; pages++ {
				names, more := l.page(arg, q)
				if len(names) > q.Limit {
					t.Fatalf("%s(%q, %+v): %d names", l.name, arg, q, len(names))
				}
				got = append(got, names...)
				if !more {
					break
				}
				if len(names) != q.Limit {
					t.Fatalf("%s(%q, %+v): a short page (%d) says more follow", l.name, arg, q, len(names))
				}
				q.After = names[len(names)-1]
			}
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s(%q) paged with prefix %q by %d = %q, want %q", l.name, arg, q.Prefix, q.Limit, got, want)
			}
		}
	}
	if p, more := (*Tenant)(nil).RoleMembersPage("r", Page{Limit: 3}); len(p) != 0 || p == nil || more {
		t.Errorf("nil tenant: %q, %v", p, more)
	}
}

func TestRoleCountsAndWhy(t *testing.T) {
	e := New()
	const key = "k"
	for _, c := range []Change{
		{Op: OpAddRole, Role: "a"}, {Op: OpAddRole, Role: "b"}, {Op: OpAddRole, Role: "c"},
		{Op: OpAddPermission, Role: "a", Permission: "read"}, {Op: OpAddPermission, Role: "b", Permission: "read"},
		{Op: OpAddPermission, Role: "b", Permission: "write"},
		{Op: OpAddMembership, Role: "a", User: "sara"}, {Op: OpAddMembership, Role: "b", User: "sara"},
		{Op: OpAddMembership, Role: "c", User: "sara"}, {Op: OpAddMembership, Role: "b", User: "jack"},
	} {
		if _, err := e.Write(key, c); err != nil {
			t.Fatal(err)
		}
	}
	tn := e.Tenant(KeyID(key))
	for _, c := range []struct {
		user, perm string
		want       []string
	}{
		{"sara", "read", []string{"a", "b"}},
		{"sara", "write", []string{"b"}},
		{"jack", "read", []string{"b"}},
		{"jack", "nothing", []string{}},
		{"nobody", "read", []string{}},
	} {
		got := []string{}
		for _, v := range tn.Why(c.user, c.perm) {
			if !slices.Equal(v.Path, []string{v.Role}) {
				t.Errorf("Why(%s, %s): %+v, a path through no inclusion", c.user, c.perm, v)
			}
			got = append(got, v.Role)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Why(%s, %s) = %q, want %q", c.user, c.perm, got, c.want)
		}
	}
	if m, p, ok := tn.RoleCounts("b"); m != 2 || p != 2 || !ok {
		t.Errorf("RoleCounts(b) = %d, %d, %v", m, p, ok)
	}
	if m, p, ok := tn.RoleCounts("zz"); m != 0 || p != 0 || ok {
		t.Errorf("RoleCounts(zz) = %d, %d, %v", m, p, ok)
	}
	infos, more := tn.RolesPageCounts(Page{Limit: 2})
	want := []RoleInfo{{"a", 1, 1}, {"b", 2, 2}}
	if !slices.Equal(infos, want) || !more {
		t.Errorf("RolesPageCounts = %v, %v; want %v, true", infos, more, want)
	}
	infos, more = tn.RolesPageCounts(Page{After: "b", Limit: 2})
	if want := []RoleInfo{{"c", 1, 0}}; !slices.Equal(infos, want) || more {
		t.Errorf("RolesPageCounts after b = %v, %v; want %v, false", infos, more, want)
	}
}

// bigRoleTenant returns a tenant with one role of n members, added in a random
// order.
func bigRoleTenant(b *testing.B, n int) *Tenant {
	b.Helper()
	e := New()
	const key = "big"
	if _, err := e.AddRole(key, "big"); err != nil {
		b.Fatal(err)
	}
	for _, i := range rand.New(rand.NewPCG(5, 6)).Perm(n) {
		if _, err := e.AddMembership(key, fmt.Sprintf("user-%08d@example.com", i), "big"); err != nil {
			b.Fatal(err)
		}
	}
	return e.Tenant(KeyID(key))
}

// BenchmarkRoleMembersPage300k: a page of 100 members of a role of 300k,
// the first and one from the middle (after a cursor) and with a prefix,
// against the baseline of the whole list sorted (what a page costs made
// by sorting every name). Compare the sub-benchmarks' ns/op.
func BenchmarkRoleMembersPage300k(b *testing.B) {
	tn := bigRoleTenant(b, 300_000)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if names, more := tn.RoleMembersPage("big", Page{Limit: 100}); len(names) != 100 || !more {
				b.Fatal(len(names), more)
			}
		}
	})
	b.Run("after", func(b *testing.B) {
		for b.Loop() {
			if names, _ := tn.RoleMembersPage("big", Page{After: "user-00150000@example.com", Limit: 100}); len(names) != 100 {
				b.Fatal(len(names))
			}
		}
	})
	b.Run("prefix", func(b *testing.B) {
		for b.Loop() {
			if names, _ := tn.RoleMembersPage("big", Page{Prefix: "user-0029", Limit: 100}); len(names) != 100 {
				b.Fatal(len(names))
			}
		}
	})
	b.Run("baseline-whole-sorted", func(b *testing.B) {
		for b.Loop() {
			if names := tn.RoleMembers("big"); len(names) != 300_000 {
				b.Fatal(len(names))
			}
		}
	})
}
