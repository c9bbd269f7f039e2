//go:build !unix

package mongotest

// lockFile does nothing where flock is missing; concurrent builds then only
// cost time.
func lockFile(string) (func(), error) { return func() {}, nil }
