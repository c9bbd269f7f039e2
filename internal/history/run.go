package history

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	mongostore "auth/persist/mongo"
)

// runner is one run: the cluster, the clients, and what they recorded.
type runner struct {
	cfg  Config
	cl   *Cluster
	keys []string
	t0   time.Time
	http *http.Client
	rng  *mrand.Rand // the harness's own draws, from the run's goroutine only

	mu        sync.Mutex
	ops       []*Op
	reads     []*minSeqRead
	anomalies []string
	round     int

	gate     *gate
	count    counter
	down     []atomic.Bool     // replicas the clients leave alone for now
	active   atomic.Uint64     // tenants the clients write to, as a bitmask
	ackWatch []atomic.Value    // per replica: a chan struct{} told of its next acknowledged write
	rounds   []*RoundReport    // in order
	store    *mongostore.Store // the harness's own reader of the store's events
	logs     []eventLog        // per tenant
	marks    []checkpoint      // converged ends of rounds, in order
	faultsAt []faultInterval   // for the visualization
}

// checkpoint is the end of a round whose replicas converged: every
// active tenant's state there, read at every replica.
type checkpoint struct {
	round  int
	end    int64 // the last read's return
	states map[int]State
}

type faultInterval struct {
	round      int
	fault      Fault
	start, end int64
	detail     string
}

// Client ids beyond the workload's: the scenario's writes, the big
// import, and the reads at the ends of rounds.
func (r *runner) scenarioClient() int { return r.cfg.Clients }
func (r *runner) importClient() int   { return r.cfg.Clients + 1 }
func (r *runner) readerClient() int   { return r.cfg.Clients + 2 }

func (r *runner) now() int64 { return time.Since(r.t0).Nanoseconds() }

func (r *runner) currentRound() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.round
}

// record adds an op to the history. An acknowledged write tells whoever
// waits for one at its replica (the kill fault).
func (r *runner) record(op *Op) {
	r.mu.Lock()
	op.ID = len(r.ops)
	r.ops = append(r.ops, op)
	r.mu.Unlock()
	r.count.add()
	if op.Status == http.StatusOK {
		if ch, ok := r.ackWatch[op.Replica].Load().(chan struct{}); ok && ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func (r *runner) recordRead(rd *minSeqRead) {
	r.mu.Lock()
	r.reads = append(r.reads, rd)
	r.mu.Unlock()
	r.count.add()
}

func (r *runner) anomaly(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.anomalies) < 100 {
		r.anomalies = append(r.anomalies, fmt.Sprintf(format, args...))
	}
}

// Run starts a cluster, runs the rounds with the clients writing, checks
// the history and returns the report. An error means the harness could not
// do its job (a server would not start, a fault could not be injected);
// what the servers got wrong is in the report's violations.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{
		cfg:  cfg,
		t0:   time.Now(),
		rng:  mrand.New(mrand.NewPCG(cfg.Seed, 0x4849)),
		gate: newGate(),
		http: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        4 * cfg.Clients * cfg.Replicas,
			MaxIdleConnsPerHost: 2 * cfg.Clients,
		}},
	}
	defer r.http.CloseIdleConnections()
	var salt [6]byte
	_, _ = rand.Read(salt[:])
	for t := range cfg.Tenants {
		r.keys = append(r.keys, fmt.Sprintf("history-%d-%s", t, hex.EncodeToString(salt[:])))
	}
	cfg.logf("history: starting the MongoDB test server, 2 NATS servers and %d replicas in %s", cfg.Replicas, cfg.Dir)
	cl, err := StartCluster(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	r.cl = cl
	r.down = make([]atomic.Bool, cfg.Replicas)
	r.ackWatch = make([]atomic.Value, cfg.Replicas)
	var mask uint64 = 1<<uint(cfg.Tenants) - 1
	if cfg.Scenario {
		mask &^= 1 << scenarioFreshTenant // fresh until the scenario writes to it
	}
	r.active.Store(mask)

	var wg sync.WaitGroup
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(cfg.Seed, uint64(c)+1))
			for r.gate.enter() {
				r.action(ctx, c, rng)
				r.gate.leave()
			}
		}()
	}
	stopClients := sync.OnceFunc(func() {
		r.gate.close()
		wg.Wait()
	})
	defer stopClients()

	seq := cfg.Faults
	if cfg.Scenario && (len(seq) == 0 || seq[0] != FaultNATS) {
		seq = append([]Fault{FaultNATS}, seq...)
	}
	start := time.Now()
	var runErr error
	for i := range cfg.Rounds {
		if i > 0 && cfg.Duration > 0 && time.Since(start) > cfg.Duration {
			break
		}
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		f := seq[i%len(seq)]
		cfg.logf("history: round %d: %s", i, f)
		if err := r.runRound(ctx, i, f, cfg.Scenario && i == 0); err != nil {
			runErr = fmt.Errorf("history: round %d (%s): %w", i, f, err)
			r.rounds[len(r.rounds)-1].Error = err.Error()
			break
		}
	}
	stopClients()
	// The events of the last stretch, for settling the writes of unknown
	// outcome made in it.
	if r.logs != nil {
		var all []int
		for t := range cfg.Tenants {
			all = append(all, t)
		}
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := r.readEvents(rctx, all); err != nil {
			cfg.logf("history: reading the store's events: %v", err)
		}
		cancel()
	}
	if r.store != nil {
		defer r.store.Close()
	}
	cfg.logf("history: checking %d operations", len(r.ops)+len(r.reads))
	rep := r.check()
	rep.Duration = time.Since(r.t0).Seconds()
	return rep, runErr
}

// scenarioFreshTenant is the tenant the scenario writes to first, at a
// replica that has never heard of it.
const scenarioFreshTenant = 1

// runRound runs one round: operations, the fault, operations while it
// lasts, the heal, operations, then quiet and convergence.
func (r *runner) runRound(ctx context.Context, i int, f Fault, scenario bool) error {
	rr := &RoundReport{Index: i, Fault: f}
	r.rounds = append(r.rounds, rr)
	r.mu.Lock()
	r.round = i
	r.mu.Unlock()
	base := r.count.get()
	rr.Start = r.now()
	phase := func(name string) {
		target := r.count.get() + r.cfg.OpsPerPhase
		if !r.count.await(ctx, target, r.cfg.PhaseTimeout) {
			rr.Notes = append(rr.Notes, fmt.Sprintf("%s: %d of %d operations within %v", name, r.cfg.OpsPerPhase-(target-r.count.get()), r.cfg.OpsPerPhase, r.cfg.PhaseTimeout))
		}
	}
	if !scenario {
		// The scenario comes first, on a quiet cluster, so that what it
		// finds is the first thing a check of tenant 0 finds.
		r.gate.resume()
		phase("before the fault")
	}
	rr.OpsBefore = r.count.get() - base

	mark := r.count.get()
	rr.Injected = r.now()
	after, err := r.inject(ctx, rr, f, scenario, phase)
	if err != nil {
		return err
	}
	rr.Healed = r.now()
	rr.OpsDuring = r.count.get() - mark
	r.faultsAt = append(r.faultsAt, faultInterval{round: i, fault: f, start: rr.Injected, end: rr.Healed, detail: rr.Detail})

	mark = r.count.get()
	phase("after the heal")
	r.gate.pause()
	rr.OpsAfter = r.count.get() - mark
	rr.Ops = r.count.get() - base
	if crashed := r.cl.crashed(); len(crashed) > 0 {
		rr.Crashes = crashed
		for j := range r.cl.replicaCount() {
			if !r.cl.replica(j).p.alive() {
				if err := r.cl.StartReplica(ctx, j); err != nil {
					return fmt.Errorf("restarting crashed replica: %w", err)
				}
			}
		}
	}
	r.converge(ctx, rr)
	rr.End = r.now()
	if after != nil {
		if err := after(); err != nil {
			return err
		}
	}
	r.mu.Lock()
	for _, op := range r.ops {
		if op.Round == i {
			switch {
			case op.Refused:
				rr.Refused++
			case op.Output.Unknown:
				rr.Unknown++
			}
		}
	}
	r.mu.Unlock()
	r.cfg.logf("history: round %d (%s): %d operations, converged %v in %.2fs; %s", i, f, rr.Ops, rr.Converged, rr.ConvergeSeconds, rr.Detail)
	return nil
}

// inject injects fault f, runs the phase during it and heals it. It may
// return a function to run once the round has converged (to undo the
// round's server flags).
func (r *runner) inject(ctx context.Context, rr *RoundReport, f Fault, scenario bool, phase func(string)) (after func() error, err error) {
	x := r.rng.IntN(r.cl.replicaCount())
	name := r.cl.replica(x).Name
	switch f {
	case FaultNATS:
		if scenario {
			if err := r.scenario(ctx, rr); err != nil {
				return nil, err
			}
		} else {
			r.cl.StopNATS(0)
			rr.Detail = "NATS stopped"
		}
		phase("NATS stopped")
		if err := r.cl.StartNATS(0); err != nil {
			return nil, err
		}
		rr.Detail += "; NATS started again"

	case FaultKill:
		ch := make(chan struct{}, 1)
		r.ackWatch[x].Store(ch)
		select {
		case <-ch:
		case <-time.After(r.cfg.PhaseTimeout):
			rr.Notes = append(rr.Notes, "no write acknowledged by replica "+name+" before the kill")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.cl.KillReplica(x)
		r.ackWatch[x].Store((chan struct{})(nil))
		r.down[x].Store(true)
		rr.Detail = fmt.Sprintf("replica %s killed (SIGKILL) right after it acknowledged a write", name)
		phase("replica killed")
		if err := r.cl.StartReplica(ctx, x); err != nil {
			return nil, err
		}
		r.down[x].Store(false)
		rr.Detail += "; restarted on its port"

	case FaultBusSplit:
		if err := r.restart(ctx, x, 1, nil); err != nil {
			return nil, err
		}
		rr.Detail = fmt.Sprintf("replica %s restarted on a NATS server of its own", name)
		phase("bus split")
		if err := r.restart(ctx, x, 0, nil); err != nil {
			return nil, err
		}
		rr.Detail += "; moved back"

	case FaultStorePause:
		if err := r.cl.PauseStore(); err != nil {
			return nil, err
		}
		rr.Detail = fmt.Sprintf("MongoDB server stopped (SIGSTOP) for %v", r.cfg.StorePause)
		select {
		case <-time.After(r.cfg.StorePause):
		case <-ctx.Done():
		}
		if err := r.cl.ResumeStore(); err != nil {
			return nil, err
		}
		rr.Detail += "; resumed"

	case FaultRetention:
		// Every replica keeps few events past a snapshot; the victim is on
		// a NATS server of its own, so that it cannot get what it missed
		// from the bus's buffers when it runs again: only from the store,
		// where the events are gone and a snapshot holds them.
		flags := []string{"-mongo-keep-events", itoa(r.cfg.KeepEvents), "-snapshot-every", itoa(r.cfg.SnapshotEvery)}
		for j := range r.cl.replicaCount() {
			bus := 0
			if j == x {
				bus = 1
			}
			if err := r.restart(ctx, j, bus, flags); err != nil {
				return nil, err
			}
		}
		after = func() error {
			for j := range r.cl.replicaCount() {
				if err := r.restart(ctx, j, 0, nil); err != nil {
					return err
				}
			}
			return nil
		}
		seqs := map[int]uint64{}
		for t := range r.cfg.Tenants {
			if r.active.Load()&(1<<uint(t)) != 0 {
				s, err := r.cl.tenantSeq(ctx, x, r.keys[t])
				if err != nil {
					return after, err
				}
				seqs[t] = s
			}
		}
		r.down[x].Store(true)
		if err := r.cl.PauseReplica(x); err != nil {
			return after, err
		}
		rr.Detail = fmt.Sprintf("replicas restarted with %s, %s on a NATS server of its own; %s stopped (SIGSTOP)", flagsString(flags), name, name)
		phase("replica stopped")
		// Let every tenant pass what a snapshot keeps beyond the stopped
		// replica's seq, so that the events it misses are gone.
		need := r.cfg.KeepEvents + 2*r.cfg.SnapshotEvery
		other := (x + 1) % r.cl.replicaCount()
		deadline := time.Now().Add(r.cfg.PhaseTimeout)
		for t, s := range seqs {
			for {
				head, err := r.cl.tenantSeq(ctx, other, r.keys[t])
				if err == nil && head >= s+need {
					break
				}
				if time.Now().After(deadline) {
					rr.Notes = append(rr.Notes, fmt.Sprintf("tenant %d did not pass seq %d (+%d) while replica %s was stopped", t, s, need, name))
					break
				}
				select {
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
					return after, ctx.Err()
				}
			}
		}
		if err := r.cl.ResumeReplica(x); err != nil {
			return after, err
		}
		r.down[x].Store(false)
		rr.Detail += fmt.Sprintf("; resumed %d+ events behind, still on its own NATS server until the round converged", need)

	case FaultImport:
		t, ok := r.pickTenant(r.rng)
		if !ok {
			return nil, fmt.Errorf("no tenant to import to")
		}
		in := randomImport(r.rng)
		in.Bulk = true
		done := make(chan *Op, 1)
		go func() { done <- r.write(ctx, r.importClient(), t, x, "v1", in) }()
		phase("big import")
		var op *Op
		select {
		case op = <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		rr.Detail = fmt.Sprintf("import of %d lines to tenant %d at replica %s: %s in %.2fs", r.cfg.BulkLines+len(in.Lines), t, name, outcome(op), time.Duration(op.Return-op.Call).Seconds())
	default:
		return nil, fmt.Errorf("unknown fault %q", f)
	}
	return after, nil
}

// restart restarts replica i on bus with extra flags, the clients leaving
// it alone meanwhile.
func (r *runner) restart(ctx context.Context, i, bus int, extra []string) error {
	r.down[i].Store(true)
	defer r.down[i].Store(false)
	return r.cl.RestartReplica(ctx, i, bus, extra)
}

// scenario is the known lost revoke, made deterministic. With the
// clients quiet: mallory is not in admin and admin exists in tenant 0,
// and replica B has seen it; NATS stops; mallory is added to admin at A,
// then removed at B (which does not know she was added). In tenant 1,
// which no replica has seen yet, admin is created at A, then mallory is
// added to it at B (which does not know the role). Then the clients go on
// with NATS still stopped.
func (r *runner) scenario(ctx context.Context, rr *RoundReport) error {
	r.gate.pause()
	sc, a, b := r.scenarioClient(), 0, 1
	member := Input{Kind: AddMember, Role: adminRole, Perm: -1, User: malloryUser}
	unmember := Input{Kind: DelMember, Role: adminRole, Perm: -1, User: malloryUser}
	role := Input{Kind: AddRole, Role: adminRole, Perm: -1, User: -1}
	r.write(ctx, sc, 0, a, "v1", unmember)
	w := r.write(ctx, sc, 0, a, "v1", role)
	if w.Status != http.StatusOK || !w.Output.SeqKnown {
		return fmt.Errorf("scenario: setting up tenant 0 at A: %s", outcome(w))
	}
	r.readElem(ctx, w, b, elem{elemRole, adminRole, 0})
	r.cl.StopNATS(0)
	ops := []*Op{
		r.write(ctx, sc, 0, a, "api", member),
		r.write(ctx, sc, 0, b, "api", unmember),
		r.write(ctx, sc, scenarioFreshTenant, a, "api", role),
		r.write(ctx, sc, scenarioFreshTenant, b, "api", member),
	}
	rr.Detail = fmt.Sprintf("NATS stopped; tenant 0: %s at A %s, %s at B %s; tenant %d (new): %s at A %s, %s at B %s",
		member.String(), outcome(ops[0]), unmember.String(), outcome(ops[1]),
		scenarioFreshTenant, role.String(), outcome(ops[2]), member.String(), outcome(ops[3]))
	r.active.Store(r.active.Load() | 1<<scenarioFreshTenant)
	r.gate.resume()
	return nil
}

func outcome(op *Op) string {
	switch {
	case op.Refused:
		return "refused (" + op.Err + ")"
	case op.Output.Unknown:
		return "unknown (" + op.Err + ")"
	case op.Output.SeqKnown:
		return fmt.Sprintf("-> %v @%d", op.Output.Result, op.Output.Seq)
	}
	return fmt.Sprintf("-> %v", op.Output.Result)
}

func flagsString(flags []string) string {
	s := ""
	for i, f := range flags {
		if i > 0 {
			s += " "
		}
		s += f
	}
	return s
}
