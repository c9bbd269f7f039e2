package main

import (
	"fmt"

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

// findRun returns the target's run with label, mode and concurrency.
func (t *TargetResult) findRun(label, mode string, c int) *loadgen.Result {
	if t == nil {
		return nil
	}
	for _, r := range t.Runs {
		if r.Label == label && r.Mode == mode && r.Concurrency == c {
			return r
		}
	}
	return nil
}

// baseline returns the ceiling's run matching r (same mode and
// concurrency; checks only).
func (rep *CompareReport) baseline(r *loadgen.Result) *loadgen.Result {
	if r.Label != "check" {
		return nil
	}
	return rep.target("ceiling").findRun("check", r.Mode, r.Concurrency)
}

// verdicts measures the targets against this run.
func verdicts(rep *CompareReport, concs []int) []Verdict {
	var out []Verdict
	ceil, emb := rep.target("ceiling"), rep.target("embedded")
	for _, c := range concs {
		b, r := ceil.findRun("check", "closed", c), emb.findRun("check", "closed", c)
		if b == nil || r == nil || b.RPS == 0 {
			continue
		}
		ratio := r.RPS / b.RPS
		out = append(out, Verdict{
			Claim:    fmt.Sprintf("has_permission over HTTP reaches ≥85%% of the ceiling's requests/s at c=%d", c),
			Measured: fmt.Sprintf("%.0f vs %.0f req/s: %.0f%%", r.RPS, b.RPS, 100*ratio),
			Holds:    ratio >= 0.85,
		})
		if b.ServerCPUPerReq > 0 && r.ServerCPUPerReq > 0 {
			cr := r.ServerCPUPerReq / b.ServerCPUPerReq
			out = append(out, Verdict{
				Claim:    fmt.Sprintf("server CPU per request ≤1.3× the ceiling's at c=%d", c),
				Measured: fmt.Sprintf("%.2f vs %.2f µs/req: %.2f×", r.ServerCPUPerReq, b.ServerCPUPerReq, cr),
				Holds:    cr <= 1.3,
			})
		}
	}
	e, p, cc := rep.InProc.find("engine"), rep.InProc.find("casbin"), rep.InProc.find("casbin-cached")
	if e != nil && p != nil && e.NsPerOp > 0 {
		x := p.NsPerOp / e.NsPerOp
		out = append(out, Verdict{
			Claim:    "in process, the engine's check is ≥1,000× faster than Casbin's plain enforcer",
			Measured: fmt.Sprintf("%.0f vs %.0f ns/op: %.0f×", e.NsPerOp, p.NsPerOp, x),
			Holds:    x >= 1000,
		})
	}
	if e != nil && cc != nil && e.NsPerOp > 0 {
		x := cc.NsPerOp / e.NsPerOp
		out = append(out, Verdict{
			Claim:    "in process, the engine's check is ≥5× faster than Casbin's warm cached enforcer",
			Measured: fmt.Sprintf("%.0f vs %.0f ns/op: %.1f×", e.NsPerOp, cc.NsPerOp, x),
			Holds:    x >= 5,
		})
	}
	return out
}
