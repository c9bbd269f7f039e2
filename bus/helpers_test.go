package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"auth/bus"
	"auth/bus/natstest"
	"auth/engine"
	"auth/persist"
	"auth/persist/bolt"
	"auth/replica"
)

func TestMain(m *testing.M) {
	// The engine's coarse clock, started by the first membership window,
	// runs for the life of the process.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("auth/engine.coarseNow.func1.1"))
}

// natsServer is an in-process NATS server (natstest.Server).
type natsServer = natstest.Server

func startNATS(t testing.TB) *natsServer { return natstest.Start(t) }

// openStore opens a real embedded store in a temporary folder, shared by
// every replica of a test.
func openStore(t testing.TB) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(bolt.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testSecret signs the tests' buses.
const testSecret = "bus-test-secret-0123456789"

// testBusConfig is the bus configuration of the tests: short intervals, so
// that catch-ups happen within a test's time.
func testBusConfig(url string) bus.Config {
	c := bus.DefaultConfig(url)
	c.SyncInterval = 100 * time.Millisecond
	c.ActiveWindow = 30 * time.Second
	c.ReconnectWait = 50 * time.Millisecond
	c.ConnectTimeout = time.Second
	c.FlushTimeout = time.Second
	c.FetchTimeout = 5 * time.Second
	c.Secrets = [][]byte{[]byte(testSecret)}
	if verbose() {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return c
}

// node is one replica: its own engine, replica, bus and NATS connection.
type node struct {
	name string
	eng  *engine.Engine
	rep  *replica.Replica
	bus  *bus.Bus
}

func startNode(t testing.TB, name string, store persist.Store, cfg bus.Config) *node {
	t.Helper()
	n, err := tryStartNode(name, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tryStartNode(name string, store persist.Store, cfg bus.Config) (*node, error) {
	eng := engine.New()
	rcfg := replica.DefaultConfig()
	rcfg.SnapshotEvery = 200 // exercise snapshots under load, and Load from them
	rep, err := replica.New(eng, store, rcfg)
	if err != nil {
		return nil, err
	}
	cfg.Name = name
	b, err := bus.New(cfg, rep, store)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Start(ctx); err != nil {
		b.Close()
		rep.Close()
		return nil, err
	}
	return &node{name: name, eng: eng, rep: rep, bus: b}, nil
}

func (n *node) close() {
	n.bus.Close()
	n.rep.Close()
}

// cluster is a set of replica slots; a slot may be emptied and refilled
// while writers run.
type cluster struct {
	slots []*slot
}

type slot struct {
	mu sync.RWMutex // held for reading while a write goes through n
	n  *node
}

// with runs fn with the node of slot i, unless the slot is empty.
func (c *cluster) with(i int, fn func(n *node)) bool {
	s := c.slots[i]
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.n == nil {
		return false
	}
	fn(s.n)
	return true
}

func (c *cluster) nodes() []*node {
	var out []*node
	for _, s := range c.slots {
		s.mu.RLock()
		if s.n != nil {
			out = append(out, s.n)
		}
		s.mu.RUnlock()
	}
	return out
}

func (c *cluster) close() {
	for _, s := range c.slots {
		s.mu.Lock()
		if s.n != nil {
			s.n.close()
			s.n = nil
		}
		s.mu.Unlock()
	}
}

func newCluster(t testing.TB, store persist.Store, cfgs ...bus.Config) *cluster {
	t.Helper()
	return newClusterOver(t, func(int) persist.Store { return store }, cfgs...)
}

// newClusterOver starts a replica per config, replica i over stores(i).
func newClusterOver(t testing.TB, stores func(i int) persist.Store, cfgs ...bus.Config) *cluster {
	t.Helper()
	c := &cluster{}
	t.Cleanup(c.close)
	for i, cfg := range cfgs {
		c.slots = append(c.slots, &slot{n: startNode(t, fmt.Sprintf("replica-%d", i), stores(i), cfg)})
	}
	return c
}

// waitConverged polls until every node answers every query of every key as
// the model does, or fails the test at the deadline with the last
// difference.
func waitConverged(t testing.TB, c *cluster, models map[string]*model, heads map[string]uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		diff := ""
		for _, n := range c.nodes() {
			for key, m := range models {
				if d := compareTenant(n.rep.Tenant(engine.KeyID(key)), m, heads[key]); d != "" {
					diff += fmt.Sprintf("%s tenant %s: %s\n", n.name, engine.KeyID(key), d)
				}
			}
		}
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			for _, n := range c.nodes() {
				t.Logf("%s stats: %+v", n.name, n.bus.Stats())
			}
			t.Fatalf("replicas did not converge within %v:\n%s", within, diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func verbose() bool { return os.Getenv("BUS_TEST_VERBOSE") != "" }
