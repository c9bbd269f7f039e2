//go:build !unix

package bolt

import (
	"os"
	"time"
)

// lockFile does nothing where locks are not flock's: bbolt's lock there is
// not taken twice by one process, so the file is verified before bbolt
// locks it.
func lockFile(*os.File, bool, time.Duration) error { return nil }
