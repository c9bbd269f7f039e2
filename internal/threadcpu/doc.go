// Package threadcpu reads the CPU time of the calling OS thread, which
// benchmarks report next to wall time so that their figures stay readable
// on a shared, busy machine. A caller that measures a stretch of work
// should lock its goroutine to its thread (runtime.LockOSThread) for it.
package threadcpu
