package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"auth/bench/loadgen"
)

// cmdRun load-tests one running server.
func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	addrs := fs.String("addr", "127.0.0.1:4000", "server host:port; several, comma-separated, are used round robin")
	pids := fs.String("pid", "", "local server pid(s), comma-separated, for server CPU time per request (from /proc)")
	load := fs.Bool("load", false, "load the dataset through the API first (into an empty server)")
	loadConc := fs.Int("load-c", 64, "concurrent writes while loading")
	verifyN := fs.Int("verify", 2000, "checks verified against the ground truth before measuring (0: none)")
	conc := fs.String("c", "16", "workers (keep-alive connections); a list like 16,64 runs each in turn")
	dur := fs.Duration("d", 10*time.Second, "measured duration of each run")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up before each run")
	rate := fs.Float64("rate", 0, "open loop: total requests per second, latency from intended send time (0: closed loop)")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	noVerify := fs.Bool("no-verify", false, "do not compare answers with the ground truth (for a server answering a constant)")
	asJSON := fs.Bool("json", false, "print the results as JSON on stdout")
	quiet := fs.Bool("q", false, "no progress lines")
	cfg := defaultDataset
	datasetFlags(fs, &cfg)
	mix := loadgen.Mix{TrueShare: 0.5}
	mixFlags(fs, &mix)
	if err := parse(fs, args); err != nil {
		return err
	}
	cs, err := intList(*conc)
	if err != nil {
		return err
	}
	pidList, err := intListOrEmpty(*pids)
	if err != nil {
		return err
	}
	addrList := strings.Split(*addrs, ",")
	var progress io.Writer = os.Stderr
	if *quiet {
		progress = nil
	}
	out := struct {
		Dataset any                `json:"dataset"`
		Mix     loadgen.Mix        `json:"mix"`
		Load    *loadgen.LoadStats `json:"load,omitempty"`
		Runs    []*loadgen.Result  `json:"runs"`
	}{Dataset: cfg, Mix: mix}
	if *load {
		logf("loading %s through the API (%d writes, %d at a time)", cfg, cfg.Writes(), *loadConc)
		st, err := loadgen.Load(ctx, addrList[0], cfg, *loadConc, progress)
		if err != nil {
			return err
		}
		logf("loaded %d writes in %.1fs (%.0f writes/s)", st.Writes, st.Seconds, st.PerSec)
		out.Load = &st
	}
	if *verifyN > 0 && !*noVerify {
		for _, a := range addrList {
			if err := loadgen.Verify(ctx, a, cfg, *verifyN, 99); err != nil {
				return err
			}
		}
		logf("verified %d checks and %d list queries against the ground truth", *verifyN, *verifyN/10+1)
	}
	w, err := loadgen.NewWorkload(cfg, mix, 1)
	if err != nil {
		return err
	}
	failed := false
	for _, c := range cs {
		r, err := loadgen.Run(ctx, w, loadgen.Options{
			Addrs: addrList, Concurrency: c, Duration: *dur, Warmup: *warmup, Rate: *rate,
			Timeout: *timeout, Verify: !*noVerify, ServerPIDs: pidList, Label: "run", Progress: progress,
		})
		if err != nil {
			return err
		}
		if !*asJSON {
			fmt.Println(r)
		} else {
			fmt.Fprintln(os.Stderr, r)
		}
		for _, s := range r.ErrorSamples {
			fmt.Fprintln(os.Stderr, "  error:", s)
		}
		failed = failed || r.Failed()
		out.Runs = append(out.Runs, r)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	if failed {
		return errors.New("some requests failed or answered wrong")
	}
	return nil
}

func intListOrEmpty(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out, err := intList(s)
	if err != nil {
		return nil, fmt.Errorf("-pid: %w", err)
	}
	return out, nil
}
