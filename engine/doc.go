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
// a role; a membership puts a user in a role. A user has a permission when any
// of the user's roles is granted it. Deleting a role removes its grants and its
// memberships with it, so nothing dangles.
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
// allocation and no branch on the answer. Reverse indices (role → members, role →
// permissions) are roaring bitmaps; they serve the list queries and role
// deletion and are never touched by a check.
//
// # Events
//
// Every change is an [Event]: a tenant, a dense sequence number, an operation
// and its names. A tenant's state is the fold of its events in seq order;
// [Engine.Apply] refuses an event that is not the next one. A tenant can be
// captured as a [Snapshot] and restored from it, so that a store keeps a
// snapshot and a short tail of events rather than the whole history.
//
// # Concurrency
//
// An Engine is safe for concurrent use. Checks take a tenant's read lock; a
// write holds the write lock only for the few table and bitset updates it makes
// (deleting a role with many members holds it for time proportional to the
// members). Nothing in this package does I/O, so a check never waits on a
// disk or a network.
package engine
