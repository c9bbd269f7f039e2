package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"auth/engine"
	"auth/httpapi"
	"auth/internal/liveheap"
	"auth/replica"
)

// countingService is the replica, counting the reads of the store the
// server asks of it.
type countingService struct {
	*replica.Replica
	events, waits atomic.Int64
}

func (c *countingService) Events(ctx context.Context, id engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	c.events.Add(1)
	return c.Replica.Events(ctx, id, after, limit)
}

func (c *countingService) WaitSeq(ctx context.Context, id engine.TenantID, seq uint64) error {
	c.waits.Add(1)
	return c.Replica.WaitSeq(ctx, id, seq)
}

func newCountingServer(t *testing.T, opts ...func(*httpapi.Config)) (string, *countingService) {
	t.Helper()
	_, rep := newTestReplica(t)
	svc := &countingService{Replica: rep}
	reg := prometheus.NewRegistry()
	withMetrics := func(c *httpapi.Config) { c.Registerer, c.Gatherer = reg, reg }
	base, _ := serve(t, svc, append([]func(*httpapi.Config){withMetrics}, opts...)...)
	return base, svc
}

// metricsOf reads the server's unlabelled metrics.
func metricsOf(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var name string
		var v float64
		if _, err := fmt.Sscanf(sc.Text(), "%s %g", &name, &v); err == nil && !strings.HasPrefix(name, "#") {
			m[name] = v
		}
	}
	return m
}

// openStream opens GET /v1/events/stream from local address from (""
// for any) and returns the answer; a 200's body is the open stream.
func openStream(t *testing.T, base, key, from string) *http.Response {
	t.Helper()
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	req, err := http.NewRequest("GET", base+"/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// want429 checks a refusal at a watch cap: 429 and a JSON error naming it.
func want429(t *testing.T, resp *http.Response, naming string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if resp.StatusCode != http.StatusTooManyRequests || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, naming) {
		t.Fatalf("past the cap: %d %s, want 429 with a JSON error about %q", resp.StatusCode, body, naming)
	}
}

// TestWatchCaps: streams and waiting long-polls past the cap of their
// client, or of the server, answer 429 with a JSON error; other clients
// are served; a watch that ends gives its place back.
func TestWatchCaps(t *testing.T) {
	base, _ := newCountingServer(t, func(c *httpapi.Config) { c.MaxWatches, c.MaxWatchesPerClient = 2, 1 })
	a := openStream(t, base, "k1", "127.0.0.1")
	if a.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", a.StatusCode)
	}
	want429(t, openStream(t, base, "k2", "127.0.0.1"), "from this address")
	// A long-poll that would wait is a watch too; one that need not wait
	// is a read.
	req, _ := http.NewRequest("GET", base+"/v1/events?wait=10s", nil)
	req.Header.Set("Authorization", "Bearer k3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	want429(t, resp, "from this address")
	resp.Body.Close()
	b := openStream(t, base, "k1", "127.0.0.2")
	if b.StatusCode != http.StatusOK {
		t.Fatalf("another client's stream: %d", b.StatusCode)
	}
	want429(t, openStream(t, base, "k1", "127.0.0.3"), "on this server")
	a.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := openStream(t, base, "k1", "127.0.0.3")
		if c.StatusCode == http.StatusOK {
			break
		}
		c.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream did not give its place back: %d", c.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStreamLifetime: a stream ends after MaxStreamLifetime, saying so,
// and one resumed with Last-Event-ID goes on where it ended.
func TestStreamLifetime(t *testing.T) {
	base, svc := newCountingServer(t, func(c *httpapi.Config) { c.MaxStreamLifetime = 300 * time.Millisecond })
	if _, _, err := svc.Write(context.Background(), "k", engine.Change{Op: engine.OpAddRole, Role: "r1"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp := openStream(t, base, "k", "")
	body, err := io.ReadAll(resp.Body) // ends when the stream does
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the stream lived %s", d)
	}
	if !strings.Contains(string(body), "id: 1\n") || !strings.Contains(string(body), ": stream lifetime reached") {
		t.Fatalf("stream: %q", body)
	}
	if _, _, err := svc.Write(context.Background(), "k", engine.Change{Op: engine.OpAddRole, Role: "r2"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Last-Event-ID", "1")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	line, err := bufio.NewReader(resp2.Body).ReadString('\n')
	if err != nil || line != "id: 2\n" {
		t.Fatalf("resumed stream begins %q, %v; want id: 2", line, err)
	}
}

// TestStreamsShareOneReader: 40 streams on a tenant; 20 writes are read
// from the store by the tenant's one reader, not by each stream, and every
// stream gets every event.
func TestStreamsShareOneReader(t *testing.T) {
	const streams, writes = 40, 20
	base, svc := newCountingServer(t)
	var wg sync.WaitGroup
	got := make([]int, streams)
	for i := range streams {
		resp := openStream(t, base, "k", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bufio.NewReader(resp.Body)
			for got[i] < writes {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "id: ") {
					got[i]++
				}
			}
		}()
	}
	before := svc.events.Load()
	for w := range writes {
		if _, _, err := svc.Write(context.Background(), "k", engine.Change{Op: engine.OpAddRole, Role: fmt.Sprint("r", w)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("events received per stream: %v, want %d each", got, writes)
	}
	if reads := svc.events.Load() - before; reads > writes {
		t.Fatalf("%d writes with %d streams took %d reads of the store, want at most %d", writes, streams, reads, writes)
	}
}

// TestMadeUpKeysLeaveNothing: reads, waits, min_seq reads, streams and
// exports for keys that name no tenant keep nothing once answered, and a
// min_seq of one unknown key reaches the store once per second at most.
func TestMadeUpKeysLeaveNothing(t *testing.T) {
	base, svc := newCountingServer(t, func(c *httpapi.Config) { c.MinSeqWait = 20 * time.Millisecond })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func(path, key string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(path, "/stream") {
			resp.Body.Close() // the stream ends: the client went away
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp.StatusCode
	}
	paths := []string{"/v1/roles", "/v1/events?wait=1ms", "/v1/roles?min_seq=3", "/v1/events/stream", "/v1/export", "/v1/has_permission/u/p?min_seq=1"}
	round := func(n int) {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		for i := range n {
			get(paths[i%len(paths)], fmt.Sprintf("made-up-%016x", rng.Uint64()))
		}
	}
	// A first round brings pools, connections and the cache of unknown
	// tenants to their steady size; the second must not grow the heap
	// (state kept per key, ~400 bytes each, would grow it by 1 MiB).
	round(2000)
	heapBefore := liveheap.Bytes()
	round(4000)
	// Streams end when their writer sees the client gone; give them time.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := metricsOf(t, base)
		if m["auth_http_watches"] == 0 && m["auth_http_feeds"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watches and feeds left behind: %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if grew := int64(liveheap.Bytes()) - int64(heapBefore); grew > 512<<10 {
		t.Fatalf("4,000 requests with made-up keys grew the live heap by %d KiB", grew>>10)
	}
	waits := svc.waits.Load()
	for range 50 {
		if code := get("/v1/roles?min_seq=5", "one-made-up-key"); code != http.StatusConflict {
			t.Fatalf("min_seq of an unknown tenant = %d, want 409", code)
		}
	}
	if n := svc.waits.Load() - waits; n > 2 {
		t.Fatalf("50 min_seq reads of one unknown key asked the store %d times", n)
	}
}
