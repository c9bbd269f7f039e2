//go:build !linux

package engine

import "time"

// threadCPUTime is unavailable here; benchmarks then report wall time only.
func threadCPUTime() time.Duration { return 0 }
