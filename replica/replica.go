package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"auth/engine"
	"auth/persist"
)

// Config configures a Replica.
type Config struct {
	// SnapshotEvery is how many events of a tenant pass between snapshots;
	// 0 turns snapshots off.
	SnapshotEvery uint64
	// FetchBatch is how many events one catch-up read asks the store for.
	FetchBatch int
	// SnapshotTimeout bounds one snapshot write.
	SnapshotTimeout time.Duration
	// Now stamps events.
	Now func() time.Time
	// Logger receives the replica's logs; tenant ids only, never keys.
	Logger *slog.Logger
	// Registerer, if set, receives the replica's metrics.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		SnapshotEvery:   10000,
		FetchBatch:      1000,
		SnapshotTimeout: time.Minute,
		Now:             time.Now,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.FetchBatch < 1:
		return errors.New("replica: FetchBatch must be at least 1")
	case c.Now == nil:
		return errors.New("replica: Now is nil")
	case c.Logger == nil:
		return errors.New("replica: Logger is nil")
	}
	return nil
}

// Observer is told of every event the replica applies, in seq order per
// tenant; local says the event was written through this replica. It runs
// while the tenant's apply lock is held, so it must be quick and must not
// call back into the replica.
type Observer func(ev *engine.Event, local bool)

// Replica keeps an engine in step with a store. Its methods are safe for
// concurrent use.
type Replica struct {
	eng   *engine.Engine
	store persist.Store
	cfg   Config

	mu        sync.Mutex // guards tenants, loaded and observers
	tenants   map[engine.TenantID]*tenantState
	loaded    bool
	observers []Observer

	waitMu  sync.Mutex // guards waiters
	waiters map[uint64]chan bool

	bg      sync.WaitGroup // background snapshots
	closed  chan struct{}
	metrics *metrics // nil without a Registerer
}

// tenantState is the replica's bookkeeping for one tenant.
type tenantState struct {
	mu       sync.Mutex               // serializes applying the tenant's events
	pending  map[uint64]*pendingEvent // events above the applied seq; mu held
	snapSeq  uint64                   // seq of the last snapshot written; mu held
	snapping bool                     // a snapshot is being written; mu held
	notify   chan struct{}            // closed at the next apply; mu held
}

type pendingEvent struct {
	ev    engine.Event
	local bool
}

// New returns a replica over eng and store. Call [Replica.Load] before
// serving.
func New(eng *engine.Engine, store persist.Store, cfg Config) (*Replica, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Replica{
		eng:     eng,
		store:   store,
		cfg:     cfg,
		tenants: make(map[engine.TenantID]*tenantState),
		waiters: make(map[uint64]chan bool),
		closed:  make(chan struct{}),
	}
	if cfg.Registerer != nil {
		r.metrics = newMetrics(r, cfg.Registerer)
	}
	return r, nil
}

// Engine returns the replica's engine, for reads.
func (r *Replica) Engine() *engine.Engine { return r.eng }

// Tenant returns the state of tenant id for reads; nil is an empty tenant.
func (r *Replica) Tenant(id engine.TenantID) *engine.Tenant { return r.eng.Tenant(id) }

// TenantByKey returns the state of the tenant of key for reads; nil is an
// empty tenant.
func (r *Replica) TenantByKey(key string) *engine.Tenant { return r.eng.TenantByKey(key) }

// Observe registers fn to be told of every applied event. Register
// observers before Load.
func (r *Replica) Observe(fn Observer) {
	r.mu.Lock()
	r.observers = append(r.observers, fn)
	r.mu.Unlock()
}

// LoadStats describes a Load.
type LoadStats struct {
	Tenants  int
	Events   int // events applied on top of snapshots
	Duration time.Duration
}

// Load reads every tenant from the store (snapshot and tail) into the
// engine, then applies whatever was delivered meanwhile.
func (r *Replica) Load(ctx context.Context) (LoadStats, error) {
	start := time.Now()
	var st LoadStats
	err := r.store.Load(ctx, func(t persist.TenantState) error {
		ts := r.state(t.Tenant)
		ts.mu.Lock()
		defer ts.mu.Unlock()
		if t.Snapshot != nil {
			if err := r.eng.Restore(t.Snapshot); err != nil {
				return fmt.Errorf("tenant %s: %w", t.Tenant, err)
			}
			ts.snapSeq = t.Snapshot.Seq
		}
		for i := range t.Events {
			if _, err := r.eng.Apply(&t.Events[i]); err != nil {
				return fmt.Errorf("tenant %s: event %d: %w", t.Tenant, t.Events[i].Seq, err)
			}
		}
		st.Tenants++
		st.Events += len(t.Events)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("replica: load: %w", err)
	}
	r.mu.Lock()
	r.loaded = true
	states := make([]engine.TenantID, 0, len(r.tenants))
	for id, ts := range r.tenants {
		ts.mu.Lock()
		if len(ts.pending) > 0 {
			states = append(states, id)
		}
		ts.mu.Unlock()
	}
	r.mu.Unlock()
	for _, id := range states {
		if err := r.drainTenant(ctx, id); err != nil {
			r.cfg.Logger.Warn("catching up after load", "tenant", id.String(), "err", err)
		}
	}
	st.Duration = time.Since(start)
	return st, nil
}

func (r *Replica) state(id engine.TenantID) *tenantState {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts, ok := r.tenants[id]
	if !ok {
		ts = &tenantState{pending: make(map[uint64]*pendingEvent)}
		r.tenants[id] = ts
	}
	return ts
}

func (r *Replica) isLoaded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded
}

// Errors of Write.
var (
	// ErrNotApplied is returned when an event was made durable but could
	// not be applied here yet (the store failed while this replica caught
	// up to it). It wraps persist.ErrUnavailable; the event becomes
	// visible once the replica catches up.
	ErrNotApplied = fmt.Errorf("replica: event is durable but not yet applied: %w", persist.ErrUnavailable)
)

// Write makes change c to the tenant of key and returns the original API's
// answer and the tenant's seq after the change (a consistency token). Bad
// input returns an error matching engine.ErrInvalid and changes nothing; a
// store failure returns an error matching persist.ErrUnavailable (or
// persist.ErrClosed) and changes nothing.
func (r *Replica) Write(ctx context.Context, key string, c engine.Change) (bool, uint64, error) {
	if err := engine.ValidKey(key); err != nil {
		return false, 0, err
	}
	ev := engine.Event{Tenant: engine.KeyID(key), Change: c}
	if err := ev.Validate(); err != nil {
		return false, 0, err
	}
	return r.WriteEvent(ctx, ev)
}

// WriteEvent is Write for an event already built and validated by the
// caller: its Tenant and change (or batch) are used, its Seq, ID and Time
// are assigned here.
func (r *Replica) WriteEvent(ctx context.Context, ev engine.Event) (bool, uint64, error) {
	if result, changes, seq := r.eng.Tenant(ev.Tenant).AnswerAt(&ev.Change); !changes {
		return result, seq, nil
	}
	ev.Seq = 0
	ev.ID = rand.Uint64()
	ev.Time = r.cfg.Now().UTC()

	done := make(chan bool, 1)
	r.waitMu.Lock()
	r.waiters[ev.ID] = done
	r.waitMu.Unlock()
	defer func() {
		r.waitMu.Lock()
		delete(r.waiters, ev.ID)
		r.waitMu.Unlock()
	}()

	start := time.Now()
	if err := r.store.Append(ctx, &ev); err != nil {
		if r.metrics != nil {
			r.metrics.appendErrors.Inc()
		}
		return false, 0, fmt.Errorf("replica: append: %w", err)
	}
	if r.metrics != nil {
		r.metrics.appendDuration.Observe(time.Since(start).Seconds())
	}
	if err := r.deliver(ctx, &ev, true); err != nil {
		return false, 0, fmt.Errorf("%w: %w", ErrNotApplied, err)
	}
	select {
	case result := <-done:
		return result, ev.Seq, nil
	default:
		// deliver returns only once the tenant is applied past ev.Seq, and
		// applying ev answers its waiter; this is a bug if reached.
		return false, 0, fmt.Errorf("replica: event %d applied without an answer", ev.Seq)
	}
}

// Deliver hands the replica an event that is durable in the store, from any
// source (a bus, a feed). Events at or below the applied seq are ignored; an
// event above a gap waits while the gap is fetched from the store. It
// returns an error only if that fetch fails; the event stays pending and a
// later Deliver or Sync applies it.
func (r *Replica) Deliver(ctx context.Context, ev engine.Event) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("replica: deliver: %w", err)
	}
	return r.deliver(ctx, &ev, false)
}

func (r *Replica) deliver(ctx context.Context, ev *engine.Event, local bool) error {
	ts := r.state(ev.Tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ev.Seq <= r.eng.Seq(ev.Tenant) {
		return nil
	}
	if _, ok := ts.pending[ev.Seq]; !ok {
		ts.pending[ev.Seq] = &pendingEvent{ev: *ev, local: local}
	}
	if !r.isLoaded() {
		return nil
	}
	return r.drain(ctx, ev.Tenant, ts, 0)
}

// Sync catches tenant id up to the store's head.
func (r *Replica) Sync(ctx context.Context, id engine.TenantID) error {
	head, err := r.store.Head(ctx, id)
	if err != nil {
		return fmt.Errorf("replica: sync: %w", err)
	}
	if head <= r.eng.Seq(id) {
		return nil
	}
	ts := r.state(id)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return r.drain(ctx, id, ts, head)
}

func (r *Replica) drainTenant(ctx context.Context, id engine.TenantID) error {
	ts := r.state(id)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return r.drain(ctx, id, ts, 0)
}

// drain applies pending events in seq order, fetching from the store any
// seq up to the highest pending one (or up to target) that is missing;
// ts.mu must be held.
func (r *Replica) drain(ctx context.Context, id engine.TenantID, ts *tenantState, target uint64) error {
	for {
		applied := r.eng.Seq(id)
		if p, ok := ts.pending[applied+1]; ok {
			delete(ts.pending, applied+1)
			r.apply(id, ts, &p.ev, p.local)
			continue
		}
		top := target
		for seq := range ts.pending {
			if seq <= applied {
				delete(ts.pending, seq)
			} else {
				top = max(top, seq-1)
			}
		}
		if top <= applied {
			return nil
		}
		limit := min(int(top-applied), r.cfg.FetchBatch)
		evs, err := r.store.Events(ctx, id, applied, limit)
		if err != nil {
			if r.metrics != nil {
				r.metrics.fetchErrors.Inc()
			}
			return err
		}
		if len(evs) == 0 {
			if target > 0 && len(ts.pending) == 0 {
				return nil
			}
			return fmt.Errorf("replica: store has no event %d of tenant %s, yet it holds later ones", applied+1, id)
		}
		for i := range evs {
			if evs[i].Seq != r.eng.Seq(id)+1 {
				return fmt.Errorf("replica: store gave event %d, want %d", evs[i].Seq, r.eng.Seq(id)+1)
			}
			local := false
			if p, ok := ts.pending[evs[i].Seq]; ok {
				local = p.local
				delete(ts.pending, evs[i].Seq)
			}
			r.apply(id, ts, &evs[i], local)
		}
	}
}

// apply applies the tenant's next event; ts.mu must be held.
func (r *Replica) apply(id engine.TenantID, ts *tenantState, ev *engine.Event, local bool) {
	result, err := r.eng.Apply(ev)
	if err != nil {
		// Events come validated and in order; only a bug gets here.
		r.cfg.Logger.Error("applying event", "tenant", id.String(), "seq", ev.Seq, "err", err)
		return
	}
	r.waitMu.Lock()
	if w, ok := r.waiters[ev.ID]; ok {
		w <- result
		delete(r.waiters, ev.ID)
		// A catch-up may apply a write of this replica's before its
		// writer does; it is still local (the bus publishes local events).
		local = true
	}
	r.waitMu.Unlock()
	ts.wake()
	if r.metrics != nil {
		if local {
			r.metrics.appliedLocal.Inc()
		} else {
			r.metrics.appliedRemote.Inc()
			if !ev.Time.IsZero() {
				r.metrics.lag.Observe(max(0, r.cfg.Now().Sub(ev.Time)).Seconds())
			}
		}
	}
	r.mu.Lock()
	obs := r.observers
	r.mu.Unlock()
	for _, fn := range obs {
		fn(ev, local)
	}
	if r.cfg.SnapshotEvery > 0 && !ts.snapping && ev.Seq-ts.snapSeq >= r.cfg.SnapshotEvery && r.startBackground() {
		ts.snapping = true
		go r.snapshot(id, ts)
	}
}

// startBackground counts a background task in, unless the replica is
// closing.
func (r *Replica) startBackground() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
		return false
	default:
		r.bg.Add(1)
		return true
	}
}

func (r *Replica) snapshot(id engine.TenantID, ts *tenantState) {
	defer r.bg.Done()
	snap := r.eng.Snapshot(id)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.SnapshotTimeout)
	defer cancel()
	err := r.store.SaveSnapshot(ctx, snap)
	ts.mu.Lock()
	ts.snapping = false
	if err == nil {
		ts.snapSeq = max(ts.snapSeq, snap.Seq)
	}
	ts.mu.Unlock()
	if r.metrics != nil {
		if err != nil {
			r.metrics.snapshotsErr.Inc()
		} else {
			r.metrics.snapshotsOK.Inc()
		}
	}
	if err != nil {
		r.cfg.Logger.Warn("writing snapshot", "tenant", id.String(), "seq", snap.Seq, "err", err)
		return
	}
	r.cfg.Logger.Debug("snapshot written", "tenant", id.String(), "seq", snap.Seq)
}

// Close waits for background snapshots to finish. It does not close the
// store, which the caller owns.
func (r *Replica) Close() error {
	r.mu.Lock()
	select {
	case <-r.closed:
	default:
		close(r.closed)
	}
	r.mu.Unlock()
	r.bg.Wait()
	return nil
}
