package engine

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The hierarchy of the inclusion benchmarks: the roles of the 100k-user,
// 1k-role tenant of BenchmarkUserHasPermission form chains of hierChain
// (role 5c+k is position k of chain c), and each role includes the next
// hierFanout roles of its chain, where there are that many: position 0
// includes 1, 2 and 3, position 1 includes 2, 3 and 4, and so on, so that
// the graph has no cycle (a role includes only roles after it) and is
// hierChain deep. A member of a role at position k has the grants of
// 5-k roles, 4-k of them through inclusion: two thirds of a user's
// grants on average.
const (
	hierUsers  = 100_000
	hierRoles  = 1_000
	hierChain  = 5
	hierFanout = 3
)

// hierIncludes returns the roles role r includes directly, ascending.
func hierIncludes(r int) []uint32 {
	var out []uint32
	for k := r%hierChain + 1; k < hierChain && k <= r%hierChain+hierFanout; k++ {
		out = append(out, uint32(r-r%hierChain+k))
	}
	return out
}

// hierSnapshot is d's snapshot with the chains' inclusions.
func (d *dataset) hierSnapshot() *Snapshot {
	s := d.snapshot()
	for r := range s.Roles {
		s.Roles[r].Includes = hierIncludes(r)
	}
	return s
}

// hierReach returns the roles r reaches downward, r included.
func hierReach(r int) []uint32 {
	out := []uint32{uint32(r)}
	for k := r%hierChain + 1; k < hierChain; k++ {
		out = append(out, uint32(r-r%hierChain+k))
	}
	return out
}

// hierTenant is a loaded tenant with its queries.
type hierTenant struct {
	eng     *Engine
	tenant  *Tenant
	queries []benchQuery
	hitRate float64
	viaIncl float64 // the share of true queries true through inclusion only
}

// loadHier restores d (flat, or with the chains when hier) and draws
// benchQueries checks, about half of them true: a permission one of the
// user's roles has (directly, or through inclusion when hier), or one some
// role has. The first answers are compared with the ground truth computed
// here from the dataset.
func loadHier(b *testing.B, d *dataset, hier bool) *hierTenant {
	snap := d.snapshot()
	if hier {
		snap = d.hierSnapshot()
	}
	h := &hierTenant{eng: New()}
	start := time.Now()
	if err := h.eng.Restore(snap); err != nil {
		b.Fatal(err)
	}
	b.Logf("restore (hierarchy %v): %v", hier, time.Since(start))
	h.tenant = h.eng.Tenant(KeyID(benchKey))
	reach := func(r uint32) []uint32 {
		if hier {
			return hierReach(int(r))
		}
		return []uint32{r}
	}
	truth := func(u int, p uint32) bool {
		for _, r := range d.userRoles[u] {
			for _, x := range reach(r) {
				if _, ok := slices.BinarySearch(d.grants[x], p); ok {
					return true
				}
			}
		}
		return false
	}
	rng := rand.New(rand.NewPCG(11, 17))
	h.queries = make([]benchQuery, benchQueries)
	hits, via := 0, 0
	var rs []uint32
	for i := range h.queries {
		u := rng.IntN(len(d.users))
		var p uint32
		if rng.IntN(2) == 0 {
			// A role the user has, directly or through inclusion, drawn
			// evenly (two thirds of them through inclusion).
			rs = rs[:0]
			for _, r := range d.userRoles[u] {
				for _, x := range reach(r) {
					if !slices.Contains(rs, x) {
						rs = append(rs, x)
					}
				}
			}
			p = d.someGrant(rng, rs[rng.IntN(len(rs))])
		} else {
			p = d.someGrant(rng, uint32(rng.IntN(len(d.roles))))
		}
		q := d.query(u, p)
		h.queries[i] = q
		got := h.tenant.UserHasPermission(q.user, q.perm)
		if got {
			hits++
			if hier && !slices.ContainsFunc(d.userRoles[u][:], func(r uint32) bool {
				_, ok := slices.BinarySearch(d.grants[r], p)
				return ok
			}) {
				via++
			}
		}
		if i < 20_000 && got != truth(u, p) {
			b.Fatalf("hierarchy %v: %s has %s: got %v", hier, q.user, q.perm, got)
		}
	}
	h.hitRate = float64(hits) / float64(len(h.queries))
	h.viaIncl = float64(via) / float64(hits)
	return h
}

var hierSets [2]*hierTenant // flat, hierarchy: built once per process

func loadHierSets(b *testing.B) [2]*hierTenant {
	if hierSets[0] == nil {
		d := genDataset(hierUsers, hierRoles)
		hierSets = [2]*hierTenant{loadHier(b, d, false), loadHier(b, d, true)}
		st := hierSets[1].tenant.Stats()
		b.Logf("hierarchy tenant: %+v", st)
	}
	return hierSets
}

// BenchmarkCheckHierarchy measures the check (Tenant.UserHasPermission) in
// the 100k-user, 1k-role, 10k-permission tenant without inclusions (flat)
// and in the same tenant whose roles form chains of 5 (hierarchy): same
// users, memberships and grants, queries drawn alike (about half true).
// The sub-benchmark "interleaved" runs both in alternating blocks of checks
// so that both see the same machine, and reports the ratio the engine holds
// under 1.1: of the totals, and the median of the blocks' (see interleave).
func BenchmarkCheckHierarchy(b *testing.B) {
	sets := loadHierSets(b)
	for j, name := range []string{"flat", "hierarchy"} {
		h := sets[j]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t := h.tenant
			hits, i := 0, 0
			for b.Loop() {
				q := &h.queries[i&(benchQueries-1)]
				if t.UserHasPermission(q.user, q.perm) {
					hits++
				}
				i++
			}
			b.ReportMetric(100*h.hitRate, "%true")
			b.ReportMetric(100*h.viaIncl, "%true-via-inclusion")
			benchSink.Add(int64(hits))
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		b.ReportAllocs()
		took, median := interleave(b, [2]*Tenant{sets[0].tenant, sets[1].tenant}, [2][]benchQuery{sets[0].queries, sets[1].queries})
		flat, hier := took[0].Seconds()*1e9/float64(b.N), took[1].Seconds()*1e9/float64(b.N)
		b.ReportMetric(flat, "ns/check-flat")
		b.ReportMetric(hier, "ns/check-hierarchy")
		b.ReportMetric(hier/flat, "hierarchy/flat")
		b.ReportMetric(median, "hierarchy/flat-median-block")
	})
}

// interleave runs b.N checks on each of two tenants, each over its own
// queries (a power of two of them), in alternating blocks (each tenant
// going first every other block). It returns the time each took, and the
// median over the pairs of blocks of the second's time over the first's:
// on a shared machine a block that another process preempts takes many
// times its share, which moves the totals by tens of percent but the
// median of the pairs hardly at all.
func interleave(b *testing.B, ts [2]*Tenant, qs [2][]benchQuery) (took [2]time.Duration, medianRatio float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 1 << 10
	var ratios []float64
	hits, next := 0, 0
	b.ResetTimer()
	for done, turn := 0, 0; done < b.N; turn++ {
		k := min(block, b.N-done)
		var pair [2]time.Duration
		for j := range 2 {
			j ^= turn & 1
			t, q := ts[j], qs[j]
			mask := len(q) - 1
			start := time.Now()
			for i := range k {
				q := &q[(next+i)&mask]
				if t.UserHasPermission(q.user, q.perm) {
					hits++
				}
			}
			pair[j] = time.Since(start)
		}
		took[0] += pair[0]
		took[1] += pair[1]
		if k == block && pair[0] > 0 {
			ratios = append(ratios, float64(pair[1])/float64(pair[0]))
		}
		done += k
		next += k
	}
	b.StopTimer()
	benchSink.Add(int64(hits))
	if len(ratios) == 0 {
		return took, 0
	}
	slices.Sort(ratios)
	return took, ratios[len(ratios)/2]
}

// The write-cost tenants: the dataset, flat or with the chains, plus four
// roles of its own: "target", granted 20 permissions and included, in the
// hierarchy, by the last role of each of the first 20 chains, so by 100
// roles transitively (20 directly); "lone", granted 20 permissions and
// included by none; "leaf20" and "leaf5", granted 20 and 5 permissions,
// included by none and including none (the roles an inclusion adds under
// target or lone).
const (
	wTarget   = "target"
	wLone     = "lone"
	wLeaf20   = "leaf20"
	wLeaf5    = "leaf5"
	wIncluded = 100 // roles that include target, transitively
)

func writeSnapshot(d *dataset, hier bool) *Snapshot {
	s := d.snapshot()
	if hier {
		s = d.hierSnapshot()
	}
	rng := rand.New(rand.NewPCG(3, 5))
	grants := func(n int) []uint32 {
		g := make([]uint32, 0, n)
		for len(g) < n {
			if p := uint32(rng.IntN(benchPerms)); !slices.Contains(g, p) {
				g = append(g, p)
			}
		}
		slices.Sort(g)
		return g
	}
	target := uint32(len(s.Roles))
	for _, x := range []struct {
		name string
		n    int
	}{{wTarget, 20}, {wLone, 20}, {wLeaf20, 20}, {wLeaf5, 5}} {
		s.Roles = append(s.Roles, RoleSnapshot{Name: x.name, Permissions: grants(x.n), Members: []uint32{}})
	}
	if hier {
		for c := range wIncluded / hierChain {
			bottom := &s.Roles[c*hierChain+hierChain-1]
			bottom.Includes = append(bottom.Includes, target)
		}
	}
	return s
}

// writeTenants are the flat and the hierarchy write-cost engines.
var writeTenants [2]*Engine

func loadWriteTenants(b *testing.B) [2]*Engine {
	if writeTenants[0] == nil {
		d := genDataset(hierUsers, hierRoles)
		for j := range 2 {
			e := New()
			if err := e.Restore(writeSnapshot(d, j == 1)); err != nil {
				b.Fatal(err)
			}
			writeTenants[j] = e
		}
		if n := len(writeTenants[1].Tenant(KeyID(benchKey)).cur.Load().reach([]uint32{hierRoles}, up)); n != wIncluded+1 {
			b.Fatalf("target is reached by %d roles, want %d", n-1, wIncluded)
		}
	}
	return writeTenants
}

// BenchmarkInclusionWrites measures writes whose cost depends on the
// hierarchy, through Engine.Write (as a server applies them, without the
// store), on the 100k-user tenants, each as a pair that leaves the tenant
// as it found it: ns/add and ns/del are the two halves.
//
//   - include: role includes leaf20 (20 permissions) or leaf5 (5), then
//     no longer; in the flat tenant this is the tenant's first inclusion;
//     in the hierarchy, under lone (included by none) or under target
//     (included by 100 roles).
//   - grant: role is granted a permission that two roles have on average,
//     then revoked; flat, lone, or target, whose grant puts the permission
//     in the check sets of 101 roles, past the 36 inline lanes of a
//     permission's entry: its check set becomes a bitset, probed "far".
func BenchmarkInclusionWrites(b *testing.B) {
	es := loadWriteTenants(b)
	cases := []struct {
		name, tenant, role string
		include            string // the role included, or "" for a grant
	}{
		{"include-leaf20/flat", "flat", wLone, wLeaf20},
		{"include-leaf20/hierarchy-lone", "hier", wLone, wLeaf20},
		{"include-leaf20/hierarchy-target", "hier", wTarget, wLeaf20},
		{"include-leaf5/flat", "flat", wLone, wLeaf5},
		{"include-leaf5/hierarchy-lone", "hier", wLone, wLeaf5},
		{"include-leaf5/hierarchy-target", "hier", wTarget, wLeaf5},
		{"grant/flat", "flat", wLone, ""},
		{"grant/hierarchy-lone", "hier", wLone, ""},
		{"grant/hierarchy-target", "hier", wTarget, ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := es[0]
			if c.tenant == "hier" {
				e = es[1]
			}
			add := Change{Op: OpAddInclusion, Role: c.role, Includes: c.include}
			del := Change{Op: OpDelInclusion, Role: c.role, Includes: c.include}
			var perms []string
			if c.include == "" {
				perms = freshPerms(e, c.role)
			}
			var tAdd, tDel time.Duration
			i := 0
			for b.Loop() {
				if c.include == "" {
					p := perms[i%len(perms)]
					add = Change{Op: OpAddPermission, Role: c.role, Permission: p}
					del = Change{Op: OpDelPermission, Role: c.role, Permission: p}
				}
				i++
				t0 := time.Now()
				if ok, err := e.Write(benchKey, add); err != nil || !ok {
					b.Fatalf("%+v: %v %v", add, ok, err)
				}
				t1 := time.Now()
				if _, err := e.Write(benchKey, del); err != nil {
					b.Fatalf("%+v: %v", del, err)
				}
				tAdd += t1.Sub(t0)
				tDel += time.Since(t1)
			}
			b.ReportMetric(float64(tAdd.Nanoseconds())/float64(b.N), "ns/add")
			b.ReportMetric(float64(tDel.Nanoseconds())/float64(b.N), "ns/del")
		})
	}
}

// BenchmarkCheckFarPermission measures the check on permissions whose check
// set is past the inline lanes: the hierarchy write tenant's target is
// granted 64 permissions, each then in the check sets of at least 101
// roles (a bitset, probed far), beside the check on 64 of the same
// tenant's ordinary permissions (inline), in alternating blocks, both asked
// of random users (a member of one of the 100 roles above target has the
// far ones: about a quarter of users).
func BenchmarkCheckFarPermission(b *testing.B) {
	e := loadWriteTenants(b)[1]
	t := e.Tenant(KeyID(benchKey))
	far := freshPerms(e, wTarget)
	for _, name := range far {
		if _, err := e.AddPermission(benchKey, wTarget, name); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for _, name := range far {
			if _, err := e.DelPermission(benchKey, wTarget, name); err != nil {
				b.Fatal(err)
			}
		}
	}()
	if pe := t.cur.Load().perms.get(far[0]); pe == nil || pe.n != permFar {
		b.Fatalf("%s is not far: %+v", far[0], pe)
	}
	// The baseline: as many permissions that are inline, on the same
	// random users, so that both sets of entries are as likely to be in
	// the CPU caches.
	var inline []string
	for p := 101; len(inline) < len(far); p += 37 {
		name := "perm:" + strconv.Itoa(p)
		if pe := t.cur.Load().perms.get(name); pe != nil && pe.n != permFar && !slices.Contains(far, name) {
			inline = append(inline, name)
		}
	}
	rng := rand.New(rand.NewPCG(5, 7))
	draw := func(perms []string) ([]benchQuery, float64) {
		qs := make([]benchQuery, benchQueries)
		hits := 0
		for i := range qs {
			qs[i] = benchQuery{"user:" + strconv.Itoa(rng.IntN(hierUsers)), strings.Clone(perms[rng.IntN(len(perms))])}
			if t.UserHasPermission(qs[i].user, qs[i].perm) {
				hits++
			}
		}
		return qs, 100 * float64(hits) / float64(len(qs))
	}
	inlineQ, inlineTrue := draw(inline)
	farQ, farTrue := draw(far)
	b.ReportAllocs()
	took, median := interleave(b, [2]*Tenant{t, t}, [2][]benchQuery{inlineQ, farQ})
	in, fa := took[0].Seconds()*1e9/float64(b.N), took[1].Seconds()*1e9/float64(b.N)
	b.ReportMetric(in, "ns/check-inline")
	b.ReportMetric(fa, "ns/check-far")
	b.ReportMetric(fa/in, "far/inline")
	b.ReportMetric(median, "far/inline-median-block")
	b.ReportMetric(inlineTrue, "%true-inline")
	b.ReportMetric(farTrue, "%true-far")
}

// freshPerms returns 64 permissions of the dataset that role does not have
// directly, so that granting and revoking one leaves the tenant as it was.
func freshPerms(e *Engine, role string) []string {
	var out []string
	for p := 100; len(out) < 64; p += 37 {
		if name := "perm:" + strconv.Itoa(p); !e.HasPermission(benchKey, role, name) {
			out = append(out, name)
		}
	}
	return out
}
