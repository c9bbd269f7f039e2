package await

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestCondWaitsForIt: Cond returns once a goroutine makes the condition
// true, having asked more than once.
func TestCondWaitsForIt(t *testing.T) {
	var done atomic.Bool
	asked := 0
	time.AfterFunc(50*time.Millisecond, func() { done.Store(true) })
	Cond(t, 10*time.Second, "the timer", func() bool { asked++; return done.Load() })
	if asked < 2 {
		t.Fatalf("asked %d times", asked)
	}
}

// fatalTB records a failure instead of ending the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = format
	panic(f)
}

// TestCondFailsInTime: a condition that never holds fails the test after
// within, saying what was awaited.
func TestCondFailsInTime(t *testing.T) {
	f := &fatalTB{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("Cond did not fail the test: %v", r)
			}
		}()
		Cond(f, 100*time.Millisecond, "nothing", func() bool { return false })
	}()
	if took := time.Since(start); took < 100*time.Millisecond || took > 5*time.Second {
		t.Fatalf("failed after %v, want 100 ms", took)
	}
	if f.msg != "waited %v for %s" {
		t.Fatalf("failed with %q", f.msg)
	}
}
