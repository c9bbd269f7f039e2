// Package live keeps a live replica of one tenant inside the caller's
// process: checks answer from memory at the engine's speed (tens of
// nanoseconds, no network hop, no allocation), with the same answers as
// the server, and a way to read one's own writes.
//
//	r, err := live.Open(ctx, "http://auth:4000", key, live.Options{})
//	...
//	defer r.Close()
//	ok, err := r.Check("sara", "cook") // ErrStale past the staleness bound
//	w, err := r.Client().AddMembership(ctx, "jack", "cookers")
//	err = r.Wait(ctx, w.Seq)           // then every read here sees the write
//
// How it follows. Open loads the tenant from GET /v1/export (its seq and
// its store's epoch come in X-Auth-Seq and X-Auth-Epoch) into an
// in-process engine, then follows GET /v1/events/stream from that seq,
// applying each event as it comes, in seq order. A broken connection is
// resumed with Last-Event-ID (backoff from 100 ms to 5 s); an event is
// applied only when it has come whole, so a stream cut mid-event applies
// nothing of it and the next connection sends it again. When the stream
// cannot go on from the replica's state (the server's store is of another
// epoch: a backup was restored; retention deleted the events after the
// replica's seq; an event that does not follow), the server says so
// (event: reset) and the replica rebuilds from a new export, built aside
// while reads go on answering from the old state, then swapped in whole.
//
// Staleness. The replica is fresh when it knows it was at the server's
// head: at a load, and at each of the stream's heartbeats that carries a
// head seq the replica has applied. It asks the server for heartbeats
// every MaxStaleness/4 (2.5 s by default), so that a quiet tenant stays
// fresh. Staleness() is the time since then. Past Options.MaxStaleness
// (10 s by default), reads fail closed with ErrStale (the default: an
// answer older than the bound is not given), or, with
// Options.ServeStale, keep answering from the last state. Staleness is
// judged by a background ticker (every MaxStaleness/20) that flips a
// flag; a read loads the flag and never reads the clock. So the bound
// holds to within a twentieth of itself.
//
// Names are not checked locally: where the server answers 400 for an
// invalid name (empty, a control character, over 256 bytes), the replica
// answers false or an empty list. A seq given to Wait is of the epoch of
// the store that answered it; across a restore of the server's store
// (Epoch changes) seqs of the old epoch mean nothing.
package live
