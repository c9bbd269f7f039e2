package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"auth/internal/history"
)

// HistoryReport is history's JSON output.
type HistoryReport struct {
	Kind    string  `json:"kind"` // "history"
	Machine Machine `json:"machine"`
	Command string  `json:"command"`
	Source  string  `json:"source"` // what auth-server was built from
	*history.Report
}

// errViolations makes the command exit 1 when the run found violations.
var errViolations = errors.New("history: the servers violated the model (see the report)")

// cmdHistory runs the cluster through fault rounds with clients writing
// all along and checks the history (see package auth/internal/history).
func cmdHistory(ctx context.Context, args []string) error {
	cfg := history.DefaultConfig()
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	root := fs.String("root", "", "repository root (default: found from the working folder)")
	rev := fs.String("rev", "", "build auth-server from this git revision (e.g. HEAD) instead of the working tree")
	faults := fs.String("faults", "all", "faults of the rounds, in turn, comma-separated: "+faultNames()+", or all")
	fs.IntVar(&cfg.Rounds, "rounds", 2*len(history.AllFaults), "fault rounds (the first is the lost-revoke scenario unless -scenario=false)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "start no round after this long (0: no limit; at least one round runs)")
	fs.IntVar(&cfg.OpsPerPhase, "ops", 500, "operations before each fault, while it lasts and after its heal (500: a round has at least 1,000 around its fault)")
	fs.BoolVar(&cfg.Scenario, "scenario", true, "make the first round the known lost revoke, deterministic")
	fs.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "auth-server replicas")
	serverFlags := fs.String("server-flags", "", `extra flags of every replica, space-separated (e.g. "-mongo-timeout 30s")`)
	fs.IntVar(&cfg.Tenants, "tenants", cfg.Tenants, "tenants the clients write to")
	fs.IntVar(&cfg.Clients, "clients", 8, "concurrent clients")
	fs.Float64Var(&cfg.PairShare, "pair-share", cfg.PairShare, "share of client actions that write at one replica and undo it at once at another")
	fs.Float64Var(&cfg.ReadShare, "read-share", cfg.ReadShare, "share of acknowledged writes read back at another replica with min_seq")
	fs.IntVar(&cfg.BulkLines, "bulk-lines", cfg.BulkLines, "lines of the big import")
	fs.DurationVar(&cfg.StorePause, "store-pause", cfg.StorePause, "how long the store-pause fault stops the MongoDB server")
	fs.Uint64Var(&cfg.KeepEvents, "keep-events", cfg.KeepEvents, "the retention round's -mongo-keep-events")
	fs.Uint64Var(&cfg.SnapshotEvery, "snapshot-every", cfg.SnapshotEvery, "the retention round's -snapshot-every")
	fs.DurationVar(&cfg.ConvergeWithin, "converge", cfg.ConvergeWithin, "how long replicas have to agree once a fault is healed and the clients are quiet")
	fs.DurationVar(&cfg.CheckTimeout, "check-timeout", 10*cfg.CheckTimeout, "bound of the linearizability check")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "the clients' seed")
	out := fs.String("json", "", "write the report as JSON to this file")
	dir := fs.String("dir", "", "folder for the servers' data and logs and the visualization (default: a temporary folder, kept when the run fails)")
	maxShown := fs.Int("show", 10, "violations of each kind shown in full in the text report")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if cfg.Faults, err = history.ParseFaults(*faults); err != nil {
		return err
	}
	cfg.ServerArgs = strings.Fields(*serverFlags)
	r, err := findRoot(*root)
	if err != nil {
		return err
	}
	work := *dir
	if work == "" {
		if work, err = os.MkdirTemp("", "authbench-history-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	keep := *dir != ""
	defer func() {
		if !keep {
			os.RemoveAll(work)
		}
	}()
	src, err := serverSource(ctx, r, *rev, work)
	if err != nil {
		return err
	}
	logf("building auth-server and the MongoDB test server")
	if cfg.AuthServer, err = history.BuildAuthServer(ctx, src, work); err != nil {
		return err
	}
	if cfg.Launcher, err = history.BuildLauncher(ctx, r, work); err != nil {
		return err
	}
	cfg.Dir = work
	cfg.Logf = logf
	rep := &HistoryReport{Kind: "history", Machine: thisMachine(), Command: "authbench history " + strings.Join(args, " "), Source: describeSource(ctx, r, *rev)}
	rep.Report, err = history.Run(ctx, cfg)
	if rep.Report == nil {
		keep = true
		return fmt.Errorf("%w (servers' logs in %s)", err, work)
	}
	rep.WriteText(os.Stdout, *maxShown)
	if werr := writeJSON(*out, rep); werr != nil {
		return werr
	}
	if err != nil {
		keep = true
		return fmt.Errorf("%w (servers' logs in %s)", err, work)
	}
	if rep.Failed() {
		keep = true
		return errViolations
	}
	return nil
}

func faultNames() string {
	names := make([]string, len(history.AllFaults))
	for i, f := range history.AllFaults {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// historyText is the report command's text for a history report.
func historyText(r *HistoryReport) string {
	var b strings.Builder
	b.WriteString(r.Machine.runLine(r.Command))
	fmt.Fprintf(&b, "auth-server: %s\n\n", r.Source)
	r.WriteText(&b, 10)
	return b.String()
}
