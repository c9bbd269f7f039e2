package mongo

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
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

	// Every collection reads with the configured read concern ("majority"
	// with majority writes): every decision about seqs (the head, "is this
	// event mine", "was this seq pruned") is taken on what a failover
	// cannot roll back (see the package doc, Failover).
	events            *mongo.Collection
	eventChunks       *mongo.Collection // chunks of large events
	tenants           *mongo.Collection
	snapshots, chunks *mongo.Collection

	acc access // how heads are found and ranges read: by what the server is

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

	sweptMu sync.Mutex
	swept   map[string]time.Time // per tenant hex: when this handle last swept its orphan chunks

	epoch string // the database's epoch (epoch.go)
}

var _ persist.Store = (*Store)(nil)

// Open connects to the server and checks that it answers within
// cfg.Timeout; an unreachable server gives an error wrapping
// persist.ErrUnavailable. It asks the server what it is, to choose how to
// read it (see Access in the package doc), creates the heads index, and
// reads the database's epoch, writing it if it has none (epoch.go); the
// other collections are created by the first writes.
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
	if cfg.CAFile != "" {
		if err := applyCAFile(opts, cfg.URI, cfg.CAFile); err != nil {
			return nil, err
		}
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
		cfg:         cfg,
		client:      client,
		events:      db.Collection(collEvents),
		eventChunks: db.Collection(collEventChunks),
		tenants:     db.Collection(collTenants),
		snapshots:   db.Collection(collSnapshots),
		chunks:      db.Collection(collChunks),
		appending:   map[engine.TenantID]*appendState{},
		seen:        map[string]uint64{},
		swept:       map[string]time.Time{},
	}
	ictx, icancel := context.WithTimeout(ctx, cfg.Timeout)
	defer icancel()
	if s.acc, err = chooseAccess(ictx, s, cfg.Access); err != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
		return nil, err
	}
	if _, err := s.events.Indexes().CreateOne(ictx, mongo.IndexModel{Keys: headsIndex, Options: options.Index().SetName(headsIndexName)}); err != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
		return nil, unavailable("create the heads index", err)
	}
	if s.epoch, err = s.loadEpoch(ictx); err != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
		return nil, err
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

// errRewrite is returned by append for an event stored in chunks that it
// took back out of a seq retention had deleted (see verifyNotPruned):
// retention may have deleted its chunks too.
var errRewrite = errors.New("event landed among deleted events; its chunks must be written again")

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
