package history

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"auth/persist/mongo/mongotest"
)

var (
	faultsFlag = flag.String("history.faults", "all", "faults of TestHistory's rounds after the scenario (comma-separated; all: every one)")
	roundsFlag = flag.Int("history.rounds", 0, "TestHistory's rounds (0: one per fault, plus the scenario's)")
	keepFlag   = flag.Bool("history.keep", false, "keep TestHistory's folder (servers' logs, visualization) even when it passes")
)

// TestHistory runs the cluster through every fault once, with clients
// writing all along, and fails on any violation: a history that is not
// linearizable, a read with min_seq that misses its write, replicas that
// do not converge within 10 s of a heal. Its first round is the known lost
// revoke, made deterministic (see Config.Scenario).
//
// On a failure the folder with the servers' logs and porcupine's
// visualization is kept and its path logged.
func TestHistory(t *testing.T) {
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "history-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || *keepFlag {
			t.Logf("servers' logs and the visualization are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	bin, err := BuildAuthServer(ctx, root, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.AuthServer, cfg.Launcher, cfg.Dir = bin, mongotest.Launcher(t), dir
	if cfg.Faults, err = ParseFaults(*faultsFlag); err != nil {
		t.Fatal(err)
	}
	cfg.Rounds = len(cfg.Faults)
	if len(cfg.Faults) > 0 && cfg.Faults[0] != FaultNATS {
		cfg.Rounds++ // the scenario's NATS round comes first
	}
	if *roundsFlag > 0 {
		cfg.Rounds = *roundsFlag
	}
	// Short rounds: about 1,800 operations in all, a big import of 20k
	// lines, the store paused for 4 s (past the servers' 3 s store timeout).
	cfg.OpsPerPhase = 100
	cfg.BulkLines = 20_000
	cfg.StorePause = 4 * time.Second
	cfg.CheckTimeout = time.Minute
	cfg.Logf = t.Logf
	rep, err := Run(ctx, cfg)
	if rep != nil {
		var b strings.Builder
		rep.WriteText(&b, 20)
		t.Log("\n" + b.String())
		if f, err := os.Create(filepath.Join(dir, "report.json")); err == nil {
			_ = rep.WriteJSON(f)
			f.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Errorf("%d violations (%v); visualization: %s", len(rep.Violations), rep.Kinds, rep.Visualization)
	}
}
