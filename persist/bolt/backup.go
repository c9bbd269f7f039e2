package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"

	bbolt "go.etcd.io/bbolt"

	"auth/persist"
)

// Backup is a consistent copy of the store, pinned by a read transaction
// while it is written out; the store goes on taking writes meanwhile.
// Close it when done: until then the pages it pins are not reused, and
// Store.Close waits for it.
type Backup struct {
	tx    *bbolt.Tx
	s     *Store
	size  int64
	epoch string
}

// OpenBackup pins the store's state for a copy. The copy holds a restore
// marker that the live store does not: opened as a store, it takes a new
// epoch (see Epoch), so that nothing of what came after the backup is
// mistaken for what follows it. Two small commits mark the copy: on a
// full disk OpenBackup fails with an error wrapping
// persist.ErrUnavailable.
func (s *Store) OpenBackup(ctx context.Context) (*Backup, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	// Write the marker, pin the state that holds it, and take the
	// marker out of the live store: only the pinned state has it. If
	// the process stops between the two commits, the live store keeps
	// the marker and takes a new epoch at its next open; nothing worse.
	err := s.guarded("marking a backup", func() error {
		return s.db.Update(func(tx *bbolt.Tx) error { return putMeta(tx, metaRestore, newEpoch()) })
	})
	if err != nil {
		return nil, unavailableUnlessCorrupt("backup", err)
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, unavailableUnlessCorrupt("backup", err)
	}
	err = s.guarded("marking a backup", func() error {
		return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaRestore) })
	})
	if err != nil {
		tx.Rollback()
		return nil, unavailableUnlessCorrupt("backup", err)
	}
	return &Backup{tx: tx, s: s, size: tx.Size(), epoch: s.info.Epoch}, nil
}

func unavailableUnlessCorrupt(what string, err error) error {
	if errors.Is(err, persist.ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", persist.ErrUnavailable, what, err)
}

// Size is the copy's size in bytes.
func (b *Backup) Size() int64 { return b.size }

// Name is a file name for the copy: the store's epoch and the
// transaction it copies.
func (b *Backup) Name() string { return fmt.Sprintf("auth-%s-tx%d.db", b.epoch, b.tx.ID()) }

// WriteTo writes the copy: a bbolt file, which a server opens as a
// store. It reads the file, not its memory map.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := b.s.guarded("writing a backup", func() error {
		var err error
		n, err = b.tx.WriteTo(w)
		return err
	})
	return n, err
}

// Close releases the pinned state.
func (b *Backup) Close() error { return b.tx.Rollback() }
