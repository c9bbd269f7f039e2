package main

import (
	"cmp"
	"flag"
	"fmt"
	"slices"
	"testing"

	"auth/bench/dataset"
	"auth/bench/inproc"
)

// InProcReport is the in-process comparison's part of the report.
type InProcReport struct {
	Dataset      dataset.Config `json:"dataset"`
	Queries      int            `json:"queries"`
	TrueShare    float64        `json:"true_share"`
	SetupSeconds float64        `json:"setup_seconds"`
	Benchtime    string         `json:"benchtime"`
	Rounds       int            `json:"rounds"`
	Results      []BenchResult  `json:"results"` // the median round of each
}

// BenchResult is one Go benchmark's result.
type BenchResult struct {
	Name        string             `json:"name"`
	N           int                `json:"n"`
	NsPerOp     float64            `json:"ns_per_op"`
	AllocsPerOp int64              `json:"allocs_per_op"`
	BytesPerOp  int64              `json:"bytes_per_op"`
	Extra       map[string]float64 `json:"extra,omitempty"`
	Samples     []float64          `json:"samples_ns_per_op,omitempty"` // every round, sorted
}

func benchResult(name string, r testing.BenchmarkResult) BenchResult {
	br := BenchResult{Name: name, N: r.N, AllocsPerOp: r.AllocsPerOp(), BytesPerOp: r.AllocedBytesPerOp()}
	if r.N > 0 {
		br.NsPerOp = float64(r.T.Nanoseconds()) / float64(r.N)
	}
	if len(r.Extra) > 0 {
		br.Extra = r.Extra
	}
	return br
}

// setBenchtime makes testing.Benchmark use benchtime ("1s", "100x").
func setBenchtime(benchtime string) error {
	if flag.Lookup("test.benchtime") == nil {
		testing.Init()
	}
	return flag.Set("test.benchtime", benchtime)
}

// runInProc runs bench/inproc_test.go's BenchmarkCheck through
// testing.Benchmark: the engine and Casbin on tenant 0 of cfg, in rounds
// that interleave the benchmarks so that a slow spell of the machine hits
// them alike; each reports its median round.
func runInProc(cfg dataset.Config, trueShare float64, benchtime string, rounds int) (*InProcReport, error) {
	if err := setBenchtime(benchtime); err != nil {
		return nil, err
	}
	rounds = max(rounds, 1)
	logf("inproc: building the engine and Casbin's enforcers for %d users, %d roles, %d permissions", cfg.Users, cfg.Roles, cfg.Perms)
	s, err := inproc.NewSubjects(cfg, trueShare)
	if err != nil {
		return nil, err
	}
	rep := &InProcReport{Dataset: s.Cfg, Queries: len(s.Queries), TrueShare: trueShare, SetupSeconds: s.Setup.Seconds(),
		Benchtime: benchtime, Rounds: rounds}
	logf("inproc: set up and verified %d queries in %.1fs", len(s.Queries), s.Setup.Seconds())
	benches := []struct {
		name string
		fn   func(*testing.B)
	}{
		{"engine", s.BenchEngine},
		{"engine-tenant", s.BenchEngineTenant},
		{"casbin", s.BenchCasbin},
		{"casbin-cached", s.BenchCasbinCached},
	}
	names, fns := make([]string, len(benches)), make([]func(*testing.B), len(benches))
	for i, b := range benches {
		names[i], fns[i] = b.name, b.fn
	}
	res, err := benchRounds(rounds, names, fns, func(round int, br BenchResult) {
		logf("inproc round %d: BenchmarkCheck/%-14s %10d  %12.1f ns/op  %8d B/op  %6d allocs/op", round, br.Name, br.N, br.NsPerOp, br.BytesPerOp, br.AllocsPerOp)
	})
	rep.Results = res
	return rep, err
}

// benchRounds runs each of fns (named names) once per round, for rounds
// rounds, interleaved so that a slow spell of the machine hits them alike,
// and returns each one's median round, with every round's ns/op as its
// samples. It stops at the first benchmark that fails.
func benchRounds(rounds int, names []string, fns []func(*testing.B), logRound func(round int, br BenchResult)) ([]BenchResult, error) {
	all := make([][]BenchResult, len(fns))
	for round := 1; round <= max(rounds, 1); round++ {
		for i, fn := range fns {
			r := testing.Benchmark(fn)
			if r.N == 0 {
				return nil, fmt.Errorf("benchmark %s failed (a wrong answer?)", names[i])
			}
			br := benchResult(names[i], r)
			logRound(round, br)
			all[i] = append(all[i], br)
		}
	}
	meds := make([]BenchResult, len(fns))
	for i, rs := range all {
		slices.SortFunc(rs, func(a, b BenchResult) int { return cmp.Compare(a.NsPerOp, b.NsPerOp) })
		meds[i] = rs[len(rs)/2]
		for _, r := range rs {
			meds[i].Samples = append(meds[i].Samples, r.NsPerOp)
		}
	}
	return meds, nil
}

func (r *InProcReport) find(name string) *BenchResult {
	if r == nil {
		return nil
	}
	for i := range r.Results {
		if r.Results[i].Name == name {
			return &r.Results[i]
		}
	}
	return nil
}
