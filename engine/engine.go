package engine

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// shardBits sets how many shards the tenant directory has. Creating a tenant
// copies one shard, so more shards keep that cheap with many tenants.
const shardBits = 10

// Engine holds every tenant. Its zero value is not usable; call [New].
type Engine struct {
	now func() time.Time
	clk *clock // judges membership windows (window.go)

	mu sync.Mutex // serializes changes to the directory
	// shards is a copy-on-write directory: readers load a shard's map
	// without locking, writers replace it under mu.
	shards [1 << shardBits]atomic.Pointer[map[TenantID]*Tenant]
	count  atomic.Int64

	keys  *keyCache
	index keyIndex
}

// Option configures an Engine.
type Option func(*Engine)

// WithClock sets the clock that stamps events made by the in-process verbs.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// New returns an empty Engine.
func New(opts ...Option) *Engine {
	e := &Engine{now: time.Now, clk: &clock{}, keys: newKeyCache()}
	for _, o := range opts {
		o(e)
	}
	return e
}

func shardOf(id TenantID) int { return int(id[0])<<2 | int(id[1]>>6) }

// Tenant returns the tenant with id, or nil (an empty tenant) if it has
// never been written to. It does not lock and does not allocate.
func (e *Engine) Tenant(id TenantID) *Tenant {
	m := e.shards[shardOf(id)].Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

// TenantCount returns the number of tenants.
func (e *Engine) TenantCount() int { return int(e.count.Load()) }

// Tenants returns the ids of every tenant, in no particular order.
func (e *Engine) Tenants() []TenantID {
	ids := make([]TenantID, 0, e.count.Load())
	for i := range e.shards {
		if m := e.shards[i].Load(); m != nil {
			for id := range *m {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func (e *Engine) tenantOrCreate(id TenantID) *Tenant {
	if t := e.Tenant(id); t != nil {
		return t
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.Tenant(id); t != nil {
		return t
	}
	t := newTenant(id, e.clk)
	e.put(t)
	return t
}

// put adds t to the directory; e.mu must be held.
func (e *Engine) put(t *Tenant) {
	s := &e.shards[shardOf(t.id)]
	next := make(map[TenantID]*Tenant)
	if old := s.Load(); old != nil {
		next = maps.Clone(*old)
	}
	if _, ok := next[t.id]; !ok {
		e.count.Add(1)
	}
	next[t.id] = t
	s.Store(&next)
}

// Apply applies ev to its tenant, creating the tenant on its first event,
// and returns the answer the original API gives for the change. ev.Seq must
// be exactly one past the tenant's seq, else Apply returns ErrOutOfOrder and
// changes nothing; an invalid event is refused the same way.
//
// A valid event whose change the tenant's state refuses (an inclusion that
// would make a cycle) is applied all the same, changing nothing but the
// tenant's seq: Apply then returns false and an error matching ErrRefused,
// which is the event's answer, not a failure to apply it.
func (e *Engine) Apply(ev *Event) (bool, error) {
	if err := ev.Validate(); err != nil {
		return false, err
	}
	t := e.tenantOrCreate(ev.Tenant)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if seq := t.seq(); ev.Seq != seq+1 {
		return false, fmt.Errorf("%w: tenant at %d, event %d", ErrOutOfOrder, seq, ev.Seq)
	}
	return e.apply(t, ev)
}

// apply applies ev to t, whose next event it is, and keeps the key index
// in step; t.wmu is held.
func (e *Engine) apply(t *Tenant, ev *Event) (result bool, err error) {
	old := t.keySet()
	change := func() {
		result, err = t.apply(ev)
		e.reindex(t, old, t.keySet())
	}
	if may, gone := revokes(ev, old); may {
		e.revoking(t, gone, change)
	} else {
		change()
	}
	return result, err
}

// Restore replaces the tenant of snap with the state it holds. The state
// is built aside and published at once: readers see the tenant as it was,
// then as the snapshot has it.
func (e *Engine) Restore(snap *Snapshot) error {
	n, err := restoreTables(snap)
	if err != nil {
		return err
	}
	t := e.tenantOrCreate(snap.Tenant)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	old := t.keySet()
	// The keys the snapshot does not hold, or a first key it revokes, go
	// as a revoking event's do.
	var gone []TenantID
	if old != nil {
		for _, r := range old.recs {
			if i := n.keys.find(r.ID); i < 0 || n.keys.recs[i].Hash != r.Hash {
				gone = append(gone, r.Hash)
			}
		}
	}
	swap := func() {
		t.replace(n)
		e.reindex(t, old, t.keySet())
	}
	if len(gone) > 0 || firstKeyRevoked(old, n.keys) {
		e.revoking(t, gone, swap)
	} else {
		swap() // nothing revoked: the cache stays as it is
	}
	return nil
}

// Seq returns the seq of the last event applied to tenant id.
func (e *Engine) Seq(id TenantID) uint64 { return e.Tenant(id).Seq() }
