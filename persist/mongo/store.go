package mongo

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	hexenc "encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"auth/engine"
	"auth/persist"
)

// Store keeps events and snapshots in a MongoDB database. It is safe for
// concurrent use, and any number of processes may share one database.
type Store struct {
	cfg    Config
	client *mongo.Client

	// events and eventsLatest both read with the configured read concern
	// ("majority" with majority writes): every decision about seqs (the
	// head, "is this event mine", "was this seq pruned") is taken on what
	// a failover cannot roll back (see the package doc, Failover).
	// eventsLatest is the handle the append path writes through.
	events, eventsLatest *mongo.Collection
	eventChunks          *mongo.Collection // chunks of large events
	tenants              *mongo.Collection
	snapshots, chunks    *mongo.Collection

	mu     sync.RWMutex // guards closed against wg.Add
	closed bool
	wg     sync.WaitGroup // calls in flight

	tenantsMu sync.Mutex
	appending map[engine.TenantID]*appendState

	seenMu sync.Mutex
	seen   map[string]uint64 // per tenant hex: the highest seq known to have existed

	// partial is the start of the last event stored in chunks whose read
	// failed part way (a round trip timed out, the call's context ended):
	// the next read of the same chunks goes on from there, so that an
	// event too large to read within one caller's deadline is still read
	// whole over a few calls.
	partialMu sync.Mutex
	partial   partialRead

	headsByProbe atomic.Bool // the server lacks $first in $group (see headsByProbing)
}

type partialRead struct {
	key    string // tenant hex:nonce
	data   []byte // chunks 0..chunks-1, joined
	chunks int
}

// appendState is what a handle knows about a tenant it appends to. Appends
// to one tenant through one handle take turns (sem), so that they do not
// race each other for seqs; they race only other handles.
type appendState struct {
	sem chan struct{} // holds a token while an append runs
	// Guarded by sem:
	known bool   // the tenant is listed and head was read from the store
	head  uint64 // the highest seq known to exist
}

var _ persist.Store = (*Store)(nil)

// Open connects to the server and checks that it answers within
// cfg.Timeout; an unreachable server gives an error wrapping
// persist.ErrUnavailable. The collections are created by the first writes.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, _ := cfg.w()
	rc := readconcern.Local()
	if w == "majority" {
		rc = readconcern.Majority()
	}
	opts := options.Client().ApplyURI(cfg.URI).
		SetServerSelectionTimeout(cfg.Timeout).
		SetConnectTimeout(cfg.Timeout).
		SetWriteConcern(&writeconcern.WriteConcern{W: w}).
		SetReadConcern(rc)
	if opts.AppName == nil {
		opts.SetAppName("auth")
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect to %s: %w", Redacted(cfg.URI), err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
		return nil, fmt.Errorf("mongo: connect to %s: %w: %w", Redacted(cfg.URI), persist.ErrUnavailable, err)
	}
	db := client.Database(cfg.Database)
	s := &Store{
		cfg:          cfg,
		client:       client,
		events:       db.Collection(collEvents),
		eventsLatest: db.Collection(collEvents),
		eventChunks:  db.Collection(collEventChunks),
		tenants:      db.Collection(collTenants),
		snapshots:    db.Collection(collSnapshots),
		chunks:       db.Collection(collChunks),
		appending:    map[engine.TenantID]*appendState{},
		seen:         map[string]uint64{},
	}
	ictx, icancel := context.WithTimeout(ctx, cfg.Timeout)
	defer icancel()
	if _, err := s.events.Indexes().CreateOne(ictx, mongo.IndexModel{Keys: headsIndex, Options: options.Index().SetName(headsIndexName)}); err != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
		return nil, unavailable("create the heads index", err)
	}
	return s, nil
}

// headsIndex orders a tenant's events by seq, newest first, so that Heads
// is one pass over the index (MongoDB answers the $sort + $group with a
// DISTINCT_SCAN: one index entry per tenant).
var headsIndex = bson.D{{Key: "tenant", Value: 1}, {Key: "seq", Value: -1}}

const headsIndexName = "tenant_seq"

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// enter admits a call unless the store is closed; the caller must call
// s.wg.Done when it returns.
func (s *Store) enter(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return persist.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mongo: %w: %w", persist.ErrUnavailable, err)
	}
	s.wg.Add(1)
	return nil
}

// Close implements persist.Store: calls in flight finish first.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return persist.ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongo: close: %w", err)
	}
	return nil
}

// rt bounds one round trip.
func (s *Store) rt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Timeout)
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

// errRewrite is returned by append for an event stored in chunks that it
// took back out of a seq retention had deleted (see verifyNotPruned):
// retention may have deleted its chunks too.
var errRewrite = errors.New("event landed among deleted events; its chunks must be written again")

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
attempts:
	for ctx.Err() == nil {
		if !st.known {
			// First append to the tenant through this handle: list the
			// tenant before its first event can exist, then read its head.
			h, err := s.register(ctx, hex)
			if err != nil {
				lastErr = err
				if !transient(err) {
					break attempts
				}
				pause.wait(ctx)
				continue
			}
			st.head, st.known = h, true
		}
		seq := st.head + 1
		if pinned != 0 {
			seq = pinned
		}
		_, err := s.eventsLatest.InsertOne(ctx, newEventDoc(ev, hex, seq, big))
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
				lastErr = err
				if !transient(err) {
					break attempts
				}
				pause.wait(ctx)
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
	return s.readHeadFrom(ctx, s.eventsLatest, hex, seq)
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
	return s.readHead(ctx, s.eventsLatest, hex)
}

// findOne reads the first document a query gives, as raw bytes; found is
// false if there is none. Errors are the server's or the network's.
func findOne(ctx context.Context, coll *mongo.Collection, filter any, opts *options.FindOneOptionsBuilder) (bson.Raw, bool, error) {
	var res *mongo.SingleResult
	if opts != nil {
		res = coll.FindOne(ctx, filter, opts)
	} else {
		res = coll.FindOne(ctx, filter)
	}
	raw, err := res.Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return raw, true, nil
}

// stringField returns a string field of raw, or an error wrapping
// errCorrupt.
func stringField(raw bson.Raw, key string) (string, error) {
	v, err := raw.LookupErr(key)
	if err != nil {
		return "", fmt.Errorf("%w: document without %s", errCorrupt, key)
	}
	s, ok := v.StringValueOK()
	if !ok {
		return "", fmt.Errorf("%w: %s is not a string", errCorrupt, key)
	}
	return s, nil
}

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

// eventIDAt returns the ID of the event stored at seq.
func (s *Store) eventIDAt(ctx context.Context, hex string, seq uint64) (uint64, bool, error) {
	raw, found, err := findOne(ctx, s.eventsLatest, bson.D{{Key: "_id", Value: eventKey(hex, seq)}},
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
			_, err = s.eventsLatest.DeleteOne(ctx, bson.D{
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

// Reads of events take up to maxLookups events by _id lookups, at most
// lookupWindow of them in flight (the first window of a read whose length
// is unknown is one lookup, then they double), and only the rest of a longer
// read with a range query. Most reads are short: a replica fetching the few
// events it missed, or a start after a recent snapshot. Lookups by _id are
// the cheapest query on every server; a range query over the events is a
// single index scan on MongoDB but decodes the whole collection on the test
// server (see the package doc).
const (
	lookupWindow = 8
	maxLookups   = 64
)

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
	want := func() int { // events still wanted, -1 for all
		if limit < 0 {
			return -1
		}
		return limit - len(out)
	}
	next, ended, window := after+1, false, 1
	for !ended && want() != 0 && len(out) < maxLookups {
		n := min(window, maxLookups-len(out))
		if limit >= 0 {
			n = min(lookupWindow, want(), maxLookups-len(out))
		}
		window = min(2*window, lookupWindow)
		raws, err := s.lookupEvents(ctx, hex, next, n)
		if err != nil {
			return nil, false, err
		}
		for _, raw := range raws {
			if err := add(raw); err != nil {
				return nil, false, err
			}
		}
		next += uint64(len(raws))
		if len(raws) < n {
			// Seqs are dense: a missing one is past the head. With
			// retention it may also have been deleted, with later events
			// still there: if it is the first asked for, the range query
			// below finds those.
			ended = !(s.cfg.KeepEvents > 0 && len(out) == 0)
			break
		}
	}
	if !ended && want() != 0 {
		opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
		if w := want(); w > 0 {
			opts.SetLimit(int64(w))
		}
		filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: eventKey(hex, next-1)}, {Key: "$lt", Value: tenantEnd(hex)}}}}
		if err := s.each(ctx, s.events, "events of tenant "+hex, filter, opts, add); err != nil {
			return nil, false, err
		}
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

// lookupEvents reads events from..from+n-1 of the tenant by _id, up to
// lookupWindow at once, each round trip within cfg.Timeout, and returns
// those found up to the first missing one.
func (s *Store) lookupEvents(ctx context.Context, hex string, from uint64, n int) ([]bson.Raw, error) {
	raws := make([]bson.Raw, n)
	found := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := s.rt(ctx)
			defer cancel()
			raw, ok, err := findOne(rctx, s.events, bson.D{{Key: "_id", Value: eventKey(hex, from+uint64(i))}}, nil)
			// The cursor's buffer is reused: keep a copy.
			raws[i], found[i], errs[i] = slices.Clone(raw), ok, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			return nil, unavailable("events of tenant "+hex, errs[i])
		}
		if !found[i] {
			return raws[:i], nil
		}
	}
	return raws, nil
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
	for i := from; i < int(ref.Chunks); i++ {
		k := eventChunkKey(hex, ref.Nonce, i)
		rctx, cancel := s.rt(ctx)
		raw, found, err := findOne(rctx, s.eventChunks, bson.D{{Key: "_id", Value: k}}, nil)
		cancel()
		if err != nil {
			if i > 0 {
				s.partialMu.Lock()
				s.partial = partialRead{key: key, data: data, chunks: i}
				s.partialMu.Unlock()
			}
			return nil, false, unavailable("read chunk "+k, err)
		}
		if !found {
			return nil, false, nil
		}
		v, err := raw.LookupErr("data")
		if err != nil {
			return nil, false, fmt.Errorf("%w: event chunk %s has no data", errCorrupt, k)
		}
		_, b, ok := v.BinaryOK()
		if !ok || int64(len(data)+len(b)) > ref.Size {
			return nil, false, fmt.Errorf("%w: event chunk %s: bad data", errCorrupt, k)
		}
		data = append(data, b...)
	}
	return data, true, nil
}

// each runs a query and calls fn for every document, bounding each round
// trip (the query, each further batch) by cfg.Timeout.
func (s *Store) each(ctx context.Context, coll *mongo.Collection, what string, filter any, opts *options.FindOptionsBuilder, fn func(bson.Raw) error) error {
	rctx, cancel := s.rt(ctx)
	cur, err := coll.Find(rctx, filter, opts)
	cancel()
	if err != nil {
		return unavailable(what, err)
	}
	defer func() {
		cctx, cancel := s.rt(context.WithoutCancel(ctx))
		defer cancel()
		_ = cur.Close(cctx)
	}()
	for {
		var ok bool
		if cur.RemainingBatchLength() > 0 {
			ok = cur.Next(ctx)
		} else {
			rctx, cancel := s.rt(ctx)
			ok = cur.Next(rctx)
			cancel()
		}
		if !ok {
			break
		}
		if err := fn(cur.Current); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return unavailable(what, err)
	}
	return nil
}

// Load implements persist.Store: tenants come from the tenants collection,
// and each one's snapshot and events are read by _id.
func (s *Store) Load(ctx context.Context, fn func(persist.TenantState) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.wg.Done()
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
	slices.Sort(tenants)
	for _, hex := range tenants {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mongo: load: %w: %w", persist.ErrUnavailable, err)
		}
		tenant, err := engine.ParseTenantID(hex)
		if err != nil || tenant.String() != hex {
			return fmt.Errorf("%w: tenant _id %q", errCorrupt, hex)
		}
		st, ok, err := s.loadTenant(ctx, tenant, hex)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	return nil
}

// LoadTenant implements persist.Store.
func (s *Store) LoadTenant(ctx context.Context, tenant engine.TenantID) (persist.TenantState, error) {
	if err := s.enter(ctx); err != nil {
		return persist.TenantState{}, err
	}
	defer s.wg.Done()
	st, ok, err := s.loadTenant(ctx, tenant, tenant.String())
	if !ok {
		st = persist.TenantState{Tenant: tenant}
	}
	return st, err
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

func (s *Store) loadTenant(ctx context.Context, tenant engine.TenantID, hex string) (persist.TenantState, bool, error) {
	st := persist.TenantState{Tenant: tenant}
	for attempt := 0; ; attempt++ {
		snap, err := s.readSnapshot(ctx, tenant, hex)
		if err != nil {
			return st, false, err
		}
		var after uint64
		if snap != nil {
			after = snap.Seq
		}
		evs, err := s.readEvents(ctx, tenant, after, -1)
		if errors.Is(err, persist.ErrPruned) {
			// Retention deleted events after the snapshot we read: a newer
			// snapshot was saved meanwhile. Read again.
			if attempt < 5 {
				continue
			}
			return st, false, fmt.Errorf("%w: tenant %s: events after the snapshot at %d keep being deleted", persist.ErrUnavailable, hex, after)
		}
		if err != nil {
			return st, false, err
		}
		if len(evs) > 0 && evs[0].Seq != after+1 {
			return st, false, fmt.Errorf("%w: tenant %s: events start at seq %d, after a snapshot at %d",
				errCorrupt, hex, evs[0].Seq, after)
		}
		for i := range evs {
			if evs[i].Seq != after+1+uint64(i) {
				return st, false, fmt.Errorf("%w: tenant %s: seq %d missing", errCorrupt, hex, after+1+uint64(i))
			}
		}
		if len(evs) == 0 && after == 0 {
			return st, false, nil // listed, but its first append failed
		}
		st.Snapshot, st.Events = snap, evs
		return st, true, nil
	}
}

// backoff spaces out retries: 5ms doubling to 200ms, with jitter.
type backoff struct{ next time.Duration }

func (b *backoff) wait(ctx context.Context) {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, 200*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func newNonce() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("%x", b[:])
}
