package bolt

import (
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"auth/engine"
	"auth/persist"
)

// Report is what Check found in a data file.
type Report struct {
	Path string
	File FileStats
	// Format is the store's format: 1 for a store written before
	// checksums (its records are checked by decoding alone), 2 since.
	Format uint32
	Epoch  string
	// Open says the file was not closed by the last process that had it
	// open, or is a backup (taken from an open store); Backup says it is
	// a backup not yet opened as a store.
	Open, Backup bool

	Tenants, Events, Snapshots int

	// Problems lists what is wrong, at most maxProblems of them; a
	// damaged structure stops the check at its first problem.
	Problems []string
	// More counts the problems found past maxProblems.
	More int
}

// OK reports that nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

const maxProblems = 100

func (r *Report) problem(err error) {
	if len(r.Problems) == maxProblems {
		r.More++
		return
	}
	var ce *CorruptError
	if errors.As(err, &ce) {
		c := *ce
		c.Path = "" // the report names the file once
		if c.Where != "" {
			r.Problems = append(r.Problems, c.Where+": "+c.What)
		} else {
			r.Problems = append(r.Problems, c.What)
		}
		return
	}
	r.Problems = append(r.Problems, err.Error())
}

// Check verifies the store file at path without changing it: its
// structure (verifyFile, then bbolt's consistency check), every record's
// checksum and encoding, every tenant's events dense from seq 1 to its
// head, and every tenant replayed (its snapshot restored and the events
// after it applied, as a server loads it). It takes the file's shared
// lock, so it fails at once while a server has the store open: check a
// backup of it instead. Damage goes to the report's problems; the error
// is for a check that could not run.
func Check(ctx context.Context, path string) (*Report, error) {
	r := &Report{Path: path}
	// No wait for the lock: held, it means a server has the store open.
	db, stats, err := openFile(path, true, 0, 0)
	if err != nil {
		if errors.Is(err, persist.ErrCorrupt) {
			r.problem(err)
			return r, nil
		}
		return nil, err
	}
	defer db.Close()
	r.File = stats
	if err := checkStructure(db); err != nil {
		r.problem(err)
	}
	err = guard("checking records", func() error {
		return db.View(func(tx *bbolt.Tx) error { return r.records(ctx, tx) })
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		r.problem(err)
	}
	return r, nil
}

// records checks every record, and replays every tenant.
func (r *Report) records(ctx context.Context, tx *bbolt.Tx) error {
	m, err := readMeta(tx)
	if err != nil {
		return err
	}
	r.Format, r.Epoch, r.Open, r.Backup = m.format, m.epoch, m.open, m.restore
	if m.format > storeFormat {
		return fmt.Errorf("%w: store format %d; this version reads up to %d", ErrNewerFormat, m.format, storeFormat)
	}
	legacy := m.format == formatBare
	heads, snaps, events := tx.Bucket(bucketHeads), tx.Bucket(bucketSnapshots), tx.Bucket(bucketEvents)
	if m.empty {
		return nil
	}
	if heads == nil || snaps == nil || events == nil {
		return corruptf("buckets", "the heads, snapshots or events bucket is missing")
	}
	head := map[engine.TenantID]uint64{}
	err = heads.ForEach(func(k, v []byte) error {
		h, err := decodeHead(k, v, legacy)
		if err != nil {
			r.problem(err)
			return nil
		}
		head[engine.TenantID(k)] = h
		return nil
	})
	if err != nil {
		return err
	}
	r.Tenants = len(head)
	err = snaps.ForEach(func(k, v []byte) error {
		r.Snapshots++
		if len(k) != 32 {
			r.problem(corruptf("snapshots bucket", "key of %d bytes", len(k)))
			return nil
		}
		if _, ok := head[engine.TenantID(k)]; !ok {
			r.problem(corruptf(fmt.Sprintf("tenant %s snapshot", engine.TenantID(k)), "the tenant has no head"))
		}
		return nil
	})
	if err != nil {
		return err
	}

	// One pass over the events, in key order: tenant by tenant, in seq
	// order.
	var (
		cur    engine.TenantID
		have   bool
		next   uint64 // the seq the next event of cur must have
		eng    *engine.Engine
		snapAt uint64
		broken bool // cur's replay stopped at a problem
	)
	seen := map[engine.TenantID]bool{}
	finish := func() {
		if !have {
			return
		}
		if h := head[cur]; next-1 != h && !broken {
			r.problem(corruptf(fmt.Sprintf("tenant %s", cur), "its head is seq %d, but its events end at %d", h, next-1))
		}
		if !broken && snapAt > next-1 {
			r.problem(corruptf(fmt.Sprintf("tenant %s", cur), "its snapshot is at seq %d, past its last event %d", snapAt, next-1))
		}
	}
	start := func(t engine.TenantID) {
		finish()
		cur, have, next, broken, snapAt = t, true, 1, false, 0
		seen[t] = true
		eng = engine.New()
		if _, ok := head[t]; !ok {
			r.problem(corruptf(fmt.Sprintf("tenant %s", t), "it has events but no head"))
		}
		if v := snaps.Get(t[:]); v != nil {
			snap, err := decodeSnapshot(t, v, legacy)
			if err == nil {
				err = eng.Restore(snap)
				if err != nil {
					err = corruptf(fmt.Sprintf("tenant %s snapshot", t), "it does not restore: %v", err)
				}
			}
			if err != nil {
				r.problem(err)
				broken = true
				return
			}
			snapAt = snap.Seq
		}
	}
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if r.Events%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r.Events++
		if len(k) != 40 {
			r.problem(corruptf("events bucket", "key of %d bytes", len(k)))
			continue
		}
		if t := engine.TenantID(k[:32]); !have || t != cur {
			start(t)
		}
		ev, err := decodeEvent(k, v, legacy)
		if err != nil {
			r.problem(err)
			broken = true
			next++
			continue
		}
		if ev.Seq != next && next == 1 && ev.Seq <= snapAt+1 {
			next = ev.Seq // the events its snapshot covers were purged
		}
		if ev.Seq != next {
			r.problem(corruptf(eventWhere(cur, next), "missing: the next event stored is seq %d", ev.Seq))
			broken = true
			next = ev.Seq
		}
		next++
		if broken || ev.Seq <= snapAt {
			continue
		}
		if _, err := eng.Apply(&ev); err != nil && !errors.Is(err, engine.ErrRefused) {
			r.problem(corruptf(eventWhere(cur, ev.Seq), "it does not apply: %v", err))
			broken = true
		}
	}
	finish()
	for t, h := range head {
		if !seen[t] && h != 0 {
			r.problem(corruptf(fmt.Sprintf("tenant %s", t), "its head is seq %d, but it has no events", h))
		}
	}
	return nil
}
