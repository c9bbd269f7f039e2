package bolt

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheck gives Check damaged files: whatever the bytes, it reports or
// fails, and never panics nor faults. Check reads the file through
// verifyFile and then through bbolt (its consistency check, in a goroutine
// Go cannot recover, and every record): a damage verifyFile let through
// that bbolt trips on crashes the fuzzer.
func FuzzCheck(f *testing.F) {
	dir := f.TempDir()
	cfg := DefaultConfig(dir)
	cfg.MmapSize = 0 // a file of 32 KiB, not one grown for a large map
	s, err := Open(cfg)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 20 {
		ev := testEvent(tenantA, i)
		if i%3 == 0 {
			ev.Tenant = tenantB
		}
		if err := s.Append(ctxT(f), &ev); err != nil {
			f.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(dbPath(dir))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Check(ctxT(t), path)
		if err == nil && r.OK() && len(data) == len(seed) && r.Events != 20 {
			t.Errorf("a file of the seed's size passed with %d events", r.Events)
		}
	})
}
