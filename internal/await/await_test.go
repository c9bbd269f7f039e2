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

// TestWorkers: every worker steps with its own number and counts up from
// 0 until stopped; one whose step returns false stops alone; stop returns
// only once no worker is in a step or will start one.
func TestWorkers(t *testing.T) {
	const n = 4
	var (
		steps          [n]atomic.Int64
		active         atomic.Int64
		stopped        atomic.Bool
		workerZeroDone atomic.Bool
	)
	stop := Workers(n, func(w, i int) bool {
		active.Add(1)
		defer active.Add(-1)
		if stopped.Load() {
			t.Errorf("worker %d stepped after stop returned", w)
		}
		if w == 0 && workerZeroDone.Load() {
			t.Errorf("worker 0 stepped after its step returned false")
		}
		if got := steps[w].Add(1) - 1; got != int64(i) {
			t.Errorf("worker %d: step %d, want %d", w, i, got)
		}
		if w == 0 && i == 9 {
			workerZeroDone.Store(true)
			return false // worker 0 stops after 10 steps
		}
		return true
	})
	// Worker 0 may start after the others are far along: wait for its
	// ten steps too, or stop could come before its first.
	Cond(t, 10*time.Second, "worker 0 done and every other worker at 100 steps", func() bool {
		if !workerZeroDone.Load() {
			return false
		}
		for w := 1; w < n; w++ {
			if steps[w].Load() < 100 {
				return false
			}
		}
		return true
	})
	stop()
	stopped.Store(true)
	if a := active.Load(); a != 0 {
		t.Errorf("%d workers in a step after stop returned", a)
	}
	if got := steps[0].Load(); got != 10 {
		t.Errorf("worker 0 took %d steps, want 10", got)
	}
}
