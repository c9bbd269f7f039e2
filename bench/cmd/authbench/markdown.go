package main

import (
	"fmt"
	"strings"

	"auth/bench/loadgen"
)

func ratio(x, base float64) string {
	if base <= 0 || x <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x/base)
}

func fnum(x float64) string {
	switch {
	case x == 0:
		return "–"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

func runName(r *loadgen.Result) string {
	if r.Mode == "open" {
		return fmt.Sprintf("%s, open loop %.0f/s", r.Label, r.TargetRate)
	}
	return r.Label + ", closed loop"
}

// compareMarkdown renders a compare report as markdown tables.
func compareMarkdown(rep *CompareReport) string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "Run %s on %d cores (%s), %s, %s. Pinning: %s.\n\n", m.Date, m.Cores, m.CPU, m.GoVersion, m.OS, rep.Pinning)
	fmt.Fprintf(&b, "Command: `%s` (each run: %s warm-up, %s measured). auth-server built from %s.\n\n", rep.Command, rep.Warmup, rep.Duration, rep.Server)
	fmt.Fprintf(&b, "Dataset: %s; checks answering true: %.0f%%.\n\n", rep.Dataset, 100*rep.Mix.TrueShare)

	b.WriteString("### HTTP: summary\n\n")
	fmt.Fprintf(&b, "Closed-loop checks, median over %d round(s); in each round every target ran once, one at a time, and its ratio to the ceiling is taken within the round.\n\n", max(rep.Rounds, 1))
	b.WriteString("| target | c | req/s | × ceiling | p99 µs | server CPU µs/req | × ceiling |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range rep.Targets {
		if !t.Available {
			continue
		}
		for _, c := range t.checkConcurrencies() {
			runs := t.runsOf("check", "closed", c)
			var rs, p99, cpu []float64
			for _, x := range runs {
				rs, p99, cpu = append(rs, x.RPS), append(p99, x.Latency.P99), append(cpu, x.ServerCPUPerReq)
			}
			rr, cr := "1", "1"
			if t.ID != "ceiling" {
				rr, cr = "–", "–"
				if x := rep.pairRatios(t.ID, c, rps); len(x) > 0 {
					rr = fmt.Sprintf("%.2f×", median(x))
				}
				if x := rep.pairRatios(t.ID, c, cpuReq); len(x) > 0 {
					cr = fmt.Sprintf("%.2f×", median(x))
				}
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %s |\n", t.Name, c, median(rs), rr, fnum(median(p99)), fnum(median(cpu)), cr)
		}
	}
	b.WriteString(peersMarkdown(rep))
	b.WriteString("\n### HTTP: every run\n\n")
	b.WriteString("Ratios (×) are to the ceiling's run of the same mode and concurrency in this same run. Latency in µs; CPU is µs of the server's user+system time per request, from /proc (for the replicated target: the three replicas, MongoDB and NATS together).\n\n")
	b.WriteString("| target | round | run | c | req/s | × ceiling | p50 | p90 | p99 | p99.9 | max | server CPU/req | × ceiling | server cores busy | client CPU/req | errors | wrong |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range rep.Targets {
		if !t.Available {
			fmt.Fprintf(&b, "| %s | | %s | | | | | | | | | | | | | | |\n", t.Name, t.Note)
			continue
		}
		for _, r := range t.Runs {
			base := rep.baseline(r)
			var rr, cr string = "", ""
			if base != nil && t.ID != "ceiling" {
				rr, cr = ratio(r.RPS, base.RPS), ratio(r.ServerCPUPerReq, base.ServerCPUPerReq)
			} else if t.ID == "ceiling" {
				rr, cr = "1", "1"
			}
			l := r.Latency
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n",
				t.Name, r.Round, runName(r), r.Concurrency, r.RPS, rr, fnum(l.P50), fnum(l.P90), fnum(l.P99), fnum(l.P999), fnum(l.Max),
				fnum(r.ServerCPUPerReq), cr, fnum(r.ServerCPUShare), fnum(r.ClientCPUPerReq), r.Errors, wrongCell(r))
		}
	}
	b.WriteString("\n")
	mixedHeader := false
	for _, t := range rep.Targets {
		for _, r := range t.Runs {
			if r.Writes == nil {
				continue
			}
			if !mixedHeader {
				mixedHeader = true
				b.WriteString("### Runs with reads and writes\n\n")
				b.WriteString("Reads are checks and lists; replication lag is from a write's answer at one replica until each other replica's GET /status shows its seq (polled; see loadgen.LagStats).\n\n")
				b.WriteString("| target | run | c | req/s | reads/s | read p99 µs | writes/s | write p50 µs | write p99 µs | lag p50 µs | lag p90 µs | lag p99 µs | lag max µs | lag samples | unseen | errors | wrong |\n")
				b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
			}
			lag := "| – | – | – | – | – | –"
			if l := r.Lag; l != nil {
				lag = fmt.Sprintf("| %s | %s | %s | %s | %d | %d", fnum(l.P50), fnum(l.P90), fnum(l.P99), fnum(l.Max), l.Samples, l.Unseen)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %s | %.0f | %s | %s %s | %d | %s |\n",
				t.Name, runName(r), r.Concurrency, r.RPS, r.Reads.RPS, fnum(r.Reads.Latency.P99), r.Writes.RPS, fnum(r.Writes.Latency.P50), fnum(r.Writes.Latency.P99),
				lag, r.Errors, wrongCell(r))
		}
	}
	if mixedHeader {
		b.WriteString("\n")
	}
	for _, t := range rep.Targets {
		if t.SeedSecs > 0 {
			fmt.Fprintf(&b, "%s: the dataset was seeded straight into the store in %.1f s (batch events and a snapshot); the replicas then started from it in %.1f s; %d checks and %d list queries per replica verified against the ground truth before measuring (in all rounds together).",
				t.Name, t.SeedSecs, t.StartSecs, t.Verified, t.Verified/10+len(t.RestartSecs)+1)
			if len(t.RestartSecs) > 0 {
				fmt.Fprintf(&b, " Later rounds restarted the system on the same data: ready after %s s.", pcts(t.RestartSecs, 1, "%.2f"))
			}
			b.WriteString("\n\n")
		}
		if t.Load != nil {
			fmt.Fprintf(&b, "Loading the dataset into %s through the API: %d writes in %.1f s (%.0f writes/s); %d checks and %d list queries verified against the ground truth before measuring (in all rounds together).",
				t.Name, t.Load.Writes, t.Load.Seconds, t.Load.PerSec, t.Verified, t.Verified/10+len(t.RestartSecs)+1)
			if len(t.RestartSecs) > 0 {
				fmt.Fprintf(&b, " Later rounds restarted the server on the loaded data folder: ready after %s s.", pcts(t.RestartSecs, 1, "%.2f"))
			}
			b.WriteString("\n\n")
		}
	}

	if ip := rep.InProc; ip != nil && len(ip.Results) > 0 {
		b.WriteString("### In process: engine vs Casbin\n\n")
		fmt.Fprintf(&b, "Tenant 0 of the dataset (%d users, %d roles, %d permissions), %d distinct verified queries, %.0f%% true, benchtime %s, %d interleaved round(s), median shown. Setup (building both, verifying) took %.1f s.\n\n",
			ip.Dataset.Users, ip.Dataset.Roles, ip.Dataset.Perms, ip.Queries, 100*ip.TrueShare, ip.Benchtime, ip.Rounds, ip.SetupSeconds)
		b.WriteString("| benchmark | ns/op | × engine | B/op | allocs/op | every round, ns/op |\n|---|---:|---:|---:|---:|---|\n")
		e := ip.find("engine")
		for _, r := range ip.Results {
			fmt.Fprintf(&b, "| BenchmarkCheck/%s | %.1f | %s | %d | %d | %s |\n", r.Name, r.NsPerOp, ratio(r.NsPerOp, e.NsPerOp), r.BytesPerOp, r.AllocsPerOp, pcts(r.Samples, 1, "%.0f"))
		}
		b.WriteString("\n")
	}
	if len(rep.Verdicts) > 0 {
		b.WriteString("### The issue's targets\n\n| claim | measured | holds |\n|---|---|---|\n")
		for _, v := range rep.Verdicts {
			h := "no"
			if v.Holds {
				h = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", v.Claim, v.Measured, h)
		}
		b.WriteString("\n")
	}
	if len(rep.Failures) > 0 {
		b.WriteString("### Failures\n\n")
		for _, f := range rep.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func wrongCell(r *loadgen.Result) string {
	if !r.Verified {
		return "not checked"
	}
	return fmt.Sprint(r.Wrong)
}
