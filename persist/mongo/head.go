package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
)

// readHead finds the tenant's highest seq by _id lookups (see
// readHeadFrom), starting from the highest seq this handle has seen, or if
// it has seen none, from the tenant's snapshot.
func (s *Store) readHead(ctx context.Context, coll *mongo.Collection, hex string) (uint64, error) {
	lo := s.seenSeq(hex)
	if lo == 0 {
		doc, err := s.readSnapshotDoc(ctx, hex)
		if err != nil {
			return 0, err
		}
		if doc != nil {
			lo = uint64(doc.Seq)
		}
	}
	return s.readHeadFrom(ctx, coll, hex, lo)
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
func (s *Store) readHeadFrom(ctx context.Context, coll *mongo.Collection, hex string, lo uint64) (uint64, error) {
	for attempt := 0; ; attempt++ {
		h, err := s.probeHead(ctx, coll, hex, lo)
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

func (s *Store) probeHead(ctx context.Context, coll *mongo.Collection, hex string, lo uint64) (uint64, error) {
	hi := uint64(0) // once set, a seq that does not exist
	for step := uint64(1); hi == 0; step *= 2 {
		found, err := s.eventExists(ctx, coll, hex, lo+step)
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
		found, err := s.eventExists(ctx, coll, hex, mid)
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
func (s *Store) eventExists(ctx context.Context, coll *mongo.Collection, hex string, seq uint64) (bool, error) {
	_, found, err := findOne(ctx, coll, bson.D{{Key: "_id", Value: eventKey(hex, seq)}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	return found, err
}

// seenSeq returns the highest seq of the tenant this handle knows to have
// existed (0 if none): where a search for the head starts.
func (s *Store) seenSeq(hex string) uint64 {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	return s.seen[hex]
}

// see records that seq of the tenant exists.
func (s *Store) see(hex string, seq uint64) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if seq > s.seen[hex] {
		s.seen[hex] = seq
	}
}

// Head implements persist.Store.
func (s *Store) Head(ctx context.Context, tenant engine.TenantID) (uint64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	ctx, cancel := s.rt(ctx)
	defer cancel()
	h, err := s.readHead(ctx, s.events, tenant.String())
	if err != nil {
		if errors.Is(err, errCorrupt) {
			return 0, fmt.Errorf("mongo: head of tenant %s: %w", tenant, err)
		}
		return 0, unavailable("head of tenant "+tenant.String(), err)
	}
	return h, nil
}

// Heads implements persist.Store: one aggregation over the heads index.
func (s *Store) Heads(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.wg.Done()
	if s.headsByProbe.Load() {
		return s.headsByProbing(ctx, fn)
	}
	// On MongoDB, a $sort on the heads index and a $group taking each
	// tenant's first entry: MongoDB answers it with one index entry per
	// tenant (a DISTINCT_SCAN).
	pipeline := mongo.Pipeline{
		{{Key: "$sort", Value: headsIndex}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$tenant"}, {Key: "head", Value: bson.D{{Key: "$first", Value: "$seq"}}}}}},
	}
	rctx, cancel := s.rt(ctx)
	cur, err := s.events.Aggregate(rctx, pipeline)
	cancel()
	var se mongo.ServerError
	if errors.As(err, &se) && se.HasErrorCode(errNotImplemented) {
		s.headsByProbe.Store(true)
		return s.headsByProbing(ctx, fn)
	}
	if err != nil {
		return unavailable("heads", err)
	}
	defer func() {
		cctx, cancel := s.rt(context.WithoutCancel(ctx))
		defer cancel()
		_ = cur.Close(cctx)
	}()
	for {
		rctx, cancel := s.rt(ctx)
		ok := cur.Next(rctx)
		cancel()
		if !ok {
			break
		}
		var d struct {
			Tenant string `bson:"_id"`
			Head   int64  `bson:"head"`
		}
		if err := bson.Unmarshal(cur.Current, &d); err != nil {
			return fmt.Errorf("mongo: heads: %w: %v", errCorrupt, err)
		}
		tenant, err := engine.ParseTenantID(d.Tenant)
		if err != nil || tenant.String() != d.Tenant || d.Head < 0 {
			return fmt.Errorf("mongo: heads: %w: tenant %q at %d", errCorrupt, d.Tenant, d.Head)
		}
		s.see(d.Tenant, uint64(d.Head))
		if err := fn(tenant, uint64(d.Head)); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return unavailable("heads", err)
	}
	return nil
}

// errNotImplemented is the server error code of a feature the server
// lacks.
const errNotImplemented = 238

// headsByProbing is Heads for a server without $first in $group (the test
// server, FerretDB, which would also read every event document to answer
// any other aggregation): it lists the tenants, then finds each one's head
// by _id lookups from the highest seq this handle has seen of it, one or
// two lookups for a tenant it follows.
func (s *Store) headsByProbing(ctx context.Context, fn func(engine.TenantID, uint64) error) error {
	var tenants []string
	err := s.each(ctx, s.tenants, "list tenants", bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}),
		func(raw bson.Raw) error {
			hex, err := stringField(raw, "_id")
			if err != nil {
				return fmt.Errorf("%w (tenants collection)", err)
			}
			tenants = append(tenants, hex)
			return nil
		})
	if err != nil {
		return err
	}
	for _, hex := range tenants {
		tenant, err := engine.ParseTenantID(hex)
		if err != nil || tenant.String() != hex {
			return fmt.Errorf("mongo: heads: %w: tenant _id %q", errCorrupt, hex)
		}
		rctx, cancel := s.rt(ctx)
		head, err := s.readHead(rctx, s.events, hex)
		cancel()
		if err != nil {
			return s.snapErr("head of tenant "+hex, err)
		}
		if head == 0 {
			continue // listed, but its first append failed
		}
		if err := fn(tenant, head); err != nil {
			return err
		}
	}
	return nil
}
