package threadcpu

import (
	"runtime"
	"testing"
	"time"
)

// TestTimeAdvancesWithWork: on Linux, spinning for a while advances the
// thread's CPU time by about as much; elsewhere Time is 0.
func TestTimeAdvancesWithWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := Time()
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	used := Time() - start
	if runtime.GOOS != "linux" {
		if start != 0 || used != 0 {
			t.Fatalf("Time without a thread clock = %v then %v, want 0", start, start+used)
		}
		return
	}
	if start <= 0 || used <= 0 || used > time.Second {
		t.Fatalf("50 ms of spinning: thread CPU time %v then %v", start, start+used)
	}
}
