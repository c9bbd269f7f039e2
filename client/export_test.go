package client

import "time"

// SetWatchIdle sets how long a watched stream may stay silent, for a test;
// it returns a function that restores it.
func SetWatchIdle(d time.Duration) (restore func()) {
	old := watchIdle
	watchIdle = d
	return func() { watchIdle = old }
}
