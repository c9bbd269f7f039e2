package engine

import (
	"fmt"
	"hash/maphash"
	"runtime"
	"testing"
)

var scratchSink uint32

func (t *Tenant) checkMLP(user, perm string) bool {
	hp := maphash.String(t.perms.seed, perm)
	ip := uint32(hp) & uint32(len(t.perms.ctrl)-1)
	x := t.perms.slots[ip].hash // touch the permission's home slot first
	ok := t.userHasPermission(user, perm)
	if x == 0x12345678 {
		scratchSink++
	}
	return ok
}

func BenchmarkScratch(b *testing.B) {
	for _, sz := range [][2]int{{100_000, 10}, {100_000, 10_000}} {
		s := loadBenchSet(b, sz[0], sz[1])
		t := s.tenant
		run := func(name string, check func(q *benchQuery) bool) {
			b.Run(fmt.Sprint(sz[1], "/", name), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				hits, i := 0, 0
				for b.Loop() {
					if check(&s.queries[i&(benchQueries-1)]) {
						hits++
					}
					i++
				}
				benchSink.Add(int64(hits))
			})
		}
		run("unlocked", func(q *benchQuery) bool { return t.userHasPermission(q.user, q.perm) })
		run("mlp", func(q *benchQuery) bool { return t.checkMLP(q.user, q.perm) })
	}
}
