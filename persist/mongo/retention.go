package mongo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
	"auth/persist"
)

// verifyNotPruned checks, when retention is on, that the event just
// inserted at seq did not land in the range retention deleted (possible
// only for a handle whose cached head is that old): seq must be above the
// tenant's floor, which retention raises before it deletes anything (see
// Retention in the package doc). The floor is read after the insert, so an
// insert into a deleted range always sees the floor that covers it. If the
// check fails it deletes the event again and reports false; until then no
// reader takes the event, since readers check the floor too.
func (s *Store) verifyNotPruned(ctx context.Context, ev *engine.Event, hex string, seq uint64) (bool, error) {
	pause := backoff{next: 5 * time.Millisecond}
	for {
		floor, err := s.readFloor(ctx, hex)
		ok := seq > floor
		if err == nil && !ok {
			_, err = s.events.DeleteOne(ctx, bson.D{
				{Key: "_id", Value: eventKey(hex, seq)},
				{Key: "id", Value: fmt.Sprintf("%016x", ev.ID)},
			})
		}
		if err == nil {
			return ok, nil
		}
		if ctx.Err() != nil || !transient(err) {
			return false, err
		}
		pause.wait(ctx)
	}
}

// readFloor returns the highest seq retention may have deleted for the
// tenant (0 if none): events at or below it are gone, or are strays of a
// handle whose head was stale, and are never read.
func (s *Store) readFloor(ctx context.Context, hex string) (uint64, error) {
	raw, found, err := findOne(ctx, s.tenants, bson.D{{Key: "_id", Value: hex}},
		options.FindOne().SetProjection(bson.D{{Key: "floor", Value: 1}}))
	if err != nil || !found {
		return 0, err
	}
	v, err := raw.LookupErr("floor")
	if err != nil {
		return 0, nil // written before floors existed, or never pruned
	}
	f, ok := v.AsInt64OK()
	if !ok || f < 0 {
		return 0, fmt.Errorf("%w: tenant %s: floor is %v", errCorrupt, hex, v)
	}
	return uint64(f), nil
}

// pruneEvents deletes the tenant's events up to seq upTo, and the chunks of
// those stored in chunks: it lists those first, then deletes the events,
// then their chunks, so that no event outlives its chunks. Failures leave
// garbage, not damage (the events are deleted again by the next snapshot's
// retention; chunks left behind are never read), so they are not reported.
func (s *Store) pruneEvents(ctx context.Context, hexT string, upTo uint64) {
	_ = s.deleteEvents(ctx, hexT, upTo) // the next snapshot's retention tries again
}

// deleteEvents is pruneEvents, with its failure.
func (s *Store) deleteEvents(ctx context.Context, hexT string, upTo uint64) error {
	ctx = context.WithoutCancel(ctx)
	// The floor first: once it is raised, no append or read takes an event
	// at or below it (see verifyNotPruned), whatever is deleted after.
	rctx, cancel := s.rt(ctx)
	_, err := s.tenants.UpdateOne(rctx, bson.D{{Key: "_id", Value: hexT}},
		bson.D{{Key: "$max", Value: bson.D{{Key: "floor", Value: int64(upTo)}}}})
	cancel()
	if err != nil {
		return unavailable("raising the floor of tenant "+hexT, err) // nothing deleted
	}
	inRange := eventRange(hexT, upTo)
	refs, err := s.chunkRefs(ctx, hexT, inRange)
	if err != nil {
		return err // these events are deleted later, and their chunks found then
	}
	rctx, cancel = s.rt(ctx)
	_, err = s.events.DeleteMany(rctx, bson.D{{Key: "_id", Value: inRange}})
	cancel()
	if err != nil {
		return unavailable("deleting events of tenant "+hexT, err) // some may be left: their chunks must stay
	}
	for _, ref := range refs {
		s.deleteEventChunks(ctx, hexT, ref)
	}
	return nil
}

// eventRange is the filter on _id of the tenant's events up to seq upTo.
func eventRange(hexT string, upTo uint64) bson.D {
	return bson.D{{Key: "$gt", Value: hexT + ":"}, {Key: "$lte", Value: eventKey(hexT, upTo)}}
}

// chunkRefs lists the chunks of the events in inRange stored in chunks.
func (s *Store) chunkRefs(ctx context.Context, hexT string, inRange bson.D) ([]eventChunks, error) {
	var refs []eventChunks
	err := s.each(ctx, s.events, "chunked events of tenant "+hexT,
		bson.D{{Key: "_id", Value: inRange}, {Key: "chunked", Value: bson.D{{Key: "$exists", Value: true}}}},
		options.Find().SetProjection(bson.D{{Key: "chunked", Value: 1}}),
		func(raw bson.Raw) error {
			var d struct {
				Chunked *eventChunks `bson:"chunked"`
			}
			if bson.Unmarshal(raw, &d) == nil && d.Chunked != nil && d.Chunked.check() == nil {
				refs = append(refs, *d.Chunked)
			}
			return nil
		})
	return refs, err
}

// Purge implements persist.Store. With retention on (Config.KeepEvents)
// it deletes the events as retention does, behind the tenant's floor.
// Without, the handles sharing the database take a seq by inserting its
// event (a seq whose document is gone would be taken again), so it empties
// the events instead: each keeps its seq, id and time and becomes an empty
// batch, which changes nothing, and the chunks of those stored in chunks
// are deleted. Either way no name, key or key id of the tenant is left.
func (s *Store) Purge(ctx context.Context, tenant engine.TenantID, upTo uint64) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.wg.Done()
	hexT := tenant.String()
	rctx, cancel := s.rt(ctx)
	doc, err := s.readSnapshotDoc(rctx, hexT)
	cancel()
	if err != nil {
		return s.snapErr("snapshot of tenant "+hexT, err)
	}
	if doc == nil || uint64(doc.Seq) < upTo {
		return fmt.Errorf("mongo: tenant %s: %w: purge up to %d", hexT, persist.ErrSnapshotBehind, upTo)
	}
	if s.cfg.KeepEvents > 0 {
		return s.deleteEvents(ctx, hexT, upTo)
	}
	inRange := eventRange(hexT, upTo)
	refs, err := s.chunkRefs(ctx, hexT, inRange)
	if err != nil {
		return err
	}
	unset := bson.D{{Key: "changes", Value: ""}, {Key: "counts", Value: ""}, {Key: "chunked", Value: ""}, {Key: "by", Value: ""}}
	for _, f := range engine.Fields() {
		unset = append(unset, bson.E{Key: f.String(), Value: ""})
	}
	rctx, cancel = s.rt(ctx)
	_, err = s.events.UpdateMany(rctx, bson.D{{Key: "_id", Value: inRange}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "op", Value: engine.OpBatch.String()}}},
		{Key: "$unset", Value: unset},
	})
	cancel()
	if err != nil {
		return unavailable("emptying events of tenant "+hexT, err)
	}
	for _, ref := range refs {
		s.deleteEventChunks(ctx, hexT, ref)
	}
	return nil
}

// OrphanChunkAge is how long ago an event chunk that no event document
// names must have been written for a sweep to delete it: far longer than
// any append takes, so that the chunks of an append in progress are never
// taken for orphans.
const OrphanChunkAge = 24 * time.Hour

// sweepEvery is how often one handle sweeps one tenant's orphan chunks, at
// most (after a snapshot).
const sweepEvery = time.Hour

// SweepOrphanChunks deletes the tenant's event chunks that no event
// document names and that were written more than OrphanChunkAge ago, and
// returns how many it deleted. Such chunks are left behind when a process
// dies between writing an event's chunks and inserting the event document
// that names them, or when that insert's outcome stayed unknown and it had
// not happened: wasted space, never data. SaveSnapshot runs it for its
// tenant at most once an hour per handle.
//
// It lists the nonces the tenant's event documents name first, then the
// old chunks: a chunk written after the listing is too young to be taken,
// and the event of an old chunk was inserted before the listing, or never.
func (s *Store) SweepOrphanChunks(ctx context.Context, tenant engine.TenantID) (int, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	return s.sweepOrphanChunks(ctx, tenant.String(), time.Now().Add(-OrphanChunkAge))
}

func (s *Store) sweepOrphanChunks(ctx context.Context, hexT string, before time.Time) (int, error) {
	named := map[string]bool{}
	err := s.each(ctx, s.events, "chunked events of tenant "+hexT,
		append(tenantRange(hexT), bson.E{Key: "chunked", Value: bson.D{{Key: "$exists", Value: true}}}),
		options.Find().SetProjection(bson.D{{Key: "chunked.nonce", Value: 1}}),
		func(raw bson.Raw) error {
			if v, err := raw.LookupErr("chunked", "nonce"); err == nil {
				if n, ok := v.StringValueOK(); ok {
					named[n] = true
				}
			}
			return nil
		})
	if err != nil {
		return 0, err
	}
	var orphans []string
	err = s.each(ctx, s.eventChunks, "event chunks of tenant "+hexT,
		append(tenantRange(hexT), bson.E{Key: "written", Value: bson.D{{Key: "$lt", Value: bson.NewDateTimeFromTime(before)}}}),
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}),
		func(raw bson.Raw) error {
			key, err := stringField(raw, "_id")
			if err != nil {
				return err
			}
			// tenant:nonce:chunk
			parts := strings.Split(key, ":")
			if len(parts) == 3 && parts[0] == hexT && !named[parts[1]] {
				orphans = append(orphans, key)
			}
			return nil
		})
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, key := range orphans {
		rctx, cancel := s.rt(ctx)
		res, err := s.eventChunks.DeleteOne(rctx, bson.D{{Key: "_id", Value: key}})
		cancel()
		if err != nil {
			return deleted, unavailable("delete orphan chunk "+key, err)
		}
		deleted += int(res.DeletedCount)
	}
	return deleted, nil
}

// maybeSweep runs a sweep of the tenant's orphan chunks unless this handle
// ran one in the last sweepEvery; failures leave garbage, not damage.
func (s *Store) maybeSweep(ctx context.Context, hexT string) {
	now := time.Now()
	s.sweptMu.Lock()
	if last, ok := s.swept[hexT]; ok && now.Sub(last) < sweepEvery {
		s.sweptMu.Unlock()
		return
	}
	s.swept[hexT] = now
	s.sweptMu.Unlock()
	_, _ = s.sweepOrphanChunks(context.WithoutCancel(ctx), hexT, now.Add(-OrphanChunkAge))
}
