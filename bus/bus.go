package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

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
			b.st[cReconnects].Add(1)
			b.wantScan("reconnected")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.st[cDisconnects].Add(1)
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
