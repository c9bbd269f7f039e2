// Command clustertest drives the container test of deploy/test.sh against
// containers it has started; it talks to them over HTTP and to the engine
// through the docker command.
//
//	clustertest ports -n N
//	    N free TCP ports of the loopback, one a line.
//	clustertest ready -url URL [-wait D]
//	    waits until the server's /readyz answers 200.
//	clustertest story -url URL -key KEY
//	    the README's Sara-and-Jack story through one server, every answer
//	    checked.
//	clustertest cluster -names auth1,auth2,auth3 -containers C1,C2,C3
//	                    -urls U1,U2,U3 -mongo C -network NET
//	    the story through each replica (read back at every replica), then
//	    writers at every replica while the faults happen one after the
//	    other: a replica's container stopped and started again, another
//	    killed and started again, a third cut off the network and
//	    reconnected, the MongoDB container paused and unpaused. Then every
//	    write's outcome is checked against what every replica holds: a
//	    write acknowledged holds everywhere, one refused holds nowhere,
//	    one of unknown outcome either way, nothing else appears, and all
//	    replicas hold the same at the same seq. Last, a replica's process
//	    is stopped (SIGSTOP) until its container turns unhealthy, and
//	    continued until it is healthy again.
//
// It exits 0 only if everything holds, and prints what it did and the
// outcome counts.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var hc = &http.Client{Timeout: 6 * time.Second}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: clustertest story|cluster [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("clustertest "+os.Args[1], flag.ExitOnError)
	url := fs.String("url", "", "story: the server's base URL")
	key := fs.String("key", "pleaSeDoN0tKillMyC_at", "story: the tenant key")
	names := fs.String("names", "auth1,auth2,auth3", "cluster: the replicas' service names (their network aliases)")
	containers := fs.String("containers", "", "cluster: the replicas' container IDs, comma-separated")
	urls := fs.String("urls", "", "cluster: the replicas' base URLs, comma-separated, in the same order")
	mongo := fs.String("mongo", "", "cluster: the MongoDB container's ID")
	network := fs.String("network", "", "cluster: the compose network the replicas are on")
	wait := fs.Duration("wait", 60*time.Second, "ready: how long to wait")
	count := fs.Int("n", 1, "ports: how many")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "story":
		err = story(*url, *key)
	case "ready":
		err = eventually(*wait, func() error { return ready(*url) })
	case "ports":
		err = freePorts(*count)
	case "cluster":
		c := cluster{names: split(*names), containers: split(*containers), urls: split(*urls), mongo: *mongo, network: *network}
		if len(c.names) != len(c.containers) || len(c.names) != len(c.urls) || len(c.names) < 3 || c.mongo == "" || c.network == "" {
			err = errors.New("give -names, -containers and -urls for 3 replicas or more, -mongo and -network")
			break
		}
		err = c.run()
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest: FAIL:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func logf(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}

// call sends one request and returns the status and body.
func call(method, url string, header ...string) (int, string, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// The README's story: writes, then the reads and their answers.
func storyWrites(k string) [][3]string {
	api := "/api/"
	return [][3]string{
		{"POST", api + "role/" + k + "/cookers", `{"result": true}`},
		{"POST", api + "role/" + k + "/dancers", `{"result": true}`},
		{"POST", api + "role/" + k + "/laughers", `{"result": true}`},
		{"POST", api + "permission/" + k + "/cookers/cook", `{"result": true}`},
		{"POST", api + "permission/" + k + "/dancers/dance", `{"result": true}`},
		{"POST", api + "permission/" + k + "/laughers/laugh", `{"result": true}`},
		{"POST", api + "membership/" + k + "/sara/cookers", `{"result": true}`},
		{"POST", api + "membership/" + k + "/sara/laughers", `{"result": true}`},
		{"POST", api + "membership/" + k + "/jack/dancers", `{"result": true}`},
		{"POST", api + "membership/" + k + "/jack/laughers", `{"result": true}`},
		{"POST", api + "role/" + k + "/admin", `{"result": true}`},
		{"POST", api + "membership/" + k + "/jack/admin", `{"result": true}`},
	}
}

func storyReads(k string) [][3]string {
	api := "/api/"
	return [][3]string{
		{"GET", api + "has_permission/" + k + "/jack/dance", `{"result": true}`},
		{"GET", api + "has_permission/" + k + "/sara/dance", `{"result": false}`},
		{"GET", api + "user_permissions/" + k + "/sara", `{"results": [{"name": "cook"}, {"name": "laugh"}]}`},
		{"GET", api + "which_users_can/" + k + "/laugh", `{"result": [{"user": "jack"}, {"user": "sara"}]}`},
		{"GET", api + "roles/" + k, `{"result": [{"role": "admin"}, {"role": "cookers"}, {"role": "dancers"}, {"role": "laughers"}]}`},
		{"GET", api + "members/" + k + "/admin", `{"result": [{"user": "jack"}]}`},
		{"GET", api + "has_permission/" + k + "/sara/cook", `{"result": true}`},
	}
}

func expect(base string, step [3]string) error {
	code, body, err := call(step[0], base+step[1])
	if err != nil || code != http.StatusOK || body != step[2] {
		return fmt.Errorf("%s %s%s = %d %s (%v), want 200 %s", step[0], base, step[1], code, body, err, step[2])
	}
	return nil
}

// story runs the whole story through one server.
func story(base, k string) error {
	if err := expect(base, [3]string{"GET", "/ping", `{"message": "PONG"}`}); err != nil {
		return err
	}
	for _, s := range append(storyWrites(k), storyReads(k)...) {
		if err := expect(base, s); err != nil {
			return err
		}
	}
	logf("story: every answer as the README says at %s", base)
	return nil
}

// eventually retries f until it succeeds or d has passed.
func eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func docker(args ...string) (string, error) {
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

type cluster struct {
	names, containers, urls []string
	mongo, network          string
	// convergeWithin bounds the wait for the replicas to agree (30 s if 0).
	convergeWithin time.Duration
}

// outcome of one write.
type outcome int

const (
	none outcome = iota
	acked
	refused // not applied: 4xx, or 503 with "outcome": "not_applied"
	unknown // 504, 500, no answer
)

// role is one role a writer created, and maybe deleted.
type role struct {
	name     string
	add, del outcome
}

type writer struct {
	url   string
	roles []role
	// acks counts the writes acknowledged, lastAck when the last one was;
	// fails the writes not acknowledged.
	acks    atomic.Int64
	lastAck atomic.Int64
	fails   atomic.Int64
	odd     []string // answers that break the API's contract
}

const faultKey = "container-faults-key"

func classify(code int, body string, err error) outcome {
	switch {
	case err != nil:
		return unknown
	case code == http.StatusOK:
		return acked
	case code >= 400 && code < 500:
		return refused
	case code == http.StatusServiceUnavailable && strings.Contains(body, `"not_applied"`):
		return refused
	}
	return unknown
}

// run writes until stop closes: each write a role of its own, and every
// third role it created deleted again.
func (w *writer) run(id int, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		r := role{name: fmt.Sprintf("w%d-%d", id, n)}
		code, body, err := call("POST", w.url+"/api/role/"+faultKey+"/"+r.name)
		r.add = classify(code, body, err)
		if r.add == acked {
			w.ack()
			if body != `{"result": true}` {
				w.odd = append(w.odd, fmt.Sprintf("POST role %s answered %s, want true (a new role)", r.name, body))
			}
			if n%3 == 0 {
				code, body, err = call("DELETE", w.url+"/api/role/"+faultKey+"/"+r.name)
				r.del = classify(code, body, err)
				if r.del == acked {
					w.ack()
					if body != `{"result": true}` {
						w.odd = append(w.odd, fmt.Sprintf("DELETE role %s answered %s, want true (it was created)", r.name, body))
					}
				}
			}
		}
		w.roles = append(w.roles, r)
		if r.add != acked || r.del == refused || r.del == unknown {
			w.fails.Add(1)
		}
		if r.add != acked {
			time.Sleep(100 * time.Millisecond) // a replica down: do not spin
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func (w *writer) ack() {
	w.acks.Add(1)
	w.lastAck.Store(time.Now().UnixNano())
}

func ready(url string) error {
	code, body, err := call("GET", url+"/readyz")
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("%s not ready: %d %s %v", url, code, body, err)
	}
	return nil
}

func (c *cluster) waitReady(i int, d time.Duration) error {
	return eventually(d, func() error { return ready(c.urls[i]) })
}

func freePorts(n int) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

func (c *cluster) health(i int) string {
	s, err := docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", c.containers[i])
	if err != nil {
		return err.Error()
	}
	return s
}

func (c *cluster) waitHealth(i int, want string, d time.Duration) error {
	return eventually(d, func() error {
		if got := c.health(i); got != want {
			return fmt.Errorf("%s's container is %q, want %q", c.names[i], got, want)
		}
		return nil
	})
}

func (c *cluster) run() error {
	begin := time.Now()
	for i := range c.urls {
		if err := c.waitReady(i, 90*time.Second); err != nil {
			return err
		}
		if err := c.waitHealth(i, "healthy", 60*time.Second); err != nil {
			return err
		}
	}
	logf("cluster: %d replicas ready and healthy", len(c.urls))

	// The story through each replica, each in a tenant of its own, read
	// back at every replica.
	for i, u := range c.urls {
		k := fmt.Sprintf("pleaSeDoN0tKillMyC_at-%s", c.names[i])
		if err := story(u, k); err != nil {
			return err
		}
		for j, v := range c.urls {
			for _, s := range storyReads(k) {
				if err := eventually(10*time.Second, func() error { return expect(v, s) }); err != nil {
					return fmt.Errorf("the story written at %s, read at %s: %w", c.names[i], c.names[j], err)
				}
			}
		}
	}
	logf("story: written through each replica, read back at every replica")

	// Writers at every replica, two each, through the faults.
	var writers []*writer
	for i := range 2 * len(c.urls) {
		writers = append(writers, &writer{url: c.urls[i%len(c.urls)]})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(i, stop) }()
	}
	faults := func() error {
		time.Sleep(2 * time.Second)
		steps := []struct {
			what         string
			cut, restore []string
			replica      int
			pause        time.Duration
		}{
			{"stop " + c.names[0] + "'s container, start it again", []string{"stop", "-t", "10", c.containers[0]}, []string{"start", c.containers[0]}, 0, 2 * time.Second},
			{"kill " + c.names[2] + "'s container, start it again", []string{"kill", c.containers[2]}, []string{"start", c.containers[2]}, 2, 2 * time.Second},
			{"cut " + c.names[1] + " off the network, reconnect it", []string{"network", "disconnect", c.network, c.containers[1]},
				[]string{"network", "connect", "--alias", c.names[1], c.network, c.containers[1]}, 1, 4 * time.Second},
			{"pause the MongoDB container, unpause it", []string{"pause", c.mongo}, []string{"unpause", c.mongo}, -1, 3 * time.Second},
		}
		for _, s := range steps {
			logf("fault: %s", s.what)
			if _, err := docker(s.cut...); err != nil {
				return err
			}
			// The writes in flight end one way or another; then the fault
			// holds for s.pause.
			time.Sleep(time.Second)
			acks, fails := counts(writers)
			time.Sleep(s.pause)
			// A write in flight when the fault began may take until its
			// deadline to fail: hold the fault until every writer it
			// strikes has seen a write fail, or a minute has passed.
			struck := func(i int) bool { return s.replica == -1 || i%len(c.urls) == s.replica }
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				_, now := counts(writers)
				all := true
				for i := range writers {
					all = all && (!struck(i) || now[i] > fails[i])
				}
				if all {
					break
				}
			}
			acks2, fails2 := counts(writers)
			if _, err := docker(s.restore...); err != nil {
				return err
			}
			// The fault took: writes at the replica cut off failed (at
			// every replica, with MongoDB paused), and writes went on
			// through the others.
			var through, failed int64
			for i := range writers {
				if struck(i) {
					if fails2[i] == fails[i] {
						return fmt.Errorf("during %q, writer %d at %s had no write fail", s.what, i, writers[i].url)
					}
					failed += fails2[i] - fails[i]
				} else {
					through += acks2[i] - acks[i]
				}
			}
			if s.replica != -1 && through == 0 {
				return fmt.Errorf("during %q no write was acknowledged through the other replicas", s.what)
			}
			for i := range c.urls {
				if s.replica == -1 || s.replica == i {
					if err := c.waitReady(i, 60*time.Second); err != nil {
						return fmt.Errorf("after %q: %w", s.what, err)
					}
				}
			}
			logf("healed: %s (while it lasted: %d writes failed where it struck, %d acknowledged through the other replicas)", s.what, failed, through)
			time.Sleep(time.Second)
		}
		// Every writer, at every replica, gets writes acknowledged again.
		healed := time.Now().UnixNano()
		return eventually(30*time.Second, func() error {
			for i, w := range writers {
				if w.lastAck.Load() < healed {
					return fmt.Errorf("writer %d at %s has no write acknowledged since the last fault healed", i, w.url)
				}
			}
			return nil
		})
	}
	err := faults()
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}

	counts := map[outcome]int{}
	for _, w := range writers {
		for _, r := range w.roles {
			counts[r.add]++
			if r.del != none {
				counts[r.del]++
			}
		}
		for _, o := range w.odd {
			return errors.New(o)
		}
	}
	logf("writes: %d acknowledged, %d refused (not applied), %d of unknown outcome", counts[acked], counts[refused], counts[unknown])
	if err := c.converged(writers); err != nil {
		return err
	}

	// The health check: a replica whose process stops answering turns
	// unhealthy, and healthy again once it answers.
	h := len(c.urls) - 1
	if err := c.waitHealth(h, "healthy", 60*time.Second); err != nil {
		return err
	}
	logf("health: %s is healthy; SIGSTOP its server", c.names[h])
	if _, err := docker("kill", "-s", "STOP", c.containers[h]); err != nil {
		return err
	}
	stopped := time.Now()
	errUnhealthy := c.waitHealth(h, "unhealthy", 60*time.Second)
	took := time.Since(stopped)
	if _, err := docker("kill", "-s", "CONT", c.containers[h]); err != nil {
		return err
	}
	if errUnhealthy != nil {
		return errUnhealthy
	}
	last, _ := docker("inspect", "-f", "{{with .State.Health}}{{range .Log}}{{.ExitCode}}: {{.Output}}{{end}}{{end}}", c.containers[h])
	logf("health: %s unhealthy %.1f s after its server stopped answering; the checks said:\n%s", c.names[h], took.Seconds(), last)
	if err := c.waitHealth(h, "healthy", 60*time.Second); err != nil {
		return err
	}
	logf("health: %s healthy again after SIGCONT", c.names[h])
	if err := c.converged(writers); err != nil {
		return err
	}
	logf("PASS: %d acknowledged writes, 0 lost, %d replicas converged, %.0f s", counts[acked], len(c.urls), time.Since(begin).Seconds())
	return nil
}

// counts are the writers' acknowledged and failed writes so far.
func counts(ws []*writer) (acks, fails []int64) {
	for _, w := range ws {
		acks = append(acks, w.acks.Load())
		fails = append(fails, w.fails.Load())
	}
	return acks, fails
}

// converged waits until every replica holds the same roles at the same
// seq, then checks those roles against the writes' outcomes.
func (c *cluster) converged(writers []*writer) error {
	var lists []string
	var seqs []string
	within := c.convergeWithin
	if within == 0 {
		within = 30 * time.Second
	}
	err := eventually(within, func() error {
		lists, seqs = nil, nil
		for i, u := range c.urls {
			code, body, err := call("GET", u+"/api/roles/"+faultKey)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("roles at %s: %d %v", c.names[i], code, err)
			}
			code, st, err := call("GET", u+"/status", "Authorization", "Bearer "+faultKey)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("status at %s: %d %v", c.names[i], code, err)
			}
			var s struct{ Seq uint64 }
			if err := json.Unmarshal([]byte(st), &s); err != nil {
				return err
			}
			lists = append(lists, body)
			seqs = append(seqs, fmt.Sprint(s.Seq))
		}
		for i := range lists {
			if lists[i] != lists[0] || seqs[i] != seqs[0] {
				return fmt.Errorf("replicas differ: seqs %v", seqs)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var got struct {
		Result []struct{ Role string }
	}
	if err := json.Unmarshal([]byte(lists[0]), &got); err != nil {
		return err
	}
	held := map[string]bool{}
	for _, r := range got.Result {
		held[r.Role] = true
	}
	var lost, ghosts []string
	known := map[string]bool{}
	for _, w := range writers {
		for _, r := range w.roles {
			known[r.name] = true
			var want, may bool // want: must be held; may: either
			switch {
			case r.add == unknown || r.del == unknown:
				may = true
			case r.add == acked && r.del != acked:
				want = true
			}
			if !may && held[r.name] != want {
				lost = append(lost, fmt.Sprintf("%s (add %v, delete %v, held %v)", r.name, r.add, r.del, held[r.name]))
			}
		}
	}
	for name := range held {
		if !known[name] {
			ghosts = append(ghosts, name)
		}
	}
	slices.Sort(ghosts)
	if len(lost) > 0 || len(ghosts) > 0 {
		return fmt.Errorf("after the faults the replicas hold what the answers deny: %d writes (%v), roles never written %v", len(lost), head(lost), head(ghosts))
	}
	logf("converged: %d replicas hold the same %d roles at seq %s; every acknowledged write holds, nothing refused does", len(c.urls), len(held), seqs[0])
	return nil
}

func head(s []string) []string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

func (o outcome) String() string {
	return [...]string{"none", "acked", "refused", "unknown"}[o]
}
