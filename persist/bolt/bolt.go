package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

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
}

// DefaultConfig returns the defaults for a store in dir.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, MaxBatch: 1024, LockTimeout: 2 * time.Second}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("bolt: data folder is empty")
	case c.MaxBatch < 1:
		return errors.New("bolt: MaxBatch must be at least 1")
	}
	return nil
}

// Store is the embedded store.
type Store struct {
	db   *bbolt.DB
	reqs chan *appendReq

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	done   chan struct{} // closed when the committer has stopped
}

var _ persist.Store = (*Store)(nil)

type appendReq struct {
	ev  *engine.Event
	err chan error
}

// Open opens (creating if needed) the store in cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create data folder: %w", err)
	}
	db, err := bbolt.Open(filepath.Join(cfg.Dir, FileName), 0o600, &bbolt.Options{
		Timeout:        cfg.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("bolt: %s is in use by another process", filepath.Join(cfg.Dir, FileName))
		}
		return nil, fmt.Errorf("bolt: open: %w", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketHeads, bucketSnapshots} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: create buckets: %w", err)
	}
	s := &Store{db: db, reqs: make(chan *appendReq, cfg.MaxBatch), done: make(chan struct{})}
	go s.commitLoop(cfg.MaxBatch)
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

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
		err := s.db.Update(func(tx *bbolt.Tx) error {
			events, heads := tx.Bucket(bucketEvents), tx.Bucket(bucketHeads)
			for _, r := range batch {
				ev := r.ev
				head := getSeq(heads.Get(ev.Tenant[:]))
				ev.Seq = head + 1
				// bbolt keeps keys and values until the commit, so each
				// event needs its own buffer.
				data, err := ev.MarshalBinary()
				if err != nil {
					return err
				}
				if err := events.Put(eventKey(ev.Tenant, ev.Seq), data); err != nil {
					return err
				}
				if err := heads.Put(ev.Tenant[:], seqBytes(ev.Seq)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			err = fmt.Errorf("%w: commit: %w", persist.ErrUnavailable, err)
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

// Events implements persist.Store.
func (s *Store) Events(ctx context.Context, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	var out []engine.Event
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = readEvents(tx.Bucket(bucketEvents), tenant, after, limit)
		return err
	})
	return out, err
}

// Head implements persist.Store.
func (s *Store) Head(ctx context.Context, tenant engine.TenantID) (uint64, error) {
	var head uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		head = getSeq(tx.Bucket(bucketHeads).Get(tenant[:]))
		return nil
	})
	return head, err
}

// Heads implements persist.Store: one pass over the heads bucket.
func (s *Store) Heads(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	return s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHeads).ForEach(func(k, v []byte) error {
			if len(k) != len(engine.TenantID{}) {
				return fmt.Errorf("bolt: heads bucket holds a key of %d bytes", len(k))
			}
			return fn(engine.TenantID(k), getSeq(v))
		})
	})
}

// Load implements persist.Store.
func (s *Store) Load(ctx context.Context, fn func(persist.TenantState) error) error {
	return s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketHeads).ForEach(func(k, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			st, err := loadTenant(tx, engine.TenantID(k))
			if err != nil {
				return err
			}
			return fn(st)
		})
	})
}

// LoadTenant implements persist.Store.
func (s *Store) LoadTenant(ctx context.Context, tenant engine.TenantID) (persist.TenantState, error) {
	var st persist.TenantState
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		st, err = loadTenant(tx, tenant)
		return err
	})
	return st, err
}

func loadTenant(tx *bbolt.Tx, tenant engine.TenantID) (persist.TenantState, error) {
	st := persist.TenantState{Tenant: tenant}
	var after uint64
	if data := tx.Bucket(bucketSnapshots).Get(tenant[:]); data != nil {
		st.Snapshot = new(engine.Snapshot)
		if err := st.Snapshot.UnmarshalBinary(data); err != nil {
			return st, fmt.Errorf("bolt: snapshot of tenant %s: %w", tenant, err)
		}
		after = st.Snapshot.Seq
	}
	var err error
	st.Events, err = readEvents(tx.Bucket(bucketEvents), tenant, after, -1)
	return st, err
}

// SaveSnapshot implements persist.Store.
func (s *Store) SaveSnapshot(ctx context.Context, snap *engine.Snapshot) error {
	data, err := snap.MarshalBinary()
	if err != nil {
		return err
	}
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if head := getSeq(tx.Bucket(bucketHeads).Get(snap.Tenant[:])); snap.Seq > head {
			return fmt.Errorf("%w: snapshot at %d, head at %d", persist.ErrSnapshotAhead, snap.Seq, head)
		}
		snaps := tx.Bucket(bucketSnapshots)
		if old := snaps.Get(snap.Tenant[:]); old != nil {
			var prev engine.Snapshot
			if err := prev.UnmarshalBinary(old); err == nil && prev.Seq >= snap.Seq {
				return nil
			}
		}
		return snaps.Put(snap.Tenant[:], data)
	})
}

// Close implements persist.Store.
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
	return s.db.Close()
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

func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	return s.db.View(fn)
}

func readEvents(b *bbolt.Bucket, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	var out []engine.Event
	c := b.Cursor()
	for k, v := c.Seek(eventKey(tenant, after+1)); k != nil && limit != 0; k, v = c.Next() {
		if engine.TenantID(k[:32]) != tenant {
			break
		}
		var ev engine.Event
		if err := ev.UnmarshalBinary(v); err != nil {
			return nil, fmt.Errorf("bolt: event %d of tenant %s: %w", getSeq(k[32:]), tenant, err)
		}
		if want := getSeq(k[32:]); ev.Seq != want || ev.Tenant != tenant {
			return nil, fmt.Errorf("bolt: event stored under seq %d of tenant %s holds seq %d", want, tenant, ev.Seq)
		}
		out = append(out, ev)
		limit--
	}
	return out, nil
}

func eventKey(tenant engine.TenantID, seq uint64) []byte {
	k := make([]byte, 40)
	copy(k, tenant[:])
	binary.BigEndian.PutUint64(k[32:], seq)
	return k
}

func seqBytes(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func getSeq(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
