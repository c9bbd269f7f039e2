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
	// AnswerGrace is how long past the caller's deadline a write whose
	// event is durable may still take to apply it here and answer, before
	// it answers "unknown".
	AnswerGrace time.Duration
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
		AnswerGrace:     2 * time.Second,
		Now:             time.Now,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.FetchBatch < 1:
		return errors.New("replica: FetchBatch must be at least 1")
	case c.AnswerGrace < 0:
		return errors.New("replica: AnswerGrace must not be negative")
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
	waiters map[uint64]chan answer

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
		waiters: make(map[uint64]chan answer),
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

// Access returns what key may do in which tenant (engine.Engine.Access).
func (r *Replica) Access(key string) engine.Access { return r.eng.Access(key) }

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
			if _, err := r.eng.Apply(&t.Events[i]); err != nil && !errors.Is(err, engine.ErrRefused) {
				return fmt.Errorf("tenant %s: event %d: %w", t.Tenant, t.Events[i].Seq, err)
			}
		}
		if (t.Snapshot == nil || !t.Snapshot.Deleted) && r.eng.Tenant(t.Tenant).Deleted() && r.startBackground() {
			// Deleted, but not yet purged: the replica that wrote the
			// deletion stopped before it was.
			go r.purge(t.Tenant)
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
	// ErrAnswerUnknown is returned (with the event's seq) for a write that
	// is durable in the store but whose answer this replica could not work
	// out: the store failed while it caught up to the event, or a snapshot
	// installed meanwhile covered it. The change is made (every replica
	// will apply it at that seq); only its result (true or false) is
	// unknown, which a read with that seq as min_seq can tell. It wraps
	// persist.ErrAmbiguous: to a client it is an unknown outcome, never
	// "nothing changed".
	ErrAnswerUnknown = fmt.Errorf("replica: the write is durable but its answer is unknown here: %w", persist.ErrAmbiguous)
)

// answer is what applying a write's event told its writer; known is false
// when the event was covered by a snapshot instead of applied one by one.
type answer struct {
	result, known bool
	refused       error // the state refused the change (engine.ErrRefused): it changed nothing
}

// Write makes change c to the tenant of key and returns the original API's
// answer and the tenant's seq after the change (a consistency token).
//
// A write is decided at its seq: its answer is what applying its event in
// the tenant's seq order answers, never a guess from this replica's state,
// which may be behind. A change that looks like a no-op here (revoking
// what this replica does not know was granted, adding what it already
// has) is first checked against the store's head: the replica catches the
// tenant up to it and answers from there, writing an event if the change
// is not a no-op after all. No-ops therefore cost one read of the head and
// leave no event (and no tenant, for a key never written to).
//
// Errors tell three outcomes apart. Bad input matches engine.ErrInvalid,
// and a store that could not be reached matches persist.ErrUnavailable
// without persist.ErrAmbiguous: nothing changed. An error matching
// persist.ErrAmbiguous means the write may have been made (the store did
// not confirm it in time), or was made and its answer is unknown
// ([ErrAnswerUnknown], with the seq it was made at).
func (r *Replica) Write(ctx context.Context, key string, c engine.Change) (bool, uint64, error) {
	if err := engine.ValidKey(key); err != nil {
		return false, 0, err
	}
	id, by, err := r.eng.Access(key).Writer()
	if err != nil {
		return false, 0, err
	}
	ev := engine.Event{Tenant: id, By: by, Change: c}
	if err := ev.Validate(); err != nil {
		return false, 0, err
	}
	return r.WriteEvent(ctx, ev)
}

// WriteEvent is Write for an event already built and validated by the
// caller: its Tenant and change (or batch) are used, its Seq, ID and Time
// are assigned here.
func (r *Replica) WriteEvent(ctx context.Context, ev engine.Event) (bool, uint64, error) {
	t := r.eng.Tenant(ev.Tenant)
	if _, changes, _ := t.AnswerAt(&ev.Change); !changes || t.Refusal(&ev) != nil {
		result, changes, seq, err := r.answerAtHead(ctx, &ev)
		if err != nil || !changes {
			return result, seq, err
		}
	}
	ev.Seq = 0
	ev.ID = rand.Uint64()
	ev.Time = r.cfg.Now().UTC()

	done := make(chan answer, 1)
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
	err := r.deliver(ctx, &ev, true)
	if err != nil && ctx.Err() != nil {
		// The event is durable: its answer is worth a little longer than
		// the caller's deadline, which a slow append may have used up.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.AnswerGrace)
		err = r.deliver(actx, &ev, true)
		cancel()
	}
	if err != nil {
		return false, ev.Seq, fmt.Errorf("%w: event %d: %w", ErrAnswerUnknown, ev.Seq, err)
	}
	select {
	case a := <-done:
		if !a.known {
			return false, ev.Seq, fmt.Errorf("%w: event %d was covered by a snapshot", ErrAnswerUnknown, ev.Seq)
		}
		if a.refused != nil {
			return false, ev.Seq, fmt.Errorf("replica: event %d: %w", ev.Seq, a.refused)
		}
		return a.result, ev.Seq, nil
	default:
		// deliver returns once the tenant is applied past ev.Seq; applying
		// ev answers its waiter, and a snapshot that covers it answers it
		// too, so this is a bug if reached. The event is durable all the
		// same.
		return false, ev.Seq, fmt.Errorf("%w: event %d applied without an answer", ErrAnswerUnknown, ev.Seq)
	}
}

// answerAtHead answers a change that looks like a no-op at this replica
// from the tenant brought up to the store's head (see Write): changes
// reports that it is not a no-op there, and must be written. The answer of
// a no-op is the state at the seq returned, which was the store's state at
// some instant during the call. Errors match persist.ErrUnavailable:
// nothing was written.
func (r *Replica) answerAtHead(ctx context.Context, ev *engine.Event) (result, changes bool, seq uint64, err error) {
	head, err := r.store.Head(ctx, ev.Tenant)
	if err != nil {
		return false, false, 0, fmt.Errorf("replica: head before a write: %w", notWritten(err))
	}
	if head > r.eng.Seq(ev.Tenant) {
		ts := r.state(ev.Tenant)
		ts.mu.Lock()
		err := r.drain(ctx, ev.Tenant, ts, head)
		ts.mu.Unlock()
		if err != nil {
			return false, false, 0, fmt.Errorf("replica: catching up before a write: %w", notWritten(err))
		}
	}
	t := r.eng.Tenant(ev.Tenant)
	result, changes, seq = t.AnswerAt(&ev.Change)
	if err := t.Refusal(ev); err != nil {
		// Refused at the head: nothing is written. (A write between the
		// head and an append is decided when its event is applied.)
		return false, false, seq, fmt.Errorf("replica: %w", err)
	}
	return result, changes, seq, nil
}

// notWritten makes sure err says "unavailable, nothing written": a read
// that failed before any write was sent.
func notWritten(err error) error {
	if errors.Is(err, persist.ErrUnavailable) || errors.Is(err, persist.ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", persist.ErrUnavailable, err)
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
		if errors.Is(err, persist.ErrPruned) {
			if err := r.install(ctx, id, ts); err != nil {
				return err
			}
			continue
		}
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
			// Pending events the store does not hold were never made
			// durable, since no replica publishes an event before its
			// append is: they are forged, or corrupt. Drop them, so that
			// they wedge nothing.
			dropped, err := r.dropUndurable(ctx, id, ts)
			if err != nil {
				return err
			}
			if dropped == 0 {
				return fmt.Errorf("replica: store has no event %d of tenant %s, yet it holds later ones", applied+1, id)
			}
			continue
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

// dropUndurable drops the pending events of tenant id above the store's
// head and returns how many; ts.mu must be held.
func (r *Replica) dropUndurable(ctx context.Context, id engine.TenantID, ts *tenantState) (int, error) {
	head, err := r.store.Head(ctx, id)
	if err != nil {
		return 0, err
	}
	dropped := 0
	for seq, p := range ts.pending {
		if seq <= head {
			continue
		}
		if p.local {
			// Our own appends are durable: the store going back on one
			// is not something to paper over.
			return 0, fmt.Errorf("replica: store's head of tenant %s is %d, below this replica's own event %d", id, head, seq)
		}
		delete(ts.pending, seq)
		dropped++
	}
	if dropped > 0 {
		r.cfg.Logger.Warn("dropped events the store does not hold (forged or corrupt)", "tenant", id.String(), "events", dropped, "head", head)
		if r.metrics != nil {
			r.metrics.undurable.Add(float64(dropped))
		}
	}
	return dropped, nil
}

// install starts tenant id again from its latest snapshot in the store and
// the events after it, for a replica whose next event retention deleted;
// ts.mu must be held. The snapshot is built off to the side and swapped in
// whole (engine.Restore), so readers see the old state until then, and the
// events after it are applied as any others. Writes of this replica's
// whose events the snapshot covers are answered "unknown": they are made,
// but not applied one by one here.
func (r *Replica) install(ctx context.Context, id engine.TenantID, ts *tenantState) error {
	st, err := r.store.LoadTenant(ctx, id)
	if err != nil {
		if r.metrics != nil {
			r.metrics.fetchErrors.Inc()
		}
		return fmt.Errorf("replica: loading the snapshot of tenant %s: %w", id, err)
	}
	applied := r.eng.Seq(id)
	if st.Snapshot == nil || st.Snapshot.Seq <= applied {
		return fmt.Errorf("replica: store deleted events of tenant %s after %d and holds no snapshot past them", id, applied)
	}
	if err := r.eng.Restore(st.Snapshot); err != nil {
		return fmt.Errorf("replica: snapshot of tenant %s at %d: %w", id, st.Snapshot.Seq, err)
	}
	ts.snapSeq = max(ts.snapSeq, st.Snapshot.Seq)
	r.waitMu.Lock()
	for seq, p := range ts.pending {
		if seq > st.Snapshot.Seq {
			continue
		}
		delete(ts.pending, seq)
		if w, ok := r.waiters[p.ev.ID]; ok {
			w <- answer{}
			delete(r.waiters, p.ev.ID)
		}
	}
	r.waitMu.Unlock()
	ts.wake()
	if r.metrics != nil {
		r.metrics.installs.Inc()
	}
	r.cfg.Logger.Info("installed a snapshot: the events after this replica's seq were deleted by retention",
		"tenant", id.String(), "from", applied, "to", st.Snapshot.Seq)
	for i := range st.Events {
		ev := &st.Events[i]
		if ev.Seq != r.eng.Seq(id)+1 {
			return fmt.Errorf("replica: store gave event %d, want %d", ev.Seq, r.eng.Seq(id)+1)
		}
		local := false
		if p, ok := ts.pending[ev.Seq]; ok {
			local = p.local
			delete(ts.pending, ev.Seq)
		}
		r.apply(id, ts, ev, local)
	}
	return nil
}

// apply applies the tenant's next event; ts.mu must be held.
func (r *Replica) apply(id engine.TenantID, ts *tenantState, ev *engine.Event, local bool) {
	result, err := r.eng.Apply(ev)
	refused := err
	if errors.Is(err, engine.ErrRefused) {
		err = nil
	} else {
		refused = nil
	}
	if err != nil {
		// Events come validated and in order; only a bug gets here.
		r.cfg.Logger.Error("applying event", "tenant", id.String(), "seq", ev.Seq, "err", err)
		return
	}
	r.waitMu.Lock()
	if w, ok := r.waiters[ev.ID]; ok {
		w <- answer{result: result, known: true, refused: refused}
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
	if ev.Op == engine.OpDelTenant && refused == nil && r.startBackground() {
		go r.purge(id)
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

// purgeTries bounds how often a replica tries to purge a deleted tenant
// from the store before it leaves that to the next replica to load it.
const purgeTries = 5

// purge saves the tombstone of a deleted tenant as its snapshot and purges
// the store of what the events before it hold (persist.Store.Purge). Every
// replica that applies a deletion does it: both steps are idempotent, and
// whichever comes first does the work. A store that stays unreachable
// leaves it to the next load.
func (r *Replica) purge(id engine.TenantID) {
	defer r.bg.Done()
	pause := 100 * time.Millisecond
	for try := 1; ; try++ {
		snap := r.eng.Snapshot(id)
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.SnapshotTimeout)
		err := r.store.SaveSnapshot(ctx, snap)
		if err == nil && snap.Seq > 1 {
			err = r.store.Purge(ctx, id, snap.Seq-1)
		}
		cancel()
		if err == nil {
			r.cfg.Logger.Info("deleted tenant purged from the store", "tenant", id.String(), "seq", snap.Seq)
			return
		}
		if try == purgeTries {
			r.cfg.Logger.Warn("purging a deleted tenant from the store; the next load tries again", "tenant", id.String(), "err", err)
			return
		}
		select {
		case <-r.closed:
			return
		case <-time.After(pause):
			pause *= 4
		}
	}
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
