// Package liveheap measures the heap a process holds, for tests and
// benchmarks of memory.
package liveheap

import "runtime"

// Bytes is the heap in use after two collections (the second empties
// what the first left in sync.Pools' victim caches).
func Bytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
