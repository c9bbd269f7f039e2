package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Options configures a run.
type Options struct {
	// Addrs are the servers' host:port; workers are spread over them
	// round robin (several replicas of one system).
	Addrs []string
	// Concurrency is the number of workers, each with its own keep-alive
	// connection.
	Concurrency int
	// Duration is the measured window; Warmup runs the same load before it,
	// unmeasured.
	Duration, Warmup time.Duration
	// Rate, if positive, makes the run open loop: requests are due at this
	// total rate (per second), spread evenly over the workers, and a
	// request's latency counts from when it was due, not from when it was
	// sent, so that a stalled server is not hidden by the generator waiting
	// for it (coordinated omission); a worker that was idle and woke late
	// counts from its actual send, its timer's delay being no part of the
	// server's latency. Zero is closed loop: each worker sends
	// its next request as soon as the last one is answered.
	Rate float64
	// Timeout bounds one request.
	Timeout time.Duration
	// Verify compares every answer with the expected body; a mismatch
	// counts as wrong. Off for a target that answers a constant.
	Verify bool
	// ServerPIDs are local server processes whose CPU time, with that of
	// their descendants (a database's per-connection processes), is read from
	// /proc over the measured window and added up.
	ServerPIDs []int
	// Label names the run in progress lines and results.
	Label string
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
	// LagKey, if set, is the key of the dataset's tenant 0: over several
	// Addrs, the measured window's writes to that tenant then also give
	// the replication lag (see LagStats), from polls of every replica's
	// GET /status every LagPoll (default 2ms).
	LagKey  string
	LagPoll time.Duration
}

// KindStats is one kind of request's share of a run.
type KindStats struct {
	Requests uint64  `json:"requests"`
	RPS      float64 `json:"rps"`
	Latency  Latency `json:"latency"`
}

// Latency is a latency distribution in microseconds.
type Latency struct {
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

// Result is a run's outcome.
type Result struct {
	Label       string  `json:"label"`
	Round       int     `json:"round,omitempty"` // which round of a repeated comparison
	Mode        string  `json:"mode"`            // closed or open
	Concurrency int     `json:"concurrency"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	Seconds     float64 `json:"seconds"`
	Requests    uint64  `json:"requests"`
	Errors      uint64  `json:"errors"` // transport errors and unexpected status codes
	Wrong       uint64  `json:"wrong"`  // answers that differ from the ground truth
	RPS         float64 `json:"rps"`
	Latency     Latency `json:"latency"`
	// ServerCPUPerReq is the server's user+system CPU time over the
	// window divided by the requests, in microseconds; 0 if unknown.
	ServerCPUPerReq float64 `json:"server_cpu_us_per_req,omitempty"`
	// ServerCPUShare is the server's CPU time over the window's wall time
	// (1.0 = one core busy).
	ServerCPUShare float64 `json:"server_cpu_cores,omitempty"`
	// ClientCPUPerReq is the load generator's own CPU time per request.
	ClientCPUPerReq float64  `json:"client_cpu_us_per_req"`
	ErrorSamples    []string `json:"error_samples,omitempty"`
	Verified        bool     `json:"verified"`
	// Reads (checks and lists) and Writes split a run that has both.
	Reads  *KindStats `json:"reads,omitempty"`
	Writes *KindStats `json:"writes,omitempty"`
	// Lag is the replication lag of the window's writes (Options.LagKey).
	Lag *LagStats `json:"replication_lag,omitempty"`
}

// Failed reports errors or wrong answers.
func (r *Result) Failed() bool { return r.Errors > 0 || r.Wrong > 0 }

func (r *Result) String() string {
	s := fmt.Sprintf("%-28s %s c=%-3d %9.0f req/s  p50 %7.1fµs  p90 %7.1fµs  p99 %7.1fµs  p99.9 %7.1fµs  max %8.1fµs  errors %d  wrong %d",
		r.Label, r.Mode, r.Concurrency, r.RPS, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Errors, r.Wrong)
	if r.ServerCPUPerReq > 0 {
		s += fmt.Sprintf("  server CPU %.2fµs/req (%.2f cores)", r.ServerCPUPerReq, r.ServerCPUShare)
	}
	return s
}

// NewClient returns the keep-alive client a run uses: at most conns
// connections, no retries (a failure counts as an error, not as a slower
// success) and no header normalization work.
func NewClient(addr string, conns int, timeout time.Duration) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		MaxConns:                      conns,
		MaxIdemponentCallAttempts:     1,
		ReadTimeout:                   timeout,
		WriteTimeout:                  timeout,
		MaxConnWaitTimeout:            timeout,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
	}
}

// workerStats is one worker's tally.
type workerStats struct {
	hist     *hdr.Histogram // nanoseconds
	reads    *hdr.Histogram // checks and lists only
	writes   *hdr.Histogram // writes only
	acks     []writeAck     // writes to tenant 0 that answered, with their seq
	requests uint64
	errors   uint64
	wrong    uint64
	samples  []string
}

func newStats() *workerStats {
	return &workerStats{hist: hdr.New(100, 120e9, 3), reads: hdr.New(100, 120e9, 3), writes: hdr.New(100, 120e9, 3)}
}

func (s *workerStats) fail(msg string) {
	s.errors++
	if len(s.samples) < 3 {
		s.samples = append(s.samples, msg)
	}
}

// Run runs w against opts.Addr: the warm-up, then the measured window.
func Run(ctx context.Context, w *Workload, opts Options) (*Result, error) {
	if opts.Concurrency < 1 {
		return nil, errors.New("loadgen: concurrency must be at least 1")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if len(opts.Addrs) == 0 {
		return nil, errors.New("loadgen: no address")
	}
	clients := make([]*fasthttp.HostClient, len(opts.Addrs))
	for i, a := range opts.Addrs {
		clients[i] = NewClient(a, opts.Concurrency, opts.Timeout)
		defer clients[i].CloseIdleConnections()
	}
	streams := make([]*stream, opts.Concurrency)
	for i := range streams {
		streams[i] = w.stream(i)
	}
	if opts.Warmup > 0 {
		p := opts
		p.Label += " (warm-up)"
		if _, err := phase(ctx, clients, streams, p, opts.Warmup, false); err != nil {
			return nil, err
		}
	}
	return phase(ctx, clients, streams, opts, opts.Duration, true)
}

func phase(ctx context.Context, clients []*fasthttp.HostClient, streams []*stream, opts Options, dur time.Duration, measure bool) (*Result, error) {
	var live atomic.Uint64 // requests so far, for the progress line
	stats := make([]*workerStats, len(streams))
	for i := range stats {
		stats[i] = newStats()
	}
	var cpu0, self0 time.Duration
	var cpuErr error
	if measure && len(opts.ServerPIDs) > 0 {
		cpu0, cpuErr = processesCPU(opts.ServerPIDs)
	}
	self0, _ = ProcessCPU(os.Getpid())

	var lp *lagProber
	if measure && opts.LagKey != "" && len(clients) > 1 {
		lp = startLagProber(ctx, opts)
	}
	start := time.Now()
	end := start.Add(dur)
	stopProgress := startProgress(opts.Progress, opts.Label, start, dur, &live, stats)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			worker(ctx, clients[i%len(clients)], i%len(clients), streams[i], stats[i], &live, opts, i, start, end)
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	r := &Result{Label: opts.Label, Mode: "closed", Concurrency: len(streams), Seconds: elapsed.Seconds(), Verified: opts.Verify}
	if opts.Rate > 0 {
		r.Mode, r.TargetRate = "open", opts.Rate
	}
	all := hdr.New(100, 120e9, 3)
	reads, writes := hdr.New(100, 120e9, 3), hdr.New(100, 120e9, 3)
	var acks []writeAck
	for _, s := range stats {
		all.Merge(s.hist)
		reads.Merge(s.reads)
		writes.Merge(s.writes)
		acks = append(acks, s.acks...)
		r.Requests += s.requests
		r.Errors += s.errors
		r.Wrong += s.wrong
		for _, m := range s.samples {
			if len(r.ErrorSamples) < 5 {
				r.ErrorSamples = append(r.ErrorSamples, m)
			}
		}
	}
	r.Latency = latencyOf(all)
	if reads.TotalCount() > 0 && writes.TotalCount() > 0 {
		kind := func(h *hdr.Histogram) *KindStats {
			return &KindStats{Requests: uint64(h.TotalCount()), RPS: float64(h.TotalCount()) / elapsed.Seconds(), Latency: latencyOf(h)}
		}
		r.Reads, r.Writes = kind(reads), kind(writes)
	}
	if lp != nil {
		r.Lag = lp.finish(acks)
	}
	if r.Requests > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
		if self1, err := ProcessCPU(os.Getpid()); err == nil {
			r.ClientCPUPerReq = float64((self1 - self0).Microseconds()) / float64(r.Requests)
		}
		if measure && len(opts.ServerPIDs) > 0 && cpuErr == nil {
			cpu1, err := processesCPU(opts.ServerPIDs)
			if err == nil {
				r.ServerCPUPerReq = float64((cpu1 - cpu0).Microseconds()) / float64(r.Requests)
				r.ServerCPUShare = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	return r, nil
}

func latencyOf(h *hdr.Histogram) Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)), P99: us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)), Max: us(h.Max()), Mean: h.Mean() / 1e3,
	}
}

func worker(ctx context.Context, client *fasthttp.HostClient, addr int, st *stream, s *workerStats, live *atomic.Uint64, opts Options, i int, start, end time.Time) {
	req, resp, release := acquire(client.Addr, st.w.Proto.Headers)
	defer release()
	var scratch Op
	var interval time.Duration
	due := start
	if opts.Rate > 0 {
		interval = time.Duration(float64(opts.Concurrency) / opts.Rate * 1e9)
		due = start.Add(time.Duration(float64(i) / opts.Rate * 1e9))
	}
	for k := 0; ctx.Err() == nil; k++ {
		var sent time.Time
		if opts.Rate > 0 {
			if !due.Before(end) {
				return
			}
			sent = due
			if d := time.Until(due); d > 0 {
				// Ahead of schedule: the worker was idle. How late the
				// timer wakes it is the generator's own delay, not the
				// server's, so latency counts from the actual send. A
				// worker behind schedule (the server held it up) counts
				// from the due time.
				time.Sleep(d)
				sent = time.Now()
			}
			due = due.Add(interval)
		} else {
			sent = time.Now()
			if !sent.Before(end) {
				return
			}
		}
		op := st.next(&scratch)
		req.Header.SetMethod(op.Method)
		req.SetRequestURIBytes(op.Path)
		if op.Body != nil {
			req.SetBodyRaw(op.Body)
		}
		err := client.DoTimeout(req, resp, opts.Timeout)
		lat := time.Since(sent)
		s.requests++
		live.Add(1)
		_ = s.hist.RecordValue(lat.Nanoseconds())
		if op.Kind == KindWrite {
			_ = s.writes.RecordValue(lat.Nanoseconds())
		} else {
			_ = s.reads.RecordValue(lat.Nanoseconds())
		}
		if op.Kind == KindWrite && op.Tenant == 0 && err == nil && resp.StatusCode() == fasthttp.StatusOK {
			if seq, perr := strconv.ParseUint(string(resp.Header.Peek("X-Auth-Seq")), 10, 64); perr == nil {
				s.acks = append(s.acks, writeAck{addr: addr, seq: seq, at: time.Now()})
			}
		}
		switch {
		case err != nil:
			s.fail(err.Error())
		case resp.StatusCode() != fasthttp.StatusOK:
			s.fail(fmt.Sprintf("%s %s: status %d: %s", op.Method, op.Path, resp.StatusCode(), resp.Body()))
		case opts.Verify && !op.Matches(resp.Body()):
			s.wrong++
			if len(s.samples) < 3 {
				s.samples = append(s.samples, fmt.Sprintf("%s %s: got %s, want %s", op.Method, op.Path, resp.Body(), op.Want))
			}
		}
	}
}

// startProgress prints a progress line every second until the returned
// function is called.
func startProgress(w io.Writer, label string, start time.Time, dur time.Duration, live *atomic.Uint64, _ []*workerStats) func() {
	var last uint64
	return everySecond(w, func() string {
		n := live.Load()
		line := fmt.Sprintf("%s: %4.0fs/%.0fs  %9d req  %8d req/s", label, time.Since(start).Seconds(), dur.Seconds(), n, n-last)
		last = n
		return line
	})
}

// everySecond prints the line line makes to w every second (over the
// last one on a terminal) until the returned function is called; with a
// nil w it does nothing.
func everySecond(w io.Writer, line func() string) func() {
	if w == nil {
		return func() {}
	}
	tty := isTerminal(w)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\x1b[K")
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprint(w, "\r\x1b[K"+line())
				} else {
					fmt.Fprintln(w, line())
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
