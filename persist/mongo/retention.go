package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
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
	ctx = context.WithoutCancel(ctx)
	// The floor first: once it is raised, no append or read takes an event
	// at or below it (see verifyNotPruned), whatever is deleted after.
	rctx, cancel := s.rt(ctx)
	_, err := s.tenants.UpdateOne(rctx, bson.D{{Key: "_id", Value: hexT}},
		bson.D{{Key: "$max", Value: bson.D{{Key: "floor", Value: int64(upTo)}}}})
	cancel()
	if err != nil {
		return // nothing deleted; the next snapshot's retention tries again
	}
	inRange := bson.D{{Key: "$gt", Value: hexT + ":"}, {Key: "$lte", Value: eventKey(hexT, upTo)}}
	var refs []eventChunks
	err = s.each(ctx, s.events, "chunked events of tenant "+hexT,
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
	if err != nil {
		return // the next retention deletes these events, and finds their chunks
	}
	rctx, cancel = s.rt(ctx)
	_, err = s.events.DeleteMany(rctx, bson.D{{Key: "_id", Value: inRange}})
	cancel()
	if err != nil {
		return // some may be left: their chunks must stay
	}
	for _, ref := range refs {
		s.deleteEventChunks(ctx, hexT, ref)
	}
}
