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
//     the events; with retention it also holds the tenant's floor (see
//     Retention).
//   - snapshots: one document per tenant (_id = tenant hex) naming its latest
//     snapshot: seq, a random nonce, chunk count, size and SHA-256.
//   - snapshot_chunks: the snapshot's binary form ([engine.Snapshot]
//     MarshalBinary) in pieces of Config.ChunkSize (4 MiB), since a large
//     tenant's snapshot (15–25 MB for a million users) exceeds MongoDB's 16
//     MiB document limit. _id = tenant:seq:nonce:chunk number.
//
// Tenants appear only as [engine.TenantID] hex: the store never sees keys.
// Beside _id, the events collection has one index, (tenant, seq
// descending), for Heads.
//
// # Access
//
// On MongoDB every query is a plain indexed one: a tenant's head is the
// last _id of its range, events are read with one sorted _id range query,
// and Heads is one aggregation over the (tenant, seq) index. The test
// server, FerretDB 1.x on SQLite, answers a range query or an aggregation
// by reading and decoding every document of the collection, but an _id
// equality through an index; there the store finds heads by probing _ids
// and reads events by _id lookups (up to 8 in flight, and a range query
// only past 64 events), which keeps it usable for tests and benchmarks.
// Open asks the server what it is (FerretDB says so in buildInfo) and
// takes one access or the other; Config.Access forces one, and the
// conformance suite runs both on the test server. Every other query (the
// insert that claims a seq, chunk and snapshot reads) is the same on both.
// bench/RESULTS.md gives the test server's figures.
//
// # Ordering
//
// The store assigns seqs with the unique _id index and nothing else. To
// append, a handle inserts the event under the key of the tenant's next seq
// as it knows it: the head it last saw, cached per tenant (on the first
// append to a tenant it reads the head, as Head does, below). Of any
// writers that race for one seq, in this process or another, the index lets
// exactly one insert succeed; the others get a duplicate-key error and try
// a later seq. A seq is only ever tried as one past a seq known to exist,
// so seqs stay dense, and an insert either stores the event at one seq or
// stores nothing, so no event is stored twice. After a duplicate the handle
// tries the next seqs by inserting (up to 4 in a row: the unique index
// answers a duplicate on every server), then reads the head (see Access).
// Appends to one tenant through one handle take turns, so they never race
// each other, only other processes: one tenant's appends cost a round trip
// each, while appends to different tenants run in parallel.
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
// legitimately takes longer), but every chunk is, retries included, so an unreachable server
// fails the append within about Timeout, and the event document's insert is
// as small and as bounded as any other append's. No insert is larger than
// ChunkSize or MaxInlineEvent.
//
// An append that fails before its event document could have been inserted
// deletes its chunks (in the background; Close waits for that). Chunks stay
// behind, unreferenced, only when the process dies between writing them
// and the insert, when the server goes away before they can be deleted, or
// when the insert's outcome stays unknown and it did not happen. Nothing
// reads them: they are wasted space, never data. SaveSnapshot sweeps them
// (at most once an hour per tenant and handle, [Store.SweepOrphanChunks]):
// it deletes the tenant's event_chunks documents whose nonce no events
// document's chunked.nonce names and which were written more than
// OrphanChunkAge (a day, longer than any append takes) ago.
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
// event reads again).
//
// Before it deletes anything, retention raises the tenant's floor (the
// floor field of its tenants document, with $max) to S-K: every event at
// or below the floor is deleted or about to be. A handle whose cached head
// is older than the floor could insert its event at a deleted seq (the
// unique index no longer holds that _id), so with retention on, Append
// reads the floor after its insert and, if the seq is at or below it,
// takes its event back out and tries again from the store's head (a large
// event after writing its chunks again under a new nonce, since retention
// may have deleted them). Readers read the floor after the events, and
// answer persist.ErrPruned for a read that starts at or below it. The
// order is what makes this safe without transactions: the floor is raised
// before the deletion that frees a seq, the stray insert comes after that
// deletion, and its own check, or any reader's, after the insert, so each
// of them sees the floor that covers it. A stray that is never taken back
// out (its process died) is never read and never counted as a head: the
// head search starts from the snapshot's seq, past the floor. (A test
// places such a stray and appends above it.)
//
// Every process sharing a database must use the same KeepEvents. Tenants
// pruned by a version without floors have none until their next
// snapshot; until then a read whose first event is missing while later
// ones exist is also answered persist.ErrPruned.
//
// # Deleted tenants
//
// Purge takes what a deleted tenant's events held out of the database,
// once the tenant's tombstone is its snapshot. With retention on it
// deletes them as retention does, behind the floor. Without, the handles
// rely on every seq's document being there (an insert that finds a seq
// free takes it, and a head is searched for upward from seq 1), so Purge
// empties the events instead: each keeps its _id, seq, id and time and
// becomes an empty batch, which changes nothing when applied; their names,
// keys, key ids and chunks go.
//
// # Heads
//
// Heads lists every tenant's head in one query, which replicas run every
// few seconds to find any tenant they are behind on: an aggregation that
// sorts on the index (tenant, seq descending), created by Open, and takes
// each tenant's first entry, which MongoDB answers with one index entry per
// tenant. The test server (FerretDB) lacks $first in $group; there Heads
// lists the tenants collection and finds each head by _id lookups from the
// highest seq the handle has seen.
//
// # Failover
//
// With the default write concern "majority" (a replica set), every read
// that a decision depends on uses read concern "majority": the head found
// before an append, "is the event at this seq mine" after an insert whose
// answer was lost, the floor, and the events a replica applies. A
// majority-committed document cannot be rolled back by a failover, so:
//
//   - no head is ever found from a document a failover later rolls back,
//     which could make an append skip a seq and leave a hole that wedges
//     every replica;
//   - an ambiguous insert is settled "mine" only from a majority-committed
//     document, so a write is never acknowledged on a document that a
//     rollback then removes;
//   - an insert's own acknowledgement is "majority", so an acknowledged
//     event survives the loss of the primary.
//
// Errors of a primary stepping down or shutting down during an insert
// (NotWritablePrimary, InterruptedDueToReplStateChange, a
// RetryableWriteError) are never taken as "not written": the insert may
// have been made, and replicated, before the primary lost its role. Append
// keeps retrying at the same seq and settles it by reading, as for a lost
// answer (see Ordering); if the call's time runs out first, the error wraps
// persist.ErrAmbiguous and the client is told the outcome is unknown.
//
// What remains: a majority read may not yet see an insert that another
// writer's primary acknowledged a moment ago; that costs a duplicate-key
// error and a retry at the next seq, never a wrong decision. With write
// concern "1", none of the above holds across a failover: an acknowledged
// event may be rolled back, and replicas that applied it then differ from
// the store. These paths cannot be exercised on the test server (FerretDB
// is a single node without elections); they follow from MongoDB's
// documented guarantees for majority reads and writes.
package mongo
