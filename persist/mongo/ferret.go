package mongo

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
)

// ferretAccess is the access of the test server, FerretDB 1.x on SQLite:
// heads are found by probing _ids, events read by _id lookups, because it
// answers every range query and aggregation by reading and decoding every
// document of the collection (it pushes _id equalities down to SQLite,
// where the test server's launcher adds the index they need; see
// internal/testmongo). Nothing here is needed on MongoDB, where the same
// answers come from indexes (mongoAccess).
type ferretAccess struct{ s *Store }

// head finds the tenant's highest seq by _id lookups (see readHeadFrom),
// starting from lo, or if that is 0, from the tenant's snapshot.
func (a ferretAccess) head(ctx context.Context, hex string, lo uint64) (uint64, error) {
	s := a.s
	if lo == 0 {
		doc, err := s.readSnapshotDoc(ctx, hex)
		if err != nil {
			return 0, err
		}
		if doc != nil {
			lo = uint64(doc.Seq)
		}
	}
	return s.readHeadFrom(ctx, hex, lo)
}

// readHeadFrom finds the tenant's highest seq, given lo, a seq that exists
// or existed (or 0), by _id lookups only: it probes lo+1, lo+2, lo+4, ...
// while they exist, then bisects between the last found and the first
// missing. Seqs are dense, so that is the head: about 2·log2(head-lo)
// lookups, one or two when lo is recent. A range query for the last _id
// would be one round trip on MongoDB, where _id is an index; on the test
// server (FerretDB on SQLite) it decodes every document of the collection,
// seconds once the collection holds large batches (see the package doc).
//
// With retention a seq may be missing because it was deleted rather than
// not yet written (lo, from a handle that has not looked for a while, may
// be far behind): a snapshot doc read after the probes with a seq past the
// found head says so, and the search starts again from that seq.
func (s *Store) readHeadFrom(ctx context.Context, hex string, lo uint64) (uint64, error) {
	for attempt := 0; ; attempt++ {
		h, err := s.probeHead(ctx, hex, lo)
		if err != nil {
			return 0, err
		}
		if s.cfg.KeepEvents > 0 {
			doc, err := s.readSnapshotDoc(ctx, hex)
			if err != nil {
				return 0, err
			}
			if doc != nil && uint64(doc.Seq) > h {
				if attempt == 10 {
					return 0, fmt.Errorf("tenant %s: head not found: events keep being deleted", hex)
				}
				lo = uint64(doc.Seq)
				continue
			}
		}
		s.see(hex, h)
		return h, nil
	}
}

func (s *Store) probeHead(ctx context.Context, hex string, lo uint64) (uint64, error) {
	hi := uint64(0) // once set, a seq that does not exist
	for step := uint64(1); hi == 0; step *= 2 {
		found, err := s.eventExists(ctx, hex, lo+step)
		if err != nil {
			return lo, err
		}
		if found {
			lo += step
		} else {
			hi = lo + step
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		found, err := s.eventExists(ctx, hex, mid)
		if err != nil {
			return lo, err
		}
		if found {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// eventExists looks an event up by _id.
func (s *Store) eventExists(ctx context.Context, hex string, seq uint64) (bool, error) {
	_, found, err := findOne(ctx, s.events, bson.D{{Key: "_id", Value: eventKey(hex, seq)}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	return found, err
}

// Reads of events take up to maxLookups events by _id lookups, at most
// lookupWindow of them in flight (the first window of a read whose length
// is unknown is one lookup, then they double), and only the rest of a longer
// read with a range query. Most reads are short: a replica fetching the few
// events it missed, or a start after a recent snapshot. Lookups by _id are
// the cheapest query on every server; a range query over the events is a
// single index scan on MongoDB but decodes the whole collection on the test
// server (see the package doc).
const (
	lookupWindow = 8
	maxLookups   = 64
)

// eventDocs reads up to maxLookups events by _id lookups, at most
// lookupWindow of them in flight (the first window of a read whose length
// is unknown is one lookup, then they double), and only the rest of a
// longer read with a range query.
func (a ferretAccess) eventDocs(ctx context.Context, hex string, after uint64, limit int, add func(bson.Raw) error) error {
	s := a.s
	got := 0
	want := func() int { // events still wanted, -1 for all
		if limit < 0 {
			return -1
		}
		return limit - got
	}
	next, ended, window := after+1, false, 1
	for !ended && want() != 0 && got < maxLookups {
		n := min(window, maxLookups-got)
		if limit >= 0 {
			n = min(lookupWindow, want(), maxLookups-got)
		}
		window = min(2*window, lookupWindow)
		raws, err := s.lookupEvents(ctx, hex, next, n)
		if err != nil {
			return err
		}
		for _, raw := range raws {
			if err := add(raw); err != nil {
				return err
			}
		}
		got += len(raws)
		next += uint64(len(raws))
		if len(raws) < n {
			// Seqs are dense: a missing one is past the head. With
			// retention it may also have been deleted, with later events
			// still there: if it is the first asked for, the range query
			// below finds those (and the caller answers ErrPruned).
			ended = !(s.cfg.KeepEvents > 0 && got == 0)
			break
		}
	}
	if ended || want() == 0 {
		return nil
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if w := want(); w > 0 {
		opts.SetLimit(int64(w))
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: eventKey(hex, next-1)}, {Key: "$lt", Value: tenantEnd(hex)}}}}
	return s.each(ctx, s.events, "events of tenant "+hex, filter, opts, add)
}

// lookupEvents reads events from..from+n-1 of the tenant by _id, up to
// lookupWindow at once, each round trip within cfg.Timeout, and returns
// those found up to the first missing one.
func (s *Store) lookupEvents(ctx context.Context, hex string, from uint64, n int) ([]bson.Raw, error) {
	raws := make([]bson.Raw, n)
	found := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := s.rt(ctx)
			defer cancel()
			raw, ok, err := findOne(rctx, s.events, bson.D{{Key: "_id", Value: eventKey(hex, from+uint64(i))}}, nil)
			// The cursor's buffer is reused: keep a copy.
			raws[i], found[i], errs[i] = slices.Clone(raw), ok, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			return nil, unavailable("events of tenant "+hex, errs[i])
		}
		if !found[i] {
			return raws[:i], nil
		}
	}
	return raws, nil
}

// heads asks each listed tenant's head: the tenants collection, then one
// or two lookups per tenant this handle follows.
func (a ferretAccess) heads(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	return a.s.headsOneByOne(ctx, fn)
}
