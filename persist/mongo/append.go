package mongo

import (
	"context"
	"crypto/sha256"
	hexenc "encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
	"auth/persist"
)

// appendState is what a handle knows about a tenant it appends to. Appends
// to one tenant through one handle take turns (sem), so that they do not
// race each other for seqs; they race only other handles.
type appendState struct {
	sem chan struct{} // holds a token while an append runs
	// Guarded by sem:
	known bool   // the tenant is listed and head was read from the store
	head  uint64 // the highest seq known to exist
}

func (s *Store) appendState(tenant engine.TenantID) *appendState {
	s.tenantsMu.Lock()
	defer s.tenantsMu.Unlock()
	st := s.appending[tenant]
	if st == nil {
		st = &appendState{sem: make(chan struct{}, 1)}
		s.appending[tenant] = st
	}
	return st
}

// Append implements persist.Store.
//
// It inserts the event under the key of the tenant's next seq, as this
// handle knows it; the unique _id index lets exactly one of the writers that
// race for a seq win it, and the others reload the head and try the next
// one. That takes at most cfg.Timeout, retries included.
//
// A batch whose document would be larger than cfg.MaxInlineEvent is first
// written in chunks (see writeEventChunks), each within cfg.Timeout, and its
// event document, inserted as above, names them: the insert that wins the
// seq is still what makes the event exist, all of it or nothing.
func (s *Store) Append(ctx context.Context, ev *engine.Event) error {
	ev.Seq = 0
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.wg.Done()
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("mongo: append: %w", err)
	}
	hex := ev.Tenant.String()
	var big *bigEvent
	if ev.Op == engine.OpBatch && inlineSize(ev, s.cfg.maxInline()) > s.cfg.maxInline() {
		var err error
		if big, err = s.prepareBig(ev); err != nil {
			return fmt.Errorf("mongo: append to tenant %s: %w", hex, err)
		}
	}
	for rewrites := 0; ; rewrites++ {
		if big != nil {
			if err := s.writeEventChunks(ctx, hex, big); err != nil {
				return s.appendErr(hex, err, false)
			}
		}
		actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		seq, clean, err := s.append(actx, ev, big)
		cancel()
		if errors.Is(err, errRewrite) && rewrites < 3 {
			// Retention may have deleted the chunks along with the event
			// that named them: write them again under a new nonce.
			s.deleteEventChunks(ctx, hex, big.ref)
			big.ref.Nonce = newNonce()
			continue
		}
		if err != nil {
			if big != nil && clean {
				s.deleteEventChunksLater(hex, big.ref)
			}
			if errors.Is(err, errRewrite) {
				err = s.appendErr(hex, err, false)
			}
			return err
		}
		ev.Seq = seq
		return nil
	}
}

// prepareBig encodes an event to be stored in chunks.
func (s *Store) prepareBig(ev *engine.Event) (*bigEvent, error) {
	data, err := chunkedForm(ev)
	if err != nil {
		return nil, err
	}
	n := (len(data) + s.cfg.ChunkSize - 1) / s.cfg.ChunkSize
	if n > maxEventChunks {
		return nil, fmt.Errorf("event of %d bytes needs more than %d chunks", len(data), maxEventChunks)
	}
	sum := sha256.Sum256(data)
	return &bigEvent{
		data:   data,
		ref:    eventChunks{Nonce: newNonce(), Chunks: int32(n), Size: int64(len(data)), SHA256: hexenc.EncodeToString(sum[:])},
		counts: opCounts(ev.Changes),
	}, nil
}

// writeEventChunks writes the chunks of big under its nonce, which no other
// append uses. Each chunk gets cfg.Timeout, retries of a transient failure
// included, so an unreachable server fails the first chunk within that;
// the whole takes as long as the chunks take. On failure nothing is
// appended, and the chunks it may have written are deleted in the
// background.
func (s *Store) writeEventChunks(ctx context.Context, hex string, big *bigEvent) error {
	size := s.cfg.ChunkSize
	for i := range int(big.ref.Chunks) {
		doc := eventChunkDoc{
			Key:     eventChunkKey(hex, big.ref.Nonce, i),
			Data:    big.data[i*size : min((i+1)*size, len(big.data))],
			Written: bson.NewDateTimeFromTime(time.Now()),
		}
		if sent, err := s.insertChunk(ctx, doc); err != nil {
			written := i
			if sent {
				written++ // chunk i may have gone in all the same
			}
			s.deleteEventChunksLater(hex, eventChunks{Nonce: big.ref.Nonce, Chunks: int32(written)})
			return fmt.Errorf("write chunk %d of %d: %w", i+1, big.ref.Chunks, err)
		}
	}
	return nil
}

// insertChunk inserts one chunk within cfg.Timeout, retrying transient
// failures. On error, sent says that an attempt may have written it.
func (s *Store) insertChunk(ctx context.Context, doc eventChunkDoc) (sent bool, err error) {
	ctx, cancel := s.rt(ctx)
	defer cancel()
	pause := backoff{next: 5 * time.Millisecond}
	for {
		_, err := s.eventChunks.InsertOne(ctx, doc)
		if err == nil || (sent && mongo.IsDuplicateKeyError(err)) {
			// A duplicate after an attempt that may have been sent: that
			// attempt went through.
			return false, nil
		}
		// A duplicate on the first attempt is another append's chunk
		// (nonces are random, so this does not happen): not ours.
		if !notSent(err) && !rejected(err) {
			sent = true
		}
		if !transient(err) || ctx.Err() != nil {
			return sent, err
		}
		pause.wait(ctx)
	}
}

// deleteEventChunksLater deletes an event's chunks in the background (Close
// waits for it), one _id at a time, each within cfg.Timeout, and stops at
// the first failure: what it leaves is garbage that no reader looks at. The
// caller must be a call admitted by enter.
func (s *Store) deleteEventChunksLater(hex string, ref eventChunks) {
	if ref.Chunks == 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.deleteEventChunks(context.Background(), hex, ref)
	}()
}

// deleteEventChunks deletes an event's chunks, one _id at a time, ignoring
// failures (what it leaves is garbage that no reader looks at).
func (s *Store) deleteEventChunks(ctx context.Context, hex string, ref eventChunks) {
	ctx = context.WithoutCancel(ctx)
	for i := range int(ref.Chunks) {
		rctx, cancel := s.rt(ctx)
		_, err := s.eventChunks.DeleteOne(rctx, bson.D{{Key: "_id", Value: eventChunkKey(hex, ref.Nonce, i)}})
		cancel()
		if err != nil {
			return
		}
	}
}

// append claims the tenant's next seq for ev: it inserts ev's document
// (naming big's chunks, already written, if big is not nil). On error,
// clean says that nothing was stored; otherwise the outcome is unknown
// (the error wraps ErrAmbiguous, unless a corrupt document's error hides
// that).
func (s *Store) append(ctx context.Context, ev *engine.Event, big *bigEvent) (seq uint64, clean bool, err error) {
	tenant, hex := ev.Tenant, ev.Tenant.String()
	st := s.appendState(tenant)
	select {
	case st.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, true, s.appendErr(hex, ctx.Err(), false)
	}
	defer func() { <-st.sem }()

	var (
		lastErr error
		// pinned is the seq of an insert that may have happened: until
		// that is settled, retries use the same seq, so that the event
		// can never be stored twice.
		pinned uint64
		pause  = backoff{next: 5 * time.Millisecond}
		dups   int // duplicates in a row since the last head search
	)
	// retry records a failed read of the store and waits before the next
	// attempt; false: the error is not transient, give up.
	retry := func(err error) bool {
		lastErr = err
		if !transient(err) {
			return false
		}
		pause.wait(ctx)
		return true
	}
attempts:
	for ctx.Err() == nil {
		if !st.known {
			// First append to the tenant through this handle: list the
			// tenant before its first event can exist, then read its head.
			h, err := s.register(ctx, hex)
			if err != nil {
				if !retry(err) {
					break attempts
				}
				continue
			}
			st.head, st.known = h, true
		}
		seq := st.head + 1
		if pinned != 0 {
			seq = pinned
		}
		_, err := s.events.InsertOne(ctx, newEventDoc(ev, hex, seq, big))
		switch {
		case err == nil:
			if s.cfg.KeepEvents > 0 {
				ok, err := s.verifyNotPruned(ctx, ev, hex, seq)
				if err != nil {
					return 0, false, s.appendErr(hex, err, true)
				}
				if !ok {
					// This handle's head was older than the events that
					// retention deleted, so seq was reused; verifyNotPruned
					// took the event back out. Start again from the store.
					st.known, pinned = false, 0
					if big != nil {
						return 0, true, errRewrite
					}
					continue
				}
			}
			st.head = seq
			s.see(hex, seq)
			return seq, false, nil

		case mongo.IsDuplicateKeyError(err):
			if pinned != 0 {
				// Did our earlier attempt win this seq after all?
				id, found, err := s.eventIDAt(ctx, hex, seq)
				if err != nil {
					lastErr = err
					pause.wait(ctx)
					continue
				}
				if found && id == ev.ID {
					st.head = seq
					return seq, false, nil
				}
				pinned = 0 // another writer holds seq: ours never can
			}
			st.head = seq
			s.see(hex, seq)
			if dups++; dups <= insertProbes {
				// The insert was the cheapest probe there is (the unique
				// index answers it): try the next seq.
				continue
			}
			dups = 0
			h, err := s.headAfter(ctx, hex, seq)
			if err != nil {
				if !retry(err) {
					break attempts
				}
				continue
			}
			st.head = h

		default:
			lastErr = err
			if pinned == 0 && !notSent(err) && !rejected(err) {
				pinned = seq
			}
			if pinned == 0 && !transient(err) {
				return 0, true, s.appendErr(hex, err, false)
			}
			pause.wait(ctx)
		}
	}
	switch {
	case lastErr == nil:
		lastErr = ctx.Err()
	case ctx.Err() != nil && !errors.Is(lastErr, ctx.Err()):
		lastErr = fmt.Errorf("%w; then %w", lastErr, ctx.Err())
	}
	return 0, pinned == 0, s.appendErr(hex, lastErr, pinned != 0)
}

// insertProbes is how many seqs in a row an append tries by inserting,
// after duplicates, before it searches for the head by lookups. Another
// handle is usually only a few seqs ahead, and a duplicate insert is
// answered by the unique _id index on every server, whereas a lookup scans
// the collection on the test server (see the package doc).
const insertProbes = 4

// headAfter finds the tenant's head after an insert at seq met a duplicate
// (so seq exists): see readHeadFrom.
func (s *Store) headAfter(ctx context.Context, hex string, seq uint64) (uint64, error) {
	return s.acc.head(ctx, hex, seq)
}

func (s *Store) appendErr(hex string, err error, ambiguous bool) error {
	switch {
	case errors.Is(err, errCorrupt):
		return fmt.Errorf("mongo: append to tenant %s: %w", hex, err)
	case ambiguous:
		return fmt.Errorf("mongo: append to tenant %s: %w: %w: %w", hex, persist.ErrUnavailable, persist.ErrAmbiguous, err)
	default:
		return fmt.Errorf("mongo: append to tenant %s: %w: %w", hex, persist.ErrUnavailable, err)
	}
}

// register lists the tenant in the tenants collection and returns its head.
func (s *Store) register(ctx context.Context, hex string) (uint64, error) {
	_, err := s.tenants.InsertOne(ctx, tenantDoc{Key: hex, Created: bson.NewDateTimeFromTime(time.Now())})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return 0, err
	}
	return s.readHead(ctx, hex)
}

// eventIDAt returns the ID of the event stored at seq.
func (s *Store) eventIDAt(ctx context.Context, hex string, seq uint64) (uint64, bool, error) {
	raw, found, err := findOne(ctx, s.events, bson.D{{Key: "_id", Value: eventKey(hex, seq)}},
		options.FindOne().SetProjection(bson.D{{Key: "id", Value: 1}}))
	if err != nil || !found {
		return 0, false, err
	}
	idHex, err := stringField(raw, "id")
	if err != nil {
		return 0, false, err
	}
	id, err := strconv.ParseUint(idHex, 16, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: event %s: id %q", errCorrupt, eventKey(hex, seq), idHex)
	}
	return id, true, nil
}
