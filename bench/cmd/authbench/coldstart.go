package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"auth/bench/dataset"
	"auth/bench/loadgen"
)

// ColdstartReport is coldstart's JSON output.
type ColdstartReport struct {
	Kind        string         `json:"kind"` // "coldstart"
	Machine     Machine        `json:"machine"`
	Command     string         `json:"command"`
	Dataset     dataset.Config `json:"dataset"`
	SeedSeconds float64        `json:"seed_seconds,omitempty"`
	DataBytes   int64          `json:"data_bytes"`
	Snapshot    bool           `json:"snapshot"`
	Runs        []ColdstartRun `json:"runs"`
	MedianSecs  float64        `json:"median_seconds"`
}

// ColdstartRun is one start.
type ColdstartRun struct {
	ReadySeconds float64 `json:"ready_seconds"` // process start until /ping answers
	LoadLog      string  `json:"load_log"`      // the server's own "state loaded" duration
	RSSBytes     uint64  `json:"rss_bytes"`     // resident memory once ready
}

var loadedRe = regexp.MustCompile(`state loaded.*duration=(\S+)`)

func cmdColdstart(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	root := fs.String("root", "", "repository root (default: found from the working folder)")
	rev := fs.String("rev", "", "build auth-server from this git revision (e.g. HEAD) instead of the working tree")
	data := fs.String("data", "", "seeded data folder (default: seed one in a temporary folder)")
	runs := fs.Int("runs", 3, "starts to time")
	snap := fs.Bool("snapshot", true, "when seeding: save a snapshot (else the start replays every batch event)")
	verifyN := fs.Int("verify", 500, "checks verified against the ground truth after the first start")
	out := fs.String("json", "", "write the report as JSON to this file")
	cfg := coldDataset
	datasetFlags(fs, &cfg)
	if err := parse(fs, args); err != nil {
		return err
	}
	r, err := findRoot(*root)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "authbench-cold-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	rep := &ColdstartReport{Kind: "coldstart", Machine: thisMachine(), Command: "authbench coldstart " + strings.Join(args, " "), Dataset: cfg, Snapshot: *snap}
	dir := *data
	if dir == "" {
		dir = filepath.Join(work, "data")
		logf("seeding %s (%d memberships) into a temporary data folder", cfg, cfg.Memberships())
		st, err := seed(ctx, dir, cfg, 10_000, *snap)
		if err != nil {
			return err
		}
		rep.SeedSeconds = st.dur.Seconds()
		logf("seeded in %.1fs (%d batch events)", st.dur.Seconds(), st.events)
	}
	if fi, err := os.Stat(filepath.Join(dir, "auth.db")); err == nil {
		rep.DataBytes = fi.Size()
	}
	bin := filepath.Join(work, "auth-server")
	src, err := serverSource(ctx, r, *rev, work)
	if err != nil {
		return err
	}
	if err := goBuild(ctx, src, "./cmd/auth-server", bin); err != nil {
		return err
	}
	for i := 0; i < *runs; i++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		logPath := filepath.Join(work, fmt.Sprintf("start%d.log", i))
		p, err := startProc("auth-server", bin, []string{"-addr", addr, "-data", dir, "-log-level", "info"}, addr, "", logPath)
		if err != nil {
			return err
		}
		ready, err := p.waitReady(ctx, 10*time.Minute)
		if err != nil {
			p.stop()
			return err
		}
		run := ColdstartRun{ReadySeconds: ready.Seconds()}
		run.RSSBytes, _ = loadgen.ProcessRSS(p.pid())
		if m := loadedRe.FindStringSubmatch(p.logTail()); m != nil {
			run.LoadLog = m[1]
		}
		if i == 0 && *verifyN > 0 {
			if err := loadgen.Verify(ctx, addr, cfg, *verifyN, 7); err != nil {
				p.stop()
				return err
			}
			logf("verified %d checks against the ground truth", *verifyN)
		}
		if err := p.stop(); err != nil {
			return err
		}
		logf("start %d: /ping answered after %.2fs (server's load: %s), RSS %.0f MiB", i+1, run.ReadySeconds, run.LoadLog, float64(run.RSSBytes)/(1<<20))
		rep.Runs = append(rep.Runs, run)
	}
	ts := make([]float64, len(rep.Runs))
	for i, r := range rep.Runs {
		ts[i] = r.ReadySeconds
	}
	slices.Sort(ts)
	if len(ts) > 0 {
		rep.MedianSecs = ts[len(ts)/2]
	}
	fmt.Println(coldstartMarkdown(rep))
	return writeJSON(*out, rep)
}

func coldstartMarkdown(rep *ColdstartReport) string {
	var b strings.Builder
	b.WriteString(rep.Machine.runLine(rep.Command))
	how := "a snapshot at the head (no events to replay)"
	if !rep.Snapshot {
		how = "batch events only (no snapshot: every event is replayed)"
	}
	fmt.Fprintf(&b, "Data folder: %s, %d memberships, %.0f MiB on disk, holding %s", rep.Dataset, rep.Dataset.Memberships(), float64(rep.DataBytes)/(1<<20), how)
	if rep.SeedSeconds > 0 {
		fmt.Fprintf(&b, "; seeded in %.1f s", rep.SeedSeconds)
	}
	b.WriteString(". The page cache holds the file after the first start (caches were not dropped).\n\n")
	b.WriteString("| start | until /ping answers (s) | server's own load time | RSS MiB |\n|---:|---:|---:|---:|\n")
	for i, r := range rep.Runs {
		fmt.Fprintf(&b, "| %d | %.2f | %s | %.0f |\n", i+1, r.ReadySeconds, r.LoadLog, float64(r.RSSBytes)/(1<<20))
	}
	fmt.Fprintf(&b, "\nMedian: %.2f s.\n", rep.MedianSecs)
	return b.String()
}
