// Package await waits, in tests, for a condition that something running
// elsewhere (a goroutine, another process) makes true: a condition is
// awaited, never slept for.
package await

import (
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
