package inproc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/casbin/casbin/v2"

	"auth/bench/dataset"
	"auth/engine"
)

// The role hierarchy of the inclusion comparison (issue 17): the dataset's
// roles form chains of HierChain (role HierChain*c+k is position k of chain
// c; a last, shorter chain takes the rest), and each role includes the next
// HierFanout roles of its chain, where there are that many. A role includes
// only roles after it, so the graph has no cycle, and it is HierChain deep.
// A member of a role at position k has the grants of HierChain-k roles,
// all but one of them through inclusion. The engine's benchmark
// (engine/inclusion_bench_test.go) uses the same shape.
const (
	HierChain  = 5
	HierFanout = 3
)

// HierIncludes returns the roles role r of a dataset of roles roles
// includes directly, ascending.
func HierIncludes(r, roles int) []int {
	var out []int
	base := r - r%HierChain
	for k := r%HierChain + 1; k < HierChain && k <= r%HierChain+HierFanout && base+k < roles; k++ {
		out = append(out, base+k)
	}
	return out
}

// hierReach returns r and the roles it reaches through inclusion.
func hierReach(r, roles int) []int {
	out := []int{r}
	base := r - r%HierChain
	for k := r%HierChain + 1; k < HierChain && base+k < roles; k++ {
		out = append(out, base+k)
	}
	return out
}

// HierHasPermission is the ground truth of a check in tenant t of cfg with
// the hierarchy, computed from the dataset: whether one of the roles user
// u's roles reach grants p.
func HierHasPermission(cfg dataset.Config, t, u, p int) bool {
	if u < 0 || u >= cfg.Users || p < 0 || p >= cfg.Perms {
		return false
	}
	var rb [16]int
	var gb [64]int
	for _, r := range cfg.UserRoles(rb[:0], t, u) {
		for _, x := range hierReach(r, cfg.Roles) {
			if slices.Contains(cfg.RoleGrants(gb[:0], t, x), p) {
				return true
			}
		}
	}
	return false
}

// HierQueries draws n checks of tenant 0 with the hierarchy, a share
// trueShare of them true: a permission of a role one of the user's roles
// reaches (most of them through inclusion only), or one the user does not have.
func HierQueries(cfg dataset.Config, n int, trueShare float64, seed uint64) []Query {
	rng := rand.New(rand.NewPCG(seed, 0x41e4))
	out := make([]Query, n)
	var rb, gb, rs []int
	for i := range out {
		u := rng.IntN(cfg.Users)
		q := Query{Key: dataset.Key(0), User: dataset.User(u)}
		if rng.Float64() < trueShare {
			// A role the user has, directly or through inclusion, drawn
			// evenly: two thirds of them are through inclusion.
			rs = rs[:0]
			for _, r := range cfg.UserRoles(rb[:0], 0, u) {
				for _, x := range hierReach(r, cfg.Roles) {
					if !slices.Contains(rs, x) {
						rs = append(rs, x)
					}
				}
			}
			gb = cfg.RoleGrants(gb[:0], 0, rs[rng.IntN(len(rs))])
			q.Perm, q.Want = dataset.Perm(gb[rng.IntN(len(gb))]), true
		} else {
			q.Perm = dataset.Perm(cfg.Perms) // unknown, if every try fails
			for range 64 {
				if p := rng.IntN(cfg.Perms); !HierHasPermission(cfg, 0, u, p) {
					q.Perm = dataset.Perm(p)
					break
				}
			}
		}
		out[i] = q
	}
	return out
}

// HierSnapshot is tenant 0 of cfg with the hierarchy, as a snapshot.
func HierSnapshot(cfg dataset.Config) *engine.Snapshot {
	s := cfg.Snapshot(0, 1)
	for r := range s.Roles {
		for _, x := range HierIncludes(r, cfg.Roles) {
			s.Roles[r].Includes = append(s.Roles[r].Includes, uint32(x))
		}
	}
	return s
}

// HierSubjects builds the hierarchy's side of the comparison: tenant 0 of
// cfg with the hierarchy in the engine (restored from a snapshot) and in
// Casbin's RBAC enforcers, plain and cached, where an inclusion is a g line
// between two roles (`g, r0, r1`: r0 has r1's permissions), with a pool of
// queries whose answers are verified against HierHasPermission: every one
// in the engine and the cached enforcer, a sample in the plain one.
func HierSubjects(cfg dataset.Config, trueShare float64) (*Subjects, error) {
	start := time.Now()
	cfg.Tenants = 1
	eng := engine.New()
	if err := eng.Restore(HierSnapshot(cfg)); err != nil {
		return nil, err
	}
	var links [][]string
	for r := range cfg.Roles {
		for _, x := range HierIncludes(r, cfg.Roles) {
			links = append(links, []string{dataset.Role(r), dataset.Role(x)})
		}
	}
	plain, cached, err := Casbin(cfg)
	if err != nil {
		return nil, fmt.Errorf("casbin: %w", err)
	}
	for _, e := range []*casbin.Enforcer{plain, cached.Enforcer} {
		if err := e.GetModel().AddPolicies("g", "g", links); err != nil {
			return nil, err
		}
		if err := e.BuildRoleLinks(); err != nil {
			return nil, err
		}
	}
	return verified(&Subjects{Cfg: cfg, Engine: eng, Plain: plain, Cached: cached, Queries: HierQueries(cfg, ComparePool, trueShare, 1)}, start)
}
