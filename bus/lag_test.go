package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"auth/bus"
	"auth/engine"
	"auth/internal/await"
	"auth/replica"
)

// BenchmarkReplicationLag measures how long after a write is acknowledged at
// replica A it is visible at replica B, both over one embedded store and an
// in-process NATS server on loopback, while A takes writes at lagWriteRate
// and both answer checks at lagCheckRate in all. b.N is the number of
// writes; run it with a fixed count, for example
//
//	go test -run '^$' -bench BenchmarkReplicationLag -benchtime 5000x ./bus/
//
// Reported: lag percentiles in ms (p50, p99, max) and the write and check
// rates reached. A write B applied before A's Write returned counts as 0.
func BenchmarkReplicationLag(b *testing.B) {
	const (
		lagWriteRate = 1000  // writes/s at A
		lagCheckRate = 20000 // checks/s, half at A and half at B
		tenants      = 16
		writers      = 8 // goroutines sharing the write rate, as clients would
	)
	ns := startNATS(b)
	store := openStore(b)
	cfg := bus.DefaultConfig(ns.URL())

	keys := make([]string, tenants)
	index := make(map[engine.TenantID]int, tenants)
	for i := range keys {
		keys[i] = fmt.Sprintf("lag-tenant-%d", i)
		index[engine.KeyID(keys[i])] = i
	}
	perTenant := b.N/tenants + 16                // and the set-up's few
	ackAt := make([][]atomic.Int64, tenants)     // [tenant][seq] unix ns
	visibleAt := make([][]atomic.Int64, tenants) // [tenant][seq] unix ns
	for i := range ackAt {
		ackAt[i] = make([]atomic.Int64, perTenant)
		visibleAt[i] = make([]atomic.Int64, perTenant)
	}

	a := startNode(b, "replica-a", store, cfg)
	defer a.close()
	// B is built by hand to observe its applied events from its first one.
	beng := engine.New()
	brep, err := replica.New(beng, store, replica.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	brep.Observe(func(ev *engine.Event, local bool) {
		if i, ok := index[ev.Tenant]; ok && !local && ev.Seq < uint64(len(visibleAt[i])) {
			visibleAt[i][ev.Seq].Store(time.Now().UnixNano())
		}
	})
	bbus, err := bus.New(cfg, brep, store)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bbus.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() { bbus.Close(); brep.Close() }()

	// Roles and grants to check against.
	ctx := context.Background()
	for _, key := range keys {
		for _, c := range []engine.Change{
			{Op: engine.OpAddRole, Role: "reader"},
			{Op: engine.OpAddPermission, Role: "reader", Permission: "read"},
			{Op: engine.OpAddMembership, User: "ann", Role: "reader"},
		} {
			if _, _, err := a.rep.Write(ctx, key, c); err != nil {
				b.Fatal(err)
			}
		}
	}
	base := make([]uint64, tenants)
	for i, key := range keys {
		base[i] = a.eng.Seq(engine.KeyID(key))
	}
	await.Cond(b, 10*time.Second, "B to catch up on the set-up", func() bool {
		for i, key := range keys {
			if beng.Seq(engine.KeyID(key)) < base[i] {
				return false
			}
		}
		return true
	})
	ids := make([]engine.TenantID, tenants)
	for i, key := range keys {
		ids[i] = engine.KeyID(key)
	}

	stop := make(chan struct{})
	var checks atomic.Int64
	var checkWG sync.WaitGroup
	for _, eng := range []*engine.Engine{a.eng, beng} {
		checkWG.Add(1)
		go func() {
			defer checkWG.Done()
			start := time.Now()
			done := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				due := int(time.Since(start).Seconds() * lagCheckRate / 2)
				n := due - done
				for ; done < due; done++ {
					if !eng.Tenant(ids[done%tenants]).UserHasPermission("ann", "read") {
						panic("check failed")
					}
				}
				checks.Add(int64(n))
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}

	b.ResetTimer()
	start := time.Now()
	tokens := make(chan int, writers)
	var writeWG sync.WaitGroup
	for range writers {
		writeWG.Add(1)
		go func() {
			defer writeWG.Done()
			for n := range tokens {
				i := n % tenants
				// Toggling a membership: every write changes something.
				op := engine.OpAddMembership
				if (n/tenants)%2 == 1 {
					op = engine.OpDelMembership
				}
				_, seq, err := a.rep.Write(ctx, keys[i], engine.Change{Op: op, User: "bob", Role: "reader"})
				if err != nil {
					b.Error(err)
					return
				}
				if seq < uint64(len(ackAt[i])) {
					ackAt[i][seq].Store(time.Now().UnixNano())
				}
			}
		}()
	}
	for n := range b.N {
		if wait := time.Until(start.Add(time.Duration(n) * time.Second / lagWriteRate)); wait > 0 {
			time.Sleep(wait)
		}
		tokens <- n
	}
	close(tokens)
	writeWG.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	await.Cond(b, 30*time.Second, "B to apply every write", func() bool {
		for _, id := range ids {
			if beng.Seq(id) != a.eng.Seq(id) {
				return false
			}
		}
		return true
	})
	close(stop)
	checkWG.Wait()

	var lags []time.Duration
	early := 0
	for i := range tenants {
		for seq := base[i] + 1; seq <= a.eng.Seq(ids[i]) && seq < uint64(len(ackAt[i])); seq++ {
			acked, seen := ackAt[i][seq].Load(), visibleAt[i][seq].Load()
			if acked == 0 || seen == 0 {
				continue // the write was a no-op, or B got it from the store
			}
			d := time.Duration(seen - acked)
			if d < 0 {
				early++
				d = 0
			}
			lags = append(lags, d)
		}
	}
	if len(lags) == 0 {
		b.Fatal("no lag measured")
	}
	slices.Sort(lags)
	pct := func(p float64) float64 {
		return float64(lags[min(len(lags)-1, int(p*float64(len(lags))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lags[len(lags)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(checks.Load())/time.Since(start).Seconds(), "checks/s")
	b.ReportMetric(float64(len(lags)), "measured")
	b.ReportMetric(float64(early), "before-ack")
}
