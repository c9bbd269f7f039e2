package bus_test

import (
	"context"
	"testing"
	"time"

	"auth/persist"
	mongostore "auth/persist/mongo"
	"auth/persist/mongo/mongotest"
)

// The end-to-end tests again over MongoDB (the server MONGO_URI names, or
// the FerretDB launcher): each replica has its own store, as separate
// processes would, over one database.
func mongoStores(t *testing.T) func(i int) persist.Store {
	t.Helper()
	cfg := mongotest.Config(t)
	stores := make([]persist.Store, 3)
	for i := range stores {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := mongostore.Open(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	return func(i int) persist.Store { return stores[i] }
}

func TestMongoConvergeUnderConcurrentWrites(t *testing.T) {
	testConverge(t, mongoStores(t), 2*time.Second)
}

func TestMongoConvergeWithFaults(t *testing.T) {
	testConvergeWithFaults(t, mongoStores(t), time.Second)
}
