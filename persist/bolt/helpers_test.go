package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"auth/engine"
	"auth/persist"
	"auth/persist/bolt/bolttest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func testEvent(tn engine.TenantID, i int) engine.Event {
	role := fmt.Sprintf("role-%d", i%13)
	var c engine.Change
	switch i % 3 {
	case 0:
		c = engine.Change{Op: engine.OpAddRole, Role: role}
	case 1:
		c = engine.Change{Op: engine.OpAddPermission, Role: role, Permission: fmt.Sprintf("perm-%d", i%17)}
	default:
		c = engine.Change{Op: engine.OpAddMembership, Role: role, User: fmt.Sprintf("user-%d", i)}
	}
	return engine.Event{Tenant: tn, ID: uint64(i + 1), Time: time.Unix(1700000000, int64(i)).UTC(), Change: c}
}

var (
	tenantA = engine.KeyID("bolt-test/a")
	tenantB = engine.KeyID("bolt-test/b")
	tenantC = engine.KeyID("bolt-test/c")
)

// fillStore writes a store of three tenants into dir and closes it: a
// has 600 events (its leaves need a branch page), b 50 and a snapshot at
// 40, c 5. It returns each tenant's events.
func fillStore(t testing.TB, dir string) map[engine.TenantID][]engine.Event {
	t.Helper()
	cfg := DefaultConfig(dir)
	cfg.MmapSize = 0 // a file no larger than it needs: tests copy it
	s := openT(t, cfg)
	ctx := ctxT(t)
	eng := engine.New()
	out := map[engine.TenantID][]engine.Event{}
	for _, tc := range []struct {
		id     engine.TenantID
		n      int
		snapAt uint64
	}{{tenantA, 600, 0}, {tenantB, 50, 40}, {tenantC, 5, 0}} {
		for i := range tc.n {
			ev := testEvent(tc.id, i)
			if err := s.Append(ctx, &ev); err != nil {
				t.Fatal(err)
			}
			if _, err := eng.Apply(&ev); err != nil {
				t.Fatal(err)
			}
			out[tc.id] = append(out[tc.id], ev)
			if ev.Seq == tc.snapAt {
				if err := s.SaveSnapshot(ctx, eng.Snapshot(tc.id)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

var filledOnce struct {
	sync.Once
	dir string
}

// filled returns the path of a store file that fillStore wrote, once for
// all the tests that damage copies of it. It is never opened.
func filled(t testing.TB) string {
	filledOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bolt-filled")
		if err != nil {
			t.Fatal(err)
		}
		fillStore(t, dir)
		filledOnce.dir = dir
	})
	if filledOnce.dir == "" {
		t.Fatal("the filled store could not be written")
	}
	return dbPath(filledOnce.dir)
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storedRecord returns the value stored under key in bucket of the file
// at path, as it is in the file.
func storedRecord(t testing.TB, path string, bucket, key []byte) []byte {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	db.View(func(tx *bbolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucket).Get(key))
		return nil
	})
	if v == nil {
		t.Fatalf("no record under %x", key)
	}
	return v
}

// pageInfo is a page of a file, as bbolt describes it.
type pageInfo struct {
	id   int
	typ  string
	data []byte // the page's first pageSize bytes
}

// filePages lists the pages in use of the file at path that bbolt
// reaches, with their types, through bbolt itself (bolttest.Pages).
func filePages(t testing.TB, path string) (pages []pageInfo, pageSize int, txid uint64) {
	t.Helper()
	ps, pageSize, txid := bolttest.Pages(t, path)
	for _, p := range ps {
		pages = append(pages, pageInfo{id: p.ID, typ: p.Type, data: p.Data})
	}
	return pages, pageSize, txid
}

// damage overwrites the file's bytes at off with b.
func damage(t testing.TB, path string, off int, b []byte) { bolttest.Damage(t, path, off, b) }

// liveOffset returns the offset in the file of the only occurrence of b
// in the leaf pages in use (free pages keep stale copies of records).
func liveOffset(t testing.TB, path string, b []byte) int {
	t.Helper()
	pages, ps, _ := filePages(t, path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	found := -1
	for i, p := range pages {
		if p.typ != "leaf" {
			continue
		}
		end := len(raw)
		if i+1 < len(pages) {
			end = pages[i+1].id * ps
		}
		data := raw[p.id*ps : end]
		if j := bytes.Index(data, b); j >= 0 {
			if found >= 0 || bytes.Contains(data[j+1:], b) {
				t.Fatalf("%x is in the pages in use more than once", b)
			}
			found = p.id*ps + j
		}
	}
	if found < 0 {
		t.Fatalf("%x is not in the pages in use", b)
	}
	return found
}

type txLike = *bbolt.Tx

// rewrite opens the store in dir, runs fn, and closes it.
func rewrite(t testing.TB, dir string, fn func(s *Store)) {
	t.Helper()
	s := openT(t, DefaultConfig(dir))
	fn(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// update runs fn in a write transaction of s, below the store's checks.
func (s *Store) update(t testing.TB, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	if err := s.db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func loadAll(s *Store) (map[engine.TenantID]persist.TenantState, error) {
	out := map[engine.TenantID]persist.TenantState{}
	err := s.Load(context.Background(), func(st persist.TenantState) error {
		out[st.Tenant] = st
		return nil
	})
	return out, err
}

func dbPath(dir string) string { return filepath.Join(dir, FileName) }

func isCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce) && errors.Is(err, persist.ErrCorrupt)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if filledOnce.dir != "" {
		os.RemoveAll(filledOnce.dir)
	}
	os.Exit(code)
}
