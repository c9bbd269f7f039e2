package bus

import (
	"time"

	"auth/engine"
)

type outMsg struct {
	subject string
	data    []byte
}

func (b *Bus) eventSubject(id engine.TenantID) string {
	return b.cfg.Subject + ".ev." + id.String()
}

// observe is the replica's observer: it queues every event written here
// for publishing. It runs under the tenant's apply lock, so it never waits.
func (b *Bus) observe(ev *engine.Event, local bool) {
	if !local {
		b.observeCatchUp(ev)
		return
	}
	data, err := ev.MarshalBinary()
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return
	}
	b.written[ev.Tenant] = struct{}{}
	b.queueLocked(ev.Tenant).heardLocked(time.Now())
	b.mu.Unlock()
	if err != nil {
		b.st[cPublishErrors].Add(1)
		return
	}
	select {
	case b.pubq <- outMsg{b.eventSubject(ev.Tenant), data}:
	default:
		b.st[cPublishDropped].Add(1)
	}
}

// observeCatchUp looks at an event applied here that was not written here
// (as far as the replica could tell) and not the one the bus was
// delivering: it came from the store, by a gap fetch or a Sync. It may be
// an event written here after all: when a catch-up applies a local write
// between its append and its own apply, the replica reports it with
// local=false and nobody publishes it. So the tenant goes in the next
// digest, and every replica behind on it Syncs within one SyncInterval.
func (b *Bus) observeCatchUp(ev *engine.Event) {
	b.mu.Lock()
	if !b.closing {
		if q := b.tenants[ev.Tenant]; q == nil || q.delivering != ev.Seq {
			b.written[ev.Tenant] = struct{}{}
		}
	}
	b.mu.Unlock()
}

// publisher publishes queued events until Close, then what is left.
func (b *Bus) publisher() {
	defer b.pubWG.Done()
	for {
		select {
		case m := <-b.pubq:
			b.publish(m)
		case <-b.ctx.Done():
			for {
				select {
				case m := <-b.pubq:
					b.publish(m)
				default:
					return
				}
			}
		}
	}
}

func (b *Bus) publish(m outMsg) {
	if max := b.nc.MaxPayload(); max > 0 && int64(len(m.data)) > max {
		// Too large for the server; the digest names the tenant.
		b.st[cPublishErrors].Add(1)
		return
	}
	if err := b.nc.PublishMsg(b.signer.sign(m.subject, m.data)); err != nil {
		b.st[cPublishErrors].Add(1)
		b.log.Debug("bus: publish failed", "err", err)
		return
	}
	b.st[cPublished].Add(1)
}
