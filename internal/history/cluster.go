package history

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"auth/bus/natstest"
)

// startTimeout bounds a child's start: a replica's load, the MongoDB test
// server's start-up.
const startTimeout = 60 * time.Second

// Cluster is what a history runs against: the MongoDB test server
// (FerretDB, a child process), two NATS servers (in this process; the
// second is for a replica cut off from the others' bus) and the replicas
// (auth-server child processes), all on loopback ports.
type Cluster struct {
	cfg      Config
	mongo    *proc
	mongoURI string
	mongoDir string
	mongoArg []string // the launcher's arguments, the same at every start
	db       string
	nats     [2]*natstest.Server
	replicas []*Replica
	client   *http.Client // for the harness's own requests
}

// Replica is one auth-server process of the cluster.
type Replica struct {
	Index int
	Name  string // A, B, C...
	mu    sync.Mutex
	addr  string // host:port, fixed after the first start
	p     *proc
	bus   int      // which NATS server it uses: 0, or 1 when cut off
	extra []string // flags of the current round (retention)
}

// base is the replica's URL.
func (r *Replica) base() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "http://" + r.addr
}

// StartCluster starts the store, the NATS servers and the replicas, and
// waits until every replica is ready. Close stops them all, also on error.
func StartCluster(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	c := &Cluster{
		cfg:    cfg,
		db:     "history",
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}},
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.mongoDir = filepath.Join(cfg.Dir, "mongo")
	if err := os.MkdirAll(c.mongoDir, 0o700); err != nil {
		return nil, err
	}
	if err := c.startMongo(ctx); err != nil {
		return nil, err
	}
	for i := range c.nats {
		if c.nats[i], err = natstest.Run(); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Replicas {
		r := &Replica{Index: i, Name: string(rune('A' + i))}
		c.replicas = append(c.replicas, r)
		if err := c.StartReplica(ctx, i); err != nil {
			return nil, err
		}
	}
	return c, nil
}

var mongoURIRE = regexp.MustCompile(`^mongodb://127\.0\.0\.1:(\d+)/?`)

// startMongo starts the launcher: on a free port the first time, then on
// the same port and folder, with the same data.
func (c *Cluster) startMongo(ctx context.Context) error {
	if c.mongoArg == nil {
		c.mongoArg = []string{"-dir", c.mongoDir}
	}
	uri := make(chan string, 1)
	p, err := startProc("testmongo", c.cfg.Launcher, c.mongoArg, filepath.Join(c.cfg.Dir, "testmongo.log"), true, func(line string) {
		if strings.HasPrefix(line, "mongodb://") {
			select {
			case uri <- line:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	c.mongo = p
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case u := <-uri:
		m := mongoURIRE.FindStringSubmatch(u)
		if m == nil {
			return fmt.Errorf("testmongo printed %q, not a loopback MongoDB URI", u)
		}
		if c.mongoURI == "" {
			c.mongoURI = u
			c.mongoArg = []string{"-dir", c.mongoDir, "-port", m[1]}
		}
		return nil
	case <-p.exited:
		return fmt.Errorf("testmongo exited before serving (%v): %s", p.err, p.tail)
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("testmongo printed no URI within %v: %s", startTimeout, p.tail)
	}
}

// PauseStore stops the MongoDB server's process (SIGSTOP): connections
// stay open, requests get no answer.
func (c *Cluster) PauseStore() error { return c.mongo.signal(syscall.SIGSTOP) }

// ResumeStore lets the paused MongoDB server run again (SIGCONT).
func (c *Cluster) ResumeStore() error { return c.mongo.signal(syscall.SIGCONT) }

// clusterSecret signs the replicas' bus messages.
const clusterSecret = "history-cluster-secret-0123456789"

var servingRE = regexp.MustCompile(`msg=serving addr=(\S+)`)

// args are replica i's flags for its current bus and extra flags.
func (c *Cluster) args(r *Replica) []string {
	args := []string{
		"-addr", r.addr,
		"-data", filepath.Join(c.cfg.Dir, "data-"+r.Name),
		"-mongo-uri", c.mongoURI,
		"-mongo-db", c.db,
		"-nats-url", c.nats[r.bus].URL(),
		"-cluster-secret", clusterSecret,
	}
	args = append(args, c.cfg.ServerArgs...)
	return append(args, r.extra...)
}

// StartReplica starts replica i (on its port, after the first start) and
// waits until it is ready: state loaded, store and bus reachable.
func (c *Cluster) StartReplica(ctx context.Context, i int) error {
	r := c.replicas[i]
	r.mu.Lock()
	if r.p != nil && r.p.alive() {
		r.mu.Unlock()
		return fmt.Errorf("replica %s: already running", r.Name)
	}
	if r.addr == "" {
		r.addr = "127.0.0.1:0"
	}
	args := c.args(r)
	r.mu.Unlock()

	addr := make(chan string, 1)
	p, err := startProc("replica "+r.Name, c.cfg.AuthServer, args, filepath.Join(c.cfg.Dir, "replica-"+r.Name+".log"), false, func(line string) {
		if m := servingRE.FindStringSubmatch(line); m != nil {
			select {
			case addr <- m[1]:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.p = p
	r.mu.Unlock()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case a := <-addr:
		r.mu.Lock()
		r.addr = a
		r.mu.Unlock()
	case <-p.exited:
		return fmt.Errorf("replica %s exited before serving (%v): %s", r.Name, p.err, p.tail)
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("replica %s did not serve within %v: %s", r.Name, startTimeout, p.tail)
	}
	return c.awaitReady(ctx, r, t.C)
}

// awaitReady polls /readyz until it answers 200.
func (c *Cluster) awaitReady(ctx context.Context, r *Replica, timeout <-chan time.Time) error {
	for {
		resp, err := c.client.Get(r.base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.p.exited:
			return fmt.Errorf("replica %s exited before it was ready (%v): %s", r.Name, r.p.err, r.p.tail)
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("replica %s was not ready within %v (last: %v): %s", r.Name, startTimeout, err, r.p.tail)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// KillReplica kills replica i at once (SIGKILL), as a crash would.
func (c *Cluster) KillReplica(i int) {
	r := c.replicas[i]
	r.mu.Lock()
	p := r.p
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// StopReplica stops replica i cleanly (SIGTERM) and reports an unclean
// exit.
func (c *Cluster) StopReplica(i int) error {
	r := c.replicas[i]
	r.mu.Lock()
	p := r.p
	r.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.terminate(30 * time.Second)
}

// RestartReplica stops replica i cleanly and starts it again with the
// given bus (0 or 1) and extra flags.
func (c *Cluster) RestartReplica(ctx context.Context, i, bus int, extra []string) error {
	if err := c.StopReplica(i); err != nil {
		return err
	}
	r := c.replicas[i]
	r.mu.Lock()
	r.bus, r.extra = bus, extra
	r.mu.Unlock()
	return c.StartReplica(ctx, i)
}

// PauseReplica stops replica i's process (SIGSTOP); ResumeReplica lets it
// run again.
func (c *Cluster) PauseReplica(i int) error  { return c.replicas[i].p.signal(syscall.SIGSTOP) }
func (c *Cluster) ResumeReplica(i int) error { return c.replicas[i].p.signal(syscall.SIGCONT) }

// StopNATS stops NATS server k; StartNATS starts it again on its port.
func (c *Cluster) StopNATS(k int)         { c.nats[k].Stop() }
func (c *Cluster) StartNATS(k int) error  { return c.nats[k].Restart() }
func (c *Cluster) replicaCount() int      { return len(c.replicas) }
func (c *Cluster) replica(i int) *Replica { return c.replicas[i] }

// crashed returns the replicas whose process exited without the harness
// asking, with their last output.
func (c *Cluster) crashed() []string {
	var out []string
	for _, r := range c.replicas {
		r.mu.Lock()
		p := r.p
		r.mu.Unlock()
		if p != nil && !p.alive() {
			out = append(out, fmt.Sprintf("replica %s exited (%v): %s", r.Name, p.err, lastLines(p.tail.String(), 5)))
		}
	}
	return out
}

// Close kills every child and stops the NATS servers. It may be called
// more than once.
func (c *Cluster) Close() {
	for _, r := range c.replicas {
		r.mu.Lock()
		p := r.p
		r.mu.Unlock()
		if p != nil {
			p.kill()
		}
	}
	if c.mongo != nil {
		c.mongo.kill()
	}
	for _, n := range c.nats {
		if n != nil {
			n.Stop()
		}
	}
	c.client.CloseIdleConnections()
}

// tenantSeq asks replica i for the tenant's seq there (GET /status with
// the key), from memory.
func (c *Cluster) tenantSeq(ctx context.Context, i int, key string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.replicas[i].base()+"/status", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Seq *uint64 `json:"seq"`
	}
	if err := decodeJSON(resp, &st); err != nil {
		return 0, err
	}
	if st.Seq == nil {
		return 0, errors.New("/status gave no seq")
	}
	return *st.Seq, nil
}

// pathSegment escapes a name as one path segment ("/" as %2F).
func pathSegment(s string) string { return url.PathEscape(s) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
