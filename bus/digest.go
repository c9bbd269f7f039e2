package bus

import (
	"encoding/binary"
	"time"

	"github.com/nats-io/nats.go"

	"auth/engine"
)

// syncLoop publishes the digest and Syncs the active tenants that are due
// (see tenantQueue.heard), every SyncInterval, whether NATS is up or not.
func (b *Bus) syncLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.tick(time.Now())
	}
}

func (b *Bus) tick(now time.Time) {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return
	}
	written := b.written
	b.written = make(map[engine.TenantID]struct{})
	for id, q := range b.tenants {
		if now.Sub(q.heard) > b.cfg.ActiveWindow {
			if !q.running {
				delete(b.tenants, id)
			}
			continue
		}
		if now.Before(q.nextCheck) {
			continue
		}
		q.backoff = max(b.cfg.SyncInterval, 2*q.backoff)
		// Half an interval early, so that tick jitter does not push a
		// check a whole interval late.
		q.nextCheck = now.Add(q.backoff - b.cfg.SyncInterval/2)
		q.needSync = true
		b.scheduleLocked(q)
	}
	b.mu.Unlock()
	if len(written) > 0 && !b.publishDigest(written) {
		b.mu.Lock()
		for id := range written {
			b.written[id] = struct{}{}
		}
		b.mu.Unlock()
	}
}

// digestFormat is the first byte of a digest; then a uvarint count and
// that many (32-byte tenant id, uvarint seq) entries.
const (
	digestFormat     = 1
	digestMaxEntries = 8192 // about 330 KB, well under the default max payload
)

// publishDigest publishes the seq of every tenant in written; false means
// it could not, and the tenants should go in the next one.
func (b *Bus) publishDigest(written map[engine.TenantID]struct{}) bool {
	if !b.nc.IsConnected() {
		return false
	}
	ids := make([]engine.TenantID, 0, len(written))
	for id := range written {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		n := min(len(ids), digestMaxEntries)
		buf := make([]byte, 0, 8+n*(len(engine.TenantID{})+5))
		buf = append(buf, digestFormat)
		buf = binary.AppendUvarint(buf, uint64(n))
		for _, id := range ids[:n] {
			buf = append(buf, id[:]...)
			buf = binary.AppendUvarint(buf, b.eng.Seq(id))
		}
		if err := b.nc.PublishMsg(b.signer.sign(b.cfg.Subject+".heads", buf)); err != nil {
			b.log.Debug("bus: publishing digest", "err", err)
			return false
		}
		b.st[cDigestsSent].Add(1)
		ids = ids[n:]
	}
	return true
}

// onDigest Syncs every tenant a digest names at a seq past ours.
func (b *Bus) onDigest(m *nats.Msg) {
	if !b.signer.verify(m) {
		b.reject(m)
		return
	}
	b.st[cDigestsReceived].Add(1)
	if !b.loaded.Load() {
		// Load reads the store after this digest was published, so it
		// holds every seq the digest names.
		return
	}
	data := m.Data
	if len(data) < 1 || data[0] != digestFormat {
		b.st[cCorrupt].Add(1)
		return
	}
	data = data[1:]
	n, k := binary.Uvarint(data)
	if k <= 0 {
		b.st[cCorrupt].Add(1)
		return
	}
	data = data[k:]
	var behind []engine.TenantID
	for range n {
		var id engine.TenantID
		if len(data) < len(id) {
			b.st[cCorrupt].Add(1)
			break
		}
		copy(id[:], data)
		seq, k := binary.Uvarint(data[len(id):])
		if k <= 0 {
			b.st[cCorrupt].Add(1)
			break
		}
		data = data[len(id)+k:]
		if seq > b.eng.Seq(id) {
			behind = append(behind, id)
		}
	}
	b.markSync(behind)
}

// markSync asks the workers to Sync each tenant of ids.
func (b *Bus) markSync(ids []engine.TenantID) {
	if len(ids) == 0 {
		return
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return
	}
	for _, id := range ids {
		q := b.queueLocked(id)
		q.heardLocked(now)
		q.needSync = true
		b.scheduleLocked(q)
	}
}
