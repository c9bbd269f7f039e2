package bench_test

import (
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"auth/bench/dataset"
	"auth/bench/inproc"
	"auth/engine"
)

// The comparison's dataset; defaults are the issue's: 100k users, 1k roles,
// 10k permissions, 3 roles per user, 20 grants per role. Pass smaller sizes
// after -args for a quick run.
var (
	users     = flag.Int("users", 100_000, "users in the in-process comparison")
	roles     = flag.Int("roles", 1_000, "roles")
	perms     = flag.Int("perms", 10_000, "permissions")
	rpu       = flag.Int("roles-per-user", 3, "roles per user")
	gpr       = flag.Int("grants-per-role", 20, "grants per role")
	trueShare = flag.Float64("true-share", 0.5, "share of checks answering true")
	maxUsers  = flag.Int("scale-max-users", 1_000_000, "skip scaling cases with more users in total")
)

// compareConfig is the comparison's dataset, sized by the flags.
func compareConfig() dataset.Config {
	return dataset.Config{Tenants: 1, Users: *users, Roles: *roles, Perms: *perms,
		RolesPerUser: *rpu, GrantsPerRole: *gpr, Seed: 1}
}

// The comparison's subjects without and with the role hierarchy, each
// built once, on first use.
var (
	flatSubjects = sync.OnceValues(func() (*inproc.Subjects, error) { return inproc.NewSubjects(compareConfig(), *trueShare) })
	hierSubjects = sync.OnceValues(func() (*inproc.Subjects, error) { return inproc.HierSubjects(compareConfig(), *trueShare) })
)

// subjectsOf returns the subjects built, or fails b.
func subjectsOf(b *testing.B, built func() (*inproc.Subjects, error)) *inproc.Subjects {
	s, err := built()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkCheck compares one check in the engine with Casbin's RBAC
// enforcer on the same dataset and the same queries, verified beforehand.
func BenchmarkCheck(b *testing.B) {
	s := subjectsOf(b, flatSubjects)
	b.Run("engine", s.BenchEngine)
	b.Run("engine-tenant", s.BenchEngineTenant)
	b.Run("casbin", s.BenchCasbin)
	b.Run("casbin-cached", s.BenchCasbinCached)
}

// BenchmarkCheckHierarchy compares the check with a role hierarchy (issue
// 17): the comparison's dataset with its roles in chains of 5, each
// including up to 3 roles after it in its chain (inproc.HierIncludes), in
// the engine and in Casbin's RBAC enforcer with role links (`g, r0, r1`),
// beside the same dataset without the hierarchy (BenchmarkCheck's
// subjects), all in one run. Each side's queries are drawn alike, half
// true; with the hierarchy, most true ones hold through inclusion only.
func BenchmarkCheckHierarchy(b *testing.B) {
	flat, hier := subjectsOf(b, flatSubjects), subjectsOf(b, hierSubjects)
	b.Logf("setup: flat %v, hierarchy %v (engine and both enforcers, answers verified)", flat.Setup.Round(time.Millisecond), hier.Setup.Round(time.Millisecond))
	for _, side := range []struct {
		name string
		s    *inproc.Subjects
	}{{"flat", flat}, {"hierarchy", hier}} {
		b.Run("engine/"+side.name, side.s.BenchEngine)
		b.Run("engine-tenant/"+side.name, side.s.BenchEngineTenant)
		b.Run("casbin/"+side.name, side.s.BenchCasbin)
		b.Run("casbin-cached/"+side.name, side.s.BenchCasbinCached)
	}
}

// TestHierarchySmall builds the hierarchy comparison on a tiny dataset:
// the setup verifies every pooled query in the engine and the cached
// enforcer, and a sample in the plain one, against the ground truth, and
// most true answers must hold through inclusion only.
func TestHierarchySmall(t *testing.T) {
	cfg := dataset.Config{Tenants: 1, Users: 500, Roles: 30, Perms: 200, RolesPerUser: 3, GrantsPerRole: 5, Seed: 3}
	s, err := inproc.HierSubjects(cfg, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	trues, viaInclusion := 0, 0
	for _, q := range s.Queries {
		if !q.Want {
			continue
		}
		trues++
		var u, p int
		if _, err := fmt.Sscanf(q.User+" "+q.Perm, "u%d p%d", &u, &p); err != nil {
			t.Fatal(err)
		}
		if !cfg.HasPermission(0, u, p) {
			viaInclusion++
		}
	}
	if trues < len(s.Queries)/3 || viaInclusion*2 < trues {
		t.Fatalf("%d queries, %d true, %d of them through inclusion only", len(s.Queries), trues, viaInclusion)
	}
}

// BenchmarkScale measures the engine's check as users, roles and tenants
// grow; B/membership is the engine's live heap per membership.
func BenchmarkScale(b *testing.B) {
	for _, c := range inproc.ScaleCases(*maxUsers) {
		b.Run(c.Name(), func(b *testing.B) {
			s, err := inproc.BuildScale(c)
			if err != nil {
				b.Fatal(err)
			}
			s.Bench(b)
		})
	}
}

// TestCompareSmall builds the comparison on a tiny dataset: the setup
// verifies every pooled query's answer in the engine and the cached
// enforcer, and a sample in the plain one, against the ground truth.
func TestCompareSmall(t *testing.T) {
	cfg := dataset.Config{Tenants: 1, Users: 500, Roles: 30, Perms: 200, RolesPerUser: 3, GrantsPerRole: 5, Seed: 3}
	if _, err := inproc.NewSubjects(cfg, 0.5); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkKeyID is the part of a check that hashes the secret key into a
// tenant id (SHA-256): the difference between BenchmarkCheck/engine and
// BenchmarkCheck/engine-tenant is mostly this.
func BenchmarkKeyID(b *testing.B) {
	keys := []string{dataset.Key(0), dataset.Key(1), dataset.Key(2), dataset.Key(3)}
	var sink engine.TenantID
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink = engine.KeyID(keys[i&3])
	}
	_ = sink
}
