package bolt

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"auth/persist"
)

// CorruptError reports damage found in the data file: where (a page, or a
// tenant's event, snapshot or head) and what. It wraps
// persist.ErrCorrupt.
type CorruptError struct {
	Path  string // the data file
	Where string // e.g. "branch page 57", "tenant 3f2a… event 17"; may be empty
	What  string
}

func (e *CorruptError) Error() string {
	path := e.Path
	if path == "" {
		path = "the data file"
	}
	if e.Where == "" {
		return fmt.Sprintf("%s is corrupt: %s", path, e.What)
	}
	return fmt.Sprintf("%s is corrupt: %s: %s", path, e.Where, e.What)
}

func (e *CorruptError) Unwrap() error { return persist.ErrCorrupt }

func corruptf(where, format string, args ...any) *CorruptError {
	return &CorruptError{Where: where, What: fmt.Sprintf(format, args...)}
}

// ErrNewerFormat is returned for a store or a record written by a newer
// version of auth-server than this one: nothing is wrong with it, but this
// version cannot read it.
var ErrNewerFormat = errors.New("bolt: written by a newer version of auth-server")

// inFile names path in a CorruptError that does not name its file yet.
func inFile(err error, path string) error {
	var ce *CorruptError
	if errors.As(err, &ce) && ce.Path == "" {
		ce.Path = path
	}
	return err
}

// guard runs fn, which reads the memory-mapped file, turning what a
// damaged file can make it do into a CorruptError: a fault at an address
// of the map (SIGSEGV or SIGBUS, made a panic by SetPanicOnFault for this
// goroutine) or a panic of bbolt's own assertions. Go cannot recover a
// fault in a goroutine it did not set up so, which is why Open verifies
// the file's structure (see verify.go) before bbolt reads it.
func guard(what string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var re runtime.Error
		if e, ok := r.(runtime.Error); ok {
			re = e
		}
		if fe, ok := re.(interface{ Addr() uintptr }); ok {
			err = &CorruptError{What: fmt.Sprintf("%s: memory fault at address %#x of the mapped file (%v)", what, fe.Addr(), re)}
			return
		}
		if !panickedInBolt() {
			panic(r) // a bug of ours, not the file's: crash loudly
		}
		err = &CorruptError{What: fmt.Sprintf("%s: the file's structure made bbolt fail: %v", what, r)}
	}()
	return fn()
}

// panickedInBolt reports whether the panic being recovered was raised in
// bbolt's code; it must be called from the deferred function that
// recovers, whose stack still holds the panicking frames.
func panickedInBolt() bool {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs) // from the deferred function's caller: runtime.gopanic
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		switch {
		case strings.HasPrefix(f.Function, "runtime."):
		case strings.HasPrefix(f.Function, "go.etcd.io/bbolt"):
			return true
		default:
			return false
		}
		if !more {
			return false
		}
	}
}
