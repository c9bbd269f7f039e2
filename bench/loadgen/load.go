package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"auth/bench/dataset"
	"auth/engine"
)

// LoadStats describes a dataset load through the API.
type LoadStats struct {
	Writes  int     `json:"writes"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"writes_per_sec"`
}

// ChangePath returns the API request that makes change c in tenant t.
func ChangePath(t int, c engine.Change) (method, path string) {
	key := dataset.Key(t)
	switch c.Op {
	case engine.OpAddRole:
		return "POST", "/api/role/" + key + "/" + c.Role
	case engine.OpAddPermission:
		return "POST", "/api/permission/" + key + "/" + c.Role + "/" + c.Permission
	case engine.OpAddMembership:
		return "POST", "/api/membership/" + key + "/" + c.User + "/" + c.Role
	}
	panic("loadgen: no route for " + c.Op.String())
}

// Load writes the whole dataset through the API with conc concurrent
// requests: every tenant's roles first, then its grants and memberships.
// Every write must answer {"result": true}; the first that does not stops
// the load with an error. A progress line goes to progress every second.
func Load(ctx context.Context, addr string, cfg dataset.Config, conc int, progress io.Writer) (LoadStats, error) {
	start := time.Now()
	total := cfg.Writes()
	client := NewClient(addr, conc, 30*time.Second)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var done atomic.Uint64
	stop := startLoadProgress(progress, start, total, &done)
	defer stop()

	type job struct{ method, path string }
	run := func(feed func(emit func(job) bool)) {
		jobs := make(chan job, 4*conc)
		go func() {
			defer close(jobs)
			feed(func(j job) bool {
				select {
				case jobs <- j:
					return true
				case <-ctx.Done():
					return false
				}
			})
		}()
		withRequests(conc, addr, nil, func(req *fasthttp.Request, resp *fasthttp.Response) {
			for j := range jobs {
				req.Header.SetMethod(j.method)
				req.SetRequestURI(j.path)
				err := client.Do(req, resp)
				if err == nil && (resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), answerTrue)) {
					err = fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
				}
				if err != nil {
					cancel(fmt.Errorf("loading %s %s: %w", j.method, j.path, err))
				}
				done.Add(1)
			}
		})
	}
	errStop := fmt.Errorf("stop")
	feedTenants := func(roles bool) func(emit func(job) bool) {
		return func(emit func(job) bool) {
			for t := 0; t < cfg.Tenants; t++ {
				_ = cfg.Changes(t, func(c engine.Change) error {
					if (c.Op == engine.OpAddRole) != roles {
						return nil
					}
					m, p := ChangePath(t, c)
					if !emit(job{m, p}) {
						return errStop
					}
					return nil
				})
			}
		}
	}
	run(feedTenants(true))
	if ctx.Err() == nil {
		run(feedTenants(false))
	}
	if err := context.Cause(ctx); err != nil {
		return LoadStats{}, err
	}
	el := time.Since(start)
	return LoadStats{Writes: total, Seconds: el.Seconds(), PerSec: float64(total) / el.Seconds()}, nil
}

func startLoadProgress(w io.Writer, start time.Time, total int, done *atomic.Uint64) func() {
	return everySecond(w, func() string {
		n := done.Load()
		el := time.Since(start).Seconds()
		rate := float64(n) / el
		eta := 0.0
		if rate > 0 {
			eta = float64(uint64(total)-min(n, uint64(total))) / rate
		}
		return fmt.Sprintf("load: %d/%d writes (%.0f%%)  %.0f writes/s  eta %.0fs", n, total, 100*float64(n)/float64(total), rate, eta)
	})
}

// Verify sends n checks and n/10+1 list queries drawn at random and fails on
// the first answer that differs from the ground truth.
func Verify(ctx context.Context, addr string, cfg dataset.Config, n int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	ops := make([]Op, 0, n+n/10+1)
	for _, c := range cfg.Checks(rng, n, 0.5) {
		ops = append(ops, CheckOp(c))
	}
	for range n/10 + 1 {
		ops = append(ops, UserRolesOp(cfg, rng.IntN(cfg.Tenants), rng.IntN(cfg.Users)))
	}
	return VerifyOps(ctx, addr, ops, nil)
}

// VerifyProto sends n checks drawn at random, half of them answering
// true, to a server asked through proto, and fails on the first answer
// that differs from the ground truth.
func VerifyProto(ctx context.Context, addr string, cfg dataset.Config, n int, seed uint64, proto Protocol) error {
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	ops := make([]Op, 0, n)
	for _, c := range cfg.Checks(rng, n, 0.5) {
		ops = append(ops, proto.check(c))
	}
	return VerifyOps(ctx, addr, ops, proto.Headers)
}

// VerifyOps sends ops, 8 at a time, with headers, and fails on the first
// answer that is not 200 with the expected body.
func VerifyOps(ctx context.Context, addr string, ops []Op, headers [][2]string) error {
	client := NewClient(addr, 8, 10*time.Second)
	defer client.CloseIdleConnections()
	var (
		mu    sync.Mutex
		first error
	)
	next := atomic.Int64{}
	withRequests(8, addr, headers, func(req *fasthttp.Request, resp *fasthttp.Response) {
		for ctx.Err() == nil {
			i := int(next.Add(1)) - 1
			if i >= len(ops) {
				return
			}
			op := &ops[i]
			req.Header.SetMethod(op.Method)
			req.SetRequestURIBytes(op.Path)
			if op.Body != nil {
				req.SetBodyRaw(op.Body)
			}
			err := client.Do(req, resp)
			if err == nil && (resp.StatusCode() != 200 || !op.Matches(resp.Body())) {
				err = fmt.Errorf("%s %s %s: status %d, got %s, want %s", op.Method, op.Path, op.Body, resp.StatusCode(), resp.Body(), op.Want)
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
		}
	})
	if first != nil {
		return fmt.Errorf("verify: %w", first)
	}
	return ctx.Err()
}

// withRequests runs n workers, each with a request and a response of its
// own (see acquire), and waits for them to return.
func withRequests(n int, addr string, headers [][2]string, work func(req *fasthttp.Request, resp *fasthttp.Response)) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, resp, release := acquire(addr, headers)
			defer release()
			work(req, resp)
		})
	}
	wg.Wait()
}

// acquire returns a request to addr with headers set, and a response;
// release gives both back.
func acquire(addr string, headers [][2]string) (req *fasthttp.Request, resp *fasthttp.Response, release func()) {
	req, resp = fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.Header.SetHost(addr)
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	return req, resp, func() {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// VisibleSettle is how long op must keep answering as expected for
// WaitVisible to count it visible: a server that answers from one of
// several snapshots (SpiceDB may use the previous quantized revision for a
// while after a new one) can answer right and then wrong again.
const VisibleSettle = time.Second

// WaitVisible asks op (with headers) every 2 ms until it answers as
// expected and keeps doing so for VisibleSettle, and returns how long it
// took until the first right answer of that streak: the time until data
// written just before is visible to checks. It gives up after timeout.
func WaitVisible(ctx context.Context, addr string, op Op, headers [][2]string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var since time.Time // the first right answer of the current streak
	client := NewClient(addr, 1, 10*time.Second)
	defer client.CloseIdleConnections()
	req, resp, release := acquire(addr, headers)
	defer release()
	req.Header.SetMethod(op.Method)
	req.SetRequestURIBytes(op.Path)
	for {
		if op.Body != nil {
			req.SetBodyRaw(op.Body)
		}
		err := client.Do(req, resp)
		if err == nil && resp.StatusCode() == 200 && op.Matches(resp.Body()) {
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= VisibleSettle {
				return since.Sub(start), nil
			}
		} else {
			since = time.Time{}
		}
		if time.Since(start) > timeout {
			if err == nil {
				err = fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
			}
			return 0, fmt.Errorf("%s %s %s not answered as %s within %s: %v", op.Method, op.Path, op.Body, op.Want, timeout, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}
