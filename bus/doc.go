// Package bus keeps replicas in step over NATS: each replica publishes the
// events written through it, and every other replica delivers them.
//
// # What travels
//
// Once an event is durable in the store and applied by the replica that
// wrote it (a [replica.Observer] with local=true), its binary form
// ([engine.Event.MarshalBinary]) is published on
//
//	<Subject>.ev.<tenant>
//
// where <tenant> is the tenant's hash ([engine.TenantID.String]), never its
// key. Every SyncInterval a replica also publishes a digest on
//
//	<Subject>.heads
//
// listing (tenant hash, seq) for each tenant written through it since the
// previous digest, so that a receiver that lost an event notices it within
// one interval even when that tenant writes nothing more. The connection
// uses NoEcho, so a replica does not hear itself (hearing itself would be
// harmless: Deliver ignores seqs already applied).
//
// # Core NATS, not JetStream
//
// The store is the truth, and a replica can fetch any event it missed from
// it: [replica.Replica.Deliver] fetches the gap below an event that arrives
// early, and [replica.Replica.Sync] catches a tenant up to the store's
// head. So the bus only has to be fast, not reliable, and core NATS
// (at-most-once, in-memory, no acks) is enough. Every way a message can be
// lost is covered by a catch-up from the store:
//
//   - a lost event followed by another event of the tenant: the later one
//     arrives above a gap, and Deliver fetches the gap;
//   - a lost last event: the writer's next digest names the tenant and its
//     seq, and the receiver Syncs it; besides, a tenant heard of within
//     ActiveWindow is Synced against the store's head at the next tick
//     and then at doubling intervals, which needs the bus not at all;
//   - anything else, whatever its cause (a replica on a NATS server the
//     writer does not reach, a publisher that died before flushing, a
//     digest lost too, a tenant quiet for hours): every Converge/2 each
//     replica reads every tenant's head from the store in one query
//     (persist.Store.Heads) and Syncs those it is behind on, NATS up or
//     not. This is what bounds staleness: no tenant stays behind the store
//     for longer than Converge (10 s by default) plus its catch-up;
//   - a disconnect, a server restart, or a slow-consumer drop on our
//     subscription: on reconnect the replica first makes sure its
//     subscription is live at the server (a flush), then compares the
//     store's heads with its own at once and Syncs the tenants it is
//     behind on, so that even a tenant created while it was away is found;
//   - a publish that fails (the link is down past the client's reconnect
//     buffer, the event is over the server's max payload, the publish
//     queue is full): the tenant is still named in the next digest;
//   - a write applied by a catch-up (a Sync, a gap fetch) between its
//     append and the writer's own apply: the replica still reports it
//     local, so it is published; as a second line, every event applied
//     from the store also puts its tenant in the next digest.
//
// JetStream would add a second durable log beside the store (with its own
// storage, replication and retention to run), and the replica would still
// need the store path for start-up and gaps; it would buy nothing the store
// does not already give, and would put a disk write on the path of every
// event.
//
// # Not blocking anyone
//
// A write never waits on NATS: the observer encodes the event and hands it
// to a bounded queue that one goroutine publishes from; when the queue is
// full the message is dropped and counted (the digest covers it). While
// NATS is down writes land in the store as usual and checks are answered
// from memory as usual.
//
// A NATS callback never waits on the store: it decodes the message and
// appends it to its tenant's queue. A bounded pool of Workers drains the
// queues, one tenant at a time per worker, so a tenant's events are
// delivered in the order they came, and a tenant whose gap fetch is slow
// holds one worker, not the others. Past MaxQueued waiting events, new
// ones are dropped and their tenant is marked for a Sync instead.
//
// The check path is untouched: the bus takes no lock a check takes; it
// reaches the engine only through [replica.Replica.Deliver] and Sync, which
// apply events as any write does.
//
// # Start without a window
//
// [Bus.Start] connects, subscribes, and (when the server is reachable)
// flushes so that the subscription is live at the server; only then does it
// call [replica.Replica.Load]. An event made durable before Load read the
// store is in what Load read; one made durable after is published after the
// subscription was live, so it is delivered. Deliveries that arrive while
// Load runs are kept by the replica and applied when Load finishes. If the
// server was unreachable at start, the scan on first connect closes the
// window instead.
package bus
