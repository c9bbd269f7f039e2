// Package engine holds the authorization model in memory and answers checks
// from it in constant time.
//
// # Model
//
// Everything is scoped by a tenant. A tenant is named by the secret key its
// clients use, but inside the engine only the key's hash ([TenantID]) is kept:
// the raw key is never stored, logged or returned.
//
// Within a tenant, roles exist once created; a permission is a name granted to
// a role; a membership puts a user in a role; a role may include other roles,
// whose permissions its members then have too, transitively, without a cycle
// (inclusion.go). A user has a permission when any of the user's roles is
// granted it, or includes a role that is. Deleting a role removes its grants,
// its memberships and its inclusions with it, so nothing dangles.
//
// A membership may have a window (window.go): it counts only from its
// starts_at and/or until its expires_at, by the engine's clock, in checks
// and lists alike; a sweep event removes the memberships whose windows
// ended before the time it names. A user with a window is checked from a
// table of its own whose slot holds its roles with their windows, against
// a clock read once per check (or batch); a tenant without windows never
// reads the clock and is checked as before.
//
// A tenant may have more keys than the one it is named by (keys.go): each
// a record of its state, made and revoked by events (add_key, del_key),
// with a scope (check, read, admin) and the hash of its secret, never the
// secret. [Engine.Access] tells a key's tenant and scope from the same
// lock-free cache the check always used; a revocation invalidates it, and
// a reader that sees a revoking event's seq finds the key refused.
// Every event records the id of the key that made it ([Event.By]).
//
// A tenant is deleted by one event (del_tenant): its state and keys go,
// and it keeps only its id, its seq and that it was deleted ([Tenant.Deleted]),
// so that its first key never names a fresh tenant again. It refuses every
// later event ([ErrTenantDeleted]): one written by a replica that had not
// heard of the deletion changes nothing. Its snapshot is a tombstone.
//
// # Representation
//
// Names are interned to dense indices per tenant. Users and permissions are
// found through the tenant's own open-addressing hash tables (nametable.go),
// whose slots hold the name and the value inline, so that a lookup reads one
// slot. Each user holds a small sorted array of role indices (inline in its
// slot for the common case of at most three roles), and each permission holds
// the set of roles granted it: inline in its slot as 16-bit indices in a
// small cuckoo hash table (permentry.go) while they fit (always up to eight,
// in practice up to about thirty), else a sorted array while small and a
// dense bitset once large. A check is therefore two table lookups and, for
// each of the user's roles, a comparison with three words of the
// permission's slot: the same work whatever the number of roles, with no
// allocation and no branch on the answer. With role inclusion, a permission's
// set of roles is its check set: every role whose members have it, directly or
// through inclusions, kept in step by the writes (inclusion.go), so that a
// check does the same work with or without a hierarchy. Reverse indices (role →
// members, role → permissions) are roaring bitmaps; they serve the list
// queries and role deletion and are never touched by a check.
//
// # Events
//
// Every change is an [Event]: a tenant, a dense sequence number, an operation
// and its names. A tenant's state is the fold of its events in seq order;
// [Engine.Apply] refuses an event that is not the next one. A tenant can be
// captured as a [Snapshot] and restored from it, so that a store keeps a
// snapshot and a short tail of events rather than the whole history.
//
// Small tenants are kept compact instead (compact.go): the whole state in
// one immutable block of bytes without pointers, about 2 KB for ten users
// in ten roles with fifty grants, where the tables above take about 20 KB.
// A check reads the block directly: two lookups in small hash tables of
// 32-bit slots, each pointing at a record that holds the name and its role
// mask together, and an AND of the two masks. The block is allocated with
// its struct, and the tenant's first key's entry in the key cache is the
// tenant itself (keycache.go), so that a check by key of a tenant no cache
// holds waits on few reads from memory one after the other: the tenant
// (the key's entry and the state's pointer in one cache line), the block
// (the table slots of the user and the permission, read together), and the
// records. A tenant stays compact while
// it has at most 32 roles, 255 users, 255 permissions and 512 memberships
// and grants in all; past them its state becomes the tables, and a change
// built aside (below) or a restore makes it compact again once it fits.
//
// # Adding an op
//
// An op is a row of the op table in event.go. The row gives its name, the
// fields it needs (each a valid name, the others empty), those it may
// carry or leave empty (a membership's window, which its check
// validates), whether it is the batch op, whether it states a fact (a line of an import or an export),
// any validation the fields cannot express, how it changes a tenant and
// what it answers, on a tenant and on none. From the row derive [Op.String]
// and [ParseOp], [Change.Validate] and [Event.Validate], the binary form
// (codec.go), [Tenant.Answer], the import parser of httpapi (a line is the
// fact whose fields it has) and the op counts of persist/mongo's documents.
// The rest is by hand; tests named below fail until it is done:
//
//  1. event.go: the Op constant, the next number (numbers are stored: never
//     renumber or reuse one), and its row; the methods that change and
//     answer go beside the others (apply.go). A new field: a member of
//     Change (or of KeyArgs, for fields only a few ops carry, which keeps
//     every other change small; or of WindowArgs), a Field constant after the others with a
//     row of the field table (always false, so that stored events keep
//     their form) and a case in [Field.In] and [Field.Of]. TestOpTable,
//     TestFieldTable.
//  2. State the snapshot must keep (snapshot.go, its binary form with a new
//     format byte in codec.go) and the verbs and lists that read it
//     (verbs.go, tenant.go, state.go); the compact block (compact.go) holds
//     only roles, grants and memberships, so compactOf must keep a tenant
//     with the new state in tables, or the block must gain it; clone
//     (state.go) must copy it.
//  3. The naive reference model, internal/refmodel, which the engine's and
//     the bus's model tests compare with (TestEngineMatchesModel).
//  4. client/feed.go: the op's constant and a new field in client.Change
//     and its String (TestOpsAreTheEngines in client).
//  5. httpapi: the route that writes it, the event feed's JSON
//     (appendChange in events.go) for a new field, and openapi.yaml's Op
//     enum, Change and Event (TestOpenAPIOpsAreTheEngines). A fact: the
//     export (bulk.go) and the counts an import answers (import.go).
//  6. persist/mongo/docs.go: a new field in eventDoc and changeDoc.
//  7. internal/history, if the linearizability run is to write it; the
//     README's description of the event feed and of the API.
//
// # Concurrency
//
// An Engine is safe for concurrent use, and a check never waits for a
// large change. A tenant's state is published through an atomic pointer
// (state.go): a compact block, or a version of the tables. Writers of a
// tenant are serialized among themselves. A compact tenant's change builds
// a new block; a check loads the pointer and reads the block, with no lock
// at all. A change to the tables is made in one of two ways:
//
//   - Large changes are built aside: a batch of more than inPlaceMax (1,024)
//     changes, a role deletion with that many members and grants, a
//     batch that begins with a clear change (an import in replace mode),
//     a restore. The writer copies the published version (or starts from
//     empty tables), applies the change to the copy while readers go on
//     reading the published one, and publishes the copy by one pointer
//     swap. Readers see the state before the change or after it, never
//     part of it, and never wait for it. Nor does the rest of the process:
//     the copy goes in steps of 256 KiB and the change yields the
//     processor every 4,096 steps (bigcopy.go), because the runtime cannot
//     preempt one copy of a big array, and a collection that starts during
//     one stops every goroutine until it ends (0.4 to 0.9 s for 2M users).
//   - Small changes are made in place, under the version's locks, for the
//     few table updates they make (microseconds): reads other than the
//     check take mu for reading; the check takes one of eight stripes of
//     a reader-writer lock, chosen at random, so that checks on different
//     cores do not all write the one reader count of a sync.RWMutex; a
//     writer takes mu, then every stripe.
//
// Why this and not another scheme: two full copies kept in step (left-right)
// would double the steady memory of every tenant; copying the whole tables
// for every change would make a single grant in a tenant of a million users
// cost milliseconds; path-copying (persistent) tables would add a pointer
// chase to every check. Copying only for large changes costs, during one,
// a second copy of the tenant for as long as it takes to build, and a
// small change pays nothing. A batch just past inPlaceMax in a very large
// tenant pays for the copy of the tenant (about 0.1 s per million
// memberships); bench/RESULTS.md has the figures.
//
// Nothing in this package does I/O, so a check never waits on a disk or a
// network.
package engine
