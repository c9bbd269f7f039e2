package bus

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"auth/engine"
)

// Config configures a Bus.
type Config struct {
	// URL names the NATS server, or several separated by commas. It may
	// carry credentials; it is never logged.
	URL string
	// Name is the connection's name as the server shows it.
	Name string
	// Subject is the prefix of every subject the bus uses.
	Subject string

	// SyncInterval is how often the bus publishes its digest and checks
	// active tenants against the store's head (Replica.Sync).
	SyncInterval time.Duration
	// ActiveWindow is how long a tenant stays active after it was last
	// written here or heard of on the bus. An active tenant is checked at
	// the first tick after the news, then at intervals doubling from
	// SyncInterval: a tenant that keeps writing is checked every tick, a
	// quiet one about log2(ActiveWindow/SyncInterval) times, which bounds
	// the reads this costs the store.
	ActiveWindow time.Duration
	// Workers is how many tenants are delivered to the replica at once.
	Workers int
	// MaxQueued bounds the events received and not yet delivered; past it
	// an event is dropped and its tenant Synced instead.
	MaxQueued int
	// PublishQueue bounds the events waiting to be published; past it an
	// event is not published (the digest names its tenant).
	PublishQueue int
	// Converge bounds how long a replica may stay behind the store on any
	// tenant, whatever was lost on the way: every Converge/2 it compares
	// the head of every tenant in the store (one cheap query,
	// persist.Store.Heads) with its own, and catches up those it is behind
	// on, whether NATS is up or not. A lost message, a replica on a NATS
	// server the writer does not reach, a tenant quiet for hours: all are
	// caught by the next comparison.
	Converge time.Duration
	// FetchTimeout bounds one Deliver or Sync, that is the store reads of
	// one catch-up. A catch-up cut short keeps what it applied, and the
	// next one goes on from there (within a large event too: the store
	// resumes reading its chunks), so a backlog or an event too large to
	// read within FetchTimeout is still caught up over a few rounds.
	FetchTimeout time.Duration
	// ScanTimeout bounds one comparison of the store's heads with ours.
	ScanTimeout time.Duration
	// FlushTimeout bounds the round trip that confirms the subscription is
	// live at the server, and one blocked write to the server.
	FlushTimeout time.Duration

	// ConnectTimeout bounds one connection attempt; ReconnectWait is the
	// pause between attempts, which go on for as long as the bus runs.
	ConnectTimeout, ReconnectWait time.Duration
	// ReconnectBufSize is how many bytes of publishes the client keeps
	// while disconnected, sent once it reconnects; 0 keeps the client's
	// default (8 MiB), -1 keeps none.
	ReconnectBufSize int
	// PendingMsgs and PendingBytes bound what the client buffers for the
	// subscription before it calls it a slow consumer (which makes the bus
	// scan the store).
	PendingMsgs, PendingBytes int

	// Secrets authenticate the bus: every message published carries an
	// HMAC-SHA256 under the first, over its subject and bytes, and a
	// message received is taken only if its HMAC verifies under one of
	// them (so a secret can be rotated one replica at a time). Others are
	// dropped and counted (Stats.Rejected): whoever can publish on the
	// NATS server cannot forge an event without a secret. Each must be at
	// least 16 bytes.
	Secrets [][]byte
	// Unsigned allows a bus without Secrets, whose messages anyone who
	// can publish on the NATS server can forge. Validate refuses a config
	// with neither.
	Unsigned bool

	// Options are extra client options (credentials, TLS), applied after
	// the bus's own.
	Options []nats.Option
	// Logger receives the bus's logs: tenant ids, never keys or the URL.
	Logger *slog.Logger

	// dropDelivery, when set, is asked about every event received, and an
	// event it returns true for is dropped as if lost on the way: a fault
	// for tests, set only through export_test.go.
	dropDelivery func(ev *engine.Event) bool
}

// DefaultConfig returns the defaults for the server at url.
func DefaultConfig(url string) Config {
	return Config{
		URL:              url,
		Name:             "auth-server",
		Subject:          "auth",
		SyncInterval:     2 * time.Second,
		ActiveWindow:     time.Minute,
		Workers:          8,
		MaxQueued:        1 << 16,
		PublishQueue:     1 << 16,
		Converge:         10 * time.Second,
		FetchTimeout:     10 * time.Second,
		ScanTimeout:      5 * time.Minute,
		FlushTimeout:     2 * time.Second,
		ConnectTimeout:   2 * time.Second,
		ReconnectWait:    500 * time.Millisecond,
		ReconnectBufSize: 8 << 20,
		PendingMsgs:      1 << 20,
		PendingBytes:     256 << 20,
		Logger:           slog.New(slog.DiscardHandler),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.URL) == "":
		return errors.New("bus: URL is empty")
	case c.Subject == "" || strings.ContainsAny(c.Subject, " \t\r\n*>") ||
		strings.HasPrefix(c.Subject, ".") || strings.HasSuffix(c.Subject, "."):
		return errors.New("bus: Subject must be a plain subject prefix such as \"auth\"")
	case c.SyncInterval <= 0:
		return errors.New("bus: SyncInterval must be positive")
	case c.ActiveWindow < c.SyncInterval:
		return errors.New("bus: ActiveWindow must be at least SyncInterval")
	case c.Workers < 1:
		return errors.New("bus: Workers must be at least 1")
	case c.MaxQueued < 1 || c.PublishQueue < 1:
		return errors.New("bus: MaxQueued and PublishQueue must be at least 1")
	case c.Converge < 2*time.Millisecond:
		return errors.New("bus: Converge must be positive")
	case c.FetchTimeout <= 0 || c.ScanTimeout <= 0 || c.FlushTimeout <= 0:
		return errors.New("bus: FetchTimeout, ScanTimeout and FlushTimeout must be positive")
	case c.ConnectTimeout <= 0 || c.ReconnectWait <= 0:
		return errors.New("bus: ConnectTimeout and ReconnectWait must be positive")
	case c.ReconnectBufSize < -1:
		return errors.New("bus: ReconnectBufSize must be -1 or more")
	case c.PendingMsgs < 1 || c.PendingBytes < 1:
		return errors.New("bus: PendingMsgs and PendingBytes must be at least 1")
	case c.Logger == nil:
		return errors.New("bus: Logger is nil")
	case len(c.Secrets) == 0 && !c.Unsigned:
		return errors.New("bus: no cluster secret: anyone who can publish on the NATS server could forge events; give a secret, or allow an unsigned bus explicitly")
	}
	for _, s := range c.Secrets {
		if len(s) < minSecret {
			return errMinSecret
		}
	}
	return nil
}
