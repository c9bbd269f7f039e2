package replica

import (
	"context"
	"errors"

	"auth/engine"
)

// ErrBehind is returned by WaitSeq when the tenant did not reach the seq in
// time.
var ErrBehind = errors.New("replica: behind the requested seq")

// changed returns a channel closed at the next event applied to the tenant;
// ts.mu must be held.
func (ts *tenantState) changed() <-chan struct{} {
	if ts.notify == nil {
		ts.notify = make(chan struct{})
	}
	return ts.notify
}

// wake tells waiters an event was applied; ts.mu must be held.
func (ts *tenantState) wake() {
	if ts.notify != nil {
		close(ts.notify)
		ts.notify = nil
	}
}

// WaitSeq waits until tenant id is applied up to at least seq here, or ctx
// ends (then it returns an error wrapping ErrBehind). It is how a read asks
// for read-your-writes across replicas: the seq a write answered is the
// token a read at another replica waits for. If the replica is behind, it
// also asks the store, in case the event's notice was lost.
//
// A tenant this replica has never heard of is asked of the store once; if
// the store has none of its events either, there is nothing to wait for:
// WaitSeq returns ErrBehind at once and keeps nothing of the tenant (any
// client can name any key; a wait must not leave state behind for it).
func (r *Replica) WaitSeq(ctx context.Context, id engine.TenantID, seq uint64) error {
	if r.eng.Seq(id) >= seq {
		return nil
	}
	synced := false
	if !r.tracked(id) {
		synced = true
		if err := r.Sync(ctx, id); err != nil {
			return errors.Join(ErrBehind, err)
		}
		if r.eng.Seq(id) >= seq {
			return nil
		}
		if !r.tracked(id) { // the store has no event of it
			return ErrBehind
		}
	}
	for {
		ts := r.state(id)
		ts.mu.Lock()
		if r.eng.Seq(id) >= seq {
			ts.mu.Unlock()
			return nil
		}
		ch := ts.changed()
		ts.mu.Unlock()
		if !synced {
			synced = true
			// A write acknowledged elsewhere is in the store already; fetch
			// it rather than wait for its notice.
			if err := r.Sync(ctx, id); err == nil && r.eng.Seq(id) >= seq {
				return nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if r.eng.Seq(id) >= seq {
				return nil
			}
			return errors.Join(ErrBehind, ctx.Err())
		}
	}
}

// tracked reports whether the replica keeps bookkeeping for tenant id:
// it has loaded, applied or been delivered an event of it.
func (r *Replica) tracked(id engine.TenantID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.tenants[id]
	return ok
}

// Changed returns a channel that is closed once tenant id has an event
// applied past seq (at once if it already has), so that a watcher can wait
// for news without polling. It keeps bookkeeping for the tenant from then
// on, known or not: for watchers of tenants that may not exist, see
// [Replica.OnApplied].
func (r *Replica) Changed(id engine.TenantID, seq uint64) <-chan struct{} {
	ts := r.state(id)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r.eng.Seq(id) > seq {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return ts.changed()
}
