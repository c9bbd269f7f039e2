// Package replica is one server's view of the system: the in-memory engine
// kept in step with the store. It owns the write path and the order in which
// events are applied.
//
// # Writes
//
// A write is decided at its seq: its answer is the answer of applying its
// event in the tenant's seq order, never a guess from this replica's state,
// which may be behind the store (a bus message lost or late, a tenant not
// loaded yet).
//
// A write that would change this replica's state is validated, made into an
// event, appended to the store (which assigns its seq and makes it
// durable), applied to the engine in seq order, and only then acknowledged,
// with the answer that applying it gave. Durable before visible.
//
// A write that looks like a no-op here (adding an existing role, revoking a
// grant this replica does not know of) may not be one in the store: a revoke
// at a lagging replica must still revoke. So it is first checked against
// the store's head: the replica catches the tenant up to the head and
// answers from there, and if the change is not a no-op after all, it is
// written as above. A no-op therefore costs one read of the head (a write
// already costs a round trip to the store) and leaves no event in the audit
// trail and no tenant behind for a key never written to. The other way,
// appending every write and answering from applying it, would cost the same
// round trip plus an event per no-op, and would create a tenant for every
// made-up key that revokes something.
//
// Two concurrent writes to one tenant get answers consistent with the order
// every replica applies them in: a no-op's answer is the state at a seq
// that was the store's head at some instant during the call.
//
// # Outcomes
//
// Every failed write says which of three things happened, and never
// confuses them:
//
//   - not applied: bad input (engine.ErrInvalid), or a store that could not
//     be reached before anything was written (persist.ErrUnavailable
//     without persist.ErrAmbiguous). Nothing changed anywhere.
//   - unknown: the store did not confirm an append in time
//     (persist.ErrAmbiguous): the event may appear later. Or the event is
//     durable at a known seq but this replica could not apply it in time to
//     give its answer ([ErrAnswerUnknown], with the seq): the change is
//     made, only its result is unknown.
//   - applied: no error, the answer and the seq.
//
// # Catching up
//
// [Replica.Sync] catches a tenant up to the store's head. A replica whose
// next event retention has deleted (persist.ErrPruned) installs the tenant's
// latest snapshot from the store while running: built off to the side and
// swapped in whole, so readers see the old state until the new one is
// complete; the events after it are then applied as usual.
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
