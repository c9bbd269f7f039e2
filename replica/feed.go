package replica

import (
	"context"
	"fmt"

	"auth/engine"
)

// Events returns up to limit events of tenant id after seq, from the store:
// the tenant's audit trail. It returns only events this replica has
// applied, so a reader never sees an event before the state it makes.
func (r *Replica) Events(ctx context.Context, id engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	applied := r.eng.Seq(id)
	if after >= applied {
		return nil, nil
	}
	limit = min(limit, int(min(applied-after, uint64(1<<30))))
	evs, err := r.store.Events(ctx, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("replica: events: %w", err)
	}
	return evs, nil
}

// OnApplied registers fn to be told of every event applied here, by
// tenant and seq, in seq order per tenant. It is an [Observer] for those
// who need to know only that a tenant moved: fn runs while the tenant's
// apply lock is held, so it must be quick and must not call back into the
// replica.
func (r *Replica) OnApplied(fn func(id engine.TenantID, seq uint64)) {
	r.Observe(func(ev *engine.Event, _ bool) { fn(ev.Tenant, ev.Seq) })
}

// WriteBatch makes all of changes to the tenant of key as one event: they
// are durable together and become visible together, or not at all. Bad
// input returns an error matching engine.ErrInvalid and changes nothing.
func (r *Replica) WriteBatch(ctx context.Context, key string, changes []engine.Change) (uint64, error) {
	if err := engine.ValidKey(key); err != nil {
		return 0, err
	}
	id, by, err := r.eng.Access(key).Writer()
	if err != nil {
		return 0, err
	}
	ev := engine.Event{Tenant: id, By: by, Change: engine.Change{Op: engine.OpBatch}, Changes: changes}
	if err := ev.Validate(); err != nil {
		return 0, err
	}
	_, seq, err := r.WriteEvent(ctx, ev)
	return seq, err
}
