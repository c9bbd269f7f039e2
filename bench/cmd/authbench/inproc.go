package main

import (
	"flag"
	"fmt"
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
	Results      []BenchResult  `json:"results"`
}

// BenchResult is one Go benchmark's result.
type BenchResult struct {
	Name        string             `json:"name"`
	N           int                `json:"n"`
	NsPerOp     float64            `json:"ns_per_op"`
	AllocsPerOp int64              `json:"allocs_per_op"`
	BytesPerOp  int64              `json:"bytes_per_op"`
	Extra       map[string]float64 `json:"extra,omitempty"`
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
// testing.Benchmark: the engine and Casbin on tenant 0 of cfg.
func runInProc(cfg dataset.Config, trueShare float64, benchtime string) (*InProcReport, error) {
	if err := setBenchtime(benchtime); err != nil {
		return nil, err
	}
	logf("inproc: building the engine and Casbin's enforcers for %d users, %d roles, %d permissions", cfg.Users, cfg.Roles, cfg.Perms)
	s, err := inproc.NewSubjects(cfg, trueShare)
	if err != nil {
		return nil, err
	}
	rep := &InProcReport{Dataset: s.Cfg, Queries: len(s.Queries), TrueShare: trueShare, SetupSeconds: s.Setup.Seconds(), Benchtime: benchtime}
	logf("inproc: set up and verified %d queries in %.1fs", len(s.Queries), s.Setup.Seconds())
	for _, b := range []struct {
		name string
		fn   func(*testing.B)
	}{
		{"engine", s.BenchEngine},
		{"engine-tenant", s.BenchEngineTenant},
		{"casbin", s.BenchCasbin},
		{"casbin-cached", s.BenchCasbinCached},
	} {
		r := testing.Benchmark(b.fn)
		if r.N == 0 {
			return rep, fmt.Errorf("benchmark %s failed (a wrong answer?)", b.name)
		}
		br := benchResult(b.name, r)
		logf("inproc: BenchmarkCheck/%-14s %10d  %12.1f ns/op  %8d B/op  %6d allocs/op", b.name, br.N, br.NsPerOp, br.BytesPerOp, br.AllocsPerOp)
		rep.Results = append(rep.Results, br)
	}
	return rep, nil
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
