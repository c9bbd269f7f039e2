package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"auth/engine"
	"auth/persist"
	"auth/replica"
)

// Bus links one replica to the others over NATS. Its methods are safe for
// concurrent use, except that Start and Close must not overlap.
type Bus struct {
	cfg    Config
	signer *signer // nil: an unsigned bus
	rep    *replica.Replica
	eng    *engine.Engine
	store  persist.Store
	log    *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu      sync.Mutex
	cond    *sync.Cond // signalled when ready grows, broadcast at Close
	tenants map[engine.TenantID]*tenantQueue
	ready   []*tenantQueue // tenants with work and no worker yet
	queued  int            // events in all tenants' queues
	written map[engine.TenantID]struct{}
	started bool
	closing bool

	nc       *nats.Conn                // set by Start before any goroutine reads it
	link     atomic.Pointer[nats.Conn] // nc, for Connected from any goroutine
	pubq     chan outMsg
	scanKick chan struct{}
	needScan atomic.Bool
	loaded   atomic.Bool

	pubWG sync.WaitGroup // the publisher
	wg    sync.WaitGroup // every other goroutine the bus started

	st counters
}

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

type outMsg struct {
	subject string
	data    []byte
}

type counters struct {
	published, publishErrors, publishDropped    atomic.Uint64
	received, dropped, corrupt, overflow, stale atomic.Uint64
	delivered, deliverErrors, rejected          atomic.Uint64
	syncs, syncErrors                           atomic.Uint64
	digestsSent, digestsReceived                atomic.Uint64
	scans, scanErrors, scanBehind               atomic.Uint64
	disconnects, reconnects                     atomic.Uint64
}

// Stats counts what a bus did since it started.
type Stats struct {
	Published      uint64 // events published
	PublishErrors  uint64 // publishes the client refused (link down past its buffer, too large)
	PublishDropped uint64 // events not published because the publish queue was full
	Received       uint64 // events received from other replicas
	Dropped        uint64 // events dropped by Config.DropDelivery
	Corrupt        uint64 // messages that did not decode
	Rejected       uint64 // messages dropped because their HMAC did not verify
	Overflow       uint64 // events dropped because MaxQueued were waiting
	Stale          uint64 // events received that were already applied
	Delivered      uint64 // events handed to the replica
	DeliverErrors  uint64 // deliveries whose gap fetch failed
	Syncs          uint64 // tenant Syncs run
	SyncErrors     uint64 // tenant Syncs that failed
	DigestsSent    uint64
	DigestsRecv    uint64
	Scans          uint64 // comparisons with the store's heads
	ScanErrors     uint64
	ScanBehind     uint64 // tenants those comparisons found behind
	Disconnects    uint64
	Reconnects     uint64
	Connected      bool
}

// New returns a bus for rep, whose events are kept in store. It registers
// the bus as an observer of rep, so it must be called before rep.Load (which
// [Bus.Start] calls). Nothing is connected until Start.
func New(cfg Config, rep *replica.Replica, store persist.Store) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rep == nil || store == nil {
		return nil, errors.New("bus: replica and store are required")
	}
	sg, err := newSigner(cfg.Secrets)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		cfg:      cfg,
		signer:   sg,
		rep:      rep,
		eng:      rep.Engine(),
		store:    store,
		log:      cfg.Logger,
		ctx:      ctx,
		cancel:   cancel,
		tenants:  make(map[engine.TenantID]*tenantQueue),
		written:  make(map[engine.TenantID]struct{}),
		pubq:     make(chan outMsg, cfg.PublishQueue),
		scanKick: make(chan struct{}, 1),
	}
	b.cond = sync.NewCond(&b.mu)
	rep.Observe(b.observe)
	return b, nil
}

// Start connects to NATS and subscribes, then loads the replica (see the
// package doc for why in this order), then starts the catch-up loops. It
// returns once the replica is loaded and can serve. An unreachable NATS
// server does not fail Start: the bus keeps trying in the background and
// catches up once connected. ctx bounds the connection set-up and the load,
// not the bus, which runs until Close. Call Close even when Start fails.
func (b *Bus) Start(ctx context.Context) (replica.LoadStats, error) {
	b.mu.Lock()
	if b.started || b.closing {
		b.mu.Unlock()
		return replica.LoadStats{}, errors.New("bus: already started or closed")
	}
	b.started = true
	b.mu.Unlock()

	opts := []nats.Option{
		nats.Name(b.cfg.Name),
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(b.cfg.ReconnectWait),
		nats.Timeout(b.cfg.ConnectTimeout),
		nats.FlusherTimeout(b.cfg.FlushTimeout),
		// The first connect needs a scan only if it came after Load read
		// the store (Start sets needScan then); this just wakes the scan.
		nats.ConnectHandler(func(*nats.Conn) { b.kickScan() }),
		nats.ReconnectHandler(func(*nats.Conn) {
			b.st.reconnects.Add(1)
			b.wantScan("reconnected")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.st.disconnects.Add(1)
			b.log.Warn("bus disconnected", "err", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				b.wantScan("slow consumer")
				return
			}
			b.log.Warn("bus error", "err", err)
		}),
	}
	if b.cfg.ReconnectBufSize != 0 {
		opts = append(opts, nats.ReconnectBufSize(b.cfg.ReconnectBufSize))
	}
	opts = append(opts, b.cfg.Options...)
	nc, err := nats.Connect(b.cfg.URL, opts...)
	if err != nil {
		// A URL that fails to parse comes back in the error, credentials
		// and all.
		msg := err.Error()
		for _, u := range append(strings.Split(b.cfg.URL, ","), b.cfg.URL) {
			if u = strings.TrimSpace(u); u != "" {
				msg = strings.ReplaceAll(msg, u, "<url>")
			}
		}
		return replica.LoadStats{}, fmt.Errorf("bus: connect: %s", msg)
	}
	b.nc = nc
	b.link.Store(nc)
	for _, s := range []struct {
		subject string
		fn      nats.MsgHandler
	}{
		{b.cfg.Subject + ".ev.*", b.onEvent},
		{b.cfg.Subject + ".heads", b.onDigest},
	} {
		sub, err := nc.Subscribe(s.subject, s.fn)
		if err == nil {
			err = sub.SetPendingLimits(b.cfg.PendingMsgs, b.cfg.PendingBytes)
		}
		if err != nil {
			return replica.LoadStats{}, fmt.Errorf("bus: subscribe: %w", err)
		}
	}
	if nc.IsConnected() {
		// Once the flush returns, the subscription is live at the server,
		// before Load reads the store: no event can fall between them.
		if err := nc.FlushTimeout(b.cfg.FlushTimeout); err != nil {
			b.needScan.Store(true)
			b.log.Warn("bus: subscription not confirmed before load; will scan the store", "err", err)
		}
	} else {
		b.needScan.Store(true)
		b.log.Warn("bus: NATS unreachable at start; serving from the store and retrying")
	}

	b.pubWG.Add(1)
	go b.publisher()
	b.wg.Add(b.cfg.Workers)
	for range b.cfg.Workers {
		go b.worker()
	}

	stats, err := b.rep.Load(ctx)
	if err != nil {
		return stats, err
	}
	b.loaded.Store(true)
	b.wg.Add(2)
	go b.syncLoop()
	go b.scanLoop()
	if b.needScan.Load() {
		b.kickScan()
	}
	return stats, nil
}

// Close stops every goroutine the bus started and closes its connection.
// The replica and the store stay open; events the replica applies later
// are no longer published.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return nil
	}
	b.closing = true
	b.cond.Broadcast()
	b.mu.Unlock()
	b.cancel()
	b.pubWG.Wait()
	if b.nc != nil {
		if b.nc.IsConnected() {
			_ = b.nc.FlushTimeout(b.cfg.FlushTimeout)
		}
		b.nc.Close()
	}
	b.wg.Wait()
	return nil
}

// Connected reports whether the NATS link is up.
func (b *Bus) Connected() bool {
	if b == nil {
		return false
	}
	nc := b.link.Load()
	return nc != nil && nc.IsConnected()
}

// Status describes the link for a status page: "connected",
// "disconnected", or "none" for a nil bus (a server without NATS).
func (b *Bus) Status() string {
	switch {
	case b == nil:
		return "none"
	case b.Connected():
		return "connected"
	default:
		return "disconnected"
	}
}

// Stats returns the bus's counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Published:      b.st.published.Load(),
		PublishErrors:  b.st.publishErrors.Load(),
		PublishDropped: b.st.publishDropped.Load(),
		Received:       b.st.received.Load(),
		Dropped:        b.st.dropped.Load(),
		Corrupt:        b.st.corrupt.Load(),
		Rejected:       b.st.rejected.Load(),
		Overflow:       b.st.overflow.Load(),
		Stale:          b.st.stale.Load(),
		Delivered:      b.st.delivered.Load(),
		DeliverErrors:  b.st.deliverErrors.Load(),
		Syncs:          b.st.syncs.Load(),
		SyncErrors:     b.st.syncErrors.Load(),
		DigestsSent:    b.st.digestsSent.Load(),
		DigestsRecv:    b.st.digestsReceived.Load(),
		Scans:          b.st.scans.Load(),
		ScanErrors:     b.st.scanErrors.Load(),
		ScanBehind:     b.st.scanBehind.Load(),
		Disconnects:    b.st.disconnects.Load(),
		Reconnects:     b.st.reconnects.Load(),
		Connected:      b.Connected(),
	}
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
		b.st.publishErrors.Add(1)
		return
	}
	select {
	case b.pubq <- outMsg{b.eventSubject(ev.Tenant), data}:
	default:
		b.st.publishDropped.Add(1)
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
		b.st.publishErrors.Add(1)
		return
	}
	if err := b.nc.PublishMsg(b.signer.sign(m.subject, m.data)); err != nil {
		b.st.publishErrors.Add(1)
		b.log.Debug("bus: publish failed", "err", err)
		return
	}
	b.st.published.Add(1)
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
	if n := b.st.rejected.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th...
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
		b.st.corrupt.Add(1)
		b.log.Warn("bus: dropping undecodable event", "subject", m.Subject, "err", err)
		return
	}
	b.st.received.Add(1)
	if f := b.cfg.DropDelivery; f != nil && f(&ev) {
		b.st.dropped.Add(1)
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
		b.st.overflow.Add(1)
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
			b.st.stale.Add(1)
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
			b.st.deliverErrors.Add(1)
			if b.ctx.Err() == nil {
				b.log.Warn("bus: delivering event", "tenant", id.String(), "seq", ev.Seq, "err", err)
			}
			continue
		}
		b.st.delivered.Add(1)
	}
	if sync && b.loaded.Load() {
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.FetchTimeout)
		err := b.rep.Sync(ctx, id)
		cancel()
		b.st.syncs.Add(1)
		if err != nil {
			b.st.syncErrors.Add(1)
			if b.ctx.Err() == nil {
				b.log.Warn("bus: syncing tenant", "tenant", id.String(), "err", err)
			}
		}
	}
}

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
		b.st.digestsSent.Add(1)
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
	b.st.digestsReceived.Add(1)
	if !b.loaded.Load() {
		// Load reads the store after this digest was published, so it
		// holds every seq the digest names.
		return
	}
	data := m.Data
	if len(data) < 1 || data[0] != digestFormat {
		b.st.corrupt.Add(1)
		return
	}
	data = data[1:]
	n, k := binary.Uvarint(data)
	if k <= 0 {
		b.st.corrupt.Add(1)
		return
	}
	data = data[k:]
	var behind []engine.TenantID
	for range n {
		var id engine.TenantID
		if len(data) < len(id) {
			b.st.corrupt.Add(1)
			break
		}
		copy(id[:], data)
		seq, k := binary.Uvarint(data[len(id):])
		if k <= 0 {
			b.st.corrupt.Add(1)
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

// wantScan asks for a store scan, from a connection callback.
func (b *Bus) wantScan(why string) {
	b.log.Info("bus: link up; catching up from the store", "why", why)
	b.needScan.Store(true)
	if b.loaded.Load() {
		b.kickScan()
	}
}

func (b *Bus) kickScan() {
	select {
	case b.scanKick <- struct{}{}:
	default:
	}
}

// scanLoop compares the store's heads with ours every Converge/2, and at
// once when a (re)connect asks for it, one comparison at a time; a failed
// one is retried after SyncInterval. The periodic comparison needs no NATS:
// it is what bounds how long any tenant stays behind, whatever was lost.
func (b *Bus) scanLoop() {
	defer b.wg.Done()
	every := time.NewTicker(b.cfg.Converge / 2)
	defer every.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.scanKick:
		case <-retry:
		case <-every.C:
		}
		retry = nil
		// After a (re)connect, the subscription is confirmed live at the
		// server first, so that what is published from then on arrives
		// and the comparison covers what came before.
		confirm := b.needScan.Swap(false)
		if confirm && !b.nc.IsConnected() {
			// The connect or reconnect handler wakes us again; compare
			// with the store meanwhile all the same.
			b.needScan.Store(true)
			confirm = false
		}
		if err := b.scan(confirm); err != nil {
			if confirm {
				b.needScan.Store(true)
			}
			if b.ctx.Err() != nil {
				return
			}
			b.st.scanErrors.Add(1)
			b.log.Warn("bus: comparing with the store's heads failed; will retry", "err", err)
			retry = time.After(b.cfg.SyncInterval)
		}
	}
}

// scan compares every tenant's head in the store with ours and Syncs those
// we are behind on (including tenants never heard of). With confirm, it
// first makes sure the subscription is live at the server.
func (b *Bus) scan(confirm bool) error {
	if confirm {
		if err := b.nc.FlushTimeout(b.cfg.FlushTimeout); err != nil {
			return fmt.Errorf("confirming subscription: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.ScanTimeout)
	defer cancel()
	start := time.Now()
	var behind []engine.TenantID
	tenants := 0
	err := b.store.Heads(ctx, func(id engine.TenantID, head uint64) error {
		tenants++
		if head > b.eng.Seq(id) {
			behind = append(behind, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the store's heads: %w", err)
	}
	b.st.scans.Add(1)
	b.st.scanBehind.Add(uint64(len(behind)))
	b.markSync(behind)
	level := slog.LevelDebug
	if confirm || len(behind) > 0 {
		level = slog.LevelInfo
	}
	b.log.Log(ctx, level, "bus: compared with the store's heads", "tenants", tenants, "behind", len(behind), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}
