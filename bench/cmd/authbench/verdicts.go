package main

import (
	"fmt"
	"slices"
	"strings"

	"auth/bench/loadgen"
)

func (rep *CompareReport) target(id string) *TargetResult {
	for _, t := range rep.Targets {
		if t.ID == id && t.Available {
			return t
		}
	}
	return nil
}

// findRun returns the target's run with label, mode, concurrency and
// round.
func (t *TargetResult) findRun(label, mode string, c, round int) *loadgen.Result {
	if t == nil {
		return nil
	}
	for _, r := range t.Runs {
		if r.Label == label && r.Mode == mode && r.Concurrency == c && r.Round == round {
			return r
		}
	}
	return nil
}

// runsOf returns the target's runs with label, mode and concurrency, one
// per round.
// checkConcurrencies returns the concurrencies of t's closed-loop check
// runs, each once, in the order of its runs.
func (t *TargetResult) checkConcurrencies() []int {
	var out []int
	for _, r := range t.Runs {
		if r.Label == "check" && r.Mode == "closed" && !slices.Contains(out, r.Concurrency) {
			out = append(out, r.Concurrency)
		}
	}
	return out
}

func (t *TargetResult) runsOf(label, mode string, c int) []*loadgen.Result {
	if t == nil {
		return nil
	}
	var out []*loadgen.Result
	for _, r := range t.Runs {
		if r.Label == label && r.Mode == mode && r.Concurrency == c {
			out = append(out, r)
		}
	}
	return out
}

// baseline returns the ceiling's run matching r: same mode, concurrency and
// round; checks only.
func (rep *CompareReport) baseline(r *loadgen.Result) *loadgen.Result {
	if r.Label != "check" {
		return nil
	}
	return rep.target("ceiling").findRun("check", r.Mode, r.Concurrency, r.Round)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pairRatios returns, per round in which both ran, x's value over the
// ceiling's.
func (rep *CompareReport) pairRatios(id string, c int, val func(*loadgen.Result) float64) []float64 {
	var out []float64
	for _, r := range rep.target(id).runsOf("check", "closed", c) {
		if b := rep.baseline(r); b != nil && val(b) > 0 && val(r) > 0 {
			out = append(out, val(r)/val(b))
		}
	}
	return out
}

func pcts(xs []float64, scale float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, scale*x)
	}
	return strings.Join(parts, ", ")
}

func rps(r *loadgen.Result) float64    { return r.RPS }
func cpuReq(r *loadgen.Result) float64 { return r.ServerCPUPerReq }

// verdicts measures the targets against this run: for HTTP, the
// median over rounds of the per-round ratio to the ceiling.
func verdicts(rep *CompareReport, concs []int) []Verdict {
	var out []Verdict
	for _, c := range concs {
		if rs := rep.pairRatios("embedded", c, rps); len(rs) > 0 {
			m := median(rs)
			out = append(out, Verdict{
				Claim:    fmt.Sprintf("has_permission over HTTP reaches ≥85%% of the ceiling's requests/s at c=%d", c),
				Measured: fmt.Sprintf("median %.0f%% (per round: %s)", 100*m, pcts(rs, 100, "%.0f%%")),
				Holds:    m >= 0.85,
			})
		}
		if rs := rep.pairRatios("embedded", c, cpuReq); len(rs) > 0 {
			m := median(rs)
			out = append(out, Verdict{
				Claim:    fmt.Sprintf("server CPU per request ≤1.3× the ceiling's at c=%d", c),
				Measured: fmt.Sprintf("median %.2f× (per round: %s)", m, pcts(rs, 1, "%.2f×")),
				Holds:    m <= 1.3,
			})
		}
	}
	e, p, cc := rep.InProc.find("engine"), rep.InProc.find("casbin"), rep.InProc.find("casbin-cached")
	// faster is the verdict that the engine's check is at least min
	// times faster than other's, shown with verb.
	faster := func(other *BenchResult, claim string, min float64, verb string) {
		if e == nil || other == nil || e.NsPerOp <= 0 {
			return
		}
		x := other.NsPerOp / e.NsPerOp
		out = append(out, Verdict{
			Claim:    claim,
			Measured: fmt.Sprintf("%.0f vs %.0f ns/op (medians): "+verb+"×", e.NsPerOp, other.NsPerOp, x),
			Holds:    x >= min,
		})
	}
	faster(p, "in process, the engine's check is ≥1,000× faster than Casbin's plain enforcer", 1000, "%.0f")
	faster(cc, "in process, the engine's check is ≥5× faster than Casbin's warm cached enforcer", 5, "%.2f")
	return out
}
