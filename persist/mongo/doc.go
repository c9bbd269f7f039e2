// Package mongo is the shared store: every tenant's events and latest
// snapshot in a MongoDB database, which any number of auth-server processes
// use at once. It needs only inserts, finds, deletes and single-document
// replaces — no transactions, counters or change streams — so it also runs
// on MongoDB-compatible servers such as FerretDB, which the tests use.
//
// # Layout
//
// Four collections in Config.Database:
//
//   - events: one document per event. Its _id is the tenant id in hex, ":"
//     and the seq zero-padded to 20 digits, so a tenant's events are one
//     contiguous _id range in seq order. The other fields repeat what the
//     event says in readable form — tenant, seq, id (16 hex digits), time
//     (a date, with time_ns for the nanoseconds below the millisecond), op
//     (its name, as in the event feed), role, permission, user, and for a
//     batch the changes array — so the collection is the audit trail.
//   - tenants: one document per tenant (_id = tenant hex), inserted before
//     the tenant's first event, so that Load lists tenants without scanning
//     the events.
//   - snapshots: one document per tenant (_id = tenant hex) naming its latest
//     snapshot: seq, a random nonce, chunk count, size and SHA-256.
//   - snapshot_chunks: the snapshot's binary form ([engine.Snapshot]
//     MarshalBinary) in pieces of Config.ChunkSize (4 MiB), since a large
//     tenant's snapshot (15–25 MB for a million users) exceeds MongoDB's 16
//     MiB document limit. _id = tenant:seq:nonce:chunk number.
//
// Tenants appear only as [engine.TenantID] hex: the store never sees keys.
// Every query is by _id, an equality or a range within one tenant, the only
// index MongoDB always has (and the only one FerretDB accelerates).
//
// # Ordering
//
// The store assigns seqs with the unique _id index and nothing else. To
// append, a handle inserts the event under the key of the tenant's next seq
// as it knows it: the head it last saw, cached per tenant (on the first
// append to a tenant it reads the head: the last _id in the tenant's range).
// Of any writers that race for one seq, in this process or another, the
// index lets exactly one insert succeed; the others get a duplicate-key
// error, read the head again and try the seq after it. A seq is only ever
// tried as one past a seq known to exist, so seqs stay dense, and an insert
// either stores the event at one seq or stores nothing, so no event is
// stored twice. After a duplicate the handle finds the new head by _id
// lookups (seq+1, seq+2, seq+4, ... then bisecting; a range query past a gap
// of 64). Appends to one tenant through one handle take turns, so they
// never race each other, only other processes: one tenant's appends cost a
// round trip each, while appends to different tenants run in parallel.
//
// An insert whose answer is lost (a network error or timeout after it was
// sent) may or may not have happened. Append then retries at the same seq:
// success means the first attempt did not happen, and a duplicate-key error
// is settled by reading the event at that seq and comparing its ID. If the
// server stays away until the call's time (Config.Timeout, 3s) is up, the
// error wraps both persist.ErrUnavailable and persist.ErrAmbiguous; errors
// of calls that certainly sent nothing wrap only persist.ErrUnavailable.
//
// # Snapshots
//
// SaveSnapshot writes the chunks first, under a nonce no other save uses,
// then points the tenant's snapshot document at them (an insert for the
// first, else a replace conditioned on the document it read), then deletes
// the chunks of the snapshot it replaced. A reader reads the document, then
// the chunks it names, and checks size and hash; a missing chunk means the
// snapshot was replaced meanwhile, and the reader starts again from the
// document. A reader therefore never sees a half-written snapshot. On a
// server whose updates are not atomic (FerretDB) two concurrent saves may
// both win; then the older may stay current and the newer's chunks are left
// unreferenced — wasted space, never a broken snapshot.
//
// # Retention
//
// By default every event is kept. With Config.KeepEvents = K, saving a
// snapshot at seq S deletes the events up to S-K. A handle whose cached head
// is older than that could reuse a deleted seq, so with retention on Append
// also checks that the event before the one it inserted exists, and takes
// its event back out and retries if not.
package mongo
