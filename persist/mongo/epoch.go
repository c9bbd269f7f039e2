package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The store's epoch: a random id kept in the database, in the document
// {_id: "epoch", epoch: "<16 hex digits>"} of the collection "meta",
// written once by the first process that opens the database (every
// replica sharing it then reads the same) and never changed by this
// package. Seqs of one epoch mean nothing in another (see the README,
// "Backups and recovery"): a database restored from a dump goes back to
// the dump's seqs and then gives the seqs the original had used to other
// writes. mongorestore restores the epoch document with the rest, and no
// process can tell a restored database from the original, so restoring
// one takes a step of the operator: delete the epoch document before the
// first replica starts on the restored database
// (db.meta.deleteOne({_id: "epoch"})), and the first replica to start
// writes a new one.

const (
	collMeta = "meta"
	epochID  = "epoch"
)

// loadEpoch reads the database's epoch, writing a new one if it has none.
func (s *Store) loadEpoch(ctx context.Context) (string, error) {
	coll := s.client.Database(s.cfg.Database).Collection(collMeta)
	// Two replicas starting at once both try; the unique _id keeps one.
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: epochID}, {Key: "epoch", Value: newNonce()}})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return "", unavailable("write the store's epoch", err)
	}
	raw, ok, err := findOne(ctx, coll, bson.D{{Key: "_id", Value: epochID}}, nil)
	switch {
	case err != nil:
		return "", unavailable("read the store's epoch", err)
	case !ok:
		return "", unavailable("read the store's epoch", fmt.Errorf("the epoch document is missing just after it was written"))
	}
	e, err := stringField(raw, "epoch")
	if err != nil || e == "" {
		return "", fmt.Errorf("mongo: the store's epoch document (%s, _id %q): %w", collMeta, epochID, errCorrupt)
	}
	return e, nil
}

// Epoch returns the database's epoch (see above): it is the same for
// every process sharing the database.
func (s *Store) Epoch() string { return s.epoch }
