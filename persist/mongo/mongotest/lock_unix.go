//go:build unix

package mongotest

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path (creating it), so that test
// binaries running at once build the launcher one after the other: the
// first builds it, the others then find it up to date.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
