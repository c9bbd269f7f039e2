package mongo_test

import (
	"regexp"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/persist/mongo/mongotest"
)

// TestEpoch: a database's epoch is made by the first handle that opens it
// and kept in the database: every later handle (another replica, a
// restart) reads the same; once the operator deletes it (the step after a
// restore from a dump), the next open makes a new one.
func TestEpoch(t *testing.T) {
	cfg := mongotest.Config(t)
	a := open(t, cfg)
	e := a.Epoch()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(e) {
		t.Fatalf("epoch %q, want 16 hex digits", e)
	}
	b := open(t, cfg)
	if b.Epoch() != e {
		t.Errorf("a second handle's epoch %q, want the first's %q", b.Epoch(), e)
	}
	db := rawDB(t, cfg)
	var doc struct {
		Epoch string `bson:"epoch"`
	}
	if err := db.Collection("meta").FindOne(ctxT(t), bson.D{{Key: "_id", Value: "epoch"}}).Decode(&doc); err != nil || doc.Epoch != e {
		t.Errorf("the epoch document: %+v, %v; want epoch %q", doc, err, e)
	}
	if _, err := db.Collection("meta").DeleteOne(ctxT(t), bson.D{{Key: "_id", Value: "epoch"}}); err != nil {
		t.Fatal(err)
	}
	c := open(t, cfg)
	if c.Epoch() == e || c.Epoch() == "" {
		t.Errorf("after the epoch document was deleted: epoch %q, want a new one (was %q)", c.Epoch(), e)
	}
	if d := open(t, cfg); d.Epoch() != c.Epoch() {
		t.Errorf("the new epoch is not kept: %q then %q", c.Epoch(), d.Epoch())
	}
}
