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
func (r *Replica) WaitSeq(ctx context.Context, id engine.TenantID, seq uint64) error {
	if r.eng.Seq(id) >= seq {
		return nil
	}
	synced := false
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

// Changed returns a channel that is closed once tenant id has an event
// applied past seq (at once if it already has), so that a watcher can wait
// for news without polling.
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
