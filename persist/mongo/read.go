package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
	"auth/persist"
)

type partialRead struct {
	key    string // tenant hex:nonce
	data   []byte // chunks 0..chunks-1, joined
	chunks int
}

// Events implements persist.Store.
func (s *Store) Events(ctx context.Context, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.wg.Done()
	if limit == 0 {
		return nil, nil
	}
	return s.readEvents(ctx, tenant, after, limit)
}

func (s *Store) readEvents(ctx context.Context, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	for attempt := 0; ; attempt++ {
		evs, pruned, err := s.readEventsOnce(ctx, tenant, after, limit)
		if err != nil || !pruned {
			if len(evs) > 0 {
				s.see(tenant.String(), evs[len(evs)-1].Seq)
			}
			return evs, err
		}
		// Retention deleted an event stored in chunks while we read it:
		// read again, which no longer finds it.
		if attempt == 5 {
			return nil, fmt.Errorf("mongo: events of tenant %s: %w: events keep being deleted while read", tenant, persist.ErrUnavailable)
		}
	}
}

// readEventsOnce reads the events and then the chunks of those stored in
// chunks. pruned reports an event whose chunks are gone because retention
// deleted it (and them) meanwhile.
func (s *Store) readEventsOnce(ctx context.Context, tenant engine.TenantID, after uint64, limit int) (out []engine.Event, pruned bool, err error) {
	hex := tenant.String()
	type pending struct {
		i int
		c *chunkedEvent
	}
	var chunked []pending
	add := func(raw bson.Raw) error {
		ev, c, err := decodeEvent(raw, tenant, hex)
		if err != nil {
			return err
		}
		if n := len(out); n > 0 && ev.Seq <= out[n-1].Seq {
			return fmt.Errorf("%w: events of tenant %s out of order", errCorrupt, hex)
		}
		if c != nil {
			chunked = append(chunked, pending{len(out), c})
		}
		out = append(out, ev)
		return nil
	}
	if err := s.acc.eventDocs(ctx, hex, after, limit, add); err != nil {
		return nil, false, err
	}
	if s.cfg.KeepEvents > 0 {
		// After the events were read (see verifyNotPruned): a floor at or
		// past after+1 means retention deleted what was asked for, and
		// anything read below it is a stray.
		rctx, cancel := s.rt(ctx)
		floor, err := s.readFloor(rctx, hex)
		cancel()
		if err != nil {
			return nil, false, s.snapErr("floor of tenant "+hex, err)
		}
		if after+1 <= floor || (len(out) > 0 && out[0].Seq != after+1) {
			// The second: events deleted by a version that kept no floor.
			return nil, false, fmt.Errorf("mongo: events of tenant %s after %d: %w", hex, after, persist.ErrPruned)
		}
	}
	for _, p := range chunked {
		ev := &out[p.i]
		data, complete, err := s.readEventChunks(ctx, hex, &p.c.ref)
		if err != nil {
			return nil, false, err
		}
		if !complete {
			// Chunks are deleted only after the event that names them.
			rctx, cancel := s.rt(ctx)
			raw, found, err := findOne(rctx, s.events, bson.D{{Key: "_id", Value: eventKey(hex, ev.Seq)}},
				options.FindOne().SetProjection(bson.D{{Key: "chunked", Value: 1}}))
			cancel()
			if err != nil {
				return nil, false, unavailable("events of tenant "+hex, err)
			}
			var now struct {
				Chunked *eventChunks `bson:"chunked"`
			}
			if found && bson.Unmarshal(raw, &now) == nil && now.Chunked != nil && now.Chunked.Nonce == p.c.ref.Nonce {
				return nil, false, fmt.Errorf("%w: event %s: chunks %s are missing", errCorrupt, eventKey(hex, ev.Seq), p.c.ref.Nonce)
			}
			return nil, true, nil
		}
		if err := attachChunked(ev, p.c, data); err != nil {
			return nil, false, err
		}
	}
	return out, false, nil
}

// readEventChunks reads an event's chunks by _id, one round trip each
// within cfg.Timeout, and joins their data; complete is false if one is
// missing.
func (s *Store) readEventChunks(ctx context.Context, hex string, ref *eventChunks) (data []byte, complete bool, err error) {
	key, from := hex+":"+ref.Nonce, 0
	s.partialMu.Lock()
	if s.partial.key == key {
		data, from = s.partial.data, s.partial.chunks
		s.partial = partialRead{}
	}
	s.partialMu.Unlock()
	if data == nil {
		data = make([]byte, 0, ref.Size)
	}
	keyOf := func(i int) string { return eventChunkKey(hex, ref.Nonce, i) }
	data, read, complete, err := s.readChunkRange(ctx, s.eventChunks, "event", keyOf, from, int(ref.Chunks), ref.Size, data)
	if err != nil && read > 0 && !errors.Is(err, errCorrupt) {
		s.partialMu.Lock()
		s.partial = partialRead{key: key, data: data, chunks: read}
		s.partialMu.Unlock()
	}
	if err != nil {
		return nil, false, err
	}
	return data, complete, nil
}

// readChunkRange reads chunks from..n-1 of coll by _id (keyOf), one round
// trip each within cfg.Timeout, appending their data to data, at most size
// bytes in all; complete is false if one is missing. On a failed round trip
// it returns the data of the chunks read so far, read of them (counting
// from 0), with the error. what ("event", "snapshot") names them in errors.
func (s *Store) readChunkRange(ctx context.Context, coll *mongo.Collection, what string, keyOf func(int) string, from, n int, size int64, data []byte) (_ []byte, read int, complete bool, err error) {
	for i := from; i < n; i++ {
		k := keyOf(i)
		rctx, cancel := s.rt(ctx)
		raw, found, err := findOne(rctx, coll, bson.D{{Key: "_id", Value: k}}, nil)
		cancel()
		if err != nil {
			return data, i, false, unavailable("read "+what+" chunk "+k, err)
		}
		if !found {
			return nil, i, false, nil
		}
		v, err := raw.LookupErr("data")
		if err != nil {
			return nil, i, false, fmt.Errorf("%w: %s chunk %s has no data", errCorrupt, what, k)
		}
		_, b, ok := v.BinaryOK()
		if !ok || int64(len(data)+len(b)) > size {
			return nil, i, false, fmt.Errorf("%w: %s chunk %s: bad data", errCorrupt, what, k)
		}
		data = append(data, b...)
	}
	return data, n, true, nil
}
