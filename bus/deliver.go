package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"auth/engine"
)

// tenantQueue is one tenant's events waiting for delivery; b.mu guards it.
type tenantQueue struct {
	id       engine.TenantID
	evs      []engine.Event
	needSync bool // Sync the tenant once its events are delivered
	running  bool // in ready, or being worked on
	// delivering is the seq of the received event being delivered, 0
	// when none: applying it is no news for the digest.
	delivering uint64

	// heard is when the tenant was last written here or heard of. The
	// tenant is checked against the store at the first tick after that,
	// then at intervals that double from SyncInterval, until ActiveWindow
	// has passed: a busy tenant is checked every tick, a quiet one a few
	// times in all.
	heard     time.Time
	nextCheck time.Time // zero: at the next tick
	backoff   time.Duration
}

// heardLocked notes news of q's tenant; b.mu held.
func (q *tenantQueue) heardLocked(now time.Time) {
	q.heard = now
	q.nextCheck = time.Time{}
	q.backoff = 0
}

// queueLocked returns the queue of tenant id, creating it; b.mu held.
func (b *Bus) queueLocked(id engine.TenantID) *tenantQueue {
	q, ok := b.tenants[id]
	if !ok {
		q = &tenantQueue{id: id}
		b.tenants[id] = q
	}
	return q
}

// scheduleLocked hands q to a worker unless one has it; b.mu held.
func (b *Bus) scheduleLocked(q *tenantQueue) {
	if !q.running {
		q.running = true
		b.ready = append(b.ready, q)
		b.cond.Signal()
	}
}

// reject drops a message whose HMAC does not verify: forged, corrupt, or
// signed with a secret this replica does not have.
func (b *Bus) reject(m *nats.Msg) {
	if n := b.st[cRejected].Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th...
		b.log.Warn("bus: dropping a message that is not signed with the cluster secret", "subject", m.Subject, "rejected", n)
	}
}

// onEvent receives one event from another replica. It never waits on the
// store: it queues the event for a worker.
func (b *Bus) onEvent(m *nats.Msg) {
	if !b.signer.verify(m) {
		b.reject(m)
		return
	}
	var ev engine.Event
	if err := ev.UnmarshalBinary(m.Data); err != nil {
		b.st[cCorrupt].Add(1)
		b.log.Warn("bus: dropping undecodable event", "subject", m.Subject, "err", err)
		return
	}
	b.st[cReceived].Add(1)
	if f := b.cfg.dropDelivery; f != nil && f(&ev) {
		b.st[cDropped].Add(1)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return
	}
	q := b.queueLocked(ev.Tenant)
	q.heardLocked(time.Now())
	if b.queued >= b.cfg.MaxQueued {
		b.st[cOverflow].Add(1)
		q.needSync = true
	} else {
		q.evs = append(q.evs, ev)
		b.queued++
	}
	b.scheduleLocked(q)
}

// worker delivers queued tenants until Close, one tenant at a time, so a
// tenant's events reach the replica in the order they were received.
func (b *Bus) worker() {
	defer b.wg.Done()
	b.mu.Lock()
	for {
		for len(b.ready) == 0 && !b.closing {
			b.cond.Wait()
		}
		if b.closing {
			b.mu.Unlock()
			return
		}
		q := b.ready[0]
		b.ready[0] = nil
		b.ready = b.ready[1:]
		evs := q.evs
		q.evs = nil
		b.queued -= len(evs)
		sync := q.needSync
		q.needSync = false
		b.mu.Unlock()

		b.process(q, evs, sync)

		b.mu.Lock()
		if len(q.evs) > 0 || q.needSync {
			b.ready = append(b.ready, q)
		} else {
			q.running = false
		}
	}
}

func (b *Bus) process(q *tenantQueue, evs []engine.Event, sync bool) {
	id := q.id
	for i := range evs {
		ev := &evs[i]
		if ev.Seq <= b.eng.Seq(id) {
			b.st[cStale].Add(1)
			continue
		}
		b.mu.Lock()
		q.delivering = ev.Seq
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.FetchTimeout)
		err := b.rep.Deliver(ctx, *ev)
		cancel()
		b.mu.Lock()
		q.delivering = 0
		b.mu.Unlock()
		if err != nil {
			// The event stays pending in the replica; the tenant is
			// active, so the next round of Syncs retries.
			b.st[cDeliverErrors].Add(1)
			if b.ctx.Err() == nil {
				b.log.Warn("bus: delivering event", "tenant", id.String(), "seq", ev.Seq, "err", err)
			}
			continue
		}
		b.st[cDelivered].Add(1)
	}
	if sync && b.loaded.Load() {
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.FetchTimeout)
		err := b.rep.Sync(ctx, id)
		cancel()
		b.st[cSyncs].Add(1)
		if err != nil {
			b.st[cSyncErrors].Add(1)
			if b.ctx.Err() == nil {
				b.log.Warn("bus: syncing tenant", "tenant", id.String(), "err", err)
			}
		}
	}
}
