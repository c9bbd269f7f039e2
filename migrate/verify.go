package migrate

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"

	"auth/client"
	"auth/engine"
)

// maxExamples is how many differences a tenant's verification describes.
const maxExamples = 10

// verify compares the tenant on the server, from a state at least as
// recent as seq, with what the original answered: every role, every
// role's permissions and members, and a sample of checks.
func (m *migration) verify(ctx context.Context, t *Tenant, seq uint64) *Verification {
	v := &Verification{}
	c := m.client(t.Key)
	read := []client.ReadOption{client.MinSeq(seq)}
	fail := func(err error) *Verification {
		v.Error = err.Error()
		return v
	}
	differ := func(format string, args ...any) {
		if v.Differences++; len(v.Examples) < maxExamples {
			v.Examples = append(v.Examples, fmt.Sprintf(format, args...))
		}
	}
	compare := func(what string, want, got []string) {
		// Sorted here, whatever order the server lists them in.
		want, got = slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))
		extra, missing := setDiff(got, want), setDiff(want, got)
		for _, n := range missing {
			differ("%s: %q is missing on the server", what, n)
		}
		for _, n := range extra {
			differ("%s: %q is on the server, not in the original", what, n)
		}
	}

	o, ci := m.orig, t.creator
	roles, err := c.Roles(ctx, read...)
	if err != nil {
		return fail(err)
	}
	want := o.roles(ci)
	compare("roles", want, roles.Names)
	for _, role := range want {
		perms, err := c.RolePermissions(ctx, role, read...)
		if err != nil {
			return fail(err)
		}
		compare(fmt.Sprintf("role %q: permissions", role), o.rolePermissions(ci, role), perms.Names)
		members, err := c.RoleMembers(ctx, role, read...)
		if err != nil {
			return fail(err)
		}
		compare(fmt.Sprintf("role %q: members", role), o.roleMembers(ci, role), members.Names)
		v.Roles++
	}

	checks, answers := m.sample(t)
	for start := 0; start < len(checks); start += client.MaxChecks {
		batch := checks[start:min(start+client.MaxChecks, len(checks))]
		got, err := c.Check(ctx, batch, read...)
		if err != nil {
			return fail(err)
		}
		for i, ch := range batch {
			if want := answers[start+i]; got.Results[i] != want {
				differ("check %q may %q: the server answers %t, the original %t", ch.User, ch.Permission, got.Results[i], want)
			}
			v.Checks++
		}
	}
	return v
}

// setDiff is the names of a that b lacks; b is sorted.
func setDiff(a, b []string) []string {
	var out []string
	for _, n := range a {
		if _, found := slices.BinarySearch(b, n); !found {
			out = append(out, n)
		}
	}
	return out
}

// sample draws the tenant's checks and the original's answers to them:
// every pair of its users and permissions if there are at most
// cfg.Checks, else cfg.Checks pairs, half of them through one of the
// user's roles (mostly true), half at random (mostly false). The draw
// depends on the tenant only, so that a rerun checks the same pairs.
func (m *migration) sample(t *Tenant) ([]client.Check, []bool) {
	o, ci, n := m.orig, t.creator, m.cfg.Checks
	users, perms := o.users[ci], o.perms[ci]
	var checks []client.Check
	if len(users) == 0 || len(perms) == 0 || n == 0 {
		return nil, nil
	}
	if len(users)*len(perms) <= n {
		for _, u := range users {
			for _, p := range perms {
				checks = append(checks, client.Check{User: u, Permission: p})
			}
		}
	} else {
		id := engine.KeyID(t.Key.s)
		rnd := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(id[:8]), binary.LittleEndian.Uint64(id[8:16])))
		for i := range n {
			u := users[rnd.IntN(len(users))]
			p := perms[rnd.IntN(len(perms))]
			if i%2 == 0 {
				if m := o.firstM[roleOf{ci, u}]; m != nil && len(m.Groups) > 0 {
					if ps := o.permsOf[m.Groups[rnd.IntN(len(m.Groups))]]; len(ps) > 0 {
						p = ps[rnd.IntN(len(ps))].Name
					}
				}
			}
			checks = append(checks, client.Check{User: u, Permission: p})
		}
	}
	answers := make([]bool, len(checks))
	for i, ch := range checks {
		answers[i] = o.userHasPermission(ci, ch.User, ch.Permission)
	}
	return checks, answers
}
