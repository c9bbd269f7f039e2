package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"auth/bench/loadgen"
)

// -targets spicedb,openfga stand for both datastores of each; the peers'
// binaries are only looked for when a run starts.
func TestPeerTargetsExpand(t *testing.T) {
	o, err := parseCompare([]string{"-root", "../../..", "-targets", "ceiling,embedded,spicedb,openfga-postgres", "-peers-cache", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ceiling", "embedded", "spicedb-postgres", "spicedb-memory", "openfga-postgres"}
	if !slices.Equal(o.ids, want) {
		t.Fatalf("targets %v, want %v", o.ids, want)
	}
	if _, err := parseCompare([]string{"-root", "../../..", "-targets", "spice"}); err == nil {
		t.Fatal("an unknown target was accepted")
	}
}

// A reused binary is not rebuilt: install finds it in the cache.
func TestPeerInstallReuses(t *testing.T) {
	cache := t.TempDir()
	b := peerBinary{Name: "spicedb", Pkg: "example.invalid/none", Version: "v0.0.0"}
	bin := filepath.Join(cache, "spicedb-v0.0.0", "spicedb")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := b.install(t.Context(), cache)
	if err != nil || got != bin {
		t.Fatalf("install = %q, %v; want the cached %q", got, err, bin)
	}
}

// The side-by-side table takes each peer's ratio to auth-server within
// each round, and the chart is drawn.
func TestPeersTableAndChart(t *testing.T) {
	run := func(round int, rps, cpu float64) *loadgen.Result {
		return &loadgen.Result{Label: "check", Mode: "closed", Concurrency: 64, Round: round, RPS: rps, ServerCPUPerReq: cpu,
			Latency: loadgen.Latency{P50: 100, P99: 1000, P999: 2000}, Verified: true}
	}
	rep := &CompareReport{Rounds: 2, Targets: []*TargetResult{
		{ID: "embedded", Name: "auth-server, embedded store", Available: true, MemMiB: 100,
			Load: &loadgen.LoadStats{Writes: 10, Seconds: 10, PerSec: 1}, Runs: []*loadgen.Result{run(1, 100_000, 10), run(2, 50_000, 10)}},
		// Round 1: 2,000/100,000 = 0.02; round 2: 2,000/50,000 = 0.04.
		{ID: "spicedb-postgres", Name: "SpiceDB, PostgreSQL datastore", Available: true, MemMiB: 400, VisibleSecs: 5,
			Load: &loadgen.LoadStats{Writes: 10, Seconds: 20, PerSec: 0.5}, Runs: []*loadgen.Result{run(1, 2_000, 900), run(2, 2_000, 1000)}},
	}}
	if got := rep.peerRatios("spicedb-postgres", 64, rps); !slices.Equal(got, []float64{0.02, 0.04}) {
		t.Fatalf("throughput ratios %v", got)
	}
	md := peersMarkdown(rep)
	for _, want := range []string{"| SpiceDB, PostgreSQL datastore | 64 | 2000 | 0.03× |", "95×", "4.00×", "2.00×"} {
		if !strings.Contains(md, want) {
			t.Fatalf("table lacks %q:\n%s", want, md)
		}
	}
	out := filepath.Join(t.TempDir(), "peers.svg")
	if err := drawChart(rep, out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < 1000 {
		t.Fatal(fi, err)
	}
}
