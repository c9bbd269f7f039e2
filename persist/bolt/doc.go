// Package bolt is the embedded store: every tenant's events and latest
// snapshot in one bbolt file on local disk, the zero-configuration default.
//
// # Layout
//
// Three buckets: "events" maps tenant id (32 bytes) + seq (8 bytes, big
// endian) to the event's binary form, so a tenant's events are contiguous
// and in seq order; "heads" maps tenant id to its last seq; "snapshots"
// maps tenant id to its latest snapshot's binary form.
//
// # Group commit
//
// Appends go through one committer goroutine. While one transaction is
// being written and synced, the appends that arrive queue up, and the next
// transaction takes all of them (up to MaxBatch): under load many appends
// share one fsync, and a lone append is never delayed waiting for company.
//
// Only one process may open a file at a time (bbolt takes a file lock);
// replicas that share state use a shared store such as MongoDB.
package bolt
