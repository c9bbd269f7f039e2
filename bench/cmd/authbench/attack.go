package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"auth/internal/madeup"
)

// authbench attack: what hostile clients, none with a valid key, cost a
// server, at full size. Each attack runs against a fresh auth-server
// while a client checks a real tenant beside it; the report gives the
// server's memory (RSS from /proc, the live heap from /metrics), the
// refusals, and the checks' p99 during the attack against the p99 of the
// same server just before it.

// AttackReport is attack's JSON output.
type AttackReport struct {
	RunHead                 // Kind "attack"
	Attacks []*AttackResult `json:"attacks"`
}

// RunHead opens the JSON output of a command run against a server built
// from source: the command's kind, the machine, the command line and the
// server's source.
type RunHead struct {
	Kind    string  `json:"kind"`
	Machine Machine `json:"machine"`
	Command string  `json:"command"`
	Server  string  `json:"server_source"`
}

// newRunHead is the head of command kind run with args, against a server
// built from rev of the tree at root.
func newRunHead(ctx context.Context, kind string, args []string, root, rev string) RunHead {
	return RunHead{Kind: kind, Machine: thisMachine(), Command: "authbench " + kind + " " + strings.Join(args, " "), Server: describeSource(ctx, root, rev)}
}

// AttackResult is one attack, measured.
type AttackResult struct {
	Name     string  `json:"name"`
	What     string  `json:"what"`
	Seconds  float64 `json:"seconds"`
	Answer   string  `json:"answer"`             // statuses the attacker got, by count
	Refused  int     `json:"refused"`            // requests refused (413, 429)
	RSSStart float64 `json:"rss_start_mib"`      // before the attack
	RSSPeak  float64 `json:"rss_peak_mib"`       // peak during it (VmHWM, reset before)
	RSSEnd   float64 `json:"rss_end_mib"`        // after it
	HeapPre  float64 `json:"live_heap_pre_mib"`  // the live heap before
	HeapPost float64 `json:"live_heap_post_mib"` // the live heap after
	Extra    string  `json:"extra,omitempty"`
	// Checks of a real tenant: p99 in the seconds before the attack and
	// during it, and how many failed during it.
	CheckP99Before float64   `json:"check_p99_before_ms"`
	CheckP99During float64   `json:"check_p99_during_ms"`
	Checks         int       `json:"checks_during"`
	CheckErrors    int       `json:"check_errors"`
	Claims         []Verdict `json:"claims"`
}

type attackOpts struct {
	bin, work                  string
	chunkedBytes, chunkedLimit int64
	importMemberships          int
	keys, keysConc             int
	streamCap, streamExtra     int
}

func cmdAttack(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	root := fs.String("root", "", "repository root (default: found from the working folder)")
	rev := fs.String("rev", "", "build auth-server from this git revision (e.g. HEAD) instead of the working tree")
	smoke := fs.Bool("smoke", false, "small sizes, some seconds: for CI (the import, ~28 MiB, stays above the sizes where fixed floors, not its body, bound its memory)")
	only := fs.String("attacks", "chunked,import,keys,streams", "attacks to run, in order")
	o := attackOpts{}
	fs.Int64Var(&o.chunkedBytes, "chunked-bytes", 1<<30, "size of the chunked import body")
	fs.Int64Var(&o.chunkedLimit, "chunked-limit", 1<<20, "the server's -max-import-bytes for the chunked attack")
	fs.IntVar(&o.importMemberships, "import-memberships", 3_000_000, "memberships of the legal import (1 tenant, 3 roles per user); the server's limit is set to its size")
	fs.IntVar(&o.keys, "keys", 1_000_000, "requests with made-up keys, each its own key")
	fs.IntVar(&o.keysConc, "keys-c", 8, "concurrent clients of the made-up keys")
	fs.IntVar(&o.streamCap, "stream-cap", 128, "the server's -max-watches-per-client for the stream attack")
	fs.IntVar(&o.streamExtra, "stream-extra", 1000, "streams the attacker asks for past its cap")
	out := fs.String("json", "", "write the report as JSON to this file")
	md := fs.String("md", "", "write the markdown table to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *smoke {
		o.chunkedBytes, o.chunkedLimit, o.importMemberships, o.keys, o.streamCap, o.streamExtra = 16<<20, 1<<20, 600_000, 2_000, 8, 8
	}
	work, bin, r, err := buildServer(ctx, *root, *rev, "attack")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o.work, o.bin = work, bin
	rep := &AttackReport{RunHead: newRunHead(ctx, "attack", args, r, *rev)}
	attacks := map[string]func(context.Context, *attackOpts) (*AttackResult, error){
		"chunked": attackChunked, "import": attackImport, "keys": attackKeys, "streams": attackStreams,
	}
	var failed []string
	for name := range strings.SplitSeq(*only, ",") {
		run := attacks[strings.TrimSpace(name)]
		if run == nil {
			return fmt.Errorf("attack: no attack %q", name)
		}
		res, err := run(ctx, &o)
		if err != nil {
			return fmt.Errorf("attack %s: %w", name, err)
		}
		rep.Attacks = append(rep.Attacks, res)
		for _, c := range res.Claims {
			logf("%s: %s: %s (%v)", res.Name, c.Claim, c.Measured, c.Holds)
			if !c.Holds {
				failed = append(failed, res.Name+": "+c.Claim)
			}
		}
	}
	text := attackMarkdown(rep)
	fmt.Println(text)
	if *md != "" {
		if err := os.WriteFile(*md, []byte(text), 0o644); err != nil {
			return err
		}
	}
	if err := writeJSON(*out, rep); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("claims that do not hold: %s", strings.Join(failed, "; "))
	}
	return nil
}

// target is a running auth-server under attack.
type target struct {
	p    *proc
	dir  string
	base string
}

func startTarget(ctx context.Context, o *attackOpts, name, dir string, args ...string) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp(o.work, name+"-data-"); err != nil {
			return nil, err
		}
	}
	p, err := startProc("auth-server", o.bin, append([]string{"-addr", addr, "-data", dir, "-log-level", "warn"}, args...), addr, "", filepath.Join(o.work, name+".log"))
	if err != nil {
		return nil, err
	}
	if _, err := p.waitReady(ctx, 5*time.Minute); err != nil {
		p.stop()
		return nil, err
	}
	return &target{p: p, dir: dir, base: "http://" + addr}, nil
}

// procMiB reads a field of /proc/PID/status in MiB.
func procMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024
		}
	}
	return 0
}

// resetPeak resets the process's peak RSS (VmHWM) to its RSS now.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// metric reads one unlabelled metric of the target.
func (t *target) metric(name string) (float64, error) {
	resp, err := http.Get(t.base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

func (t *target) liveHeapMiB() float64 {
	v, _ := t.metric("go_gc_heap_live_bytes")
	return v / (1 << 20)
}

// do sends one request and returns its status.
func (t *target) do(method, path, key string, body io.Reader) (int, error) {
	req, err := http.NewRequest(method, t.base+path, body)
	if err != nil {
		return 0, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// checkKey is the real tenant the checks ask about.
const checkKey = "the-real-tenant-checked-during-attacks"

// seedChecks writes the checked tenant: jack dances, sara does not.
func (t *target) seedChecks() error {
	for _, p := range []string{"/v1/role/dancers", "/v1/permission/dancers/dance", "/v1/membership/jack/dancers"} {
		if code, err := t.do("POST", p, checkKey, nil); err != nil || code != http.StatusOK {
			return fmt.Errorf("seeding %s: %d %v", p, code, err)
		}
	}
	return nil
}

// checks checks the real tenant every 2 ms on one keep-alive connection
// until stopped, and reports the p99 and the failures.
type checks struct {
	stop chan struct{}
	done chan struct{}
	lat  []time.Duration
	errs int
}

func (t *target) startChecks() *checks {
	c := &checks{stop: make(chan struct{}), done: make(chan struct{})}
	cl := &http.Client{Timeout: 30 * time.Second}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			_, took, right, err := t.probeCheck(cl, i)
			if err != nil {
				c.errs++
				continue
			}
			c.lat = append(c.lat, took)
			if !right {
				c.errs++
			}
		}
	}()
	return c
}

// probeCheck sends the i-th check of a probe (in turn, one that answers
// true and one that answers false), and returns when it began, how long
// it took and whether its answer was right; err if none came.
func (t *target) probeCheck(cl *http.Client, i int) (start time.Time, took time.Duration, right bool, err error) {
	user, want := "jack", `{"result": true}`
	if i%2 == 1 {
		user, want = "sara", `{"result": false}`
	}
	start = time.Now()
	resp, err := cl.Get(t.base + "/api/has_permission/" + checkKey + "/" + user + "/dance")
	if err != nil {
		return start, 0, false, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return start, time.Since(start), resp.StatusCode == http.StatusOK && string(body) == want, nil
}

// end stops the checks and returns their p99 in ms, count and failures.
func (c *checks) end() (float64, int, int) {
	close(c.stop)
	<-c.done
	if len(c.lat) == 0 {
		return 0, 0, c.errs
	}
	slices.Sort(c.lat)
	return float64(c.lat[len(c.lat)*99/100].Microseconds()) / 1000, len(c.lat), c.errs
}

// baseline measures the checks' p99 for a while with no attack.
func (t *target) baseline(res *AttackResult) {
	c := t.startChecks()
	time.Sleep(3 * time.Second)
	res.CheckP99Before, _, _ = c.end()
}

// during runs attack while the checks run, and fills in the memory and
// check figures around it.
func (t *target) during(res *AttackResult, attack func() error) error {
	pid := t.p.pid()
	res.RSSStart = procMiB(pid, "VmRSS")
	res.HeapPre = t.liveHeapMiB()
	if err := resetPeak(pid); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w (needs Linux and the right to write /proc/PID/clear_refs)", err)
	}
	c := t.startChecks()
	start := time.Now()
	err := attack()
	res.Seconds = time.Since(start).Seconds()
	time.Sleep(200 * time.Millisecond) // checks after the attack's end count as during
	res.CheckP99During, res.Checks, res.CheckErrors = c.end()
	res.RSSPeak = procMiB(pid, "VmHWM")
	res.RSSEnd = procMiB(pid, "VmRSS")
	res.HeapPost = t.liveHeapMiB()
	res.Claims = append(res.Claims, Verdict{
		Claim:    "checks keep answering",
		Measured: fmt.Sprintf("%d checks, %d failed; p99 %.1f ms (%.1f ms before)", res.Checks, res.CheckErrors, res.CheckP99During, res.CheckP99Before),
		Holds:    res.CheckErrors == 0 && res.Checks > 0,
	})
	return err
}

// lines is an endless body of import lines, counting what it gave.
type lines struct {
	line      []byte
	max, sent int64
}

func (b *lines) Read(p []byte) (int, error) {
	if b.sent >= b.max {
		return 0, io.EOF
	}
	n := 0
	for n+len(b.line) <= len(p) && b.sent+int64(n) < b.max {
		n += copy(p[n:], b.line)
	}
	b.sent += int64(n)
	return n, nil
}

func attackChunked(ctx context.Context, o *attackOpts) (*AttackResult, error) {
	t, err := startTarget(ctx, o, "chunked", "", "-max-import-bytes", strconv.FormatInt(o.chunkedLimit, 10))
	if err != nil {
		return nil, err
	}
	defer t.p.stop()
	res := &AttackResult{Name: "chunked import", What: fmt.Sprintf("one POST /v1/import, %d MiB chunked, against -max-import-bytes %d KiB", o.chunkedBytes>>20, o.chunkedLimit>>10)}
	if err := t.seedChecks(); err != nil {
		return nil, err
	}
	t.baseline(res)
	body := &lines{line: []byte(`{"role": "r", "user": "a-user-with-a-name"}` + "\n"), max: o.chunkedBytes}
	var code int
	err = t.during(res, func() error {
		req, _ := http.NewRequest("POST", t.base+"/v1/import", body)
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer made-up-importer")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		code = resp.StatusCode
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
	if err != nil {
		return nil, err
	}
	res.Answer = fmt.Sprintf("%d after %.1f MiB sent", code, float64(body.sent)/(1<<20))
	if code == http.StatusRequestEntityTooLarge {
		res.Refused = 1
	}
	grew := res.RSSPeak - res.RSSStart
	res.Claims = append(res.Claims,
		Verdict{Claim: "413", Measured: strconv.Itoa(code), Holds: code == http.StatusRequestEntityTooLarge},
		Verdict{Claim: "RSS growth ≤ 64 MiB", Measured: fmt.Sprintf("+%.1f MiB at the peak", grew), Holds: grew <= 64})
	return res, nil
}

// importLines is one tenant of n memberships, 3 roles per user among 1,000
// roles with 20 grants each, as the lines of an export.
func importLines(n int) []byte {
	var b strings.Builder
	for r := range 1000 {
		fmt.Fprintf(&b, "{\"role\": \"role-%04d\"}\n", r)
		for g := range 20 {
			fmt.Fprintf(&b, "{\"role\": \"role-%04d\", \"permission\": \"perm-%05d\"}\n", r, (r*20+g)%10000)
		}
	}
	for i := range n {
		u, k := i/3, i%3
		fmt.Fprintf(&b, "{\"role\": \"role-%04d\", \"user\": \"user-%07d\"}\n", (u*7+k*331)%1000, u)
	}
	return []byte(b.String())
}

func attackImport(ctx context.Context, o *attackOpts) (*AttackResult, error) {
	body := importLines(o.importMemberships)
	limit := strconv.Itoa(len(body))
	t, err := startTarget(ctx, o, "import", "", "-max-import-bytes", limit)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			t.p.stop()
		}
	}()
	res := &AttackResult{Name: "import at the limit", What: fmt.Sprintf("one legal POST /v1/import of %d memberships (%.1f MiB of lines), -max-import-bytes set to its size", o.importMemberships, float64(len(body))/(1<<20))}
	if err := t.seedChecks(); err != nil {
		return nil, err
	}
	t.baseline(res)
	var code int
	err = t.during(res, func() error {
		code, err = t.do("POST", "/v1/import", "a-tenant-importing", strings.NewReader(string(body)))
		return err
	})
	if err != nil {
		return nil, err
	}
	res.Answer = strconv.Itoa(code)
	bodyMiB := float64(len(body)) / (1 << 20)
	ratio := (res.RSSPeak - res.RSSStart) / bodyMiB
	res.Claims = append(res.Claims,
		Verdict{Claim: "200", Measured: strconv.Itoa(code), Holds: code == http.StatusOK},
		Verdict{Claim: "peak RSS growth ≤ 4x the body", Measured: fmt.Sprintf("+%.0f MiB, %.2fx the body (the tenant's state included)", res.RSSPeak-res.RSSStart, ratio), Holds: ratio <= 4})
	// The embedded store keeps the event of its last commit until its next
	// commit: a small write lets it go. A refused import over the limit
	// then gives its parse back to the OS, so that the collector measures
	// what is live.
	heapRightAfter := t.liveHeapMiB()
	if code, err := t.do("POST", "/v1/role/r", "another-tenant", nil); err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("write after the import: %d %v", code, err)
	}
	over := &lines{line: []byte(`{"role": "role-0001", "user": "someone-else"}` + "\n"), max: int64(len(body)) + 4096}
	req, _ := http.NewRequest("POST", t.base+"/v1/import", over)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer a-tenant-importing")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	after := t.liveHeapMiB()
	if err := t.p.stop(); err != nil {
		return nil, err
	}
	stopped = true
	cold, err := startTarget(ctx, o, "import-cold", t.dir, "-max-import-bytes", limit)
	if err != nil {
		return nil, err
	}
	defer cold.p.stop()
	deadline := time.Now().Add(time.Minute)
	for { // the start gives the load's garbage back: wait for that collection
		if n, err := cold.metric("go_gc_cycles_forced_gc_cycles_total"); err == nil && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the cold start never collected")
		}
		time.Sleep(50 * time.Millisecond)
	}
	coldHeap := cold.liveHeapMiB()
	res.Extra = fmt.Sprintf("live heap %.0f MiB right after the import (the store's last batch still held), %.0f MiB after the next write; a cold start from the same data: %.0f MiB, RSS %.0f MiB", heapRightAfter, after, coldHeap, procMiB(cold.p.pid(), "VmRSS"))
	res.Claims = append(res.Claims, Verdict{Claim: "live heap after ≤ 1.3x a cold start's", Measured: fmt.Sprintf("%.0f / %.0f MiB = %.2fx", after, coldHeap, after/coldHeap), Holds: after <= 1.3*coldHeap})
	return res, nil
}

func attackKeys(ctx context.Context, o *attackOpts) (*AttackResult, error) {
	t, err := startTarget(ctx, o, "keys", "")
	if err != nil {
		return nil, err
	}
	defer t.p.stop()
	routes := madeup.Routes
	res := &AttackResult{Name: "made-up keys", What: fmt.Sprintf("%d requests, each with its own made-up key, over %s, %d clients", o.keys, strings.Join(routes, ", "), o.keysConc)}
	if err := t.seedChecks(); err != nil {
		return nil, err
	}
	t.baseline(res)
	var statuses sync.Map
	var failed atomic.Int64
	err = t.during(res, func() error {
		var wg sync.WaitGroup
		for w := range o.keysConc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each client its own source address: a stream's connection
				// is closed by the client, and its TIME_WAIT holds the port.
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+w))}}
				cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
				rng := rand.New(rand.NewPCG(uint64(w), 42))
				for i := w; i < o.keys; i += o.keysConc {
					if ctx.Err() != nil {
						return
					}
					code, err := madeup.Ask(cl, t.base, routes[i%len(routes)], rng)
					if err != nil {
						failed.Add(1)
						continue
					}
					n, _ := statuses.LoadOrStore(code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			}()
		}
		wg.Wait()
		return nil
	})
	if err != nil {
		return nil, err
	}
	var parts []string
	statuses.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%d×%d", v.(*atomic.Int64).Load(), k))
		return true
	})
	slices.Sort(parts)
	res.Answer = strings.Join(parts, ", ")
	if n := failed.Load(); n > 0 {
		res.Answer += fmt.Sprintf(", %d failed", n)
	}
	// Streams end as their clients go away; wait for the last.
	deadline := time.Now().Add(30 * time.Second)
	for {
		w, _ := t.metric("auth_http_watches")
		f, _ := t.metric("auth_http_feeds")
		if (w == 0 && f == 0) || time.Now().After(deadline) {
			res.Extra = fmt.Sprintf("%.0f streams or long-polls and %.0f shared readers left once the clients were gone", w, f)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.HeapPost = t.liveHeapMiB()
	grew := res.HeapPost - res.HeapPre
	res.Claims = append(res.Claims,
		Verdict{Claim: "live heap growth ≤ 16 MiB", Measured: fmt.Sprintf("%.1f → %.1f MiB (%+.1f MiB)", res.HeapPre, res.HeapPost, grew), Holds: grew <= 16},
		Verdict{Claim: "no request failed", Measured: res.Answer, Holds: failed.Load() == 0})
	return res, nil
}

func attackStreams(ctx context.Context, o *attackOpts) (*AttackResult, error) {
	t, err := startTarget(ctx, o, "streams", "", "-max-watches-per-client", strconv.Itoa(o.streamCap))
	if err != nil {
		return nil, err
	}
	defer t.p.stop()
	res := &AttackResult{Name: "streams past the cap", What: fmt.Sprintf("one client (127.0.0.1) opens %d streams with made-up keys and holds them, then asks for %d more; another client (127.0.0.2) opens one", o.streamCap, o.streamExtra)}
	if err := t.seedChecks(); err != nil {
		return nil, err
	}
	t.baseline(res)
	open := func(cl *http.Client, key string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", t.base+"/v1/events/stream", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		return cl.Do(req)
	}
	client := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 0}}
	}
	attacker, other := client("127.0.0.1"), client("127.0.0.2")
	var held []*http.Response
	defer func() {
		for _, r := range held {
			r.Body.Close()
		}
	}()
	var refusedJSON, otherCode int
	err = t.during(res, func() error {
		for i := range o.streamCap {
			resp, err := open(attacker, fmt.Sprintf("made-up-%d", i))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return fmt.Errorf("stream %d within the cap: %d", i, resp.StatusCode)
			}
			held = append(held, resp)
		}
		for i := range o.streamExtra {
			resp, err := open(attacker, fmt.Sprintf("made-up-extra-%d", i))
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests && strings.HasPrefix(string(b), `{"error": `) {
				refusedJSON++
			}
		}
		resp, err := open(other, "made-up-other")
		if err != nil {
			return err
		}
		otherCode = resp.StatusCode
		held = append(held, resp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Refused = refusedJSON
	res.Answer = fmt.Sprintf("%d streams held; %d of %d more refused with 429 and a JSON error; the other client: %d", o.streamCap, refusedJSON, o.streamExtra, otherCode)
	res.Claims = append(res.Claims,
		Verdict{Claim: "past the cap: 429 JSON", Measured: fmt.Sprintf("%d of %d", refusedJSON, o.streamExtra), Holds: refusedJSON == o.streamExtra},
		Verdict{Claim: "another client is served", Measured: strconv.Itoa(otherCode), Holds: otherCode == http.StatusOK})
	return res, nil
}

func attackMarkdown(rep *AttackReport) string {
	var b strings.Builder
	b.WriteString(rep.Machine.runLine(rep.Command))
	fmt.Fprintf(&b, "auth-server: %s.\n\n", rep.Server)
	b.WriteString("| attack | answers | s | RSS before → peak → after (MiB) | live heap before → after (MiB) | check p99 before / during (ms) | checks (failed) |\n|---|---|---:|---|---|---|---|\n")
	for _, a := range rep.Attacks {
		fmt.Fprintf(&b, "| %s: %s | %s | %.1f | %.0f → %.0f → %.0f | %.1f → %.1f | %.1f / %.1f | %d (%d) |\n",
			a.Name, a.What, a.Answer, a.Seconds, a.RSSStart, a.RSSPeak, a.RSSEnd, a.HeapPre, a.HeapPost, a.CheckP99Before, a.CheckP99During, a.Checks, a.CheckErrors)
	}
	b.WriteString("\n| attack | claim | measured | holds |\n|---|---|---|---|\n")
	for _, a := range rep.Attacks {
		for _, c := range a.Claims {
			fmt.Fprintf(&b, "| %s | %s | %s | %v |\n", a.Name, c.Claim, c.Measured, c.Holds)
		}
	}
	for _, a := range rep.Attacks {
		if a.Extra != "" {
			fmt.Fprintf(&b, "\n%s: %s.\n", a.Name, a.Extra)
		}
	}
	return b.String()
}
