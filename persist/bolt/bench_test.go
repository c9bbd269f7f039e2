package bolt

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"auth/engine"
)

// BenchmarkAppendFraming measures what checksums cost appends. Three
// stores are open at once and given the same blocks of appends in turn
// (rotating who goes first), 64 writers at a time (group commit), so that
// they meet the same machine state:
//
//   - before: the store as it was before checksums: bare records, bbolt
//     sizing its own memory map;
//   - framed: framed and checksummed records, bbolt's map: the checksums'
//     cost alone;
//   - after: this store as configured by default: framed records and a
//     map with room for backups.
//
// It reports each one's time per append, and framed/before and
// after/before: the medians of the rounds' ratios, which a neighbour's
// burst of load skews for a round or two but not in the median. "nosync"
// skips fsync, leaving the CPU's work only: the upper bound of the
// checksums' share.
//
//	go test ./persist/bolt -run '^$' -bench AppendFraming -benchtime 40000x -count 6
func BenchmarkAppendFraming(b *testing.B) {
	for _, nosync := range []bool{false, true} {
		name := "fsync"
		if nosync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			open := func(bare bool, mmap int) *Store {
				cfg := DefaultConfig(b.TempDir())
				cfg.MmapSize = mmap
				s := openT(b, cfg)
				s.bare = bare
				s.db.NoSync = nosync
				b.Cleanup(func() { s.Close() })
				return s
			}
			stores := []*Store{open(true, 0), open(false, 0), open(false, DefaultConfig("").MmapSize)}

			tenants := make([]engine.TenantID, 16)
			for i := range tenants {
				tenants[i] = engine.KeyID(fmt.Sprintf("bench/%d", i))
			}
			const writers, block = 64, 512
			ctx := ctxT(b)
			var seq atomic.Int64
			run := func(s *Store, n int) time.Duration {
				var left atomic.Int64
				left.Store(int64(n))
				var wg sync.WaitGroup
				start := time.Now()
				for range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for left.Add(-1) >= 0 {
							i := int(seq.Add(1))
							ev := testEvent(tenants[i%len(tenants)], i)
							if err := s.Append(ctx, &ev); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				return time.Since(start)
			}
			var total [3]time.Duration
			var ratios [2][]float64
			b.ResetTimer()
			for done, round := 0, 0; done < b.N; done, round = done+block, round+1 {
				n := min(block, b.N-done)
				var t [3]time.Duration
				for i := range 3 {
					j := (round + i) % 3
					t[j] = run(stores[j], n)
					total[j] += t[j]
				}
				ratios[0] = append(ratios[0], float64(t[1])/float64(t[0]))
				ratios[1] = append(ratios[1], float64(t[2])/float64(t[0]))
			}
			b.StopTimer()
			for i, unit := range []string{"before-ns/append", "framed-ns/append", "after-ns/append"} {
				b.ReportMetric(float64(total[i].Nanoseconds())/float64(b.N), unit)
			}
			for i, unit := range []string{"framed/before", "after/before"} {
				slices.Sort(ratios[i])
				b.ReportMetric(ratios[i][len(ratios[i])/2], unit)
			}
		})
	}
}

// BenchmarkFrame is the checksum's own cost on a record of an event's
// size: framing it, and checking it.
func BenchmarkFrame(b *testing.B) {
	ev := testEvent(tenantA, 12345)
	ev.Seq = 12345
	key := eventKey(ev.Tenant, ev.Seq)
	payload, _ := ev.MarshalBinary()
	rec := frame(key, payload)
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			sealFrame(rec, key)
		}
	})
	b.Run("check", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := unframe(key, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
