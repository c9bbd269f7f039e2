package persist

import (
	"context"
	"errors"

	"auth/engine"
)

// Store keeps every tenant's events and latest snapshot. Implementations are
// safe for concurrent use.
type Store interface {
	// Append makes ev durable as the next event of ev.Tenant: it assigns
	// ev.Seq (the tenant's head plus one) and returns once the event is
	// durable. Concurrent appends to one tenant get distinct, dense seqs,
	// also across processes sharing one store. On error ev.Seq is left 0;
	// an error wrapping ErrUnavailable means the store could not be
	// reached and nothing was appended, unless the error also wraps
	// ErrAmbiguous.
	Append(ctx context.Context, ev *engine.Event) error

	// Events returns up to limit events of tenant with seq > after, in seq
	// order. Fewer than limit means there were no more at the time. If
	// retention has deleted event after+1 (the caller is behind the oldest
	// event kept), it returns an error wrapping ErrPruned and no events:
	// the caller must start again from the tenant's snapshot (LoadTenant).
	Events(ctx context.Context, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error)

	// Head returns the seq of tenant's last event, 0 if it has none.
	Head(ctx context.Context, tenant engine.TenantID) (uint64, error)

	// Heads calls fn for every tenant with events, with the seq of its
	// last event, in no particular order: one cheap pass over the store
	// (a bucket of heads, an index), by which a replica finds every tenant
	// it is behind on without reading any tenant's events. It stops at the
	// first error fn returns and returns it.
	Heads(ctx context.Context, fn func(tenant engine.TenantID, head uint64) error) error

	// LoadTenant returns tenant's latest snapshot (nil if none) and every
	// event after it, as Load gives each tenant: how a running replica that
	// fell behind retention starts the tenant again. A tenant without
	// events gives a TenantState with no snapshot and no events.
	LoadTenant(ctx context.Context, tenant engine.TenantID) (TenantState, error)

	// Load calls fn once for every tenant with events, with the tenant's
	// latest snapshot (nil if none) and every event after it, in seq
	// order. It stops at the first error fn returns and returns it.
	Load(ctx context.Context, fn func(t TenantState) error) error

	// SaveSnapshot stores snap as its tenant's latest snapshot, unless the
	// store already holds one at the same or a later seq. snap.Seq must not
	// exceed the tenant's head.
	SaveSnapshot(ctx context.Context, snap *engine.Snapshot) error

	// Purge removes what the tenant's events up to seq upTo hold, once
	// the tenant's snapshot at upTo or later is stored (else it returns
	// an error wrapping ErrSnapshotBehind and removes nothing): how a
	// deleted tenant's names and keys leave the store, its tombstone (that
	// snapshot and the events after it) staying. Asked afterwards for
	// events after a seq below upTo, Events returns ErrPruned, or, where
	// a store's writers need its seqs dense, events that change nothing
	// (see the store's doc). It may be called again: it then does nothing
	// more.
	Purge(ctx context.Context, tenant engine.TenantID, upTo uint64) error

	// Close releases the store; appends in flight finish first. Later calls
	// return ErrClosed.
	Close() error
}

// TenantState is what Load gives for one tenant.
type TenantState struct {
	Tenant   engine.TenantID
	Snapshot *engine.Snapshot // nil if the tenant has none
	Events   []engine.Event   // the events after the snapshot, in seq order
}

// Errors returned by stores.
var (
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("persist: store is closed")
	// ErrUnavailable wraps failures to reach the store (disk, network,
	// timeouts). A server answers them with 503.
	ErrUnavailable = errors.New("persist: store unavailable")
	// ErrAmbiguous marks an append whose outcome is unknown: the store
	// may or may not have made it durable (a timeout after the request was
	// sent). The event becomes visible through catch-up if it was.
	ErrAmbiguous = errors.New("persist: append outcome unknown")
	// ErrPruned is returned by Events when retention has deleted the
	// events asked for; the tenant's snapshot covers them.
	ErrPruned = errors.New("persist: events were deleted by retention; load the snapshot")
	// ErrSnapshotAhead is returned by SaveSnapshot for a snapshot past the
	// tenant's head.
	ErrSnapshotAhead = errors.New("persist: snapshot is ahead of the tenant's events")
	// ErrSnapshotBehind is returned by Purge for events the tenant's
	// snapshot does not cover.
	ErrSnapshotBehind = errors.New("persist: the tenant's snapshot does not cover the events to purge")
	// ErrCorrupt marks stored data that does not hold what was written:
	// a record whose checksum fails, a document or file that does not
	// decode, events that do not follow one another. Nothing read from it
	// is applied; a server that meets it at start refuses to serve.
	ErrCorrupt = errors.New("persist: stored data is corrupt")
)
