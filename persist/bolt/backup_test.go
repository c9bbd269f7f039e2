package bolt

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/engine"
	"auth/internal/await"
)

// bigEvent is a batch of n new roles: about 24 bytes a change.
func bigEvent(tn engine.TenantID, id, n int) engine.Event {
	ev := engine.Event{Tenant: tn, ID: uint64(id), Change: engine.Change{Op: engine.OpBatch}}
	for i := range n {
		ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpAddRole, Role: fmt.Sprintf("r-%d-%d-padding", id, i)})
	}
	return ev
}

// TestBackupWhileWriting takes a backup while writers append: the copy
// passes Check, and opened as a store it holds exactly each tenant's
// first events up to its head there, under a new epoch that it keeps; the
// live store keeps its own.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, DefaultConfig(dir))
	epoch := s.Epoch()
	ctx := ctxT(t)
	tenants := []engine.TenantID{tenantA, tenantB, tenantC}
	var written atomic.Int64
	stop := await.Workers(8, func(w, i int) bool {
		ev := testEvent(tenants[(w+i)%len(tenants)], i)
		if err := s.Append(ctx, &ev); err != nil {
			t.Error(err)
			return false
		}
		written.Add(1)
		return true
	})
	for written.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	b, err := s.OpenBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "copy", FileName)
	os.MkdirAll(filepath.Dir(copyPath), 0o700)
	f, err := os.Create(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.WriteTo(f)
	if err != nil || n != b.Size() {
		t.Fatalf("WriteTo = %d, %v; want %d bytes", n, err, b.Size())
	}
	f.Close()
	b.Close()
	for at := written.Load(); written.Load() < at+100; {
		time.Sleep(time.Millisecond) // writes go on after the backup
	}
	stop()

	r, err := Check(ctx, copyPath)
	if err != nil || !r.OK() || !r.Backup || r.Epoch != epoch || r.Tenants != 3 {
		t.Fatalf("Check of the copy: %+v, %v", r, err)
	}
	c := openT(t, DefaultConfig(filepath.Dir(copyPath)))
	if info := c.Info(); !info.NewEpoch || info.Epoch == epoch || !info.Unclean || !info.Checked {
		t.Errorf("the copy opened: %+v, want a new epoch (not %s), checked", info, epoch)
	}
	restored := c.Epoch()
	total := 0
	for _, tn := range tenants {
		head, err := c.Head(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Events(ctx, tn, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Events(ctx, tn, 0, int(head))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" || uint64(len(got)) != head {
			t.Errorf("tenant %s in the copy, head %d (-live +copy):\n%s", tn, head, d)
		}
		total += len(got)
	}
	if live := int(written.Load()); total == 0 || total >= live {
		t.Errorf("the copy holds %d events of the %d written: not a copy taken in between", total, live)
	}
	c.Close()
	c = openT(t, DefaultConfig(filepath.Dir(copyPath)))
	if info := c.Info(); info.NewEpoch || info.Epoch != restored {
		t.Errorf("the restored store reopened: %+v, want epoch %s kept", info, restored)
	}
	c.Close()
	s.Close()
	s = openT(t, DefaultConfig(dir))
	if info := s.Info(); info.NewEpoch || info.Epoch != epoch {
		t.Errorf("the live store reopened: %+v, want epoch %s kept", info, epoch)
	}
	s.Close()
}

// TestWritesGoOnDuringBackup: with room in the memory map, appends that
// grow the file by megabytes complete while a backup holds its read
// transaction open. Without it (MmapSize 0, bbolt's own sizing), an
// append that grows the file past the map waits until the backup ends:
// the stall the room avoids.
func TestWritesGoOnDuringBackup(t *testing.T) {
	appendBig := func(s *Store, events, perEvent int) chan error {
		done := make(chan error, 1)
		go func() {
			var wg sync.WaitGroup
			errs := make(chan error, events)
			for i := range events {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ev := bigEvent(tenantA, i, perEvent)
					errs <- s.Append(ctxT(t), &ev)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		return done
	}
	t.Run("room", func(t *testing.T) {
		cfg := DefaultConfig(t.TempDir())
		cfg.MmapSize = 64 << 20
		s := openT(t, cfg)
		defer s.Close()
		b, err := s.OpenBackup(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close() // before s.Close, which waits for it
		select {
		case err := <-appendBig(s, 8, 10_000): // 8 events of about 250 KB
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("appends stalled while a backup was open")
		}
		b.Close()
	})
	t.Run("no room", func(t *testing.T) {
		cfg := DefaultConfig(t.TempDir())
		cfg.MmapSize = 0
		s := openT(t, cfg)
		defer s.Close()
		b, err := s.OpenBackup(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		done := appendBig(s, 1, 40_000) // 1 MB, past bbolt's first maps
		select {
		case err := <-done:
			t.Fatalf("an append grew the map while a backup was open (%v): the stall this test shows did not happen", err)
		case <-time.After(300 * time.Millisecond):
		}
		b.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
