package live

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
	"auth/internal/threadcpu"
)

const benchKey = "live-bench-key"

// benchTenant starts a server holding the engine benchmarks' tenant
// shape: users users in 3 of 1,000 roles each, 10,000 permissions, 20
// grants a role. It returns the server and queries (half of them true,
// about).
func benchTenant(b *testing.B, users int) (*clienttest.Server, [][2]string) {
	b.Helper()
	srv := clienttest.New(b)
	rng := rand.New(rand.NewPCG(7, 7))
	const roles, perms, grants = 1000, 10000, 20
	var lines strings.Builder
	roleGrants := make([][]int, roles)
	for r := range roles {
		fmt.Fprintf(&lines, "{\"role\": \"role-%d\"}\n", r)
		for range grants {
			p := rng.IntN(perms)
			roleGrants[r] = append(roleGrants[r], p)
			fmt.Fprintf(&lines, "{\"role\": \"role-%d\", \"permission\": \"perm-%d\"}\n", r, p)
		}
	}
	userRoles := make([][]int, users)
	for u := range users {
		for range 3 {
			r := rng.IntN(roles)
			userRoles[u] = append(userRoles[u], r)
			fmt.Fprintf(&lines, "{\"role\": \"role-%d\", \"user\": \"user-%d\"}\n", r, u)
		}
	}
	c := client.New(srv.URL, benchKey)
	if _, err := c.Import(context.Background(), strings.NewReader(lines.String())); err != nil {
		b.Fatal(err)
	}
	q := make([][2]string, 1<<16)
	for i := range q {
		u := rng.IntN(users)
		p := rng.IntN(perms)
		if i%2 == 0 { // one the user has
			r := userRoles[u][rng.IntN(3)]
			p = roleGrants[r][rng.IntN(grants)]
		}
		q[i] = [2]string{fmt.Sprintf("user-%d", u), fmt.Sprintf("perm-%d", p)}
	}
	return srv, q
}

func openBench(b *testing.B, srv *clienttest.Server) *Replica {
	b.Helper()
	r, err := Open(context.Background(), srv.URL, benchKey, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

var sink bool

// BenchmarkCheck: the replica's Check against the engine's check on the
// resolved tenant (the replica's own engine tenant), 100k users; the
// "ratio" run alternates blocks of 4,096 checks of each (the same
// queries, each first in turn) and reports local/engine of the thread's
// CPU time.
func BenchmarkCheck(b *testing.B) {
	srv, q := benchTenant(b, 100_000)
	r := openBench(b, srv)
	t := r.cur.Load().t
	mask := len(q) - 1
	b.Run("local", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ok, _ := r.Check(q[i&mask][0], q[i&mask][1])
			sink = ok
		}
	})
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink = t.UserHasPermission(q[i&mask][0], q[i&mask][1])
		}
	})
	b.Run("ratio", func(b *testing.B) {
		b.ReportAllocs()
		const block = 4096
		var local, eng time.Duration
		n, i := 0, 0
		// CPU time of this thread, not wall time: on a shared machine
		// a neighbour's load would land on one side or the other.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		runLocal := func() time.Duration {
			begin := threadcpu.Time()
			for j := range block {
				ok, _ := r.Check(q[(i+j)&mask][0], q[(i+j)&mask][1])
				sink = ok
			}
			return threadcpu.Time() - begin
		}
		runEngine := func() time.Duration {
			begin := threadcpu.Time()
			for j := range block {
				sink = t.UserHasPermission(q[(i+j)&mask][0], q[(i+j)&mask][1])
			}
			return threadcpu.Time() - begin
		}
		for k := 0; b.Loop(); k++ {
			// The same queries for both, each first in turn: the second
			// finds the caches the first warmed.
			if k%2 == 0 {
				local += runLocal()
				eng += runEngine()
			} else {
				eng += runEngine()
				local += runLocal()
			}
			i += block
			n += block
		}
		b.ReportMetric(float64(local.Nanoseconds())/float64(n), "local-cpu-ns/check")
		b.ReportMetric(float64(eng.Nanoseconds())/float64(n), "engine-cpu-ns/check")
		b.ReportMetric(float64(local)/float64(eng), "local/engine")
	})
}

// BenchmarkWriteVisible: a write acknowledged at the server (its answer
// read by the client) to visible in the replica (Wait returns), on
// loopback; p50 and p99 over b.N writes.
func BenchmarkWriteVisible(b *testing.B) {
	srv := clienttest.New(b)
	r := openBench(b, srv)
	c := r.Client()
	ctx := context.Background()
	c.AddRole(ctx, "r")
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		w, err := c.AddMembership(ctx, fmt.Sprintf("u%d", i), "r")
		if err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		if err := r.Wait(ctx, w.Seq); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(acked))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}

// BenchmarkMemory100k: the heap a replica of the 100k-user tenant holds
// (3 roles a user, 1,000 roles, 10,000 permissions, 20 grants a role),
// measured live after a GC, before and after Open.
func BenchmarkMemory100k(b *testing.B) {
	srv, _ := benchTenant(b, 100_000)
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, err := Open(context.Background(), srv.URL, benchKey, Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(r)
		r.Close()
	}
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	b.ReportMetric(heap/(1<<20), "MiB")
	b.ReportMetric(heap/300_000, "B/membership")
}
