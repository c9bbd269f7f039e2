// Package replica is one server's view of the system: the in-memory engine
// kept in step with the store. It owns the write path and the order in which
// events are applied.
//
// # Writes
//
// A write is validated, answered at once if it would change nothing (adding
// an existing role, revoking a grant that is not there), and otherwise made
// into an event, appended to the store (which assigns its seq and makes it
// durable), applied to the engine in seq order, and only then acknowledged.
// Durable before visible: if the store refuses, the write fails and no
// state changes anywhere.
//
// The answer of a write is the answer of applying its event in seq order, so
// two concurrent writes to one tenant get answers consistent with the order
// every replica applies them in.
//
// # Order
//
// A tenant's events are applied strictly in seq order, each exactly once,
// whichever way they arrive: from this replica's own appends (which may
// return out of order under concurrency), from another replica over a bus
// ([Replica.Deliver]), or fetched from the store. An event above a gap waits
// while the missing events are fetched from the store; [Replica.Sync]
// catches a tenant up to the store's head, for events whose notice was lost.
//
// # Snapshots
//
// Every Config.SnapshotEvery events a tenant's snapshot is written to the
// store in the background, so that a start reads a snapshot and a short tail.
package replica
