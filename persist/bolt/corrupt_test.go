package bolt

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"auth/engine"
	"auth/persist"
)

// A damage is a few bytes overwritten in a real store file, as a failing
// disk or a bad copy would. atOpen says Open finds it (the file's
// structure); otherwise Load does (a record).
type damageCase struct {
	name   string
	atOpen bool
	want   string // in the error, and in Check's report
	apply  func(t *testing.T, path string)
}

var damages = []damageCase{
	{"meta page (the newest)", true, "checksum does not match", func(t *testing.T, path string) {
		_, ps, txid := filePages(t, path)
		// The meta's root bucket page id, under its checksum.
		damage(t, path, int(txid%2)*ps+pageHeaderSize+16, []byte{0x37, 0x13})
	}},
	{"meta page (the older)", true, "checksum does not match", func(t *testing.T, path string) {
		_, ps, txid := filePages(t, path)
		damage(t, path, int(1-txid%2)*ps+pageHeaderSize+40, []byte{0xff, 0xff, 0xff})
	}},
	{"branch page: a child's page id", true, "outside the pages in use", func(t *testing.T, path string) {
		p := pageOfType(t, path, "branch")
		// Element 1's page id.
		damage(t, path, p.off+pageHeaderSize+elemSize+8, []byte{0x00, 0xff, 0xff, 0x7f})
	}},
	{"branch page: an element's key position", true, "is not within the page", func(t *testing.T, path string) {
		p := pageOfType(t, path, "branch")
		damage(t, path, p.off+pageHeaderSize, []byte{0xde, 0xad, 0xbe, 0xef})
	}},
	{"branch page: its header", true, "header says", func(t *testing.T, path string) {
		p := pageOfType(t, path, "branch")
		damage(t, path, p.off, []byte{0x99, 0x99})
	}},
	{"leaf page: an element's value size", true, "are not within the page", func(t *testing.T, path string) {
		p := leafOf(t, path, eventKey(tenantA, 300))
		// Element 0's value size.
		damage(t, path, p.off+pageHeaderSize+12, []byte{0xff, 0xff, 0x00, 0x70})
	}},
	{"leaf page: keys out of order", true, "keys out of order", func(t *testing.T, path string) {
		seq := midPageSeq(t, path)
		off := liveOffset(t, path, eventKey(tenantA, seq))
		damage(t, path, off+32, seqBytes(seq-2)) // below the key before it
	}},
	{"stored value: an event", false, "event 301: checksum mismatch", func(t *testing.T, path string) {
		off := liveOffset(t, path, eventKey(tenantA, 301))
		damage(t, path, off+40+frameHeader+40, []byte{0x5a}) // inside its payload
	}},
	{"stored value: a snapshot", false, "snapshot: checksum mismatch", func(t *testing.T, path string) {
		rec := storedRecord(t, path, bucketSnapshots, tenantB[:])
		off := liveOffset(t, path, append(append([]byte(nil), tenantB[:]...), rec[:40]...))
		damage(t, path, off+32+frameHeader+40, []byte{0x5a})
	}},
	{"stored value: a head", false, "head: checksum mismatch", func(t *testing.T, path string) {
		off := liveOffset(t, path, encodeHead(tenantC, 5))
		damage(t, path, off+frameHeader+7, []byte{9}) // head 5 becomes 9
	}},
	{"file: truncated", true, "truncated", func(t *testing.T, path string) {
		pages, ps, _ := filePages(t, path)
		if err := os.Truncate(path, int64(len(pages)/2*ps)); err != nil {
			t.Fatal(err)
		}
	}},
	{"file: not a bbolt file", true, "neither is valid", func(t *testing.T, path string) {
		if err := os.WriteFile(path, []byte(strings.Repeat("not a data file\n", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
	}},
}

type pageAt struct{ id, off int }

func pageOfType(t *testing.T, path, typ string) pageAt {
	t.Helper()
	pages, ps, _ := filePages(t, path)
	for _, p := range pages {
		if p.typ == typ {
			return pageAt{p.id, p.id * ps}
		}
	}
	t.Fatalf("no %s page in the file", typ)
	return pageAt{}
}

// leafOf returns the leaf page in use holding key.
func leafOf(t *testing.T, path string, key []byte) pageAt {
	t.Helper()
	pages, ps, _ := filePages(t, path)
	for _, p := range pages {
		if p.typ == "leaf" && strings.Contains(string(p.data), string(key)) {
			return pageAt{p.id, p.id * ps}
		}
	}
	t.Fatalf("no leaf page holds %x", key)
	return pageAt{}
}

// midPageSeq returns a seq of tenant a whose key and the keys around it
// share a leaf page in use.
func midPageSeq(t *testing.T, path string) uint64 {
	t.Helper()
	pages, _, _ := filePages(t, path)
	for seq := uint64(250); seq < 350; seq++ {
		for _, p := range pages {
			d := string(p.data)
			if p.typ == "leaf" && strings.Contains(d, string(eventKey(tenantA, seq-1))) &&
				strings.Contains(d, string(eventKey(tenantA, seq))) && strings.Contains(d, string(eventKey(tenantA, seq+1))) {
				return seq
			}
		}
	}
	t.Fatal("no three keys of tenant a share a leaf page")
	return 0
}

// TestDamagedFile damages each part of a real store file in turn: Open
// or Load fails with an error naming the file and the damage (never a
// panic or a fault), nothing is loaded from it, and Check reports it.
func TestDamagedFile(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			path := dbPath(dir)
			copyFile(t, filled(t), path)
			d.apply(t, path)

			var reported error
			cfg := DefaultConfig(dir)
			cfg.OnCorrupt = func(err error) { reported = err }
			s, err := Open(cfg)
			if d.atOpen {
				if s != nil {
					s.Close()
				}
				if !isCorrupt(err) || !strings.Contains(err.Error(), d.want) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Open = %v, want a CorruptError naming %s and %q", err, path, d.want)
				}
				t.Logf("Open: %v", err)
			} else {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				states, err := loadAll(s)
				if !isCorrupt(err) || !strings.Contains(err.Error(), d.want) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Load = %v, want a CorruptError naming %s and %q", err, path, d.want)
				}
				t.Logf("Load: %v", err)
				if !errors.Is(reported, persist.ErrCorrupt) {
					t.Errorf("OnCorrupt was given %v", reported)
				}
				if _, ok := states[tenantA]; ok && strings.Contains(d.name, "an event") {
					t.Errorf("tenant a was loaded from a damaged event")
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				// The store found corruption: it is checked at its next open.
				s, err = Open(DefaultConfig(dir))
				if err != nil {
					t.Fatalf("reopen: %v", err)
				}
				if info := s.Info(); !info.Unclean || !info.Checked {
					t.Errorf("reopened after corruption: %+v, want an unclean open, checked", info)
				}
				s.Close()
			}
			r, err := Check(ctxT(t), path)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), d.want) {
				t.Errorf("Check found %q, want %q", r.Problems, d.want)
			}
		})
	}
}

// TestCheckCleanStore: Check passes a sound store and counts what it holds.
func TestCheckCleanStore(t *testing.T) {
	r, err := Check(ctxT(t), filled(t))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Tenants != 3 || r.Events != 655 || r.Snapshots != 1 || r.Format != formatFramed || r.Open || r.Backup || r.Epoch == "" {
		t.Errorf("report %+v", r)
	}
}

// TestCheckPurgedStore: a store where a deleted tenant's events were
// purged takes formatPurged, and Check passes it (the events its
// tombstone covers are gone); a store that never purged stays of the
// format versions before purges read.
func TestCheckPurgedStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	id := engine.KeyID("deleted")
	e := engine.New()
	for i, c := range []engine.Change{{Op: engine.OpAddRole, Role: "r"}, {Op: engine.OpAddMembership, Role: "r", User: "u"}, {Op: engine.OpDelTenant}} {
		ev := engine.Event{Tenant: id, ID: uint64(i + 1), Change: c}
		if err := s.Append(ctxT(t), &ev); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Apply(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveSnapshot(ctxT(t), e.Snapshot(id)); err != nil {
		t.Fatal(err)
	}
	if s.Close() != nil {
		t.Fatal("close")
	}
	if r, err := Check(ctxT(t), dbPath(dir)); err != nil || !r.OK() || r.Format != formatFramed {
		t.Fatalf("before the purge: %+v, %v", r, err)
	}
	if s, err = Open(DefaultConfig(dir)); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctxT(t), id, 2); err != nil {
		t.Fatal(err)
	}
	if s.Close() != nil {
		t.Fatal("close")
	}
	r, err := Check(ctxT(t), dbPath(dir))
	if err != nil || !r.OK() || r.Format != formatPurged || r.Events != 1 {
		t.Fatalf("after the purge: %+v, %v", r, err)
	}
}

// TestCheckWhileOpen: Check refuses a store a process has open, rather
// than read a file being written.
func TestCheckWhileOpen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, DefaultConfig(dir))
	defer s.Close()
	if _, err := Check(ctxT(t), dbPath(dir)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Check of an open store = %v, want it in use", err)
	}
}

// TestNewerFormats: a store or a record of a format newer than this
// version is refused as such, not as damage.
func TestNewerFormats(t *testing.T) {
	t.Run("store", func(t *testing.T) {
		dir := t.TempDir()
		copyFile(t, filled(t), dbPath(dir))
		rewrite(t, dir, func(s *Store) {
			s.update(t, func(tx txLike) error { return putMeta(tx, metaFormat, formatBytes(storeFormat+1)) })
		})
		_, err := Open(DefaultConfig(dir))
		if !errors.Is(err, ErrNewerFormat) || errors.Is(err, persist.ErrCorrupt) {
			t.Errorf("Open = %v, want ErrNewerFormat", err)
		}
	})
	t.Run("record", func(t *testing.T) {
		dir := t.TempDir()
		copyFile(t, filled(t), dbPath(dir))
		rewrite(t, dir, func(s *Store) {
			k := eventKey(tenantC, 5)
			s.update(t, func(tx txLike) error {
				b := tx.Bucket(bucketEvents)
				v := append([]byte(nil), b.Get(k)...)
				v[1] = frameVersion + 1
				binary.LittleEndian.PutUint32(v[2:6], frameChecksum(v[1], k, v[frameHeader:]))
				return b.Put(k, v)
			})
		})
		s := openT(t, DefaultConfig(dir))
		defer s.Close()
		_, err := loadAll(s)
		if !errors.Is(err, ErrNewerFormat) || errors.Is(err, persist.ErrCorrupt) || !strings.Contains(err.Error(), "event 5") {
			t.Errorf("Load = %v, want ErrNewerFormat naming event 5", err)
		}
	})
}

// TestEventsGap: an event missing from the middle of a tenant's events
// (its record deleted) is corruption, not a shorter answer.
func TestEventsGap(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, filled(t), dbPath(dir))
	rewrite(t, dir, func(s *Store) {
		s.update(t, func(tx txLike) error { return tx.Bucket(bucketEvents).Delete(eventKey(tenantC, 3)) })
	})
	s := openT(t, DefaultConfig(dir))
	defer s.Close()
	_, err := s.Events(ctxT(t), tenantC, 0, 10)
	if !isCorrupt(err) || !strings.Contains(err.Error(), "event 3: missing") {
		t.Errorf("Events = %v, want event 3 missing", err)
	}
	_, err = s.Events(ctxT(t), tenantC, 3, 10)
	if err != nil {
		t.Errorf("Events after the gap: %v", err)
	}
}

// TestUncleanStopIsChecked: a store its process did not close is checked
// with bbolt's consistency check at its next open; one closed cleanly is
// not, unless CheckAtOpen asks.
func TestUncleanStopIsChecked(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, DefaultConfig(dir))
	ev := testEvent(tenantA, 0)
	if err := s.Append(ctxT(t), &ev); err != nil {
		t.Fatal(err)
	}
	s.corrupt.Store(true) // Close then leaves the open marker, as a kill does
	s.Close()
	s = openT(t, DefaultConfig(dir))
	if info := s.Info(); !info.Unclean || !info.Checked {
		t.Errorf("after an unclean stop: %+v, want unclean and checked", info)
	}
	s.Close()
	s = openT(t, DefaultConfig(dir))
	if info := s.Info(); info.Unclean || info.Checked {
		t.Errorf("after a clean stop: %+v, want neither", info)
	}
	s.Close()
	cfg := DefaultConfig(dir)
	cfg.CheckAtOpen = true
	s = openT(t, cfg)
	if info := s.Info(); info.Unclean || !info.Checked {
		t.Errorf("with CheckAtOpen after a clean stop: %+v, want checked", info)
	}
	s.Close()
}
