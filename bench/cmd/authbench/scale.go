package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"auth/bench/inproc"
)

// ScaleReport is scale's JSON output.
type ScaleReport struct {
	Kind    string        `json:"kind"` // "scale"
	Machine Machine       `json:"machine"`
	Command string        `json:"command"`
	Results []ScaleResult `json:"results"`
}

// ScaleResult is one point of a series.
type ScaleResult struct {
	inproc.ScaleCase
	BenchResult
	HeapBytes          uint64  `json:"heap_bytes"`
	BytesPerMembership float64 `json:"bytes_per_membership"`
	BuildSeconds       float64 `json:"build_seconds"`
}

func cmdScale(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	maxUsers := fs.Int("max-users", 1_000_000, "skip cases with more users in total")
	series := fs.String("series", "users,roles,tenants", "series to run")
	benchtime := fs.String("benchtime", "1s", "benchtime of each point")
	out := fs.String("json", "", "write the report as JSON to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := setBenchtime(*benchtime); err != nil {
		return err
	}
	rep := &ScaleReport{Kind: "scale", Machine: thisMachine(), Command: "authbench scale " + strings.Join(args, " ")}
	for _, c := range inproc.ScaleCases(*maxUsers) {
		if !strings.Contains(","+*series+",", ","+c.Series+",") {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s, err := inproc.BuildScale(c)
		if err != nil {
			return err
		}
		r := testing.Benchmark(s.Bench)
		if r.N == 0 {
			return fmt.Errorf("%s: benchmark failed (a wrong answer?)", c.Name())
		}
		sr := ScaleResult{ScaleCase: c, BenchResult: benchResult(c.Name(), r), HeapBytes: s.HeapBytes,
			BytesPerMembership: s.BytesPerMembership(), BuildSeconds: s.Build.Seconds()}
		rep.Results = append(rep.Results, sr)
		logf("scale %-16s %8.1f ns/op  %d allocs/op  heap %7.1f MiB  %6.1f B/membership  built in %.1fs",
			c.Name(), sr.NsPerOp, sr.AllocsPerOp, float64(sr.HeapBytes)/(1<<20), sr.BytesPerMembership, sr.BuildSeconds)
		s = nil
		runtime.GC()
	}
	fmt.Println(scaleMarkdown(rep))
	if *out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	return nil
}

func scaleMarkdown(rep *ScaleReport) string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "Run %s on %d cores (%s), %s. Command: `%s`.\n\n", m.Date, m.Cores, m.CPU, m.GoVersion, rep.Command)
	b.WriteString("Ratios (×) are to the first point of the same series. Heap is the engine's live heap after GC (names, grants and indexes included), divided by the memberships for B/membership.\n\n")
	b.WriteString("| series | size | dataset | ns/check | × first | allocs | heap MiB | B/membership | build s |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
	first := map[string]float64{}
	for _, r := range rep.Results {
		if _, ok := first[r.Series]; !ok {
			first[r.Series] = r.NsPerOp
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.1f | %s | %d | %.1f | %.1f | %.2f |\n", r.Series, r.Param, r.Cfg, r.NsPerOp,
			ratio(r.NsPerOp, first[r.Series]), r.AllocsPerOp, float64(r.HeapBytes)/(1<<20), r.BytesPerMembership, r.BuildSeconds)
	}
	return b.String()
}
