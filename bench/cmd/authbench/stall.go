package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// authbench stall: do checks wait while a tenant takes a large write? One
// auth-server; 8 connections check one tenant in a closed loop throughout;
// meanwhile, one after the other: nothing (idle), a POST /v1/import of 2M
// memberships into the checked tenant and the DELETE of the role that
// holds them, then the same two on another tenant. The report gives the
// checks' p99, p99.9 and max during each operation.

// StallReport is stall's JSON output.
type StallReport struct {
	RunHead                // Kind "stall"
	Phases  []*StallResult `json:"phases"`
	Claims  []Verdict      `json:"claims"`
}

// StallResult is the checks during one operation.
type StallResult struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"` // the operation's
	Status  int     `json:"status,omitempty"`
	Checks  int     `json:"checks"`
	Errors  int     `json:"errors"`
	P99     float64 `json:"p99_ms"`
	P999    float64 `json:"p99_9_ms"`
	Max     float64 `json:"max_ms"`
}

func cmdStall(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("stall", flag.ContinueOnError)
	root := fs.String("root", "", "repository root (default: found from the working folder)")
	rev := fs.String("rev", "", "build auth-server from this git revision (e.g. HEAD) instead of the working tree")
	members := fs.Int("members", 2_000_000, "memberships of the import, all in one role")
	conns := fs.Int("c", 8, "connections checking")
	out := fs.String("json", "", "write the report as JSON to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	work, bin, r, err := buildServer(ctx, *root, *rev, "stall")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o := &attackOpts{work: work, bin: bin}
	var b strings.Builder
	b.WriteString("{\"role\": \"big\"}\n{\"role\": \"big\", \"permission\": \"bulk\"}\n")
	for i := range *members {
		fmt.Fprintf(&b, "{\"role\": \"big\", \"user\": \"user-%07d\"}\n", i)
	}
	body := b.String()
	t, err := startTarget(ctx, o, "stall", "", "-max-import-bytes", fmt.Sprint(len(body)+1024))
	if err != nil {
		return err
	}
	defer t.p.stop()
	if err := t.seedChecks(); err != nil {
		return err
	}

	rep := &StallReport{RunHead: newRunHead(ctx, "stall", args, r, *rev)}
	probe := startProbe(t, *conns)
	var windows [][2]time.Time
	phase := func(name string, op func() (int, error)) error {
		logf("stall: %s", name)
		start := time.Now()
		status, err := op()
		end := time.Now()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if status != 0 && status != http.StatusOK {
			return fmt.Errorf("%s: status %d", name, status)
		}
		rep.Phases = append(rep.Phases, &StallResult{Name: name, Seconds: end.Sub(start).Seconds(), Status: status})
		windows = append(windows, [2]time.Time{start, end})
		return nil
	}
	time.Sleep(time.Second) // connections up
	ops := []struct {
		name string
		op   func() (int, error)
	}{
		{"idle, 5 s", func() (int, error) { time.Sleep(5 * time.Second); return 0, nil }},
		{fmt.Sprintf("import of %d memberships, same tenant", *members), func() (int, error) {
			return t.do("POST", "/v1/import", checkKey, strings.NewReader(body))
		}},
		{fmt.Sprintf("delete of a role with %d members, same tenant", *members), func() (int, error) {
			return t.do("DELETE", "/v1/role/big", checkKey, nil)
		}},
		{"import, another tenant", func() (int, error) {
			return t.do("POST", "/v1/import", "another-tenant-key", strings.NewReader(body))
		}},
		{"delete, another tenant", func() (int, error) {
			return t.do("DELETE", "/v1/role/big", "another-tenant-key", nil)
		}},
	}
	for _, x := range ops {
		if err := phase(x.name, x.op); err != nil {
			probe.stop()
			return err
		}
	}
	probe.stop()
	for i, p := range rep.Phases {
		p.Checks, p.Errors, p.P99, p.P999, p.Max = summarize(probe.samples, probe.errs, windows[i][0], windows[i][1])
		logf("stall %-48s %5.1fs  %7d checks  p99 %.2f ms  p99.9 %.2f ms  max %.1f ms", p.Name, p.Seconds, p.Checks, p.P99, p.P999, p.Max)
	}
	other := max(rep.Phases[3].P999, rep.Phases[4].P999)
	for _, p := range rep.Phases[1:3] {
		rep.Claims = append(rep.Claims,
			Verdict{Claim: p.Name + ": p99.9 within 2x of the other tenant's", Measured: fmt.Sprintf("%.2f ms vs %.2f ms", p.P999, other), Holds: p.P999 <= 2*other},
			Verdict{Claim: p.Name + ": max ≤ 50 ms", Measured: fmt.Sprintf("%.1f ms", p.Max), Holds: p.Max <= 50},
			Verdict{Claim: p.Name + ": every check answered right", Measured: fmt.Sprintf("%d errors", p.Errors), Holds: p.Errors == 0})
	}
	text := stallMarkdown(rep)
	fmt.Println(text)
	return writeJSON(*out, rep)
}

// probe checks one tenant on conns keep-alive connections in a closed
// loop, keeping each check's start and latency.
type probe struct {
	mu      sync.Mutex
	samples []sample
	errs    []time.Time
	done    chan struct{}
	wg      sync.WaitGroup
}

type sample struct {
	at  time.Time
	lat time.Duration
}

func startProbe(t *target, conns int) *probe {
	p := &probe{done: make(chan struct{})}
	for c := range conns {
		p.wg.Go(func() {
			cl := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			var mine []sample
			var errs []time.Time
			for i := c; ; i++ {
				select {
				case <-p.done:
					p.mu.Lock()
					p.samples = append(p.samples, mine...)
					p.errs = append(p.errs, errs...)
					p.mu.Unlock()
					return
				default:
				}
				start, took, right, err := t.probeCheck(cl, i)
				if err != nil {
					errs = append(errs, start)
					continue
				}
				mine = append(mine, sample{start, took})
				if !right {
					errs = append(errs, start)
				}
			}
		})
	}
	return p
}

func (p *probe) stop() {
	close(p.done)
	p.wg.Wait()
}

func stallMarkdown(rep *StallReport) string {
	var b strings.Builder
	b.WriteString("| operation | seconds | checks | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range rep.Phases {
		fmt.Fprintf(&b, "| %s | %.1f | %d | %.2f | %.2f | %.1f |\n", p.Name, p.Seconds, p.Checks, p.P99, p.P999, p.Max)
	}
	b.WriteString("\n")
	for _, c := range rep.Claims {
		mark := "holds"
		if !c.Holds {
			mark = "**does not hold**"
		}
		fmt.Fprintf(&b, "- %s: %s (%s)\n", c.Claim, c.Measured, mark)
	}
	return b.String()
}

// summarize computes a phase's figures from the checks that began in
// [from, to] or were under way at from.
func summarize(samples []sample, errs []time.Time, from, to time.Time) (checks, nerr int, p99, p999, maxMs float64) {
	var lat []time.Duration
	for _, s := range samples {
		if !s.at.Before(from) && !s.at.After(to) || s.at.Before(from) && s.at.Add(s.lat).After(from) {
			lat = append(lat, s.lat)
		}
	}
	for _, e := range errs {
		if !e.Before(from) && !e.After(to) {
			nerr++
		}
	}
	if len(lat) == 0 {
		return 0, nerr, 0, 0, 0
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return len(lat), nerr, ms(lat[len(lat)*99/100]), ms(lat[len(lat)*999/1000]), ms(lat[len(lat)-1])
}
