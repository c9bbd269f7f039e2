package bolt

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bbolt "go.etcd.io/bbolt"

	"auth/engine"
)

// testdata/legacy-v1.db.gz is a store written by the version before
// checksums (store format 1), by this program's equivalent: three tenants
// of legacyEvents, a (40 events, a snapshot at 30), b (5, none) and c (12,
// a snapshot at 12).
var legacyTenants = []struct {
	name   string
	n      int
	snapAt uint64
}{{"a", 40, 30}, {"b", 5, 0}, {"c", 12, 12}}

func legacyEvents(name string, n int) []engine.Event {
	var out []engine.Event
	for i := 0; len(out) < n; i++ {
		role := fmt.Sprintf("%s-role-%d", name, i%5)
		var ev engine.Event
		switch i % 6 {
		case 0, 3:
			ev.Change = engine.Change{Op: engine.OpAddRole, Role: role}
		case 1:
			ev.Change = engine.Change{Op: engine.OpAddPermission, Role: role, Permission: fmt.Sprintf("perm-%d", i%7)}
		case 2:
			ev.Change = engine.Change{Op: engine.OpAddMembership, Role: role, User: fmt.Sprintf("user-%d", i%11)}
		case 4:
			ev.Change = engine.Change{Op: engine.OpBatch}
			ev.Changes = []engine.Change{
				{Op: engine.OpAddRole, Role: role + "-b"},
				{Op: engine.OpAddMembership, Role: role + "-b", User: fmt.Sprintf("user-%d", i)},
			}
		case 5:
			ev.Change = engine.Change{Op: engine.OpDelMembership, Role: role, User: fmt.Sprintf("user-%d", (i-3)%11)}
		}
		ev.Tenant = engine.KeyID("legacy/" + name)
		ev.ID = uint64(1000 + len(out))
		ev.Time = time.Unix(1700000000+int64(len(out)), 0).UTC()
		ev.Seq = uint64(len(out) + 1)
		out = append(out, ev)
	}
	return out
}

// legacyDir returns a data folder holding the store of format 1.
func legacyDir(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/legacy-v1.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := os.Create(dbPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkLegacyLoad loads the store in dir and compares it with what the
// old version wrote.
func checkLegacyLoad(t *testing.T, s *Store) {
	t.Helper()
	states, err := loadAll(s)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(states) != len(legacyTenants) {
		t.Fatalf("loaded %d tenants, want %d", len(states), len(legacyTenants))
	}
	for _, lt := range legacyTenants {
		want := legacyEvents(lt.name, lt.n)
		st := states[want[0].Tenant]
		var snapAt uint64
		if st.Snapshot != nil {
			snapAt = st.Snapshot.Seq
		}
		if snapAt != lt.snapAt {
			t.Errorf("tenant %s: snapshot at %d, want %d", lt.name, snapAt, lt.snapAt)
		}
		if d := cmp.Diff(want[snapAt:], st.Events, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("tenant %s: events after the snapshot (-want +got):\n%s", lt.name, d)
		}
		// The snapshot holds the state the events before it build.
		if st.Snapshot != nil {
			eng := engine.New()
			for i := range want[:snapAt] {
				if _, err := eng.Apply(&want[i]); err != nil {
					t.Fatal(err)
				}
			}
			got := engine.New()
			if err := got.Restore(st.Snapshot); err != nil {
				t.Fatal(err)
			}
			id := want[0].Tenant
			if d := cmp.Diff(eng.Tenant(id).Roles(), got.Tenant(id).Roles()); d != "" {
				t.Errorf("tenant %s: the snapshot's roles (-want +got):\n%s", lt.name, d)
			}
		}
	}
}

// TestLegacyStoreLoads: a data folder written before checksums is
// checked, loads as it was written, has every record framed and
// checksummed at its first open, and passes Check before and after.
func TestLegacyStoreLoads(t *testing.T) {
	dir := legacyDir(t)
	r, err := Check(ctxT(t), dbPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Format != formatBare || r.Tenants != 3 || r.Events != 57 || r.Snapshots != 2 {
		t.Fatalf("Check before the first open: %+v", r)
	}
	s := openT(t, DefaultConfig(dir))
	if got, want := s.Info().Framed, 3+2+57; got != want {
		t.Errorf("framed %d records, want %d", got, want)
	}
	checkLegacyLoad(t, s)
	epoch := s.Epoch()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Every record is framed now: a bare one would be damage.
	db, err := bbolt.Open(dbPath(dir), 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketHeads, bucketSnapshots} {
			if err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				if _, err := unframe(k, v); err != nil {
					return fmt.Errorf("%s %x: %w", name, k, err)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = openT(t, DefaultConfig(dir))
	if info := s.Info(); info.Framed != 0 || info.Epoch != epoch || info.NewEpoch {
		t.Errorf("second open: %+v, want nothing framed and epoch %s kept", info, epoch)
	}
	checkLegacyLoad(t, s)
	s.Close()
	r, err = Check(ctxT(t), dbPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Format != formatFramed || r.Epoch != epoch {
		t.Errorf("Check after: %+v", r)
	}
}

// TestLegacyMigrationResumes: a first open cut short after framing some
// records (here, the heads) is finished by the next.
func TestLegacyMigrationResumes(t *testing.T) {
	dir := legacyDir(t)
	db, err := bbolt.Open(dbPath(dir), 0o600, &bbolt.Options{NoFreelistSync: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := putMeta(tx, metaFormat, formatBytes(formatBare)); err != nil {
			return err
		}
		if err := putMeta(tx, metaOpen, nowBytes()); err != nil {
			return err
		}
		b := tx.Bucket(bucketHeads)
		var keys, vals [][]byte
		b.ForEach(func(k, v []byte) error {
			nv, err := reframe(bucketHeads, k, v)
			keys, vals = append(keys, k), append(vals, nv)
			return err
		})
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := openT(t, DefaultConfig(dir))
	defer s.Close()
	if info := s.Info(); info.Framed != 2+57 || !info.Unclean {
		t.Errorf("resumed: %+v, want 59 records framed after an unclean stop", info)
	}
	checkLegacyLoad(t, s)
}
