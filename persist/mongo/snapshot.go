package mongo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"auth/engine"
	"auth/persist"
)

// SaveSnapshot implements persist.Store.
//
// The binary goes into chunk documents first, under keys no other save
// uses; then the tenant's snapshot document is pointed at them, by an
// insert for the tenant's first snapshot and otherwise by a replace that
// matches the document it read (a compare-and-swap); then the chunks of the
// snapshot it replaced are deleted. A reader that finds a chunk missing has
// read a snapshot document that was replaced meanwhile, and reads again.
func (s *Store) SaveSnapshot(ctx context.Context, snap *engine.Snapshot) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.wg.Done()
	data, err := snap.MarshalBinary()
	if err != nil {
		return fmt.Errorf("mongo: snapshot: %w", err)
	}
	hexT := snap.Tenant.String()
	what := "save snapshot of tenant " + hexT

	rctx, cancel := s.rt(ctx)
	head, err := s.readHead(rctx, hexT)
	cancel()
	if err != nil {
		if errors.Is(err, errCorrupt) {
			return fmt.Errorf("mongo: %s: %w", what, err)
		}
		return unavailable(what, err)
	}
	if snap.Seq > head {
		return fmt.Errorf("mongo: %s: %w: snapshot at %d, head at %d", what, persist.ErrSnapshotAhead, snap.Seq, head)
	}
	rctx, cancel = s.rt(ctx)
	cur, err := s.readSnapshotDoc(rctx, hexT)
	cancel()
	if err != nil {
		return s.snapErr(what, err)
	}
	if cur != nil && uint64(cur.Seq) >= snap.Seq {
		return nil
	}

	sum := sha256.Sum256(data)
	doc := snapshotDoc{
		Key:         hexT,
		Seq:         int64(snap.Seq),
		Nonce:       newNonce(),
		Chunks:      int32((len(data) + s.cfg.ChunkSize - 1) / s.cfg.ChunkSize),
		Size:        int64(len(data)),
		SHA256:      hex.EncodeToString(sum[:]),
		Saved:       bson.NewDateTimeFromTime(time.Now()),
		Users:       len(snap.Users),
		Roles:       len(snap.Roles),
		Permissions: len(snap.Permissions),
	}
	written := 0
	for i := range int(doc.Chunks) {
		lo, hi := i*s.cfg.ChunkSize, min((i+1)*s.cfg.ChunkSize, len(data))
		rctx, cancel := s.rt(ctx)
		_, err := s.chunks.InsertOne(rctx, chunkDoc{Key: chunkKey(hexT, snap.Seq, doc.Nonce, i), Data: data[lo:hi]})
		cancel()
		if err != nil {
			s.deleteChunks(ctx, hexT, uint64(doc.Seq), doc.Nonce, written+1)
			return unavailable(what, err)
		}
		written++
	}

	// Point the tenant's snapshot document at the chunks, replacing old.
	// uncertain is set once a write failed in a way that may have happened
	// anyway: then our chunks are left in place rather than risk deleting
	// the chunks of the live snapshot.
	old, uncertain := cur, false
	for attempt := 0; ; attempt++ {
		if attempt == 10 {
			return fmt.Errorf("mongo: %s: %w: snapshot document keeps changing", what, persist.ErrUnavailable)
		}
		won := true
		rctx, cancel := s.rt(ctx)
		if old == nil {
			_, err = s.snapshots.InsertOne(rctx, doc)
			if mongo.IsDuplicateKeyError(err) {
				err, won = nil, false
			}
		} else {
			var res *mongo.UpdateResult
			res, err = s.snapshots.ReplaceOne(rctx,
				bson.D{{Key: "_id", Value: hexT}, {Key: "seq", Value: old.Seq}, {Key: "nonce", Value: old.Nonce}}, doc)
			if err == nil && res.MatchedCount == 0 {
				won = false
			}
		}
		cancel()
		if err != nil {
			won = false
			if !notSent(err) && !rejected(err) {
				uncertain = true
			}
			if !transient(err) || ctx.Err() != nil {
				return unavailable(what, err)
			}
		}
		if won {
			break
		}
		// Lost a race, or do not know: read the document again.
		rctx, cancel = s.rt(ctx)
		now, err := s.readSnapshotDoc(rctx, hexT)
		cancel()
		if err != nil {
			return s.snapErr(what, err)
		}
		if now != nil && now.Nonce == doc.Nonce {
			break // the write that failed went through
		}
		if now != nil && now.Seq >= doc.Seq {
			if !uncertain {
				s.deleteChunks(ctx, hexT, uint64(doc.Seq), doc.Nonce, int(doc.Chunks))
			}
			return nil // another save got there first
		}
		old = now
	}

	// Ours is the tenant's snapshot now: clean up behind it. Failures here
	// leave garbage, not damage, so they are not reported.
	if old != nil {
		s.deleteChunks(ctx, hexT, uint64(old.Seq), old.Nonce, int(old.Chunks))
	}
	if k := s.cfg.KeepEvents; k > 0 && snap.Seq > k {
		s.pruneEvents(ctx, hexT, snap.Seq-k)
	}
	s.maybeSweep(ctx, hexT)
	return nil
}

func (s *Store) snapErr(what string, err error) error {
	if errors.Is(err, errCorrupt) {
		return fmt.Errorf("mongo: %s: %w", what, err)
	}
	return unavailable(what, err)
}

// deleteChunks deletes chunks 0..n-1 of a snapshot, one _id at a time (the
// cheapest query on every server), ignoring failures.
func (s *Store) deleteChunks(ctx context.Context, hexT string, seq uint64, nonce string, n int) {
	ctx = context.WithoutCancel(ctx)
	for i := range n {
		rctx, cancel := s.rt(ctx)
		_, err := s.chunks.DeleteOne(rctx, bson.D{{Key: "_id", Value: chunkKey(hexT, seq, nonce, i)}})
		cancel()
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return
		}
	}
}

// readSnapshotDoc reads the tenant's snapshot document, nil if none.
func (s *Store) readSnapshotDoc(ctx context.Context, hexT string) (*snapshotDoc, error) {
	raw, found, err := findOne(ctx, s.snapshots, bson.D{{Key: "_id", Value: hexT}}, nil)
	if err != nil || !found {
		return nil, err
	}
	var d snapshotDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%w: snapshot document of tenant %s: %v", errCorrupt, hexT, err)
	}
	if err := d.check(MaxChunkSize); err != nil || d.Key != hexT {
		return nil, fmt.Errorf("%w: snapshot document of tenant %s: %v", errCorrupt, hexT, err)
	}
	return &d, nil
}

// readSnapshot reads the tenant's latest snapshot, nil if none, checking it
// against its document's size and hash.
func (s *Store) readSnapshot(ctx context.Context, tenant engine.TenantID, hexT string) (*engine.Snapshot, error) {
	what := "snapshot of tenant " + hexT
	var prevNonce string
	for attempt := 0; ; attempt++ {
		rctx, cancel := s.rt(ctx)
		doc, err := s.readSnapshotDoc(rctx, hexT)
		cancel()
		if err != nil {
			return nil, s.snapErr("read "+what, err)
		}
		if doc == nil {
			return nil, nil
		}
		if doc.Nonce == prevNonce || attempt == 10 {
			return nil, fmt.Errorf("%w: %s: chunks of the snapshot at seq %d are missing", errCorrupt, what, doc.Seq)
		}
		data, complete, err := s.readChunks(ctx, hexT, doc)
		if err != nil {
			return nil, err
		}
		if !complete {
			// Replaced while we read it; read the new one.
			prevNonce = doc.Nonce
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); int64(len(data)) != doc.Size || got != doc.SHA256 {
			return nil, fmt.Errorf("%w: %s: %d bytes with sha256 %s, want %d bytes with %s",
				errCorrupt, what, len(data), got, doc.Size, doc.SHA256)
		}
		snap := new(engine.Snapshot)
		if err := snap.UnmarshalBinary(data); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errCorrupt, what, err)
		}
		if snap.Tenant != tenant || snap.Seq != uint64(doc.Seq) {
			return nil, fmt.Errorf("%w: %s: binary holds tenant %s at seq %d, document says seq %d",
				errCorrupt, what, snap.Tenant, snap.Seq, doc.Seq)
		}
		return snap, nil
	}
}

// readChunks reads a snapshot's chunks by _id; complete is false if one is
// missing.
func (s *Store) readChunks(ctx context.Context, hexT string, doc *snapshotDoc) (data []byte, complete bool, err error) {
	keyOf := func(i int) string { return chunkKey(hexT, uint64(doc.Seq), doc.Nonce, i) }
	data, _, complete, err = s.readChunkRange(ctx, s.chunks, "snapshot", keyOf, 0, int(doc.Chunks), doc.Size, make([]byte, 0, doc.Size))
	if err != nil || !complete {
		return nil, false, err
	}
	return data, true, nil
}
