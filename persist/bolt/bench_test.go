package bolt

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"auth/engine"
	"auth/internal/await"
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

// slowWriter takes bytes at about rate bytes a second: a backup sent to a
// client that reads slowly.
type slowWriter struct{ rate int }

func (w slowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Duration(len(p)) * time.Second / time.Duration(w.rate))
	return len(p), nil
}

// BenchmarkAppendDuringBackup measures whether writes stall while a
// backup is written: 16 writers append events of about 2.4 KB (the file
// grows by megabytes) while a backup of the store goes to a client that
// reads 1 MB a second (about a second and a half). With bbolt sizing its
// map ("bbolt-map"), the first append that grows the file past the map
// waits for the backup to end; with room in the map ("room", the default)
// appends go on. It reports the longest append before and during the
// backup, and the append rate during the backup against the rate before
// it (the same writers, the same store, just before); "no-backup" is the
// same windows without a backup, the drift of the rate as the store grows.
//
//	go test ./persist/bolt -run '^$' -bench AppendDuringBackup -benchtime 3x
func BenchmarkAppendDuringBackup(b *testing.B) {
	for _, tc := range []struct {
		name   string
		mmap   int
		backup bool
	}{{"no-backup", DefaultConfig("").MmapSize, false}, {"bbolt-map", 0, true}, {"room", DefaultConfig("").MmapSize, true}} {
		b.Run(tc.name, func(b *testing.B) {
			var maxLat [2]time.Duration
			var ratios []float64
			for b.Loop() {
				cfg := DefaultConfig(b.TempDir())
				cfg.MmapSize = tc.mmap
				s := openT(b, cfg)
				ctx := ctxT(b)
				for i := range 16 { // 1.5 MB to copy
					ev := bigEvent(tenantB, i, 4000)
					if err := s.Append(ctx, &ev); err != nil {
						b.Fatal(err)
					}
				}
				var (
					inBackup atomic.Bool
					mu       sync.Mutex
					longest  [2]time.Duration // before the backup, during it
					before   atomic.Int64
					during   atomic.Int64
				)
				stop := await.Workers(16, func(w, i int) bool {
					ev := bigEvent(tenantA, w*1_000_000+i, 100)
					begin := time.Now()
					if err := s.Append(ctx, &ev); err != nil {
						b.Error(err)
						return false
					}
					took, in := time.Since(begin), inBackup.Load()
					if in {
						during.Add(1)
					} else {
						before.Add(1)
					}
					mu.Lock()
					longest[b2i(in)] = max(longest[b2i(in)], took)
					mu.Unlock()
					return true
				})
				time.Sleep(500 * time.Millisecond)
				tBefore := 500 * time.Millisecond
				begin := time.Now()
				if tc.backup {
					bk, err := s.OpenBackup(ctx)
					if err != nil {
						b.Fatal(err)
					}
					inBackup.Store(true)
					if _, err := bk.WriteTo(slowWriter{1 << 20}); err != nil {
						b.Fatal(err)
					}
					bk.Close()
				} else {
					// The same windows without a backup: how the rate
					// drifts as the store grows.
					inBackup.Store(true)
					time.Sleep(3 * time.Second)
				}
				tDuring := time.Since(begin)
				stop()
				s.Close()
				maxLat[0], maxLat[1] = max(maxLat[0], longest[0]), max(maxLat[1], longest[1])
				ratios = append(ratios, (float64(during.Load())/tDuring.Seconds())/(float64(before.Load())/tBefore.Seconds()))
			}
			slices.Sort(ratios)
			b.ReportMetric(float64(maxLat[0].Milliseconds()), "max-append-ms-before")
			b.ReportMetric(float64(maxLat[1].Milliseconds()), "max-append-ms-during")
			b.ReportMetric(ratios[len(ratios)/2], "rate-during/before")
		})
	}
}

// BenchmarkStartVerify measures what verifying the file's structure adds
// to a start: a store holding a tenant of 1M users in 3 roles each (a
// snapshot of about 18 MB) and 5,000 events after it, opened and loaded
// ("start": Open, which verifies, then Load, then Close) and verified
// alone ("verify"), in turn in the same run. It reports each one's time
// and verify/start, the verification's share of a start.
//
//	go test ./persist/bolt -run '^$' -bench StartVerify -benchtime 5x
func BenchmarkStartVerify(b *testing.B) {
	dir := b.TempDir()
	s := openT(b, DefaultConfig(dir))
	ctx := ctxT(b)
	id := engine.KeyID("bench")
	first := engine.Event{Tenant: id, Change: engine.Change{Op: engine.OpAddRole, Role: "role-0000"}}
	if err := s.Append(ctx, &first); err != nil {
		b.Fatal(err)
	}
	snap := &engine.Snapshot{Tenant: id, Seq: 1, Users: make([]string, 1_000_000), Permissions: make([]string, 10_000), Roles: make([]engine.RoleSnapshot, 1000)}
	for i := range snap.Users {
		snap.Users[i] = fmt.Sprintf("user-%07d", i)
	}
	for i := range snap.Permissions {
		snap.Permissions[i] = fmt.Sprintf("perm-%05d", i)
	}
	for r := range snap.Roles {
		rs := engine.RoleSnapshot{Name: fmt.Sprintf("role-%04d", r)}
		for p := range 20 {
			rs.Permissions = append(rs.Permissions, uint32(r*7+p*491)%10_000)
		}
		slices.Sort(rs.Permissions)
		rs.Permissions = slices.Compact(rs.Permissions)
		for u := r; u < len(snap.Users); u += 1000 {
			rs.Members = append(rs.Members, uint32(u))
		}
		snap.Roles[r] = rs
	}
	if err := s.SaveSnapshot(ctx, snap); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				ev := engine.Event{Tenant: id, Change: engine.Change{Op: engine.OpAddMembership, Role: fmt.Sprintf("role-%04d", i), User: fmt.Sprintf("new-%d-%d", w, i)}}
				if err := s.Append(ctx, &ev); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.Close()

	var tStart, tVerify time.Duration
	for b.Loop() {
		begin := time.Now()
		s := openT(b, DefaultConfig(dir))
		states, err := loadAll(s)
		if err != nil || len(states[id].Events) != 5000 {
			b.Fatalf("Load: %v", err)
		}
		s.Close()
		tStart += time.Since(begin)

		begin = time.Now()
		f, err := os.Open(dbPath(dir))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := verifyFile(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
		tVerify += time.Since(begin)
	}
	b.ReportMetric(float64(tStart.Milliseconds())/float64(b.N), "start-ms")
	b.ReportMetric(float64(tVerify.Microseconds())/1000/float64(b.N), "verify-ms")
	b.ReportMetric(float64(tVerify)/float64(tStart), "verify/start")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
