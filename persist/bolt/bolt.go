package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"auth/engine"
	"auth/persist"
)

var (
	bucketEvents    = []byte("events")
	bucketHeads     = []byte("heads")
	bucketSnapshots = []byte("snapshots")
)

// FileName is the name of the database file inside the data folder.
const FileName = "auth.db"

// Config configures a Store.
type Config struct {
	// Dir is the data folder; it is created if missing.
	Dir string
	// MaxBatch caps how many appends share one transaction.
	MaxBatch int
	// LockTimeout bounds the wait for the file lock held by another
	// process.
	LockTimeout time.Duration
	// MmapSize is the size of the file's memory map at open (address
	// space, not memory), or twice the file's size if larger. bbolt
	// cannot grow its map while a read transaction is open, so a write
	// that grows the file past the map waits for every read in progress,
	// a backup's included; with room in the map, writes go on during a
	// backup. 0 leaves the map to bbolt (the file's size, doubling).
	MmapSize int
	// CheckAtOpen runs bbolt's consistency check at every open, not only
	// after an unclean stop.
	CheckAtOpen bool
	// OnCorrupt, if set, is called once, from the goroutine that found
	// it, when the store finds corruption after Open: a record whose
	// checksum fails, events out of sequence, a fault reading the file.
	// The call that found it fails too, with the same error. A server
	// stops on it: what it serves may come from damaged data.
	OnCorrupt func(error)
}

// DefaultConfig returns the defaults for a store in dir.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, MaxBatch: 1024, LockTimeout: 2 * time.Second, MmapSize: 1 << 30}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("bolt: data folder is empty")
	case c.MaxBatch < 1:
		return errors.New("bolt: MaxBatch must be at least 1")
	case c.MmapSize < 0:
		return errors.New("bolt: MmapSize must not be negative")
	}
	return nil
}

// Store is the embedded store.
type Store struct {
	db   *bbolt.DB
	path string
	info OpenInfo
	reqs chan *appendReq

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	done   chan struct{} // closed when the committer has stopped

	corrupt   atomic.Bool // corruption was found: Close leaves the open marker
	onCorrupt func(error)
	reported  sync.Once

	// bare makes appends write records without frames, as stores of
	// format 1 did: only for the benchmark that measures the frames' cost.
	bare bool
}

// OpenInfo says what Open found and did.
type OpenInfo struct {
	// Epoch is the store's epoch (see Store.Epoch).
	Epoch string
	// NewEpoch says the store took a new epoch at this open: the file is
	// a backup, opened as a store for the first time (or, rarely, a store
	// whose process stopped in the middle of taking a backup).
	NewEpoch bool
	// Unclean says the last process to open the store did not close it
	// (it was killed, or the machine stopped); Checked that bbolt's
	// consistency check ran (after an unclean stop, or as configured).
	Unclean, Checked bool
	// Framed counts the records of a store written before checksums
	// that this open framed and checksummed.
	Framed int
	// File describes the data file.
	File FileStats
}

var _ persist.Store = (*Store)(nil)

type appendReq struct {
	ev  *engine.Event
	err chan error
}

// Open opens (creating if needed) the store in cfg.Dir. Before bbolt
// reads the file, its structure is verified (see verifyFile); after an
// unclean stop bbolt's consistency check runs too. A damaged file gives an
// error wrapping persist.ErrCorrupt (a *CorruptError naming the file and
// what is wrong), never a crash; a file written by a newer version gives
// ErrNewerFormat. A store written before checksums has its records framed.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create data folder: %w", err)
	}
	path := filepath.Join(cfg.Dir, FileName)
	db, stats, err := openFile(path, false, cfg.LockTimeout, cfg.MmapSize)
	if err != nil {
		return nil, err
	}
	s, err := setUp(db, path, stats, cfg)
	if err != nil {
		db.Close()
		return nil, inFile(err, path)
	}
	go s.commitLoop(cfg.MaxBatch)
	return s, nil
}

var errLocked = errors.New("bolt: file is locked")

// ErrInUse is returned for a store file another process has open.
var ErrInUse = errors.New("in use by another process")

// openFile locks, verifies and opens the bbolt file at path.
func openFile(path string, readOnly bool, lockTimeout time.Duration, mmapSize int) (*bbolt.DB, FileStats, error) {
	flag := os.O_RDWR | os.O_CREATE
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, FileStats{}, fmt.Errorf("bolt: open: %w", err)
	}
	if err := lockFile(f, !readOnly, lockTimeout); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, FileStats{}, fmt.Errorf("bolt: %s is %w", path, ErrInUse)
		}
		return nil, FileStats{}, fmt.Errorf("bolt: lock %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, FileStats{}, fmt.Errorf("bolt: open: %w", err)
	}
	var stats FileStats
	if fi.Size() > 0 {
		if stats, err = verifyFile(f); err != nil {
			f.Close()
			return nil, FileStats{}, inFile(err, path)
		}
	}
	if mmapSize > 0 && int64(mmapSize) < 2*fi.Size() {
		mmapSize = int(2 * fi.Size())
	}
	opts := &bbolt.Options{
		Timeout:         time.Second, // the lock is ours already
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
		ReadOnly:        readOnly,
		InitialMmapSize: mmapSize,
		// bbolt opens the file once, and is given the one verified
		// and locked above.
		OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil },
	}
	// With the free list not synced, bbolt walks every page to rebuild
	// it, and panics in this goroutine on what it finds wrong. A map of
	// mmapSize may be refused (a limit on address space): then bbolt
	// sizes it.
	sizes := []int{mmapSize}
	if mmapSize > 0 {
		sizes = append(sizes, 0)
	}
	var db *bbolt.DB
	for i, size := range sizes {
		if i > 0 {
			// bbolt closed the file, unless it panicked.
			f.Close()
			if f, err = os.OpenFile(path, flag, 0o600); err != nil {
				return nil, FileStats{}, fmt.Errorf("bolt: open: %w", err)
			}
			if err = lockFile(f, !readOnly, lockTimeout); err != nil {
				f.Close()
				return nil, FileStats{}, fmt.Errorf("bolt: lock %s: %w", path, err)
			}
		}
		opts.InitialMmapSize = size
		err = guard("opening the file", func() error {
			var err error
			db, err = bbolt.Open(path, 0o600, opts)
			return err
		})
		if err == nil || errors.Is(err, persist.ErrCorrupt) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, FileStats{}, inFile(fmt.Errorf("bolt: open %s: %w", path, err), path)
	}
	return db, stats, nil
}

// setUp reads and updates the store's metadata, checks the file after an
// unclean stop, and frames the records of a store written before
// checksums.
func setUp(db *bbolt.DB, path string, stats FileStats, cfg Config) (*Store, error) {
	var m storeMeta
	err := guard("reading the store's metadata", func() error {
		return db.View(func(tx *bbolt.Tx) error {
			var err error
			m, err = readMeta(tx)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if m.format > storeFormat {
		return nil, fmt.Errorf("%w: %s is of store format %d; this version reads up to %d: run the newer auth-server, or restore a backup taken before it", ErrNewerFormat, path, m.format, storeFormat)
	}
	info := OpenInfo{Unclean: m.open, File: stats}
	if m.open || cfg.CheckAtOpen {
		if err := checkStructure(db); err != nil {
			return nil, err
		}
		info.Checked = true
	}
	epoch := m.epoch
	err = guard("opening the store", func() error {
		return db.Update(func(tx *bbolt.Tx) error {
			for _, b := range [][]byte{bucketEvents, bucketHeads, bucketSnapshots} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			if m.empty {
				m.format = formatFramed
			}
			if err := putMeta(tx, metaFormat, formatBytes(m.format)); err != nil {
				return err
			}
			if epoch == "" || m.restore {
				e := newEpoch()
				if err := putMeta(tx, metaEpoch, e); err != nil {
					return err
				}
				epoch, info.NewEpoch = fmt.Sprintf("%x", e), m.restore
				if err := tx.Bucket(bucketMeta).Delete(metaRestore); err != nil {
					return err
				}
			}
			return putMeta(tx, metaOpen, nowBytes())
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: open: %w", err)
	}
	info.Epoch = epoch
	if m.format == formatBare {
		err := guard("framing the records", func() error {
			var err error
			info.Framed, err = migrate(db)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return &Store{
		db:        db,
		path:      path,
		info:      info,
		reqs:      make(chan *appendReq, cfg.MaxBatch),
		done:      make(chan struct{}),
		onCorrupt: cfg.OnCorrupt,
	}, nil
}

// checkStructure runs bbolt's consistency check. Its goroutine reads the
// file through the map unguarded: it runs only on files verifyFile passed.
func checkStructure(db *bbolt.DB) error {
	return guard("checking the file", func() error {
		return db.View(func(tx *bbolt.Tx) error {
			var errs []string
			for err := range tx.Check() {
				if len(errs) < 10 {
					errs = append(errs, err.Error())
				}
			}
			if len(errs) > 0 {
				return corruptf("bbolt's consistency check", "%s", strings.Join(errs, "; "))
			}
			return nil
		})
	})
}

func formatBytes(f uint32) []byte { return binary.BigEndian.AppendUint32(nil, f) }

// Info says what Open found and did.
func (s *Store) Info() OpenInfo { return s.info }

// Epoch returns the store's epoch: random, chosen when the store was
// created, and chosen anew when a backup of it is restored. Seqs of one
// epoch say nothing of another's: a client holding a seq token or a feed
// cursor of another epoch, or a replica that met another epoch, must
// start over, since a restored store goes back to an earlier seq and then
// takes different writes at the seqs it had.
func (s *Store) Epoch() string { return s.info.Epoch }

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Append implements persist.Store. Once queued, an append is waited for
// even if ctx ends, so that an error always means nothing was appended.
func (s *Store) Append(ctx context.Context, ev *engine.Event) error {
	req := &appendReq{ev: ev, err: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return persist.ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("%w: %w", persist.ErrUnavailable, ctx.Err())
	}
	s.mu.RUnlock()
	return <-req.err
}

func (s *Store) commitLoop(maxBatch int) {
	defer close(s.done)
	batch := make([]*appendReq, 0, maxBatch)
	for req := range s.reqs {
		batch = append(batch[:0], req)
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := s.guarded("appending", func() error {
			return s.db.Update(func(tx *bbolt.Tx) error { return s.appendBatch(tx, batch) })
		})
		if err != nil {
			if !errors.Is(err, persist.ErrCorrupt) {
				err = fmt.Errorf("%w: commit: %w", persist.ErrUnavailable, err)
			}
			for _, r := range batch {
				r.ev.Seq = 0
			}
		}
		for _, r := range batch {
			r.err <- err
		}
		// The batch's events (an import can be hundreds of MB) must not
		// stay reachable until the next commit.
		clear(batch)
	}
}

func (s *Store) appendBatch(tx *bbolt.Tx, batch []*appendReq) error {
	events, heads := tx.Bucket(bucketEvents), tx.Bucket(bucketHeads)
	for _, r := range batch {
		ev := r.ev
		head, err := decodeHead(ev.Tenant[:], heads.Get(ev.Tenant[:]), s.bare)
		if err != nil {
			return err
		}
		ev.Seq = head + 1
		// bbolt keeps keys and values until the commit, so each event
		// needs its own buffers.
		key := eventKey(ev.Tenant, ev.Seq)
		var data []byte
		if s.bare {
			data, err = ev.MarshalBinary()
		} else {
			data, err = encodeEvent(key, ev)
		}
		if err != nil {
			return err
		}
		if err := events.Put(key, data); err != nil {
			return err
		}
		head2 := encodeHead(ev.Tenant, ev.Seq)
		if s.bare {
			head2 = seqBytes(ev.Seq)
		}
		if err := heads.Put(ev.Tenant[:], head2); err != nil {
			return err
		}
	}
	return nil
}

// Events implements persist.Store.
func (s *Store) Events(ctx context.Context, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	var out []engine.Event
	err := s.view(ctx, "reading events", func(tx *bbolt.Tx) error {
		var err error
		out, err = readEvents(tx.Bucket(bucketEvents), tenant, after, limit)
		return err
	})
	return out, err
}

// Head implements persist.Store.
func (s *Store) Head(ctx context.Context, tenant engine.TenantID) (uint64, error) {
	var head uint64
	err := s.view(ctx, "reading a head", func(tx *bbolt.Tx) error {
		var err error
		head, err = decodeHead(tenant[:], tx.Bucket(bucketHeads).Get(tenant[:]), false)
		return err
	})
	return head, err
}

// Heads implements persist.Store: one pass over the heads bucket.
func (s *Store) Heads(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	var fnErr error
	err := s.view(ctx, "reading heads", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHeads).ForEach(func(k, v []byte) error {
			head, err := decodeHead(k, v, false)
			if err != nil {
				return err
			}
			fnErr = fn(engine.TenantID(k), head)
			return fnErr
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Load implements persist.Store. Every record it gives has been checked
// (see loadTenant); at the first that fails it stops with the error.
func (s *Store) Load(ctx context.Context, fn func(persist.TenantState) error) error {
	var fnErr error
	err := s.view(ctx, "loading", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHeads).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			st, err := loadTenant(tx, k, v)
			if err != nil {
				return err
			}
			fnErr = fn(st)
			return fnErr
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// LoadTenant implements persist.Store.
func (s *Store) LoadTenant(ctx context.Context, tenant engine.TenantID) (persist.TenantState, error) {
	st := persist.TenantState{Tenant: tenant}
	err := s.view(ctx, "loading a tenant", func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketHeads).Get(tenant[:])
		if v == nil {
			return nil
		}
		var err error
		st, err = loadTenant(tx, tenant[:], v)
		return err
	})
	return st, err
}

// loadTenant reads the latest snapshot and the events after it of the
// tenant whose head record is k, v, and checks that they end at the head.
func loadTenant(tx *bbolt.Tx, k, v []byte) (persist.TenantState, error) {
	head, err := decodeHead(k, v, false)
	if err != nil {
		return persist.TenantState{}, err
	}
	tenant := engine.TenantID(k)
	st := persist.TenantState{Tenant: tenant}
	var after uint64
	if data := tx.Bucket(bucketSnapshots).Get(k); data != nil {
		if st.Snapshot, err = decodeSnapshot(tenant, data, false); err != nil {
			return st, err
		}
		after = st.Snapshot.Seq
		if after > head {
			return st, corruptf(fmt.Sprintf("tenant %s", tenant), "its snapshot is at seq %d, past its head %d", after, head)
		}
	}
	if st.Events, err = readEvents(tx.Bucket(bucketEvents), tenant, after, -1); err != nil {
		return st, err
	}
	last := after
	if n := len(st.Events); n > 0 {
		last = st.Events[n-1].Seq
	}
	if last != head {
		return st, corruptf(fmt.Sprintf("tenant %s", tenant), "its head is seq %d, but its events end at %d", head, last)
	}
	return st, nil
}

// SaveSnapshot implements persist.Store.
func (s *Store) SaveSnapshot(ctx context.Context, snap *engine.Snapshot) error {
	data, err := encodeSnapshot(snap)
	if err != nil {
		return err
	}
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.guarded("saving a snapshot", func() error {
		return s.db.Update(func(tx *bbolt.Tx) error {
			head, err := decodeHead(snap.Tenant[:], tx.Bucket(bucketHeads).Get(snap.Tenant[:]), false)
			if err != nil {
				return err
			}
			if snap.Seq > head {
				return fmt.Errorf("%w: snapshot at %d, head at %d", persist.ErrSnapshotAhead, snap.Seq, head)
			}
			snaps := tx.Bucket(bucketSnapshots)
			if old := snaps.Get(snap.Tenant[:]); old != nil {
				prev, err := decodeSnapshot(snap.Tenant, old, false)
				if err != nil {
					return err
				}
				if prev.Seq >= snap.Seq {
					return nil
				}
			}
			return snaps.Put(snap.Tenant[:], data)
		})
	})
}

// purgeBatch is how many events one transaction of Purge deletes, so that
// appends (which wait for bbolt's one writer) wait for a short one only.
const purgeBatch = 4096

// Purge implements persist.Store: it deletes the events, purgeBatch to a
// transaction, the first of which marks the store formatPurged. Events
// after a seq whose event is gone then gives ErrPruned.
func (s *Store) Purge(ctx context.Context, tenant engine.TenantID, upTo uint64) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	for {
		more := false
		err := s.guarded("purging events", func() error {
			return s.db.Update(func(tx *bbolt.Tx) error {
				var at uint64
				if data := tx.Bucket(bucketSnapshots).Get(tenant[:]); data != nil {
					snap, err := decodeSnapshot(tenant, data, false)
					if err != nil {
						return err
					}
					at = snap.Seq
				}
				if at < upTo {
					return fmt.Errorf("%w: tenant %s: snapshot at %d, purge up to %d", persist.ErrSnapshotBehind, tenant, at, upTo)
				}
				if err := putMeta(tx, metaFormat, formatBytes(formatPurged)); err != nil {
					return err
				}
				c := tx.Bucket(bucketEvents).Cursor()
				last := eventKey(tenant, upTo)
				n := 0
				for k, _ := c.Seek(eventKey(tenant, 1)); k != nil && bytes.Compare(k, last) <= 0; k, _ = c.Next() {
					if n == purgeBatch {
						more = true
						break
					}
					if err := c.Delete(); err != nil {
						return err
					}
					n++
				}
				return nil
			})
		})
		if err != nil || !more {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Close implements persist.Store. A store closed cleanly is not checked
// at its next open, unless it found corruption.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return persist.ErrClosed
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	var err error
	if !s.corrupt.Load() {
		err = s.guarded("closing", func() error {
			return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaOpen) })
		})
	}
	return errors.Join(err, s.db.Close())
}

func (s *Store) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", persist.ErrUnavailable, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return persist.ErrClosed
	}
	return nil
}

func (s *Store) view(ctx context.Context, what string, fn func(*bbolt.Tx) error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.guarded(what, func() error { return s.db.View(fn) })
}

// guarded runs fn under guard, and reports corruption it finds.
func (s *Store) guarded(what string, fn func() error) error {
	err := guard(what, fn)
	if errors.Is(err, persist.ErrCorrupt) {
		err = inFile(err, s.path)
		s.corrupt.Store(true)
		s.reported.Do(func() {
			if s.onCorrupt != nil {
				s.onCorrupt(err)
			}
		})
	}
	return err
}

// readEvents reads up to limit (all if negative) events of tenant after
// seq after. Events are dense from 1 to the head and never deleted, so the
// first must be after+1 and each the next.
// purged reports whether the tenant's events before seq first may have
// been purged: its snapshot covers them.
func purged(tx *bbolt.Tx, tenant engine.TenantID, first uint64) bool {
	data := tx.Bucket(bucketSnapshots).Get(tenant[:])
	if data == nil {
		return false
	}
	snap, err := decodeSnapshot(tenant, data, false)
	return err == nil && snap.Seq+1 >= first
}

func readEvents(b *bbolt.Bucket, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	var out []engine.Event
	c := b.Cursor()
	next := after + 1
	for k, v := c.Seek(eventKey(tenant, next)); k != nil && limit != 0; k, v = c.Next() {
		if len(k) < 32 || engine.TenantID(k[:32]) != tenant {
			break
		}
		ev, err := decodeEvent(k, v, false)
		if err != nil {
			return nil, err
		}
		if ev.Seq != next {
			if len(out) == 0 && purged(b.Tx(), tenant, ev.Seq) {
				return nil, fmt.Errorf("bolt: events of tenant %s after %d: %w", tenant, after, persist.ErrPruned)
			}
			return nil, corruptf(eventWhere(tenant, next), "missing: the next event stored is seq %d", ev.Seq)
		}
		out = append(out, ev)
		next++
		limit--
	}
	return out, nil
}
