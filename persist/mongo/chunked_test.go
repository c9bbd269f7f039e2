package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"

	"auth/engine"
	"auth/persist"
	"auth/persist/mongo"
	"auth/persist/mongo/mongotest"
	"auth/persist/storetest"
)

// smallChunks is a configuration under which a batch of more than a few
// changes is stored in chunks of 1 KiB.
func smallChunks(t testing.TB) mongo.Config {
	cfg := mongotest.Config(t)
	cfg.ChunkSize, cfg.MaxInlineEvent = 1024, 1024
	return cfg
}

// batch returns a batch event of n memberships (after adding role).
func batch(tn engine.TenantID, id uint64, role string, n int) engine.Event {
	ev := engine.Event{Tenant: tn, ID: id, Time: time.Unix(1700000000, int64(id)).UTC(), Change: engine.Change{Op: engine.OpBatch},
		Changes: []engine.Change{{Op: engine.OpAddRole, Role: role}}}
	for i := range n {
		ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpAddMembership, Role: role, User: fmt.Sprintf("user-%x-%05d", id, i)})
	}
	return ev
}

func countDocs(t testing.TB, db *driver.Database, coll string) int64 {
	t.Helper()
	n, err := db.Collection(coll).CountDocuments(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// chunksNamed sums the chunks that the stored event documents name.
func chunksNamed(t testing.TB, db *driver.Database) int64 {
	t.Helper()
	cur, err := db.Collection("events").Find(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Chunked *struct {
			Chunks int64 `bson:"chunks"`
		} `bson:"chunked"`
	}
	if err := cur.All(ctxT(t), &docs); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, d := range docs {
		if d.Chunked != nil {
			n += d.Chunked.Chunks
		}
	}
	return n
}

// A batch over MaxInlineEvent is stored in chunks: its document names them
// and counts its changes by op instead of listing them; a smaller one stays
// inline. Both come back whole.
func TestChunkedEventDocument(t *testing.T) {
	cfg := smallChunks(t)
	s := open(t, cfg)
	tn := engine.KeyID("chunked-doc")
	small, big := batch(tn, 1, "small", 3), batch(tn, 2, "big", 200)
	for _, ev := range []*engine.Event{&small, &big} {
		if err := s.Append(ctxT(t), ev); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, cfg)
	var docs []bson.M
	cur, err := db.Collection("events").Find(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctxT(t), &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d event documents", len(docs))
	}
	if _, ok := docs[0]["changes"]; !ok || docs[0]["chunked"] != nil {
		t.Fatalf("small batch not inline: %v", docs[0])
	}
	bin, _ := big.MarshalBinary()
	d := docs[1]
	if d["changes"] != nil || d["op"] != "batch" || d["seq"] != int64(2) || d["id"] != "0000000000000002" {
		t.Fatalf("big batch document: %v", d)
	}
	var typed struct {
		Counts  bson.D `bson:"counts"`
		Chunked struct {
			Nonce  string `bson:"nonce"`
			Chunks int64  `bson:"chunks"`
			Size   int64  `bson:"size"`
			SHA256 string `bson:"sha256"`
		} `bson:"chunked"`
	}
	raw, _ := bson.Marshal(d)
	if err := bson.Unmarshal(raw, &typed); err != nil {
		t.Fatal(err)
	}
	counts := map[string]any{}
	for _, e := range typed.Counts {
		counts[e.Key] = e.Value
	}
	if diff := cmp.Diff(map[string]any{"add_role": int64(1), "add_membership": int64(200)}, counts); diff != "" {
		t.Fatalf("counts (-want +got):\n%s", diff)
	}
	ref := typed.Chunked
	if ref.Chunks < 3 || ref.Size < int64(len(bin))-30 || ref.Size > int64(len(bin)) || len(ref.Nonce) != 16 || len(ref.SHA256) != 64 {
		t.Fatalf("chunked: %+v (binary form %d bytes)", ref, len(bin))
	}
	if n := countDocs(t, db, "event_chunks"); n != ref.Chunks {
		t.Fatalf("%d chunks stored, document names %d", n, ref.Chunks)
	}
	got, err := s.Events(ctxT(t), tn, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]engine.Event{small, big}, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// Appends of large and small events through two handles race for seqs: the
// losers retry at later seqs with the chunks they wrote, and no chunk is
// written twice or left over.
func TestChunkedEventsRace(t *testing.T) {
	cfg := smallChunks(t)
	stores := []*mongo.Store{open(t, cfg), open(t, cfg)}
	tn := engine.KeyID("chunked-race")
	const writers, each = 6, 6
	var (
		mu   sync.Mutex
		sent = map[uint64]engine.Event{} // by id
		wg   sync.WaitGroup
	)
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := uint64(w*100 + i + 1)
				ev := addRole(tn, id, fmt.Sprintf("r%d", id))
				if i%2 == 0 {
					ev = batch(tn, id, fmt.Sprintf("r%d", id), 50+w*10)
				}
				if err := stores[w%2].Append(context.Background(), &ev); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				sent[ev.ID] = ev
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := stores[0].Events(ctxT(t), tn, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Fatalf("%d events stored, %d appended", len(got), writers*each)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d at seq %d", i, ev.Seq)
		}
		if diff := cmp.Diff(sent[ev.ID], ev); diff != "" {
			t.Fatalf("seq %d (-appended +stored):\n%s", ev.Seq, diff)
		}
	}
	db := rawDB(t, cfg)
	if have, named := countDocs(t, db, "event_chunks"), chunksNamed(t, db); have != named {
		t.Fatalf("%d chunks stored, events name %d", have, named)
	}
}

// Retention deletes the chunks of the events it deletes, and a handle whose
// head predates the deletion writes its large event again rather than name
// chunks that retention may have deleted.
func TestChunkedRetention(t *testing.T) {
	cfg := smallChunks(t)
	cfg.KeepEvents = 3
	a, b := open(t, cfg), open(t, cfg)
	tn := engine.KeyID("chunked-retention")
	eng := engine.New()
	appendTo := func(s *mongo.Store, ev engine.Event) {
		t.Helper()
		if err := s.Append(ctxT(t), &ev); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Apply(&ev); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(b, batch(tn, 1, "r1", 60)) // b now caches head 1
	for i := 2; i <= 10; i++ {
		appendTo(a, batch(tn, uint64(i), fmt.Sprintf("r%d", i), 60))
	}
	db := rawDB(t, cfg)
	perEvent := countDocs(t, db, "event_chunks") / 10
	if err := a.SaveSnapshot(ctxT(t), eng.Snapshot(tn)); err != nil {
		t.Fatal(err)
	}
	if n := countDocs(t, db, "events"); n != 3 {
		t.Fatalf("%d events after retention, want 3", n)
	}
	if n := countDocs(t, db, "event_chunks"); n != 3*perEvent {
		t.Fatalf("%d chunks after retention, want %d", n, 3*perEvent)
	}
	appendTo(b, batch(tn, 11, "r11", 60)) // lands at 2 first, a deleted seq
	if _, err := b.Events(ctxT(t), tn, 0, -1); !errors.Is(err, persist.ErrPruned) {
		t.Fatalf("events after 0, deleted by retention: %v, want ErrPruned", err)
	}
	evs, err := b.Events(ctxT(t), tn, 7, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[3].Seq != 11 || evs[3].ID != 11 || len(evs[3].Changes) != 61 {
		t.Fatalf("after the stale append: %d events, last %d", len(evs), evs[len(evs)-1].Seq)
	}
	if have, named := countDocs(t, db, "event_chunks"), chunksNamed(t, db); have != named {
		t.Fatalf("%d chunks stored, events name %d", have, named)
	}
	storetest.CheckLoaded(t, eng, loadAll(t, open(t, cfg))[tn])
}

// Chunks that no event names, as a crashed append leaves them, are never
// read; a missing or altered chunk of a stored event is reported as
// corrupt, not as an outage and not as a smaller batch.
func TestChunkedOrphansAndDamage(t *testing.T) {
	cfg := smallChunks(t)
	s := open(t, cfg)
	tn := engine.KeyID("chunked-orphans")
	ev := batch(tn, 1, "r", 100)
	if err := s.Append(ctxT(t), &ev); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, cfg)
	chunks := db.Collection("event_chunks")
	var first struct {
		Key  string `bson:"_id"`
		Data []byte `bson:"data"`
	}
	if err := chunks.FindOne(ctxT(t), bson.D{}).Decode(&first); err != nil {
		t.Fatal(err)
	}
	nonce := strings.Split(first.Key, ":")[1]
	for _, key := range []string{
		tn.String() + ":0123456789abcdef:000000", // another append's, which died
		tn.String() + ":" + nonce + ":000099",    // past the event's last chunk
		engine.KeyID("x").String() + ":" + nonce + ":000000",
	} {
		if _, err := chunks.InsertOne(ctxT(t), bson.D{{Key: "_id", Value: key}, {Key: "data", Value: []byte("garbage")}}); err != nil {
			t.Fatal(err)
		}
	}
	st := loadAll(t, s)[tn]
	if len(st.Events) != 1 {
		t.Fatalf("Load gave %d events", len(st.Events))
	}
	if diff := cmp.Diff(ev, st.Events[0]); diff != "" {
		t.Fatalf("with orphan chunks (-want +got):\n%s", diff)
	}
	ev2 := batch(tn, 2, "r2", 100)
	if err := s.Append(ctxT(t), &ev2); err != nil || ev2.Seq != 2 {
		t.Fatalf("Append: seq %d, %v", ev2.Seq, err)
	}

	corrupt := func(what string) {
		t.Helper()
		_, err := s.Events(ctxT(t), tn, 0, -1)
		if err == nil || errors.Is(err, persist.ErrUnavailable) || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("%s: Events: %v, want a corrupt-document error", what, err)
		}
	}
	if _, err := chunks.UpdateOne(ctxT(t), bson.D{{Key: "_id", Value: first.Key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: append([]byte{first.Data[0] ^ 1}, first.Data[1:]...)}}}}); err != nil {
		t.Fatal(err)
	}
	corrupt("altered chunk")
	if _, err := chunks.DeleteOne(ctxT(t), bson.D{{Key: "_id", Value: first.Key}}); err != nil {
		t.Fatal(err)
	}
	corrupt("missing chunk")
}

// With the server gone, the append of a large event fails within about
// Timeout (its first chunk cannot be written), says that nothing was
// appended, and leaves nothing behind.
func TestChunkedAppendUnreachable(t *testing.T) {
	srv := mongotest.Start(t)
	cfg := mongo.DefaultConfig(srv.URI())
	cfg.Database = mongotest.Database(t)
	cfg.ChunkSize, cfg.MaxInlineEvent, cfg.Timeout = 1024, 1024, time.Second
	s := open(t, cfg)
	tn := engine.KeyID("chunked-down")
	first := addRole(tn, 1, "a")
	if err := s.Append(ctxT(t), &first); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ev := batch(tn, 2, "b", 500)
	start := time.Now()
	err := s.Append(context.Background(), &ev)
	took := time.Since(start)
	if !errors.Is(err, persist.ErrUnavailable) || errors.Is(err, persist.ErrAmbiguous) || took > 2*time.Second {
		t.Fatalf("Append while down: %v after %v; want ErrUnavailable, not ErrAmbiguous, within about 1s", err, took)
	}
	t.Logf("Append while down: %v after %v", err, took.Round(time.Millisecond))
	srv.Start()
	evs, err := s.Events(ctxT(t), tn, 0, -1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("after the restart: %d events, %v", len(evs), err)
	}
	if n := countDocs(t, rawDB(t, cfg), "event_chunks"); n != 0 {
		t.Fatalf("%d chunks left", n)
	}
}

// The insert of a large event's document is cut after the server took it:
// the append settles that it happened, keeps the chunks, and the event is
// stored once, whole.
func TestChunkedAmbiguousInsertResolved(t *testing.T) {
	f := newCutFixture(t, "chunked-ambiguous", func(c *mongo.Config) { c.ChunkSize, c.MaxInlineEvent = 1024, 1024 })
	s, p, tn := f.s, f.p, f.tn
	p.armed.Store(true)
	ev := batch(tn, 2, "b", 200)
	if err := s.Append(ctxT(t), &ev); err != nil {
		t.Fatalf("Append through a cut connection: %v", err)
	}
	if p.cuts.Load() != 1 || ev.Seq != 2 {
		t.Fatalf("cuts %d, seq %d", p.cuts.Load(), ev.Seq)
	}
	evs, err := s.Events(ctxT(t), tn, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]engine.Event{f.first, ev}, evs); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// An append of a large event may take longer than Timeout, which bounds
// each of its round trips, not the whole.
func TestChunkedAppendLongerThanTimeout(t *testing.T) {
	cfg := smallChunks(t)
	cfg.Timeout = 300 * time.Millisecond
	s := open(t, cfg)
	tn := engine.KeyID("chunked-slow")
	ev := batch(tn, 1, "r", 80_000) // over a thousand chunks of 1 KiB
	start := time.Now()
	if err := s.Append(ctxT(t), &ev); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	chunks := countDocs(t, rawDB(t, cfg), "event_chunks")
	t.Logf("%d chunks written in %v", chunks, took.Round(time.Millisecond))
	if took <= cfg.Timeout {
		t.Fatalf("append took %v, not longer than Timeout (%v): the test proves nothing", took, cfg.Timeout)
	}
	evs, err := s.Events(ctxT(t), tn, 0, -1)
	if err != nil || len(evs) != 1 || len(evs[0].Changes) != len(ev.Changes) {
		t.Fatalf("Events: %d, %v", len(evs), err)
	}
}

// TestSweepOrphanChunks: chunks no event names are deleted once old
// enough; the chunks of stored events, young orphans (an append may still
// be writing them) and other tenants' chunks stay.
func TestSweepOrphanChunks(t *testing.T) {
	eachAccess(t, func(t *testing.T, access string) {
		cfg := smallChunks(t)
		cfg.Access = access
		s := open(t, cfg)
		tn, other := engine.KeyID("sweep"), engine.KeyID("sweep-other")
		ev := batch(tn, 1, "r", 60)
		if err := s.Append(ctxT(t), &ev); err != nil {
			t.Fatal(err)
		}
		db := rawDB(t, cfg)
		named := countDocs(t, db, "event_chunks")
		old := bson.NewDateTimeFromTime(time.Now().Add(-2 * mongo.OrphanChunkAge))
		for _, c := range []struct {
			key     string
			written bson.DateTime
		}{
			{tn.String() + ":00000000000000aa:000000", old},
			{tn.String() + ":00000000000000aa:000001", old},
			{tn.String() + ":00000000000000bb:000000", bson.NewDateTimeFromTime(time.Now())},
			{other.String() + ":00000000000000cc:000000", old},
		} {
			if _, err := db.Collection("event_chunks").InsertOne(ctxT(t), bson.D{{Key: "_id", Value: c.key}, {Key: "data", Value: []byte("x")}, {Key: "written", Value: c.written}}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.SweepOrphanChunks(ctxT(t), tn)
		if err != nil || n != 2 {
			t.Fatalf("swept %d (%v), want the 2 old orphans", n, err)
		}
		if got := countDocs(t, db, "event_chunks"); got != named+2 {
			t.Fatalf("%d chunks left, want %d (the event's, a young orphan, another tenant's)", got, named+2)
		}
		evs, err := s.Events(ctxT(t), tn, 0, -1)
		if err != nil || len(evs) != 1 || len(evs[0].Changes) != 61 {
			t.Fatalf("the event after the sweep: %d events, %v", len(evs), err)
		}
	})
}
