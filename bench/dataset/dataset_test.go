package dataset

import (
	"math/rand/v2"
	"testing"

	"auth/engine"
)

var small = Config{Tenants: 3, Users: 200, Roles: 20, Perms: 100, RolesPerUser: 3, GrantsPerRole: 5, Seed: 7}

func TestShape(t *testing.T) {
	if err := small.Validate(); err != nil {
		t.Fatal(err)
	}
	for u := 0; u < small.Users; u++ {
		rs := small.UserRoles(nil, 1, u)
		if len(rs) != small.RolesPerUser {
			t.Fatalf("user %d: %d roles", u, len(rs))
		}
		for i := 1; i < len(rs); i++ {
			if rs[i] <= rs[i-1] {
				t.Fatalf("user %d: roles %v not strictly ascending", u, rs)
			}
		}
	}
}

// TestEngineAgrees checks the ground truth against the engine loaded both
// through snapshots and through the changes the API would get.
func TestEngineAgrees(t *testing.T) {
	viaSnap, err := small.Engine()
	if err != nil {
		t.Fatal(err)
	}
	viaChanges := engine.New()
	for tn := 0; tn < small.Tenants; tn++ {
		err := small.Changes(tn, func(c engine.Change) error {
			ok, err := viaChanges.Write(Key(tn), c)
			if err == nil && !ok {
				t.Fatalf("change %+v answered false", c)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got := viaChanges.Tenant(engine.KeyID(Key(tn))).Stats()
		if got.Memberships != small.Users*small.RolesPerUser || got.Roles != small.Roles {
			t.Fatalf("tenant %d stats %+v", tn, got)
		}
	}
	for tn := 0; tn < small.Tenants; tn++ {
		for u := 0; u < small.Users; u += 7 {
			for p := 0; p <= small.Perms; p++ {
				want := small.HasPermission(tn, u, p)
				for name, e := range map[string]*engine.Engine{"snapshot": viaSnap, "changes": viaChanges} {
					if got := e.UserHasPermission(Key(tn), User(u), Perm(p)); got != want {
						t.Fatalf("%s: tenant %d user %d perm %d: got %v, want %v", name, tn, u, p, got, want)
					}
				}
			}
		}
	}
}

func TestChecksShare(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	checks := small.Checks(rng, 10000, 0.3)
	trues := 0
	for _, c := range checks {
		if c.Want != small.HasPermission(c.Tenant, c.User, c.Perm) {
			t.Fatalf("check %+v: wrong Want", c)
		}
		if c.Want {
			trues++
		}
	}
	if trues < 2700 || trues > 3300 {
		t.Fatalf("%d of 10000 true, want about 3000", trues)
	}
}
