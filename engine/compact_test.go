package engine

import (
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// TestCompactMatchesTables draws tenants within and past the compact
// limits, and checks that a compact block answers every check as the
// tables it was made from, and expands into tables that read the same.
func TestCompactMatchesTables(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := drawPools(rt)
		tn := newTables(KeyID("c"))
		seq := uint64(0)
		for range rapid.IntRange(0, 300).Draw(rt, "changes") {
			c := drawChange(rt, p)
			if c.Validate() != nil {
				continue
			}
			seq++
			if _, err := tn.apply(&Event{Tenant: tn.id, Seq: seq, Change: c}); err != nil && !errors.Is(err, ErrRefused) {
				rt.Fatal(err)
			}
		}
		c := compactOf(tn)
		if c == nil {
			facts := tn.memberships
			for r := range tn.roleRecs {
				if tn.roleRecs[r].name != "" {
					facts += int(tn.roleRecs[r].perms.GetCardinality())
				}
			}
			if tn.inclusions == 0 && tn.windowed == 0 && len(tn.roles) <= compactMaxRoles && tn.users.len() <= compactMaxNames && tn.perms.len() <= compactMaxNames && facts <= compactMaxFacts {
				rt.Fatalf("a tenant within the limits was not made compact")
			}
			return
		}
		if c.seq != tn.seq {
			rt.Fatalf("compact seq %d, tables %d", c.seq, tn.seq)
		}
		users := append(append([]string{}, p.users...), "nobody", "")
		perms := append(append([]string{}, p.perms...), "nothing", "")
		for _, u := range users {
			for _, q := range perms {
				if got, want := c.has(u, q), tn.userHasPermission(u, q); got != want {
					rt.Fatalf("compact check (%q, %q) = %v, tables %v", u, q, got, want)
				}
			}
		}
		x, y := &Tenant{id: tn.id}, &Tenant{id: tn.id}
		x.small.Store(c)
		y.cur.Store(tn)
		got, want := readState(x, p), readState(y, p)
		if !reflect.DeepEqual(got, want) {
			rt.Fatalf("the compact tenant reads differently from its tables:\n%+v\n%+v", got, want)
		}
	})
}
