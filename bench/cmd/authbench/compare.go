package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"auth/bench/dataset"
	"auth/bench/loadgen"
)

// CompareReport is compare's JSON output.
type CompareReport struct {
	Kind     string          `json:"kind"` // "compare"
	Machine  Machine         `json:"machine"`
	Command  string          `json:"command"`
	Pinning  string          `json:"pinning"`
	Server   string          `json:"server_source"`
	Dataset  dataset.Config  `json:"dataset"`
	Mix      loadgen.Mix     `json:"mix"`
	Duration string          `json:"duration"`
	Warmup   string          `json:"warmup"`
	Rounds   int             `json:"rounds"`
	Targets  []*TargetResult `json:"targets"`
	InProc   *InProcReport   `json:"inproc,omitempty"`
	Verdicts []Verdict       `json:"verdicts"`
	Failures []string        `json:"failures,omitempty"`
}

// TargetResult is what one target gave.
type TargetResult struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Available   bool               `json:"available"`
	Note        string             `json:"note,omitempty"`
	Replicas    int                `json:"replicas,omitempty"`
	StartSecs   float64            `json:"start_seconds,omitempty"`
	RestartSecs []float64          `json:"restart_seconds,omitempty"` // later rounds, from the loaded data folder
	SeedSecs    float64            `json:"seed_seconds,omitempty"`    // dataset written straight into the store
	Load        *loadgen.LoadStats `json:"load,omitempty"`
	Verified    int                `json:"verified_checks,omitempty"`
	// ReloadSecs are later rounds' loads (a peer's memory datastore).
	ReloadSecs []float64 `json:"reload_seconds,omitempty"`
	// VisibleSecs is the time from the end of the load until the last
	// membership loaded answered true.
	VisibleSecs float64 `json:"visible_seconds,omitempty"`
	// MemMiB is the target's memory after its check runs (PSS of its
	// processes and their children, databases included), the largest
	// over rounds.
	MemMiB float64           `json:"memory_mib,omitempty"`
	Runs   []*loadgen.Result `json:"runs,omitempty"`
}

// Verdict is one of the targets, measured.
type Verdict struct {
	Claim    string `json:"claim"`
	Measured string `json:"measured"`
	Holds    bool   `json:"holds"`
}

// compareOpts is what compare was asked to do, and the state its targets
// share from round to round.
type compareOpts struct {
	// From the flags (parseCompare).
	command      string // how compare was called, for the report
	root         string // the repository
	rev          string // the git revision auth-server is built from ("": the working tree)
	ids          []string
	rounds       int
	inproc       bool
	inprocRounds int
	benchtime    string
	pin          bool
	pinning      string // how the processes are pinned, for the report
	cpusServer   string
	quota        float64
	mongoLoad    string
	mongoTimeout time.Duration
	cfg          dataset.Config
	mix          loadgen.Mix
	concs        []int
	dur, warmup  time.Duration
	openRate     float64
	openFraction float64
	writeConcs   []int
	mixedWrite   float64
	mixedList    float64
	loadConc     int
	verifyN      int
	keep         bool   // keep work
	peersCache   string // where the peers' binaries are installed
	peerLoadConc int    // concurrent writes while loading a peer
	fgaBatch     int    // tuples per OpenFGA write
	jsonOut      string // where the report goes: JSON, markdown and a chart ("": not written)
	mdOut        string
	chartOut     string

	// Set while running (runRounds).
	work          string // the temporary folder: binaries, data, logs
	src           string // the source auth-server and testmongo are built from
	authServerBin string
	ceilingBin    string
	testmongoBin  string
	natsdBin      string
	// clusterSecretFile holds the secret the replicated target's replicas
	// sign bus messages with.
	clusterSecretFile string
	round             int
	embeddedData      string  // the embedded target's data folder, loaded once
	mongoDir          string  // the replicated target's MongoDB data folder, loaded once
	sysProcs          []*proc // besides the servers, processes of the system under test whose CPU counts
	peers             map[string]*peerState
	cleanups          []func()
}

// cmdCompare starts each target in turn, measures it and stops it, for a
// number of rounds, then reports: three steps.
func cmdCompare(ctx context.Context, args []string) error {
	o, err := parseCompare(args)
	if err != nil {
		return err
	}
	if o.pin && runtime.NumCPU() >= 2 {
		pinSelf(1) // returns only if not pinned
	}
	rep, err := o.runRounds(ctx)
	if err != nil {
		return err
	}
	return o.writeReport(rep)
}

// parseCompare reads compare's flags; -smoke changes the defaults of those
// not given.
func parseCompare(args []string) (*compareOpts, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	smoke := fs.Bool("smoke", false, "a few seconds on a tiny dataset: for CI; fails on any error or wrong answer")
	root := fs.String("root", "", "repository root (default: found from the working folder)")
	rev := fs.String("rev", "", "build auth-server from this git revision (e.g. HEAD) instead of the working tree")
	targetsFlag := fs.String("targets", "ceiling,embedded,mongo", "targets to run, in order: ceiling, embedded, mongo, and the peers (opt-in, built on first use): spicedb (= spicedb-postgres,spicedb-memory), openfga (= openfga-sqlite,openfga-postgres)")
	peersCache := fs.String("peers-cache", "", "folder the peers' binaries are installed into and reused from (default: authbench in the user's cache folder)")
	peerLoadConc := fs.Int("peer-load-c", 8, "concurrent write calls while loading OpenFGA")
	fgaBatch := fs.Int("fga-batch", 100, "tuples per OpenFGA write call (its default maximum is 100)")
	rounds := fs.Int("rounds", 3, "rounds: each runs every target's closed-loop checks once, one target at a time; ratios are per round, verdicts use their median")
	inprocRounds := fs.Int("inproc-rounds", 3, "rounds of the in-process benchmarks, interleaved; the median is reported")
	mongoLoad := fs.String("mongo-load", "seed", `how the replicated target gets the dataset: "seed" writes batch events and a snapshot straight into MongoDB before the replicas start (fast); "api" loads it through the API like the embedded target (slow on the test MongoDB server)`)
	mongoTimeout := fs.Duration("mongo-timeout", 0, "the replicas' -mongo-timeout, one MongoDB operation's bound (0: the server's default, 3s)")
	quota := fs.Float64("server-cpu-quota", 0, "cap each server at this many CPUs with a CFS quota (e.g. 0.35), so that the server, not the load generator, is the bottleneck (0: no cap)")
	pin := fs.Bool("pin", true, "pin servers to CPU 0 and the load generator to CPU 1 (taskset)")
	conc := fs.String("c", "16,64", "closed-loop concurrencies (keep-alive connections)")
	dur := fs.Duration("d", 5*time.Second, "measured duration of each run")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up before each run")
	openRate := fs.Float64("open-rate", 0, "open-loop rate, requests/s (0: -open-fraction of the ceiling's closed-loop rate at the highest -c)")
	openFraction := fs.Float64("open-fraction", 0.5, "open-loop rate as a share of the ceiling's throughput (0: no open-loop run)")
	writeConc := fs.String("write-c", "1,16,64", "concurrencies of the write-throughput runs on each auth-server target (empty: none)")
	mixedWrite := fs.Float64("mixed-write-share", 0.02, "write share of the mixed run (0 and -mixed-list-share 0: no mixed run)")
	mixedList := fs.Float64("mixed-list-share", 0.08, "list-query share of the mixed run")
	loadConc := fs.Int("load-c", 64, "concurrent writes while loading the dataset")
	verifyN := fs.Int("verify", 2000, "checks verified against the ground truth before measuring")
	inproc := fs.Bool("inproc", true, "run the in-process engine vs Casbin benchmarks")
	benchtime := fs.String("benchtime", "1s", "benchtime of the in-process benchmarks")
	out := fs.String("json", "", "write the report as JSON to this file")
	md := fs.String("md", "", "write markdown tables to this file")
	chart := fs.String("chart", "", "draw throughput and p99 per target into this PNG or SVG file")
	keep := fs.Bool("keep", false, "keep the temporary folder (binaries, data, server logs)")
	cfg := defaultDataset
	datasetFlags(fs, &cfg)
	mix := loadgen.Mix{TrueShare: 0.5}
	mixFlags(fs, &mix)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("users", func() { cfg = smokeDataset })
		def("c", func() { *conc = "4" })
		def("d", func() { *dur = time.Second })
		def("warmup", func() { *warmup = 200 * time.Millisecond })
		def("write-c", func() { *writeConc = "2" })
		def("open-rate", func() { *openRate = 300 })
		def("verify", func() { *verifyN = 300 })
		def("benchtime", func() { *benchtime = "100x" })
		def("pin", func() { *pin = false })
		def("load-c", func() { *loadConc = 16 })
		def("rounds", func() { *rounds = 2 })
		def("inproc-rounds", func() { *inprocRounds = 1 })
	}
	o := &compareOpts{command: "authbench compare " + strings.Join(args, " "), rev: *rev, rounds: *rounds,
		inproc: *inproc, inprocRounds: *inprocRounds, benchtime: *benchtime, pin: *pin, pinning: "none",
		mongoTimeout: *mongoTimeout, mongoLoad: *mongoLoad, quota: *quota, cfg: cfg, mix: mix, dur: *dur, warmup: *warmup, openRate: *openRate, openFraction: *openFraction,
		mixedWrite: *mixedWrite, mixedList: *mixedList, loadConc: *loadConc, verifyN: *verifyN,
		keep: *keep, peerLoadConc: *peerLoadConc, fgaBatch: *fgaBatch, jsonOut: *out, mdOut: *md, chartOut: *chart}
	// A pinned run is this command again, under taskset (pinSelf).
	if os.Getenv("AUTHBENCH_PINNED") != "" {
		o.cpusServer = "0"
		o.pinning = "servers on CPU 0, load generator (and in-process benchmarks) on CPU 1, with taskset"
	}
	if o.quota > 0 {
		o.pinning += fmt.Sprintf("; each server capped at %.2f CPU by a CFS quota (10 ms period)", o.quota)
	}
	if o.mongoLoad != "seed" && o.mongoLoad != "api" {
		return nil, fmt.Errorf("-mongo-load: want seed or api, not %q", o.mongoLoad)
	}
	var err error
	if o.concs, err = intList(*conc); err != nil {
		return nil, err
	}
	if o.writeConcs, err = intList(*writeConc); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.root, err = findRoot(*root); err != nil {
		return nil, err
	}
	if o.rounds < 1 {
		return nil, errors.New("-rounds must be at least 1")
	}
	if o.peerLoadConc < 1 || o.fgaBatch < 1 {
		return nil, errors.New("-peer-load-c and -fga-batch must be at least 1")
	}
	for _, id := range strings.Split(*targetsFlag, ",") {
		id = strings.TrimSpace(id)
		ids := peerTargets[id]
		if ids == nil {
			ids = []string{id}
		}
		for _, id := range ids {
			if targets[id] == nil {
				return nil, fmt.Errorf("unknown target %q (have ceiling, embedded, mongo, spicedb, openfga, %s)", id, strings.Join(append(peerTargets["spicedb"], peerTargets["openfga"]...), ", "))
			}
			if isPeer(id) && o.peersCache == "" {
				if o.peersCache, err = peerCacheDir(*peersCache); err != nil {
					return nil, err
				}
			}
			o.ids = append(o.ids, id)
		}
	}
	return o, nil
}

// runRounds builds the servers and runs every target once a round, one at
// a time, then the in-process benchmarks. A target that fails is not run
// again; its failure is in the report, not an error.
func (o *compareOpts) runRounds(ctx context.Context) (*CompareReport, error) {
	var err error
	if o.work, err = os.MkdirTemp("", "authbench-"); err != nil {
		return nil, err
	}
	if o.keep {
		logf("keeping %s", o.work)
	} else {
		defer os.RemoveAll(o.work)
	}
	defer func() {
		for _, f := range o.cleanups {
			f()
		}
	}()
	rep := &CompareReport{Kind: "compare", Machine: thisMachine(), Command: o.command,
		Pinning: o.pinning, Dataset: o.cfg, Mix: o.mix, Duration: o.dur.String(), Warmup: o.warmup.String(), Rounds: o.rounds}

	logf("building auth-server (%s) and ceiling", map[bool]string{true: "working tree", false: "revision " + o.rev}[o.rev == ""])
	o.authServerBin = filepath.Join(o.work, "auth-server")
	o.ceilingBin = filepath.Join(o.work, "ceiling")
	if o.src, err = serverSource(ctx, o.root, o.rev, o.work); err != nil {
		return nil, err
	}
	rep.Server = describeSource(ctx, o.root, o.rev)
	if err := goBuild(ctx, o.src, "./cmd/auth-server", o.authServerBin); err != nil {
		return nil, err
	}
	if err := goBuild(ctx, filepath.Join(o.root, "bench"), "./cmd/ceiling", o.ceilingBin); err != nil {
		return nil, err
	}

	results := map[string]*TargetResult{}
	failed := map[string]bool{}
rounds:
	for round := 1; round <= o.rounds; round++ {
		for _, id := range o.ids {
			if failed[id] {
				continue
			}
			tr := results[id]
			if tr == nil {
				tr = &TargetResult{ID: id}
				results[id] = tr
				rep.Targets = append(rep.Targets, tr)
			} else if !tr.Available {
				continue
			}
			logf("round %d/%d: %s", round, o.rounds, id)
			o.round = round
			if err := targets[id](ctx, o, rep, tr); err != nil {
				failed[id] = true
				rep.Failures = append(rep.Failures, fmt.Sprintf("%s, round %d: %v", id, round, err))
				logf("%s: %v", id, err)
				if ctx.Err() != nil {
					break rounds
				}
			}
		}
	}
	if o.inproc && ctx.Err() == nil {
		ip, err := runInProc(o.cfg, o.mix.TrueShare, o.benchtime, o.inprocRounds)
		if err != nil {
			rep.Failures = append(rep.Failures, "inproc: "+err.Error())
			logf("inproc: %v", err)
		}
		rep.InProc = ip
	}
	return rep, nil
}

// writeReport judges the runs (the targets as verdicts, and every
// failed request or wrong answer as a failure), prints the markdown
// tables, writes the files asked for, and fails if anything failed.
func (o *compareOpts) writeReport(rep *CompareReport) error {
	rep.Verdicts = verdicts(rep, o.concs)
	for _, tr := range rep.Targets {
		for _, r := range tr.Runs {
			if r.Failed() {
				rep.Failures = append(rep.Failures, fmt.Sprintf("%s %s c=%d: %d errors, %d wrong answers: %v", tr.ID, r.Label, r.Concurrency, r.Errors, r.Wrong, r.ErrorSamples))
			}
			if r.Lag != nil && r.Lag.Unseen > 0 {
				rep.Failures = append(rep.Failures, fmt.Sprintf("%s %s c=%d: %d of %d writes × other replicas not seen within %s after the run",
					tr.ID, r.Label, r.Concurrency, r.Lag.Unseen, r.Lag.Samples, loadgen.LagWait))
			}
		}
	}

	if err := writeJSON(o.jsonOut, rep); err != nil {
		return err
	}
	text := compareMarkdown(rep)
	fmt.Println(text)
	if o.mdOut != "" {
		if err := os.WriteFile(o.mdOut, []byte(text), 0o644); err != nil {
			return err
		}
	}
	if o.chartOut != "" {
		if err := drawChart(rep, o.chartOut); err != nil {
			return err
		}
		logf("chart written to %s", o.chartOut)
	}
	if len(rep.Failures) > 0 {
		return fmt.Errorf("%d failure(s):\n  %s", len(rep.Failures), strings.Join(rep.Failures, "\n  "))
	}
	return nil
}

// targets start, measure and stop one target each. A target that cannot
// run here returns a result marked unavailable with the reason, and no
// error.
//
// Each is called once per round with the same *TargetResult; the first
// round also runs the open-loop, mixed and write phases.
var targets = map[string]func(context.Context, *compareOpts, *CompareReport, *TargetResult) error{
	"ceiling":  runCeiling,
	"embedded": runEmbedded,
	"mongo":    runMongo,

	"spicedb-postgres": runSpiceDBPostgres,
	"spicedb-memory":   runSpiceDBMemory,
	"openfga-sqlite":   runOpenFGASQLite,
	"openfga-postgres": runOpenFGAPostgres,
}

// run runs w on the servers p with c connections, closed loop or at rate,
// and adds the result to tr's runs.
func (o *compareOpts) run(ctx context.Context, tr *TargetResult, p []*proc, w *loadgen.Workload, label string, c int, rate float64, verify bool) error {
	var addrs []string
	var pids []int
	for _, x := range p {
		addrs = append(addrs, x.addr)
		pids = append(pids, x.pid())
	}
	for _, x := range o.sysProcs {
		pids = append(pids, x.pid())
	}
	opts := loadgen.Options{
		Addrs: addrs, Concurrency: c, Duration: o.dur, Warmup: o.warmup, Rate: rate, Verify: verify,
		ServerPIDs: pids, Label: label, Progress: os.Stderr, Timeout: 10 * time.Second,
	}
	if len(addrs) > 1 && w.Mix.WriteShare > 0 {
		// Several replicas taking writes: measure how long each write
		// takes to show at the others.
		opts.LagKey = dataset.Key(0)
	}
	r, err := loadgen.Run(ctx, w, opts)
	if err != nil {
		return err
	}
	r.Round = o.round
	tr.Runs = append(tr.Runs, r)
	logf("%s", r)
	if r.Writes != nil {
		logf("  reads %.0f/s p99 %.0fµs; writes %.0f/s p99 %.0fµs", r.Reads.RPS, r.Reads.Latency.P99, r.Writes.RPS, r.Writes.Latency.P99)
	}
	if l := r.Lag; l != nil {
		logf("  replication lag over %d writes × other replicas (%d pairs, %d unseen): p50 %.0fµs p90 %.0fµs p99 %.0fµs max %.0fµs (polled every %s)",
			l.Writes, l.Samples, l.Unseen, l.P50, l.P90, l.P99, l.Max, l.Poll)
	}
	for _, s := range r.ErrorSamples {
		logf("  error: %s", s)
	}
	return nil
}

// openRateFor returns the open-loop rate: given, or a share of the
// ceiling's best closed-loop throughput in this run.
func (o *compareOpts) openRateFor(rep *CompareReport) float64 {
	if o.openRate > 0 {
		return o.openRate
	}
	if o.openFraction <= 0 {
		return 0
	}
	best := 0.0
	for _, t := range rep.Targets {
		if t.ID == "ceiling" {
			for _, r := range t.Runs {
				if r.Mode == "closed" && r.Round == o.round && r.RPS > best {
					best = r.RPS
				}
			}
		}
	}
	return float64(int(best*o.openFraction/100)) * 100
}

func runCeiling(ctx context.Context, o *compareOpts, rep *CompareReport, tr *TargetResult) error {
	tr.Name, tr.Available, tr.Replicas = "bare fasthttp, constant answer", true, 1
	tr.Note = "answers every check true: responses are not verified"
	p, up, err := o.startServer(ctx, "ceiling", o.ceilingBin, "ceiling.log", 30*time.Second)
	if err != nil {
		return err
	}
	defer p.stop()
	if o.round == 1 {
		tr.StartSecs = up.Seconds()
	}
	w, err := loadgen.NewWorkload(o.cfg, loadgen.Mix{TrueShare: o.mix.TrueShare}, 1)
	if err != nil {
		return err
	}
	for _, c := range o.concs {
		if err := o.run(ctx, tr, []*proc{p}, w, "check", c, 0, false); err != nil {
			return err
		}
	}
	o.recordMemory(tr, []*proc{p})
	if rate := o.openRateFor(rep); rate > 0 && o.round == 1 {
		if err := o.run(ctx, tr, []*proc{p}, w, "check", maxInt(o.concs), rate, false); err != nil {
			return err
		}
	}
	return p.stop()
}

func runEmbedded(ctx context.Context, o *compareOpts, rep *CompareReport, tr *TargetResult) error {
	tr.Name, tr.Available, tr.Replicas = "auth-server, embedded store", true, 1
	load := o.embeddedData == ""
	if load {
		o.embeddedData = filepath.Join(o.work, "embedded-data")
	}
	p, up, err := o.startServer(ctx, "auth-server", o.authServerBin, fmt.Sprintf("embedded-%d.log", o.round), 5*time.Minute,
		"-data", o.embeddedData, "-log-level", "warn")
	if err != nil {
		return err
	}
	defer p.stop()
	if load {
		tr.StartSecs = up.Seconds()
	} else {
		tr.RestartSecs = append(tr.RestartSecs, up.Seconds())
	}
	return o.measureServer(ctx, tr, []*proc{p}, rep, load, func() error { return p.stop() })
}

// measureServer loads the dataset into a running auth-server system,
// verifies it and runs every phase: checks closed and open loop, the
// mixed run and the write runs.
func (o *compareOpts) measureServer(ctx context.Context, tr *TargetResult, ps []*proc, rep *CompareReport, load bool, stop func() error) error {
	if load {
		if err := o.load(ctx, tr, ps); err != nil {
			return err
		}
		vis, err := loadgen.WaitVisible(ctx, ps[0].addr, loadgen.CheckOp(o.lastMembershipCheck()), nil, 2*time.Minute)
		if err != nil {
			return fmt.Errorf("after the load: %w", err)
		}
		tr.VisibleSecs = vis.Seconds()
	}
	for i, p := range ps {
		if err := o.verifyReplica(ctx, p, i, len(ps)); err != nil {
			return err
		}
	}
	tr.Verified += o.verifyN
	logf("%s: verified %d checks and %d list queries per replica against the ground truth", tr.ID, o.verifyN, o.verifyN/10+1)

	w, err := loadgen.NewWorkload(o.cfg, loadgen.Mix{TrueShare: o.mix.TrueShare}, 1)
	if err != nil {
		return err
	}
	for _, c := range o.concs {
		if err := o.run(ctx, tr, ps, w, "check", c, 0, true); err != nil {
			return err
		}
	}
	o.recordMemory(tr, append(slices.Clone(ps), o.sysProcs...))
	if o.round == 1 {
		if err := o.extraPhases(ctx, tr, ps, rep); err != nil {
			return err
		}
	}
	return stop()
}

// verifyReplica verifies one replica's answers. Of several replicas, those
// that did not take the load receive it over the bus and may lag: they get
// up to two minutes to answer everything right.
func (o *compareOpts) verifyReplica(ctx context.Context, p *proc, i, n int) error {
	seed := 99 + uint64(o.round)
	if n == 1 {
		return loadgen.Verify(ctx, p.addr, o.cfg, o.verifyN, seed)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := loadgen.Verify(ctx, p.addr, o.cfg, o.verifyN, seed)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				return fmt.Errorf("replica %d: %w", i, err)
			}
			return nil
		}
		logf("replica %d not caught up yet (%v); retrying", i, err)
		time.Sleep(time.Second)
	}
}

// load loads the dataset through the API of the first replica.
func (o *compareOpts) load(ctx context.Context, tr *TargetResult, ps []*proc) error {
	logf("%s: loading %s through the API: %d writes, %d at a time", tr.ID, o.cfg, o.cfg.Writes(), o.loadConc)
	st, err := loadgen.Load(ctx, ps[0].addr, o.cfg, o.loadConc, os.Stderr)
	if err != nil {
		return err
	}
	tr.Load = &st
	logf("%s: loaded %d writes in %.1fs (%.0f writes/s)", tr.ID, st.Writes, st.Seconds, st.PerSec)
	return nil
}

// extraPhases runs the first round's open-loop, mixed and write runs.
func (o *compareOpts) extraPhases(ctx context.Context, tr *TargetResult, ps []*proc, rep *CompareReport) error {
	w, err := loadgen.NewWorkload(o.cfg, loadgen.Mix{TrueShare: o.mix.TrueShare}, 1)
	if err != nil {
		return err
	}
	if rate := o.openRateFor(rep); rate > 0 {
		if err := o.run(ctx, tr, ps, w, "check", maxInt(o.concs), rate, true); err != nil {
			return err
		}
	}
	if o.mixedWrite > 0 || o.mixedList > 0 {
		mw, err := loadgen.NewWorkload(o.cfg, loadgen.Mix{TrueShare: o.mix.TrueShare, WriteShare: o.mixedWrite, ListShare: o.mixedList}, 2)
		if err != nil {
			return err
		}
		if err := o.run(ctx, tr, ps, mw, "mixed", maxInt(o.concs), 0, true); err != nil {
			return err
		}
	}
	ww, err := loadgen.NewWorkload(o.cfg, loadgen.Mix{WriteShare: 1}, 3)
	if err != nil {
		return err
	}
	for _, c := range o.writeConcs {
		if err := o.run(ctx, tr, ps, ww, "write", c, 0, true); err != nil {
			return err
		}
	}
	return nil
}

// runMongo is target (c): three auth-server replicas sharing a MongoDB
// store (the project's test server, FerretDB on SQLite, from
// internal/testmongo) and a NATS server, load spread over the replicas
// round robin. Where the server cannot be configured that way yet it
// reports what is missing rather than measuring anything in its place.
func runMongo(ctx context.Context, o *compareOpts, rep *CompareReport, tr *TargetResult) error {
	tr.Name, tr.Replicas = "auth-server, MongoDB (test server) + NATS, 3 replicas", 3
	if o.round == 1 {
		var missing []string
		help, _ := exec.CommandContext(ctx, o.authServerBin, "-h").CombinedOutput()
		for _, f := range []string{"-mongo-uri", "-nats-url"} {
			if !strings.Contains(string(help), f) {
				missing = append(missing, "auth-server has no "+f+" flag")
			}
		}
		if _, err := os.Stat(filepath.Join(o.src, "internal/testmongo/main.go")); err != nil {
			missing = append(missing, "internal/testmongo does not exist")
		}
		if len(missing) > 0 {
			tr.Note = "not yet available: " + strings.Join(missing, "; ")
			logf("mongo: %s", tr.Note)
			return nil
		}
		tr.Available = true
		tr.Note = "MongoDB is FerretDB on SQLite (the project's test server), not a MongoDB deployment; its figures say nothing of a real cluster's write path"
		o.testmongoBin = filepath.Join(o.work, "testmongo")
		o.natsdBin = filepath.Join(o.work, "natsd")
		logf("mongo: building the test MongoDB server and natsd")
		if err := goBuild(ctx, filepath.Join(o.src, "internal/testmongo"), ".", o.testmongoBin); err != nil {
			return err
		}
		if err := goBuild(ctx, filepath.Join(o.root, "bench"), "./cmd/natsd", o.natsdBin); err != nil {
			return err
		}
		// auth-server refuses a bus without a cluster secret, to sign its
		// messages with; a revision from before that has no such flag.
		if strings.Contains(string(help), "-cluster-secret-file") {
			o.clusterSecretFile = filepath.Join(o.work, "cluster-secret")
			if err := os.WriteFile(o.clusterSecretFile, []byte(rand.Text()+"\n"), 0o600); err != nil {
				return err
			}
		}
	}
	load := o.mongoDir == ""
	first := load
	if load {
		o.mongoDir = filepath.Join(o.work, "mongo-data")
	}
	var all []*proc
	defer func() {
		for i := len(all) - 1; i >= 0; i-- {
			all[i].stop()
		}
	}()
	mongoAddr, err := freeAddr()
	if err != nil {
		return err
	}
	_, mport, _ := net.SplitHostPort(mongoAddr)
	m, err := startProcStdin("testmongo", o.testmongoBin, []string{"-dir", o.mongoDir, "-port", mport},
		mongoAddr, o.cpusServer, filepath.Join(o.work, fmt.Sprintf("testmongo-%d.log", o.round)), true)
	if err != nil {
		return err
	}
	all = append(all, m)
	natsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	n, err := startProc("natsd", o.natsdBin, []string{"-addr", natsAddr}, natsAddr, o.cpusServer, filepath.Join(o.work, fmt.Sprintf("natsd-%d.log", o.round)))
	if err != nil {
		return err
	}
	all = append(all, n)
	for _, p := range []*proc{m, n} {
		if err := p.waitTCP(ctx, time.Minute); err != nil {
			return err
		}
	}
	mongoURI := "mongodb://" + mongoAddr + "/"
	if load && o.mongoLoad == "seed" {
		logf("mongo: seeding %s straight into MongoDB (batch events and a snapshot)", o.cfg)
		st, err := seedMongo(ctx, mongoURI, "authbench", o.cfg)
		if err != nil {
			return fmt.Errorf("seeding MongoDB: %w", err)
		}
		tr.SeedSecs = st.dur.Seconds()
		logf("mongo: seeded in %.1fs (%d batch events)", st.dur.Seconds(), st.events)
		load = false
		tr.Note += "; the dataset was seeded straight into MongoDB, not loaded through the API (see -mongo-load)"
	}
	var reps []*proc
	for i := range tr.Replicas {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		args := []string{"-addr", addr, "-mongo-uri", mongoURI, "-mongo-db", "authbench",
			"-nats-url", "nats://" + natsAddr, "-data", filepath.Join(o.work, fmt.Sprintf("replica-%d", i)), "-log-level", "warn"}
		if o.mongoTimeout > 0 {
			args = append(args, "-mongo-timeout", o.mongoTimeout.String())
		}
		if o.clusterSecretFile != "" {
			args = append(args, "-cluster-secret-file", o.clusterSecretFile)
		}
		p, err := startProc(fmt.Sprintf("auth-server replica %d", i), o.authServerBin, args, addr, o.cpusServer,
			filepath.Join(o.work, fmt.Sprintf("replica-%d-%d.log", i, o.round)))
		if err != nil {
			return err
		}
		all = append(all, p)
		reps = append(reps, p)
	}
	var ready time.Duration
	for _, p := range reps {
		up, err := p.waitReady(ctx, 5*time.Minute)
		if err != nil {
			return err
		}
		ready = max(ready, up)
	}
	if first {
		tr.StartSecs = ready.Seconds()
	} else {
		tr.RestartSecs = append(tr.RestartSecs, ready.Seconds())
	}
	// A quota caps the whole system under test together: the three
	// replicas, MongoDB and NATS.
	if o.quota > 0 {
		if err := o.limit(reps[0]); err != nil {
			return err
		}
		for _, p := range append([]*proc{m, n}, reps[1:]...) {
			if err := p.joinCgroup(reps[0]); err != nil {
				return err
			}
		}
	}
	o.sysProcs = []*proc{m, n}
	defer func() { o.sysProcs = nil }()
	return o.measureServer(ctx, tr, reps, rep, load, func() error {
		var errs []error
		for i := len(all) - 1; i >= 0; i-- {
			errs = append(errs, all[i].stop())
		}
		all = nil
		return errors.Join(errs...)
	})
}

// startServer starts one server on a free address (args follow its -addr),
// with its output in the work folder's logName, caps it at
// -server-cpu-quota and waits up to ready for it to answer /ping. It
// returns the server, to be stopped by the caller, and the time it took to
// answer.
func (o *compareOpts) startServer(ctx context.Context, name, bin, logName string, ready time.Duration, args ...string) (*proc, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	p, err := startProc(name, bin, append([]string{"-addr", addr}, args...), addr, o.cpusServer, filepath.Join(o.work, logName))
	if err != nil {
		return nil, 0, err
	}
	if err := o.limit(p); err != nil {
		p.stop()
		return nil, 0, err
	}
	up, err := p.waitReady(ctx, ready)
	if err != nil {
		p.stop()
		return nil, 0, err
	}
	return p, up, nil
}

// limit applies -server-cpu-quota to p.
func (o *compareOpts) limit(p *proc) error {
	if o.quota <= 0 {
		return nil
	}
	return p.limitCPU(o.quota)
}

func maxInt(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
