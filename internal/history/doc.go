// Package history checks that the replicated cluster never lies: it runs
// auth-server replicas over one MongoDB store and a NATS bus, has clients
// write to random replicas while faults come and go, records every
// operation, and checks the history with porcupine, the linearizability
// checker etcd's robustness tests use.
//
// # The cluster
//
// [StartCluster] starts the MongoDB test server (FerretDB, built from
// internal/testmongo) as a child process, two NATS servers in this process
// (the second for a replica cut off from the others' bus), and the
// replicas as child processes (auth-server built once, without the race
// detector: the servers are what is tested, the harness is what -race
// covers), all on loopback ports. Every child is killed when the cluster
// is closed, and by the kernel if the harness dies first (Linux).
//
// # The clients
//
// Clients write to a few tenants (keys) at random replicas, over both the
// original routes (key in the path, seq in X-Auth-Seq) and /v1 (key in a
// header, seq in the body): roles, grants and memberships added and
// removed (removing a role removes its grants and memberships), and small
// imports (POST /v1/import, applied as one event). Some actions are pairs:
// a write at one replica and at once its undoing at another, which the
// second replica may answer before it has applied the first (the bus
// lag's race). After some acknowledged writes a client reads what it wrote
// at another replica, with the write's seq as min_seq.
//
// The names come from a small universe (5 roles, 4 permissions, 6 users,
// some needing escapes in a path), so that clients collide on them and a
// tenant's whole state is three bitmasks. The big import adds a block of
// members to the bulk role, all at once; the model keeps them as one bit.
//
// # Rounds
//
// A run is rounds of one fault each, injected and healed, with operations
// before, during and after it (Config.OpsPerPhase each): NATS stopped and
// started; a replica killed (SIGKILL) right after it acknowledged a write
// and restarted on its port; a replica restarted on a NATS server of its
// own and moved back; the store stopped (SIGSTOP) past the servers' store
// timeout and resumed; retention (replicas keeping few events past a
// snapshot, one of them stopped, on a bus of its own, while the others
// write past what is kept, so that it can only catch up from a snapshot);
// a big import among the other writes. With Config.Scenario the first
// round is the known lost revoke, made deterministic: with NATS stopped and
// the clients quiet, mallory is added to admin at replica A, then removed
// at replica B, which has not seen her added; and in a tenant no replica
// has seen, admin is created at A, then mallory added to it at B.
//
// After the heal the clients go quiet, and every replica must export the
// same state at the same seq for every tenant within Config.ConvergeWithin
// (a violation otherwise). Those exports are the round's checkpoint.
//
// # The model
//
// Per tenant, the state is the set of roles, grants and memberships, and
// the tenant's seq. A write takes effect at one instant between its call
// and its return, all writes of a tenant in one order, as the engine
// applies it (the model is checked against the engine itself):
//
//   - its answer is the engine's answer in that state;
//   - a write that changes the state is the tenant's next event: it answers
//     the seq after the state's;
//   - a write that changes nothing answers the state's seq (or that of an
//     empty event of its own, if a server writes one): not an older one,
//     which would be a consistency token that misses writes acknowledged
//     before it was made;
//   - an import is one event, whatever it changes; roles first, then its
//     grants and memberships in order.
//
// Outcomes: 200 is applied, with its answer and seq; 503 is refused:
// nothing happened, and the write is left out of the history, so that if
// its event exists anyway the seqs cannot be explained; anything else (504,
// another status, a cut connection, no answer in time) is unknown: the
// write may or may not have happened, and its answer is not checked (in
// porcupine it returns at the end of the history). A request whose
// connection could not be made is refused: nothing was sent.
//
// A checkpoint's exports are reads of the whole state and its seq, taken
// while nothing is in flight: linearizable reads, so the check covers the
// state the replicas converged to.
//
// # The check
//
// The history is cut per tenant and per stretch of rounds between two
// checkpoints; each part starts from the state its previous checkpoint
// read (checked in the previous part) and is checked by porcupine. A
// write of unknown outcome stays open until the end of the part after its
// own: it may take effect on either side of a checkpoint. It is assumed to
// be over after that: by then every process has answered or given up on
// it (clients wait longer than the servers' write deadline) and the store
// has been healthy for a whole round.
//
// A part without a linearization is checked again with stale seqs of
// writes that changed nothing allowed, to tell a stale consistency token
// (class stale-seq) from a wrong answer or a lost write (class state). The
// report names the longest linearizable prefix porcupine found, the state
// it leads to, the operations that cannot come next and why, and the
// timeline of the facts they are about; a seq no write accounts for comes
// with the refused writes that could have made it. Porcupine's HTML
// visualization, with the faults marked, is written to Config.Dir.
//
// Reads with min_seq are checked apart: a read of what a write wrote, with
// the write's seq, must see it as the write left it, unless a write that
// may come after it in seq order (acknowledged with a higher seq, or of
// unknown outcome, and called before the read returned) could have set
// what the read saw. A 409 (the replica did not reach the seq in time) is
// counted, not a violation: the API allows it.
//
// # What is not checked
//
//   - Reads without min_seq are not linearizable by design: a replica that
//     lags answers from the state it has. The clients make none; the
//     checkpoints read only once every replica has converged.
//   - Of the read routes, only export (at checkpoints) and the single-fact
//     reads (role, permission, membership with min_seq) are used; the
//     others derive from the same state in the engine, whose own tests
//     check them against a model. Batch checks and the event feed are not
//     exercised.
//   - Of the big import, only all or none of its members is told apart;
//     part of them is reported as a state no model can be in.
//   - Availability: refusals during a fault are allowed; only convergence
//     after the heal is bounded.
//   - A write of unknown outcome taking effect more than a round later
//     would be reported as a violation of the round it lands in.
//
// # Running
//
// The short run is TestHistory (go test ./internal/history -run
// TestHistory; -args -history.faults=kill,nats picks the faults after the
// scenario, -history.rounds=N the number of rounds, -history.keep keeps
// the folder). The long run is `authbench history` in bench/.
package history
