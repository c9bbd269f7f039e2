// Package bolt is the embedded store: every tenant's events and latest
// snapshot in one bbolt file on local disk, the zero-configuration default.
//
// # Layout
//
// Four buckets: "events" maps tenant id (32 bytes) + seq (8 bytes, big
// endian) to the event's binary form, so a tenant's events are contiguous
// and in seq order; "heads" maps tenant id to its last seq; "snapshots"
// maps tenant id to its latest snapshot's binary form; "meta" describes
// the store: its format, its epoch, and the markers below.
//
// # Checksums
//
// Every value is framed with a CRC-32C over its key and payload (see
// frame.go), written with it and checked whenever it is read: a damaged
// record is found, never applied. Reads also check what frames cannot: an
// event holds the tenant and seq it is stored under, a tenant's events
// follow one another from seq 1 without a gap (or from its snapshot, for
// a deleted tenant whose events were purged), and end at its head. A
// store written before checksums (store format 1: no meta bucket, bare
// records) is framed at its first open, in transactions of bounded size,
// and is of format 2 from then on; a store takes format 3 at its first
// purge, since earlier versions would take purged events for missing
// ones. A store or record of a format newer than this version reads is
// refused with ErrNewerFormat.
//
// # A damaged file
//
// bbolt does not checksum its pages, and trusts them: a damaged page id or
// element offset makes it read outside the file's memory map (a fault Go
// cannot recover in bbolt's own goroutines, which rebuild the free list at
// every open) or panic on an assertion. So Open verifies the file's
// structure first, by plain reads (verifyFile): both meta pages'
// checksums, and every page the newest meta reaches. After an unclean stop
// (the meta bucket's "open" marker, written at open and deleted at Close,
// is found) it also runs bbolt's own consistency check. Reads run with
// SetPanicOnFault and recover what bbolt raises, so that a damage found
// later is an error too. Every damage gives a *CorruptError naming the
// file, where (a page, or a tenant and seq) and what; Config.OnCorrupt
// hears of it once. Check verifies a file offline: structure, every
// record, every tenant replayed.
//
// # Group commit
//
// Appends go through one committer goroutine. While one transaction is
// being written and synced, the appends that arrive queue up, and the next
// transaction takes all of them (up to MaxBatch): under load many appends
// share one fsync, and a lone append is never delayed waiting for company.
//
// # Backups and epochs
//
// OpenBackup pins the store's state in a read transaction and writes it
// out (bbolt's Tx.WriteTo) while appends go on. bbolt cannot grow its
// memory map while a read transaction is open, so the map is sized with
// room (Config.MmapSize: address space, not memory) and a backup does not
// stall writes until the file outgrows it. A backup carries a restore
// marker: the store it is opened as takes a new epoch, so that seqs of
// the store it came from (which went on past the backup with other
// writes) are never taken for its own.
//
// Only one process may open a file at a time (bbolt takes a file lock);
// replicas that share state use a shared store such as MongoDB.
package bolt
