package main

import (
	"context"
	"flag"
	"fmt"
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
	Rounds  int           `json:"rounds"`
	Results []ScaleResult `json:"results"`
}

// ScaleResult is one point of a series.
type ScaleResult struct {
	inproc.ScaleCase
	BenchResult
	HeapBytes          uint64  `json:"heap_bytes"`
	BytesPerMembership float64 `json:"bytes_per_membership"`
	BuildSeconds       float64 `json:"build_seconds"`
	// ReadNs is one dependent read over as many bytes as the heap
	// (inproc.DependentRead), measured in the same rounds as the checks.
	ReadNs float64 `json:"read_ns,omitempty"`
}

func cmdScale(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	maxUsers := fs.Int("max-users", 1_000_000, "skip cases with more users in total")
	series := fs.String("series", "users,roles,tenants", "series to run")
	benchtime := fs.String("benchtime", "1s", "benchtime of each point in each round")
	rounds := fs.Int("rounds", 3, "rounds over each series' points, interleaved; the median is reported")
	out := fs.String("json", "", "write the report as JSON to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := setBenchtime(*benchtime); err != nil {
		return err
	}
	rep := &ScaleReport{Kind: "scale", Machine: thisMachine(), Command: "authbench scale " + strings.Join(args, " "), Rounds: max(*rounds, 1)}
	// The points of a series are built together and measured in
	// interleaved rounds, so that their ratios compare the points, not
	// the machine's load at different minutes.
	var cases []inproc.ScaleCase
	for _, c := range inproc.ScaleCases(*maxUsers) {
		if strings.Contains(","+*series+",", ","+c.Series+",") {
			cases = append(cases, c)
		}
	}
	for len(cases) > 0 {
		n := 1
		for n < len(cases) && cases[n].Series == cases[0].Series {
			n++
		}
		var built []*inproc.ScaleSubject
		// Each point's checks, then as many reads from memory, each
		// dependent on the one before, over a buffer of the point's heap
		// size: what one read of a cold tenant costs here, in the same
		// rounds.
		names, fns := make([]string, 2*n), make([]func(*testing.B), 2*n)
		for i, c := range cases[:n] {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s, err := inproc.BuildScale(c)
			if err != nil {
				return err
			}
			logf("scale %-16s heap %7.1f MiB  %6.1f B/membership  built in %.1fs",
				c.Name(), float64(s.HeapBytes)/(1<<20), s.BytesPerMembership(), s.Build.Seconds())
			built = append(built, s)
			names[i], fns[i] = c.Name(), s.Bench
			names[n+i], fns[n+i] = "read/"+c.Name(), inproc.DependentRead(s.HeapBytes)
		}
		res, err := benchRounds(*rounds, names, fns, func(round int, br BenchResult) {
			logf("scale round %d: %-16s %8.1f ns/op  %d allocs/op", round, br.Name, br.NsPerOp, br.AllocsPerOp)
		})
		if err != nil {
			return err
		}
		for i, s := range built {
			rep.Results = append(rep.Results, ScaleResult{ScaleCase: s.Case, BenchResult: res[i], HeapBytes: s.HeapBytes,
				BytesPerMembership: s.BytesPerMembership(), BuildSeconds: s.Build.Seconds(), ReadNs: res[n+i].NsPerOp})
		}
		built, cases = nil, cases[n:]
		runtime.GC()
	}
	fmt.Println(scaleMarkdown(rep))
	return writeJSON(*out, rep)
}

func scaleMarkdown(rep *ScaleReport) string {
	var b strings.Builder
	b.WriteString(rep.Machine.runLine(rep.Command))
	fmt.Fprintf(&b, "The points of a series are measured in %d interleaved rounds; ns/check is the median round, the range beside it the fastest and slowest. ", rep.Rounds)
	b.WriteString("Ratios (×) are to the first point of the same series. Heap is the engine's live heap after GC (names, grants and indexes included), divided by the memberships for B/membership. ")
	b.WriteString("One read is a read from memory depending on the one before, over a buffer of the point's heap size, in the same rounds: what a check pays per read of data no cache holds; floor × is the first point's check plus one such read, over the first point's check.\n\n")
	b.WriteString("| series | size | dataset | ns/check | range | × first | one read ns | floor × | allocs | heap MiB | B/membership | build s |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	first := map[string]float64{}
	for _, r := range rep.Results {
		if _, ok := first[r.Series]; !ok {
			first[r.Series] = r.NsPerOp
		}
		spread := "–"
		if len(r.Samples) > 1 {
			spread = fmt.Sprintf("%.0f–%.0f", r.Samples[0], r.Samples[len(r.Samples)-1])
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.1f | %s | %s | %.1f | %s | %d | %.1f | %.1f | %.2f |\n", r.Series, r.Param, r.Cfg, r.NsPerOp, spread,
			ratio(r.NsPerOp, first[r.Series]), r.ReadNs, ratio(first[r.Series]+r.ReadNs, first[r.Series]), r.AllocsPerOp, float64(r.HeapBytes)/(1<<20), r.BytesPerMembership, r.BuildSeconds)
	}
	return b.String()
}
