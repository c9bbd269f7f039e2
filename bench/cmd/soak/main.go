// Command soak holds a running auth-server under mixed load while a
// slowloris attacker keeps many half-open connections, and reports whether
// normal clients were served (errors, p99) and whether the heap grew.
//
//	go run ./cmd/soak -addr 127.0.0.1:4000 -duration 5m
//
// (bench/soak.sh builds and starts a server with the embedded store and
// runs this against it.) Normal clients connect from 127.0.0.1; the
// attacker's connections come from other loopback addresses (127.0.0.2
// and up), as distinct clients would, so that the server's per-address
// connection cap does not lock the normal clients out. Every attacker
// connection sends a request line and then one header byte every few
// seconds, never finishing, and is opened again as soon as the server drops
// it. The heap is read from the server's /metrics every 10 s: the live heap
// after the last collection (go_gc_heap_live_bytes), which grows if
// anything leaks, unlike the heap in use, which swings with each GC cycle.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"auth/bench/dataset"
	"auth/bench/loadgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:4000", "auth-server to hold under load")
	duration := flag.Duration("duration", 5*time.Minute, "how long the mixed load runs")
	conc := flag.Int("c", 16, "normal clients (keep-alive connections)")
	users := flag.Int("users", 10000, "dataset users")
	roles := flag.Int("roles", 100, "dataset roles")
	perms := flag.Int("perms", 1000, "dataset permissions")
	attackers := flag.Int("slowloris", 2000, "half-open connections the attacker keeps")
	attackIPs := flag.Int("slowloris-ips", 4, "loopback addresses the attacker spreads them over (127.0.0.2 and up)")
	drip := flag.Duration("drip", 3*time.Second, "how often an attacker connection sends one more header byte")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cfg := dataset.Config{Tenants: 1, Users: *users, Roles: *roles, Perms: *perms, RolesPerUser: 3, GrantsPerRole: 20, Seed: 1}
	fmt.Printf("seeding %d users, %d roles, %d permissions through the API\n", *users, *roles, *perms)
	if _, err := loadgen.Load(ctx, *addr, cfg, 32, nil); err != nil {
		return err
	}
	if err := loadgen.Verify(ctx, *addr, cfg, 500, 2); err != nil {
		return err
	}
	w, err := loadgen.NewWorkload(cfg, loadgen.Mix{TrueShare: 0.5, WriteShare: 0.05}, 3)
	if err != nil {
		return err
	}

	actx, stopAttack := context.WithCancel(ctx)
	var attack attackStats
	var wg sync.WaitGroup
	for i := range *attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slowloris(actx, *addr, net.IPv4(127, 0, 0, byte(2+i%*attackIPs)), *drip, &attack)
		}()
	}

	heap := &heapSampler{addr: *addr}
	sctx, stopSampler := context.WithCancel(ctx)
	go heap.run(sctx, 10*time.Second)

	fmt.Printf("mixed load (95%% checks, 5%% writes) with %d clients for %v, against %d slowloris connections\n", *conc, *duration, *attackers)
	res, err := loadgen.Run(ctx, w, loadgen.Options{
		Addrs:       []string{*addr},
		Concurrency: *conc,
		Duration:    *duration,
		Timeout:     5 * time.Second,
		Verify:      true,
		Label:       "soak",
		Progress:    os.Stdout,
	})
	stopSampler()
	stopAttack()
	wg.Wait()
	if err != nil {
		return err
	}

	fmt.Println()
	fmt.Println(res)
	if res.Reads != nil {
		fmt.Printf("checks: p99 %.0f µs; writes: p99 %.0f µs\n", res.Reads.Latency.P99, res.Writes.Latency.P99)
	}
	fmt.Printf("slowloris: %d connections opened, %d dropped by the server, %d refused\n",
		attack.opened.Load(), attack.dropped.Load(), attack.refused.Load())
	fmt.Print("live heap samples (MiB):")
	for _, s := range heap.all() {
		fmt.Printf(" %.0fs=%.1f", s.at.Seconds(), mib(s.bytes))
	}
	fmt.Println()
	first, peak, last := heap.summary(time.Minute)
	fmt.Printf("live heap: %.1f MiB at 1 min, peak after 1 min %.1f MiB, at the end %.1f MiB (end against 1 min: %+.1f%%)\n",
		mib(first), mib(peak), mib(last), 100*(last-first)/first)
	if res.Failed() {
		return fmt.Errorf("%d errors and %d wrong answers for normal clients", res.Errors, res.Wrong)
	}
	return nil
}

type attackStats struct{ opened, dropped, refused atomic.Int64 }

// slowloris keeps one half-open connection from local address ip, opening
// it again whenever the server drops it.
func slowloris(ctx context.Context, addr string, ip net.IP, drip time.Duration, st *attackStats) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 2 * time.Second}
	for ctx.Err() == nil {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			st.refused.Add(1)
			sleep(ctx, time.Second)
			continue
		}
		st.opened.Add(1)
		if _, err := conn.Write([]byte("GET /api/has_permission/k/u/p HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
			conn.Close()
			st.dropped.Add(1)
			continue
		}
		for ctx.Err() == nil {
			sleep(ctx, drip)
			if _, err := conn.Write([]byte("a")); err != nil {
				st.dropped.Add(1)
				break
			}
		}
		conn.Close()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// heapSampler reads go_gc_heap_live_bytes from the server's /metrics.
type heapSampler struct {
	addr    string
	mu      sync.Mutex
	start   time.Time
	samples []sample
}

type sample struct {
	at    time.Duration
	bytes float64
}

func (h *heapSampler) run(ctx context.Context, every time.Duration) {
	h.start = time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if v, err := scrapeHeap(h.addr); err == nil {
			h.mu.Lock()
			h.samples = append(h.samples, sample{time.Since(h.start), v})
			h.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *heapSampler) all() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sample(nil), h.samples...)
}

// summary gives the heap at the first sample at or after warm, the peak
// after it, and the last sample.
func (h *heapSampler) summary(warm time.Duration) (first, peak, last float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.samples {
		if s.at < warm {
			continue
		}
		if first == 0 {
			first = s.bytes
		}
		peak = max(peak, s.bytes)
		last = s.bytes
	}
	return first, peak, last
}

func scrapeHeap(addr string) (float64, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_gc_heap_live_bytes "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, errors.New("no go_gc_heap_live_bytes in /metrics")
}

func mib(b float64) float64 { return b / (1 << 20) }
