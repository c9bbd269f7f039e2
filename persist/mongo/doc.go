// Package mongo is the shared store: every tenant's events and latest
// snapshot in a MongoDB database, which any number of auth-server processes
// use at once. It needs only inserts, finds, deletes and single-document
// replaces — no transactions, counters or change streams — so it also runs
// on MongoDB-compatible servers such as FerretDB, which the tests use.
//
// # Layout
//
// Five collections in Config.Database:
//
//   - events: one document per event. Its _id is the tenant id in hex, ":"
//     and the seq zero-padded to 20 digits, so a tenant's events are one
//     contiguous _id range in seq order. The other fields repeat what the
//     event says in readable form — tenant, seq, id (16 hex digits), time
//     (a date, with time_ns for the nanoseconds below the millisecond), op
//     (its name, as in the event feed), role, permission, user, and for a
//     batch the changes array — so the collection is the audit trail. A
//     batch too large for that (see Large events) has instead counts (its
//     number of changes of each op, e.g. {add_role: 1000, add_membership:
//     1000000}) and chunked, which names its chunks: nonce, chunk count,
//     size and SHA-256.
//   - event_chunks: the chunks of those large events: the event's binary
//     form ([engine.Event] MarshalBinary, without seq and time) in pieces
//     of Config.ChunkSize. _id = tenant:nonce:chunk number; each also says
//     when it was written.
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
// Every query is by _id, the only index MongoDB always has, and nearly all
// are _id equalities: the head is found by probing seqs (see Ordering), and
// events and chunks are read one _id at a time (up to 8 in flight). Only a
// read of more than 64 events takes the rest with a range query within the
// tenant (and retention deletes a range).
//
// That is for the test server, FerretDB 1.x on SQLite, where a range query
// is not pushed down: FerretDB reads and decodes every document of the
// collection to answer it (about 6 s for 65 batch events of 320 KB). It
// does push an _id equality down to SQLite, but as an expression its own
// _id index does not match, so SQLite scans the table too: cheap for small
// documents, 0.1–0.3 s per lookup for those 65 events. Only inserts (and
// their duplicate-key errors) use the index. Large batches stored in chunks
// keep the events collection small, which keeps that scan short. On
// MongoDB both kinds of query walk the _id index, so neither depends on the
// collection's size.
//
// # Ordering
//
// The store assigns seqs with the unique _id index and nothing else. To
// append, a handle inserts the event under the key of the tenant's next seq
// as it knows it: the head it last saw, cached per tenant (on the first
// append to a tenant it reads the head, as Head does, below). Of any
// writers that race for one seq, in this process or another, the index lets
// exactly one insert succeed; the others get a duplicate-key error and try
// a later seq. A seq is only ever
// tried as one past a seq known to exist, so seqs stay dense, and an insert
// either stores the event at one seq or stores nothing, so no event is
// stored twice. After a duplicate the handle tries the next seqs by
// inserting (up to 4 in a row: the unique index answers a duplicate on
// every server), then finds the head by _id lookups: seq+1, seq+2, seq+4,
// ... while they exist, then bisecting. Head searches the same way, from
// the highest seq the handle has seen or else from the tenant's snapshot
// (with retention, a snapshot past the head it found means the probes met
// deleted events, and it searches again from there). Appends to one tenant
// through one handle take turns, so they never race each other, only other processes: one tenant's appends cost a
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
// # Large events
//
// A batch (an import: all its changes in one event, applied all or nothing)
// can be far larger than MongoDB's 16 MiB document limit: 1M memberships
// take about 25 MB in binary form and three times that as a changes array.
// A batch whose document would be larger than Config.MaxInlineEvent (1 MiB,
// about 13,000 memberships) is therefore stored in chunks, with the same
// argument as snapshots. Append first writes the event's binary form into
// event_chunks under a random nonce of its own, then inserts the event
// document, naming the chunks, exactly as it inserts any event: that
// insert, under the unique _id of the seq, is still the commit point. The
// chunks carry no seq, so an append that loses the race for a seq retries
// the next seq with the same chunks, and an ambiguous insert is settled as
// for any event. Readers (Events, Load) read an event document, then the
// chunks it names, check size, SHA-256 and that they hold that event, and
// only then return it. Chunks that no event document names are never read:
// until the event document is inserted the event does not exist, and once
// it is, it is whole.
//
// Writing the chunks is not bounded by Config.Timeout as a whole (it
// legitimately takes longer: about a second for 1M memberships on the test
// server), but every chunk is, retries included, so an unreachable server
// fails the append within about Timeout, and the event document's insert is
// as small and as bounded as any other append's. No insert is larger than
// ChunkSize or MaxInlineEvent.
//
// An append that fails before its event document could have been inserted
// deletes its chunks (in the background; Close waits for that). Chunks stay
// behind, unreferenced, only when the process dies between writing them
// and the insert, when the server goes away before they can be deleted, or
// when the insert's outcome stays unknown and it did not happen. Nothing
// deletes those automatically: telling them from the chunks of an append in
// progress needs every event document of the tenant. They are wasted space,
// never data. To reclaim them, delete the event_chunks documents whose
// nonce no events document's chunked.nonce names and which were written
// more than a day ago (longer than any append takes).
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
// snapshot at seq S deletes the events up to S-K, and then the chunks of
// those among them stored in chunks (it lists them first, so no event
// outlives its chunks; a reader that finds a chunk gone along with its
// event reads again). A handle whose cached head
// is older than that could reuse a deleted seq, so with retention on Append
// also checks that the event before the one it inserted exists, and takes
// its event back out and retries if not (with a large event, after writing
// its chunks again under a new nonce, since retention may have deleted
// them).
package mongo
