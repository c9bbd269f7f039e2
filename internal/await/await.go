// Package await waits, in tests, for a condition that something running
// elsewhere (a goroutine, another process) makes true: a condition is
// awaited, never slept for. Workers runs such goroutines until stopped.
package await

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// poll is how often Cond asks.
const poll = 10 * time.Millisecond

// Cond asks cond every few milliseconds until it holds, and fails the test
// if it still does not after within; what says what was awaited.
func Cond(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(poll)
	}
}

// Workers starts n goroutines, worker w calling step(w, i) for i = 0, 1,
// ... until step returns false or stop is called. stop tells them to
// stop and waits until every one has returned.
func Workers(n int, step func(w, i int) bool) (stop func()) {
	var (
		stopping atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range n {
		wg.Go(func() {
			for i := 0; !stopping.Load() && step(w, i); i++ {
			}
		})
	}
	return func() {
		stopping.Store(true)
		wg.Wait()
	}
}
