package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"auth/internal/madeup"
)

// The attack suite: each attack of a hostile client against a real server
// process (built without the race detector, whose shadow memory would
// swamp what is measured), none of them with a valid key, at sizes scaled
// down from authbench attack's (bench/RESULTS.md has the full sizes). Each
// asserts a bound on the server's memory, read from /proc or /metrics
// with a margin for the runtime's own noise, and that checks of a real
// tenant keep answering while it runs.

// procStatus reads a field of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10 // kB
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// peakSince resets the process's peak RSS and returns a function that
// reports how far the peak rose above the RSS at the reset.
func peakSince(t *testing.T, pid int) func() int64 {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS (%v): the memory bounds need it", err)
	}
	base := procStatus(t, pid, "VmRSS")
	return func() int64 { return procStatus(t, pid, "VmHWM") - base }
}

// metric reads one unlabelled metric of the server.
func (p *proc) metric(name string) float64 {
	p.t.Helper()
	code, body, err := p.call("GET", "/metrics")
	if err != nil || code != http.StatusOK {
		p.t.Fatalf("/metrics: %d %v", code, err)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				p.t.Fatal(err)
			}
			return f
		}
	}
	p.t.Fatalf("no metric %s", name)
	return 0
}

// liveHeap is the heap the last collection found live.
func (p *proc) liveHeap() int64 { return int64(p.metric("go_gc_heap_live_bytes")) }

// checker checks a real tenant over its own connection until stopped.
type checker struct {
	n       atomic.Int64 // checks answered
	stop    chan struct{}
	done    chan struct{}
	lat     []time.Duration
	wrong   int
	lastErr error
}

// seedAndCheck writes a small tenant and starts checking it.
func seedAndCheck(t *testing.T, p *proc) *checker {
	t.Helper()
	p.tellStory()
	c := &checker{stop: make(chan struct{}), done: make(chan struct{})}
	cl := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(c.done)
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			default:
			}
			path, want := "/api/has_permission/"+key+"/jack/dance", `{"result": true}`
			if i%2 == 1 {
				path, want = "/api/has_permission/"+key+"/sara/dance", `{"result": false}`
			}
			start := time.Now()
			resp, err := cl.Get(p.base + path)
			if err != nil {
				c.wrong++
				c.lastErr = err
				time.Sleep(time.Millisecond)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			c.lat = append(c.lat, time.Since(start))
			c.n.Add(1)
			if resp.StatusCode != http.StatusOK || string(body) != want {
				c.wrong++
				c.lastErr = fmt.Errorf("%d %s", resp.StatusCode, body)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return c
}

// end stops the checks and asserts they kept answering right, with a p99
// under bound.
func (c *checker) end(t *testing.T, bound time.Duration) {
	t.Helper()
	// An attack refused at once is over before many checks ran: let a
	// few more run, so that there is something to assert on.
	for deadline := time.Now().Add(5 * time.Second); c.n.Load() < 20 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	close(c.stop)
	<-c.done
	if c.wrong > 0 || len(c.lat) < 10 {
		t.Fatalf("checks during the attack: %d answered, %d wrong (last: %v)", len(c.lat), c.wrong, c.lastErr)
	}
	slices.Sort(c.lat)
	p99 := c.lat[len(c.lat)*99/100]
	t.Logf("checks during the attack: %d, p99 %s", len(c.lat), p99)
	if p99 > bound {
		t.Fatalf("checks during the attack: p99 %s, want under %s", p99, bound)
	}
}

// lineBody is an endless body of import lines, counting what was sent.
type lineBody struct {
	line []byte
	max  int64
	sent atomic.Int64
}

func (b *lineBody) Read(p []byte) (int, error) {
	if b.sent.Load() >= b.max {
		return 0, io.EOF
	}
	n := 0
	for n+len(b.line) <= len(p) && b.sent.Load()+int64(n) < b.max {
		n += copy(p[n:], b.line)
	}
	b.sent.Add(int64(n))
	return n, nil
}

// postImport sends an import of body (chunked if chunked) with key.
func postImport(t *testing.T, base, key string, body io.Reader, size int64, chunked bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/import", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	if chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

// TestAttackChunkedImport: a chunked import body of 64 MiB against a 1
// MiB limit answers 413 once the limit is passed; the server's RSS grows
// by a few MiB (the limit, the bounded drain's buffers), not by the body.
func TestAttackChunkedImport(t *testing.T) {
	p := startBinary(t, plainBinary, t.TempDir(), "-max-import-bytes", "1048576")
	checks := seedAndCheck(t, p)
	peak := peakSince(t, p.cmd.Process.Pid)
	body := &lineBody{line: []byte(`{"role": "r", "user": "a-user-with-a-name"}` + "\n"), max: 64 << 20}
	code, answer := postImport(t, p.base, "made-up-attacker-key", body, -1, true)
	grew := peak()
	checks.end(t, time.Second)
	t.Logf("64 MiB chunked against 1 MiB: %d, %d MiB sent, RSS peak +%.1f MiB", code, body.sent.Load()>>20, float64(grew)/(1<<20))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(answer, `"error"`) {
		t.Fatalf("import = %d %.200s, want 413 with a JSON error", code, answer)
	}
	if grew > 24<<20 {
		t.Fatalf("the server's RSS peaked %d MiB above where it was", grew>>20)
	}
}

// importBody is a tenant's import of n memberships, 3 per user, as the
// lines of an export.
func importBody(n int) []byte {
	var b strings.Builder
	for r := range 100 {
		fmt.Fprintf(&b, "{\"role\": \"role-%03d\"}\n", r)
		fmt.Fprintf(&b, "{\"role\": \"role-%03d\", \"permission\": \"perm-%03d\"}\n", r, r)
	}
	for i := range n {
		fmt.Fprintf(&b, "{\"role\": \"role-%03d\", \"user\": \"user-%08d\"}\n", (i*37)%100, i/3)
	}
	return []byte(b.String())
}

// TestAttackImportMemory: a legal import at the limit peaks at less than
// 4x its body in RSS growth (the tenant's state included), and afterwards
// the live heap is within 1.3x of what a cold start from the same data
// holds.
func TestAttackImportMemory(t *testing.T) {
	body := importBody(600_000)
	limit := len(body)
	dir := t.TempDir()
	args := []string{"-max-import-bytes", strconv.Itoa(limit)}
	p := startBinary(t, plainBinary, dir, args...)
	checks := seedAndCheck(t, p)
	peak := peakSince(t, p.cmd.Process.Pid)
	code, answer := postImport(t, p.base, "an-importing-tenant", strings.NewReader(string(body)), int64(len(body)), false)
	grew := peak()
	checks.end(t, 2*time.Second)
	if code != http.StatusOK {
		t.Fatalf("import at the limit = %d %.200s", code, answer)
	}
	ratio := float64(grew) / float64(limit)
	t.Logf("import of %.1f MiB at the limit: RSS peak +%.1f MiB, %.2fx the body", float64(limit)/(1<<20), float64(grew)/(1<<20), ratio)
	if ratio > 4 {
		t.Fatalf("an import at the limit peaked at %.2fx its body in RSS growth, want at most 4x", ratio)
	}
	// The embedded store keeps the event of its last commit until the
	// next commit (its batch slice); a write lets it go, as any later
	// write does. Then a refused import over the limit, which gives its
	// parse back to the OS, makes the collector measure what is live.
	p.expect("POST", "/api/role/another-tenant/r", `{"result": true}`)
	over := &lineBody{line: []byte(`{"role": "role-001", "user": "someone-else"}` + "\n"), max: int64(limit) + 4096}
	if code, answer := postImport(t, p.base, "an-importing-tenant", over, -1, true); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("import over the limit = %d %.200s", code, answer)
	}
	after := p.liveHeap()
	p.stop()

	cold := startBinary(t, plainBinary, dir, args...)
	deadline := time.Now().Add(30 * time.Second)
	for cold.metric("go_gc_cycles_forced_gc_cycles_total") < 1 { // the start's FreeOSMemory
		if time.Now().After(deadline) {
			t.Fatal("the cold start never collected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	coldHeap := cold.liveHeap()
	t.Logf("live heap after the import %.1f MiB, after a cold start %.1f MiB: %.2fx", float64(after)/(1<<20), float64(coldHeap)/(1<<20), float64(after)/float64(coldHeap))
	if float64(after) > 1.3*float64(coldHeap) {
		t.Fatalf("after the import the live heap is %.2fx a cold start's, want at most 1.3x", float64(after)/float64(coldHeap))
	}
}

// TestAttackMadeUpKeys: 20,000 requests with made-up keys over the read,
// long-poll, min_seq, stream and export routes grow the live heap by a
// few MiB at most (state kept per key would grow it by some 8 MiB), and
// leave no stream, long-poll or shared reader behind.
func TestAttackMadeUpKeys(t *testing.T) {
	p := startBinary(t, plainBinary, t.TempDir(), "-max-watches-per-client", "0")
	checks := seedAndCheck(t, p)
	routes := madeup.Routes
	round := func(n int, seed uint64) {
		var wg sync.WaitGroup
		var failed atomic.Int64
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := &http.Client{Timeout: 10 * time.Second}
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				for i := w; i < n; i += 4 {
					if _, err := madeup.Ask(cl, p.base, routes[i%len(routes)], rng); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Fatalf("%d requests failed", failed.Load())
		}
	}
	round(2000, 1) // warm up
	before := p.liveHeap()
	round(20_000, 2)
	deadline := time.Now().Add(10 * time.Second)
	for p.metric("auth_http_watches") != 0 || p.metric("auth_http_feeds") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %v watches, %v feeds", p.metric("auth_http_watches"), p.metric("auth_http_feeds"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := p.liveHeap()
	checks.end(t, time.Second)
	grew := after - before
	t.Logf("20,000 made-up keys: live heap %.1f -> %.1f MiB", float64(before)/(1<<20), float64(after)/(1<<20))
	if grew > 4<<20 {
		t.Fatalf("20,000 requests with made-up keys grew the live heap by %.1f MiB", float64(grew)/(1<<20))
	}
}

// TestAttackStreamCap: a client holding its cap of streams gets 429 with
// a JSON error for one more; another client is still served.
func TestAttackStreamCap(t *testing.T) {
	p := startBinary(t, plainBinary, t.TempDir(), "-max-watches-per-client", "8")
	checks := seedAndCheck(t, p)
	open := func(from string) *http.Response {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		cl := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest("GET", p.base+"/v1/events/stream", nil)
		req.Header.Set("Authorization", "Bearer made-up-stream-key")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := range 8 {
		if resp := open("127.0.0.1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
	}
	resp := open("127.0.0.1")
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if resp.StatusCode != http.StatusTooManyRequests || json.Unmarshal(body, &e) != nil || e.Error == "" {
		t.Fatalf("a stream past the client's cap = %d %s, want 429 with a JSON error", resp.StatusCode, body)
	}
	if resp := open("127.0.0.2"); resp.StatusCode != http.StatusOK {
		t.Fatalf("another client's stream = %d", resp.StatusCode)
	}
	checks.end(t, time.Second)
}
