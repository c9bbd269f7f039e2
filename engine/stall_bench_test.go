package engine

import (
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCheckDuringLargeChange measures the check's latency, one
// check at a time in a loop, while a large change applies to its tenant:
// a batch of 2M memberships (-large-changes), and the deletion of a role
// with 2M members; beside the same loop on an idle tenant, in the same run,
// and beside the same changes made in place (as every change was before
// versions were built aside, the tenant's lock held throughout). It
// reports the latencies' p50, p99, p99.99 and max over every check made
// while the change ran (or, idle, for as long as the batch took, up to 10 s). Run it
// with -benchtime 1x:
//
//	go test ./engine -run '^$' -bench CheckDuringLargeChange -benchtime 1x
func BenchmarkCheckDuringLargeChange(b *testing.B) {
	const n = 2_000_000
	users := make([]string, n)
	for i := range users {
		users[i] = "user-" + strconv.Itoa(i)
	}
	batch := func(role string) []Change {
		cs := make([]Change, 0, n+2)
		cs = append(cs, Change{Op: OpAddRole, Role: role}, Change{Op: OpAddPermission, Role: role, Permission: "p-" + role})
		for _, u := range users {
			cs = append(cs, Change{Op: OpAddMembership, Role: role, User: u})
		}
		return cs
	}
	// The checked tenant holds a small role, checked throughout.
	setup := func() (*Engine, *Tenant) {
		e := New()
		id := KeyID("checked")
		cs := []Change{{Op: OpAddRole, Role: "staff"}, {Op: OpAddPermission, Role: "staff", Permission: "read"}}
		for i := range 1000 {
			cs = append(cs, Change{Op: OpAddMembership, Role: "staff", User: "staff-" + strconv.Itoa(i)})
		}
		if _, err := e.Apply(&Event{Tenant: id, Seq: 1, Change: Change{Op: OpBatch}, Changes: cs}); err != nil {
			b.Fatal(err)
		}
		return e, e.Tenant(id)
	}
	// measure checks t in a loop until stop is closed and returns the
	// latencies.
	staff := make([]string, 1000)
	for i := range staff {
		staff[i] = "staff-" + strconv.Itoa(i)
	}
	measure := func(t *Tenant, stop <-chan struct{}) []time.Duration {
		lat := make([]time.Duration, 0, 1<<22)
		for i := 0; ; i++ {
			if i&63 == 0 {
				select {
				case <-stop:
					return lat
				default:
				}
			}
			start := time.Now()
			t.UserHasPermission(staff[i%len(staff)], "read")
			lat = append(lat, time.Since(start))
		}
	}
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
		b.ReportMetric(q(0.5), "p50-ns")
		b.ReportMetric(q(0.99), "p99-ns")
		b.ReportMetric(q(0.9999), "p99.99-ns")
		b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
		b.ReportMetric(float64(len(lat)), "checks")
	}
	// during runs change on a goroutine and measures checks meanwhile.
	during := func(b *testing.B, t *Tenant, change func()) {
		runtime.GC()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var took atomic.Int64
		wg.Go(func() {
			start := time.Now()
			change()
			took.Store(int64(time.Since(start)))
			close(stop)
		})
		lat := measure(t, stop)
		wg.Wait()
		b.ReportMetric(float64(took.Load())/1e6, "change-ms")
		report(b, lat)
	}
	var idleFor time.Duration
	for _, mode := range []string{"aside", "in-place"} {
		var e *Engine
		var t *Tenant
		b.Run("batch-2M/"+mode, func(b *testing.B) {
			defer func(n int) { inPlaceMax = n }(inPlaceMax)
			if mode == "in-place" {
				inPlaceMax = 1 << 62
			}
			e, t = setup()
			ev := &Event{Tenant: t.ID(), Seq: 2, Change: Change{Op: OpBatch}, Changes: batch("big")}
			start := time.Now()
			during(b, t, func() {
				if _, err := e.Apply(ev); err != nil {
					b.Error(err)
				}
			})
			idleFor = max(idleFor, time.Since(start))
		})
		b.Run("delete-role-2M/"+mode, func(b *testing.B) {
			defer func(n int) { inPlaceMax = n }(inPlaceMax)
			if mode == "in-place" {
				inPlaceMax = 1 << 62
			}
			during(b, t, func() {
				if _, err := e.Apply(&Event{Tenant: t.ID(), Seq: 3, Change: Change{Op: OpDelRole, Role: "big"}}); err != nil {
					b.Error(err)
				}
			})
		})
	}
	b.Run("idle", func(b *testing.B) {
		_, t := setup()
		runtime.GC()
		stop := make(chan struct{})
		time.AfterFunc(min(idleFor, 10*time.Second), func() { close(stop) })
		report(b, measure(t, stop))
	})
}
