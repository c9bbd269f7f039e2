// Package inproc benchmarks checks in process: the engine against Casbin's
// RBAC enforcer (plain and cached) on the same dataset, and the engine's
// check cost as users, roles and tenants grow. The functions take a
// *testing.B so that they serve both `go test -bench` (bench/inproc_test.go)
// and `authbench compare` / `authbench scale` through testing.Benchmark.
package inproc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"auth/bench/dataset"
	"auth/engine"
	"auth/internal/liveheap"
)

// Pool sizes: how many distinct checks a benchmark cycles through (powers
// of two, so that the index is a mask). The engine-vs-Casbin comparison
// uses a pool small enough for the cached enforcer to hold every answer;
// the scaling series use a large one, so that a big tenant's data does not
// all sit in the CPU caches.
const (
	ComparePool = 1 << 10
	ScalePool   = 1 << 16
)

// Query is one check in the names both engines take.
type Query struct {
	Key, User, Perm string
	Want            bool
}

// Queries draws n checks from cfg, a share trueShare of them answering
// true.
func Queries(cfg dataset.Config, n int, trueShare float64, seed uint64) []Query {
	checks := cfg.Checks(rand.New(rand.NewPCG(seed, 0x5eed)), n, trueShare)
	qs := make([]Query, len(checks))
	for i, c := range checks {
		qs[i] = Query{dataset.Key(c.Tenant), dataset.User(c.User), dataset.Perm(c.Perm), c.Want}
	}
	return qs
}

// rbacModel is Casbin's basic RBAC model: p = role, permission; g = user,
// role. A request is (user, permission).
const rbacModel = `
[request_definition]
r = sub, obj

[policy_definition]
p = sub, obj

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj
`

// Casbin builds a plain and a cached Casbin enforcer holding tenant 0 of
// cfg (Casbin's RBAC model has no tenants; the comparison uses one).
func Casbin(cfg dataset.Config) (*casbin.Enforcer, *casbin.CachedEnforcer, error) {
	var ps, gs [][]string
	err := cfg.Changes(0, func(c engine.Change) error {
		switch c.Op {
		case engine.OpAddPermission:
			ps = append(ps, []string{c.Role, c.Permission})
		case engine.OpAddMembership:
			gs = append(gs, []string{c.User, c.Role})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	build := func(e *casbin.Enforcer) error {
		m := e.GetModel()
		if err := m.AddPolicies("p", "p", ps); err != nil {
			return err
		}
		if err := m.AddPolicies("g", "g", gs); err != nil {
			return err
		}
		return e.BuildRoleLinks()
	}
	// Each enforcer has a model of its own.
	m1, err1 := model.NewModelFromString(rbacModel)
	m2, err2 := model.NewModelFromString(rbacModel)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, err
	}
	plain, err1 := casbin.NewEnforcer(m1)
	cached, err2 := casbin.NewCachedEnforcer(m2)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, err
	}
	if err := errors.Join(build(plain), build(cached.Enforcer)); err != nil {
		return nil, nil, err
	}
	return plain, cached, nil
}

// Subjects is the in-process comparison's setup: one dataset in the engine
// and in both Casbin enforcers, with a pool of queries whose answers have
// been verified in all three.
type Subjects struct {
	Cfg     dataset.Config
	Engine  *engine.Engine
	Plain   *casbin.Enforcer
	Cached  *casbin.CachedEnforcer
	Queries []Query
	Setup   time.Duration
}

// NewSubjects builds the comparison for tenant 0 of cfg and verifies every
// pooled query's answer in the engine and both enforcers (which also warms
// the cached enforcer).
func NewSubjects(cfg dataset.Config, trueShare float64) (*Subjects, error) {
	start := time.Now()
	cfg.Tenants = 1
	eng, err := cfg.Engine()
	if err != nil {
		return nil, err
	}
	plain, cached, err := Casbin(cfg)
	if err != nil {
		return nil, fmt.Errorf("casbin: %w", err)
	}
	return verified(&Subjects{Cfg: cfg, Engine: eng, Plain: plain, Cached: cached, Queries: Queries(cfg, ComparePool, trueShare, 1)}, start)
}

// verified checks every pooled query's answer of s, set up since start,
// and returns s with its setup time. Casbin's plain enforcer is slow:
// every query is verified in the engine and the cached one (whose misses
// run the plain path), and a sample in the plain one.
func verified(s *Subjects, start time.Time) (*Subjects, error) {
	for i, q := range s.Queries {
		if got := s.Engine.UserHasPermission(q.Key, q.User, q.Perm); got != q.Want {
			return nil, fmt.Errorf("engine: %s has %s: got %v, want %v", q.User, q.Perm, got, q.Want)
		}
		got, err := s.Cached.Enforce(q.User, q.Perm)
		if err != nil || got != q.Want {
			return nil, fmt.Errorf("casbin cached: %s has %s: got %v (%v), want %v", q.User, q.Perm, got, err, q.Want)
		}
		if i%64 == 0 {
			got, err := s.Plain.Enforce(q.User, q.Perm)
			if err != nil || got != q.Want {
				return nil, fmt.Errorf("casbin: %s has %s: got %v (%v), want %v", q.User, q.Perm, got, err, q.Want)
			}
		}
	}
	s.Setup = time.Since(start)
	return s, nil
}

// BenchEngine benchmarks the engine's check.
func (s *Subjects) BenchEngine(b *testing.B) { benchEngine(b, s.Engine, s.Queries) }

// benchEngine runs the engine's check over qs (a power of two of them),
// failing on a wrong answer.
func benchEngine(b *testing.B, e *engine.Engine, qs []Query) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := &qs[i&(len(qs)-1)]
		if e.UserHasPermission(q.Key, q.User, q.Perm) != q.Want {
			b.Fatal("wrong answer")
		}
	}
}

// BenchCasbin benchmarks Casbin's plain enforcer.
func (s *Subjects) BenchCasbin(b *testing.B) { benchEnforce(b, s.Queries, s.Plain.Enforce) }

// BenchCasbinCached benchmarks the cached enforcer with every pooled query
// already cached.
func (s *Subjects) BenchCasbinCached(b *testing.B) { benchEnforce(b, s.Queries, s.Cached.Enforce) }

func benchEnforce(b *testing.B, qs []Query, enforce func(...any) (bool, error)) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := &qs[i&(len(qs)-1)]
		ok, err := enforce(q.User, q.Perm)
		if err != nil || ok != q.Want {
			b.Fatalf("wrong answer: %v %v", ok, err)
		}
	}
}

// Scaling.

// ScaleCase is one point of a scaling series.
type ScaleCase struct {
	Series string         `json:"series"` // users, roles or tenants
	Param  int            `json:"param"`  // the size that grows
	Cfg    dataset.Config `json:"dataset"`
}

// Name is the case's sub-benchmark name.
func (c ScaleCase) Name() string { return fmt.Sprintf("%s=%d", c.Series, c.Param) }

// ScaleCases lists the scaling series: users 1k→1M (1k roles, 10k
// permissions, 3 roles/user, 20 grants/role), roles 10→10k (100k users),
// tenants 1→100k of 10 users each (10 roles, 100 permissions, 3 roles/user,
// 5 grants/role). maxUsers drops the cases with more users in total.
func ScaleCases(maxUsers int) []ScaleCase {
	var out []ScaleCase
	add := func(series string, param int, cfg dataset.Config) {
		cfg.Seed = 1
		if cfg.Tenants*cfg.Users <= maxUsers {
			out = append(out, ScaleCase{series, param, cfg})
		}
	}
	for _, u := range []int{1_000, 10_000, 100_000, 1_000_000} {
		add("users", u, dataset.Config{Tenants: 1, Users: u, Roles: 1000, Perms: 10_000, RolesPerUser: 3, GrantsPerRole: 20})
	}
	for _, r := range []int{10, 100, 1000, 10_000} {
		add("roles", r, dataset.Config{Tenants: 1, Users: 100_000, Roles: r, Perms: 10_000, RolesPerUser: 3, GrantsPerRole: 20})
	}
	for _, t := range []int{1, 100, 10_000, 100_000} {
		add("tenants", t, dataset.Config{Tenants: t, Users: 10, Roles: 10, Perms: 100, RolesPerUser: 3, GrantsPerRole: 5})
	}
	return out
}

// ScaleSubject is a built scaling case.
type ScaleSubject struct {
	Case    ScaleCase
	Engine  *engine.Engine
	Queries []Query
	// HeapBytes is the live heap the engine holds, measured after GC.
	HeapBytes uint64
	Build     time.Duration
}

// BuildScale builds c's engine (through snapshots) and measures its heap.
// Queries answer true half the time.
func BuildScale(c ScaleCase) (*ScaleSubject, error) {
	before := liveheap.Bytes()
	start := time.Now()
	e, err := c.Cfg.Engine()
	if err != nil {
		return nil, err
	}
	build := time.Since(start)
	after := liveheap.Bytes()
	s := &ScaleSubject{Case: c, Engine: e, Queries: Queries(c.Cfg, ScalePool, 0.5, 2), Build: build}
	if after > before {
		s.HeapBytes = after - before
	}
	runtime.KeepAlive(e)
	for _, q := range s.Queries {
		if e.UserHasPermission(q.Key, q.User, q.Perm) != q.Want {
			return nil, fmt.Errorf("%s: %s has %s: want %v", c.Name(), q.User, q.Perm, q.Want)
		}
	}
	return s, nil
}

// BytesPerMembership is the engine's heap divided by the memberships it
// holds (grants and names included in the numerator).
func (s *ScaleSubject) BytesPerMembership() float64 {
	return float64(s.HeapBytes) / float64(s.Case.Cfg.Memberships())
}

// Bench benchmarks the check on s, with queries spread over all tenants.
func (s *ScaleSubject) Bench(b *testing.B) {
	benchEngine(b, s.Engine, s.Queries)
	b.ReportMetric(s.BytesPerMembership(), "B/membership")
}

// BenchEngineTenant benchmarks the engine's check on tenants resolved
// beforehand: the check without hashing the secret key, which is what a
// caller holding a *engine.Tenant pays, and closer to what Casbin (which has
// no tenants) does per call.
func (s *Subjects) BenchEngineTenant(b *testing.B) {
	qs := s.Queries
	ts := make([]*engine.Tenant, len(qs))
	for i, q := range qs {
		ts[i] = s.Engine.Tenant(engine.KeyID(q.Key))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := i & (len(qs) - 1)
		if ts[j].UserHasPermission(qs[j].User, qs[j].Perm) != qs[j].Want {
			b.Fatal("wrong answer")
		}
	}
}

// DependentRead returns a benchmark whose operation is one read from
// memory that depends on the one before: a walk over a random cycle
// through size bytes of 64-byte lines (at least 1 MiB). Over a scaling
// point's heap, it is what one read of a tenant missing every cache costs
// on this machine, measured beside the checks: the floor under a check
// that must make such reads one after the other.
func DependentRead(size uint64) func(*testing.B) {
	type line struct {
		next uint32
		_    [60]byte
	}
	n := max(int(size/64), 1<<14)
	lines := make([]line, n)
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)
	for i, at := range order {
		lines[at].next = uint32(order[(i+1)%n])
	}
	return func(b *testing.B) {
		j := uint32(0)
		for b.Loop() {
			j = lines[j].next
		}
		runtime.KeepAlive(j)
	}
}
