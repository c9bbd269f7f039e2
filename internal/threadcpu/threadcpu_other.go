//go:build !linux

package threadcpu

import "time"

// Time is unavailable here: it returns 0, and benchmarks report wall time
// only.
func Time() time.Duration { return 0 }
