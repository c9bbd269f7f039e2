//go:build !linux

package live

import "time"

// threadCPUTime is unavailable here; benchmarks then report wall time only.
func threadCPUTime() time.Duration { return 0 }
