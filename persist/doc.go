// Package persist defines where events and snapshots live: the [Store]
// interface that a replica writes through, the errors its implementations
// return, and (in subpackages) the implementations themselves:
//
//   - persist/bolt: the embedded store, a single file on local disk; the
//     zero-configuration default.
//   - persist/mongo: MongoDB, the store replicas share in a cluster; its
//     tests run against a real wire-protocol server (persist/mongo/mongotest).
//   - persist/storetest: the conformance suite every implementation passes.
//
// The store is the truth. A tenant's events carry dense sequence numbers
// assigned by the store as it makes each event durable; replicas apply them
// in that order. Snapshots are a shortcut for loading, never a substitute
// for the events after them.
//
// Stores see tenants only by [engine.TenantID], the hash of the secret key:
// the key itself never reaches a store.
package persist
