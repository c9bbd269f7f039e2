package bus_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"auth/bus"
	"auth/engine"
	"auth/internal/await"
	"auth/persist"
	"auth/replica"
)

// runWriters writes random changes of every kind (and now and then a batch)
// to random tenants through random replicas from many goroutines for d,
// recording every acknowledged write.
func runWriters(t *testing.T, c *cluster, keys []string, log *ackLog, goroutines int, d time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	var writes, skipped, refused atomic.Int64
	stop := time.Now().Add(d)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for time.Now().Before(stop) {
				key := keys[rng.IntN(len(keys))]
				a := ack{key: key}
				ev := engine.Event{Tenant: engine.KeyID(key)}
				if rng.IntN(25) == 0 {
					a.batch = []engine.Change{randomChange(rng), randomChange(rng), randomChange(rng)}
					ev.Op = engine.OpBatch
					ev.Changes = a.batch
				} else {
					a.change = randomChange(rng)
					ev.Change = a.change
				}
				if err := ev.Validate(); err != nil {
					t.Errorf("test built an invalid event: %v", err)
					return
				}
				ok := c.with(rng.IntN(len(c.slots)), func(n *node) {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					var err error
					if a.batch != nil {
						a.result, a.seq, err = n.rep.WriteEvent(ctx, ev)
					} else {
						a.result, a.seq, err = n.rep.Write(ctx, key, a.change)
					}
					if errors.Is(err, engine.ErrRefused) {
						a.refused = true
						refused.Add(1)
					} else if err != nil {
						t.Errorf("%s: write %v: %v", n.name, a.change, err)
						return
					}
					log.add(a)
					writes.Add(1)
				})
				if !ok {
					skipped.Add(1)
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d acknowledged writes (%.0f/s, %d refused inclusions), %d skipped on a closed replica",
		writes.Load(), float64(writes.Load())/d.Seconds(), refused.Load(), skipped.Load())
	if writes.Load() > 500 && refused.Load() == 0 {
		t.Error("no write was refused: the writers drew no cycle")
	}
}

var testKeys = []string{"key-alpha", "key-beta", "key-gamma"}

// Random writes of every kind, concurrently, to random replicas: once the
// writes stop, every replica answers every query as the reference model
// fed the log in seq order, and every acknowledged write is in it.
func TestConvergeUnderConcurrentWrites(t *testing.T) {
	store := openStore(t)
	testConverge(t, func(int) persist.Store { return store }, 2*time.Second)
}

// testConverge runs the convergence test with stores(i) as replica i's
// store; every replica's store holds the same data.
func testConverge(t *testing.T, stores func(i int) persist.Store, writeFor time.Duration) {
	ns := startNATS(t)
	cfg := testBusConfig(ns.URL())
	c := newClusterOver(t, stores, cfg, cfg, cfg)
	log := &ackLog{}
	runWriters(t, c, testKeys, log, 8, writeFor)
	models, heads := buildModels(t, stores(0), testKeys, log.all())
	start := time.Now()
	waitConverged(t, c, models, heads, 20*time.Second)
	t.Logf("converged %v after the last write", time.Since(start).Round(time.Millisecond))
	var received uint64
	for _, n := range c.nodes() {
		received += n.bus.Stats().Received
	}
	if received == 0 {
		t.Error("no event went over the bus")
	}
}

// The same with faults: the NATS server stops and comes back mid-run; one
// replica is closed and re-created from the store (once while NATS is down,
// once while it is up); one replica loses ~30% of its deliveries. All
// converge, and no acknowledged write is missing anywhere.
func TestConvergeWithFaults(t *testing.T) {
	store := openStore(t)
	testConvergeWithFaults(t, func(int) persist.Store { return store }, time.Second)
}

// testConvergeWithFaults runs the fault test with stores(i) as replica i's
// store; the faults are spread over about 2s plus 3 × pace, and the writes
// go on for as long.
func testConvergeWithFaults(t *testing.T, stores func(i int) persist.Store, pace time.Duration) {
	ns := startNATS(t)
	cfg := testBusConfig(ns.URL())
	lossy := cfg
	bus.DropDelivery(&lossy, func(*engine.Event) bool { return rand.Float64() < 0.3 })
	c := newClusterOver(t, stores, cfg, lossy, cfg)

	recreate := func() {
		s := c.slots[2]
		s.mu.Lock()
		s.n.close()
		s.n = nil
		s.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		n, err := tryStartNode("replica-2", stores(2), cfg)
		if err != nil {
			t.Errorf("re-creating replica 2: %v", err)
			return
		}
		s.mu.Lock()
		s.n = n
		s.mu.Unlock()
	}
	faults := make(chan struct{})
	go func() {
		defer close(faults)
		step := func(d time.Duration) { time.Sleep(d) } // schedules faults; asserts nothing
		step(pace / 2)
		ns.Stop()
		step(300 * time.Millisecond)
		recreate() // starts while NATS is unreachable
		step(pace / 2)
		ns.Start()
		step(pace)
		recreate() // starts while NATS is up
	}()
	log := &ackLog{}
	runWriters(t, c, testKeys, log, 8, 3*pace+time.Second/2)
	<-faults

	models, heads := buildModels(t, stores(0), testKeys, log.all())
	start := time.Now()
	waitConverged(t, c, models, heads, 30*time.Second)
	t.Logf("converged %v after the last write", time.Since(start).Round(time.Millisecond))
	lossyStats := c.slots[1].n.bus.Stats()
	if lossyStats.Dropped == 0 {
		t.Error("the drop hook dropped nothing")
	}
	if st := c.slots[0].n.bus.Stats(); st.Reconnects == 0 || st.Scans == 0 {
		t.Errorf("replica 0 did not reconnect and scan: %+v", st)
	}
	t.Logf("lossy replica: %+v", lossyStats)
}

// A check at the replica that acknowledged a write sees it, every time,
// while other replicas write to the same tenant.
func TestReadYourWrites(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	cfg := testBusConfig(ns.URL())
	c := newCluster(t, store, cfg, cfg, cfg)
	const key = "ryw-key"
	id := engine.KeyID(key)
	const goroutines, iterations = 6, 150
	ctx := context.Background()

	// Roles and grants first, through one replica, replicated everywhere:
	// nobody removes them, so every later write has what it needs
	// wherever it goes.
	first := c.slots[0].n
	var seq uint64
	for g := range goroutines {
		role, perm := fmt.Sprintf("role-%d", g), fmt.Sprintf("perm-%d", g)
		if _, _, err := first.rep.Write(ctx, key, engine.Change{Op: engine.OpAddRole, Role: role}); err != nil {
			t.Fatal(err)
		}
		var err error
		if _, seq, err = first.rep.Write(ctx, key, engine.Change{Op: engine.OpAddPermission, Role: role, Permission: perm}); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 10*time.Second, "roles on every replica", func() bool {
		for _, n := range c.nodes() {
			if n.eng.Seq(id) < seq {
				return false
			}
		}
		return true
	})

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			role, perm := fmt.Sprintf("role-%d", g), fmt.Sprintf("perm-%d", g)
			for i := range iterations {
				n := c.slots[rng.IntN(len(c.slots))].n
				user := fmt.Sprintf("user-%d-%d", g, i)
				extra := fmt.Sprintf("extra-%d-%d", g, i)
				res, s, err := n.rep.Write(ctx, key, engine.Change{Op: engine.OpAddMembership, User: user, Role: role})
				if err != nil || !res {
					t.Errorf("%s: add_membership: %v %v", n.name, res, err)
					return
				}
				t := n.rep.Tenant(id)
				if got := n.eng.Seq(id); got < s {
					panicf("%s: acknowledged seq %d, replica at %d", n.name, s, got)
				}
				if !t.HasMembership(user, role) || !t.UserHasPermission(user, perm) {
					panicf("%s: acknowledged membership %s in %s not visible at seq %d", n.name, user, role, s)
				}
				if res, _, err := n.rep.Write(ctx, key, engine.Change{Op: engine.OpAddPermission, Role: role, Permission: extra}); err != nil || !res {
					panicf("%s: add_permission: %v %v", n.name, res, err)
				}
				if !t.HasPermission(role, extra) || !t.UserHasPermission(user, extra) {
					panicf("%s: acknowledged grant %s to %s not visible", n.name, extra, role)
				}
				if _, _, err := n.rep.Write(ctx, key, engine.Change{Op: engine.OpDelPermission, Role: role, Permission: extra}); err != nil {
					panicf("%s: del_permission: %v", n.name, err)
				}
				if t.UserHasPermission(user, extra) {
					panicf("%s: revoked grant %s still visible", n.name, extra)
				}
				if _, _, err := n.rep.Write(ctx, key, engine.Change{Op: engine.OpDelMembership, User: user, Role: role}); err != nil {
					panicf("%s: del_membership: %v", n.name, err)
				}
				if t.HasMembership(user, role) || t.UserHasPermission(user, perm) {
					panicf("%s: removed membership %s in %s still visible", n.name, user, role)
				}
			}
		}()
	}
	wg.Wait()
}

// panicf fails a read-your-writes iteration from a goroutine: a panic
// fails the test binary loudly, which a violation deserves.
func panicf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// gatedStore holds Load between reading the store and handing the tenants
// over, so that events written meanwhile can only reach the replica by the
// bus.
type gatedStore struct {
	persist.Store
	read chan struct{} // closed once Load has read the store
	gate chan struct{} // Load hands over once this is closed
}

func (g *gatedStore) Load(ctx context.Context, fn func(persist.TenantState) error) error {
	var states []persist.TenantState
	err := g.Store.Load(ctx, func(t persist.TenantState) error {
		states = append(states, t)
		return nil
	})
	close(g.read)
	<-g.gate
	if err != nil {
		return err
	}
	for _, t := range states {
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

// Start without a window: the bus subscribes before Load, events that
// arrive while Load runs are kept by the replica and applied when Load
// finishes, with no Sync, digest or scan needed.
func TestDeliveriesDuringLoadAreApplied(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	cfg := testBusConfig(ns.URL())
	// No periodic Sync anywhere within the test: A's could apply one of
	// its own writes before the write does (see
	// TestWriteAppliedByCatchUpIsAnnounced), and B's would catch up
	// without the bus.
	cfg.SyncInterval, cfg.ActiveWindow = time.Hour, time.Hour
	c := newCluster(t, store, cfg)
	a := c.slots[0].n
	ctx := context.Background()
	const key = "load-key"
	id := engine.KeyID(key)
	// A publishes its writes after answering them. The first one must
	// have passed the NATS server before B subscribes, or B receives it
	// too, and counts it among the deliveries awaited below: a watcher
	// that subscribed before the write sees it go by.
	watcher, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	passed, err := watcher.SubscribeSync(cfg.Subject + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.rep.Write(ctx, key, engine.Change{Op: engine.OpAddRole, Role: "before"}); err != nil {
		t.Fatal(err)
	}
	if _, err := passed.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("A's first write never went by on the bus: %v", err)
	}

	gated := &gatedStore{Store: store, read: make(chan struct{}), gate: make(chan struct{})}
	bcfg := cfg
	beng := engine.New()
	brep, err := replica.New(beng, gated, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer brep.Close()
	bbus, err := bus.New(bcfg, brep, gated)
	if err != nil {
		t.Fatal(err)
	}
	defer bbus.Close()
	started := make(chan error, 1)
	go func() {
		_, err := bbus.Start(ctx)
		started <- err
	}()
	<-gated.read

	const writes = 50
	var seq uint64
	for i := range writes {
		var err error
		if _, seq, err = a.rep.Write(ctx, key, engine.Change{Op: engine.OpAddRole, Role: fmt.Sprintf("during-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// B's bus hands all of them to its replica, which keeps them until
	// Load is done.
	deadline := time.Now().Add(10 * time.Second)
	for bbus.Stats().Delivered != writes {
		if time.Now().After(deadline) {
			t.Fatalf("B's bus did not deliver the %d events written during its Load: %+v", writes, bbus.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := beng.Seq(id); got != 0 {
		t.Fatalf("replica B applied up to %d before its Load finished", got)
	}
	close(gated.gate)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	b := &node{name: "replica-b", eng: beng, rep: brep, bus: bbus}
	// Load returned: what it read plus what was buffered is applied, now.
	if got := b.eng.Seq(id); got != seq {
		t.Errorf("replica B at seq %d right after Load, want %d", got, seq)
	}
	if !b.rep.Tenant(id).HasRole("during-49") || !b.rep.Tenant(id).HasRole("before") {
		t.Error("replica B lacks roles written before or during its Load")
	}
	st := b.bus.Stats()
	if st.Syncs != 0 || st.ScanBehind != 0 {
		t.Errorf("B caught up by other means than the bus: %+v", st)
	}
	if st.Received != writes {
		t.Errorf("B received %d events, want %d", st.Received, writes)
	}
}

// A replica reports its link; with NATS down both replicas go on taking
// writes and answering checks, and once NATS is back they catch up on
// their own, even on a tenant one of them never heard of.
func TestLinkDownAndBack(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	cfg := testBusConfig(ns.URL())
	ns.Stop()

	// Both start while NATS is unreachable.
	startedAt := time.Now()
	c := newCluster(t, store, cfg, cfg)
	if d := time.Since(startedAt); d > 5*time.Second {
		t.Errorf("starting with NATS down took %v", d)
	}
	a, b := c.slots[0].n, c.slots[1].n
	if a.bus.Status() != "disconnected" || a.bus.Connected() {
		t.Errorf("status with NATS down = %q", a.bus.Status())
	}
	var none *bus.Bus
	if none.Status() != "none" {
		t.Errorf("nil bus status = %q", none.Status())
	}

	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	begin := time.Now()
	res, seq, err := a.rep.Write(wctx, "down-key", engine.Change{Op: engine.OpAddRole, Role: "admin"})
	if err != nil || !res || seq != 1 {
		t.Fatalf("write with NATS down: %v %d %v", res, seq, err)
	}
	if _, _, err := a.rep.Write(wctx, "down-key", engine.Change{Op: engine.OpAddPermission, Role: "admin", Permission: "read"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("writes with NATS down took %v", d)
	}
	if !a.rep.Tenant(engine.KeyID("down-key")).HasPermission("admin", "read") {
		t.Error("replica A does not answer its own write with NATS down")
	}
	if b.eng.Seq(engine.KeyID("down-key")) != 0 {
		t.Skip("B learned of the tenant without the bus; nothing left to test")
	}

	ns.Start()
	await.Cond(t, 10*time.Second, "both links up", func() bool { return a.bus.Connected() && b.bus.Connected() })
	if a.bus.Status() != "connected" {
		t.Errorf("status with NATS up = %q", a.bus.Status())
	}
	await.Cond(t, 10*time.Second, "B to catch up on a tenant it never heard of", func() bool {
		return b.rep.Tenant(engine.KeyID("down-key")).HasPermission("admin", "read")
	})

	// And the bus itself carries what comes next.
	if _, seq, err = a.rep.Write(ctx, "down-key", engine.Change{Op: engine.OpAddMembership, User: "ann", Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 10*time.Second, "B to see a write over the bus", func() bool {
		return b.eng.Seq(engine.KeyID("down-key")) >= seq && b.rep.Tenant(engine.KeyID("down-key")).UserHasPermission("ann", "read")
	})
}

func TestConfig(t *testing.T) {
	def := bus.DefaultConfig("nats://127.0.0.1:4222")
	if err := def.Validate(); err == nil {
		t.Fatal("defaults without a secret validate: an unsigned bus must be asked for")
	}
	def.Unsigned = true
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults (unsigned) do not validate: %v", err)
	}
	def.Secrets, def.Unsigned = [][]byte{[]byte(testSecret)}, false
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults with a secret do not validate: %v", err)
	}
	for name, mod := range map[string]func(*bus.Config){
		"short secret":   func(c *bus.Config) { c.Secrets = [][]byte{[]byte("short")} },
		"no converge":    func(c *bus.Config) { c.Converge = 0 },
		"no url":         func(c *bus.Config) { c.URL = " " },
		"wildcard":       func(c *bus.Config) { c.Subject = "auth.>" },
		"trailing dot":   func(c *bus.Config) { c.Subject = "auth." },
		"no interval":    func(c *bus.Config) { c.SyncInterval = 0 },
		"short window":   func(c *bus.Config) { c.ActiveWindow = c.SyncInterval / 2 },
		"no workers":     func(c *bus.Config) { c.Workers = 0 },
		"no queue":       func(c *bus.Config) { c.MaxQueued = 0 },
		"no fetch bound": func(c *bus.Config) { c.FetchTimeout = 0 },
		"no logger":      func(c *bus.Config) { c.Logger = nil },
	} {
		c := def
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
		if _, err := bus.New(c, nil, nil); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := bus.New(def, nil, nil); err == nil {
		t.Error("New accepted a nil replica")
	}
}

// Close stops everything Start started, also when Start failed, and twice
// is harmless; goleak in TestMain checks nothing is left running.
func TestCloseAfterFailedStart(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	store.Close() // Load fails on a closed store
	_, err := tryStartNode("broken", store, testBusConfig(ns.URL()))
	if !errors.Is(err, persist.ErrClosed) {
		t.Fatalf("start over a closed store: %v", err)
	}
}

// slowStore makes every read of one tenant's events wait until released, as
// a store that is slow for that tenant.
type slowStore struct {
	persist.Store
	slow    engine.TenantID
	blocked chan struct{} // receives once a read of the slow tenant is waiting
	release chan struct{}
}

func (s *slowStore) Events(ctx context.Context, tenant engine.TenantID, after uint64, limit int) ([]engine.Event, error) {
	if tenant == s.slow {
		select {
		case s.blocked <- struct{}{}:
		default:
		}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Store.Events(ctx, tenant, after, limit)
}

// A tenant whose gap fetch hangs holds one worker; the other tenants keep
// flowing, and the slow one catches up once the store answers.
func TestSlowTenantDoesNotStallOthers(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	cfg := testBusConfig(ns.URL())
	ctx := context.Background()
	slowKey, fastKey := "slow-key", "fast-key"
	slow := &slowStore{Store: store, slow: engine.KeyID(slowKey), blocked: make(chan struct{}, 1), release: make(chan struct{})}

	a := startNode(t, "replica-a", store, cfg)
	defer a.close()
	bcfg := cfg
	bcfg.Workers = 2
	var dropped atomic.Bool
	bus.DropDelivery(&bcfg, func(ev *engine.Event) bool {
		// Lose the slow tenant's first event, so the next one needs a gap
		// fetch from the store.
		return ev.Tenant == slow.slow && ev.Seq == 1 && dropped.CompareAndSwap(false, true)
	})
	b := startNode(t, "replica-b", slow, bcfg)
	defer b.close()

	for i := range 2 {
		if _, _, err := a.rep.Write(ctx, slowKey, engine.Change{Op: engine.OpAddRole, Role: fmt.Sprintf("r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-slow.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("replica B never fetched the slow tenant's gap")
	}
	var seq uint64
	for i := range 20 {
		var err error
		if _, seq, err = a.rep.Write(ctx, fastKey, engine.Change{Op: engine.OpAddRole, Role: fmt.Sprintf("r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 10*time.Second, "the fast tenant at B while the slow one hangs", func() bool {
		return b.eng.Seq(engine.KeyID(fastKey)) == seq
	})
	if got := b.eng.Seq(slow.slow); got != 0 {
		t.Fatalf("slow tenant at %d before its store read returned", got)
	}
	close(slow.release)
	await.Cond(t, 10*time.Second, "the slow tenant at B", func() bool {
		return b.eng.Seq(slow.slow) == 2
	})
}

// racyStore runs a catch-up of the tenant right after each append, before
// the writer applies its own event, as a periodic Sync or a gap fetch may.
type racyStore struct {
	persist.Store
	rep atomic.Pointer[replica.Replica]
}

func (s *racyStore) Append(ctx context.Context, ev *engine.Event) error {
	if err := s.Store.Append(ctx, ev); err != nil {
		return err
	}
	if rep := s.rep.Load(); rep != nil {
		return rep.Sync(ctx, ev.Tenant)
	}
	return nil
}

// A write that a catch-up applied before the writer did is still this
// replica's own: the replica reports it as local, so it is published, and
// the other replicas learn of it from the message.
func TestWriteAppliedByCatchUpIsAnnounced(t *testing.T) {
	ns := startNATS(t)
	store := openStore(t)
	cfg := testBusConfig(ns.URL())
	racy := &racyStore{Store: store}
	a := startNode(t, "replica-a", racy, cfg)
	defer a.close()
	racy.rep.Store(a.rep)
	b := startNode(t, "replica-b", store, cfg)
	defer b.close()

	const key = "racy-key"
	res, seq, err := a.rep.Write(context.Background(), key, engine.Change{Op: engine.OpAddRole, Role: "admin"})
	if err != nil || !res || seq != 1 {
		t.Fatalf("write: %v %d %v", res, seq, err)
	}
	await.Cond(t, 10*time.Second, "B to learn of the write", func() bool {
		return b.rep.Tenant(engine.KeyID(key)).HasRole("admin")
	})
	// B shares A's store, so its own scan may teach it the write before
	// A's message goes out: publishing is asynchronous, so wait for it.
	await.Cond(t, 10*time.Second, "A to publish the write", func() bool { return a.bus.Stats().Published >= 1 })
	if st := a.bus.Stats(); st.Published != 1 {
		t.Errorf("a write applied by a catch-up was published %d times: %+v", st.Published, st)
	}
}

// A URL the client cannot parse fails Start without the URL, credentials
// and all, in the error.
func TestConnectErrorHidesURL(t *testing.T) {
	store := openStore(t)
	cfg := testBusConfig("nats://user:s3cret@127.0.0.1:notaport")
	_, err := tryStartNode("bad-url", store, cfg)
	if err == nil {
		t.Fatal("Start accepted a URL with a bad port")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the URL: %v", err)
	}
}

// TestConvergeWithoutTheBus: replica C is on a NATS server that replica A
// does not reach, so it hears nothing of A's writes: no event, no digest.
// It still sees every write within the Converge bound, on a tenant it has
// never heard of and again after the tenant has been quiet for longer than
// any activity window (before: never, until its next reconnect).
func TestConvergeWithoutTheBus(t *testing.T) {
	store := openStore(t)
	natsA, natsC := startNATS(t), startNATS(t)
	cfg := testBusConfig(natsA.URL())
	cfg.Converge = 500 * time.Millisecond
	a := startNode(t, "replica-a", store, cfg)
	defer a.close()
	cfg = testBusConfig(natsC.URL())
	cfg.Converge = 500 * time.Millisecond
	cfg.ActiveWindow = cfg.SyncInterval // quiet tenants are forgotten at once
	c := startNode(t, "replica-c", store, cfg)
	defer c.close()

	const key = "quiet"
	id := engine.KeyID(key)
	seen := func(seq uint64) {
		t.Helper()
		begin := time.Now()
		for c.eng.Seq(id) < seq {
			// The bound is Converge, plus the catch-up's own time: allow
			// a generous multiple on a loaded machine.
			if time.Since(begin) > 10*cfg.Converge {
				t.Fatalf("replica C at seq %d %v after the write of seq %d, bound %v: %+v", c.eng.Seq(id), time.Since(begin), seq, cfg.Converge, c.bus.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("seq %d seen at C %v after the write", seq, time.Since(begin).Round(time.Millisecond))
	}
	_, seq, err := a.rep.Write(context.Background(), key, engine.Change{Op: engine.OpAddRole, Role: "r"})
	if err != nil {
		t.Fatal(err)
	}
	seen(seq)
	time.Sleep(3 * cfg.ActiveWindow) // quiet, and forgotten
	_, seq, err = a.rep.Write(context.Background(), key, engine.Change{Op: engine.OpAddMembership, Role: "r", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	seen(seq)
	if st := c.bus.Stats(); st.Received != 0 || st.ScanBehind == 0 {
		t.Fatalf("C caught up other than by comparing heads: %+v", st)
	}
}

// TestForgedMessagesChangeNothing: whoever can publish on the NATS server
// cannot grant themselves anything. An event without an HMAC, with one
// under another secret, or signed for another subject, is dropped and
// counted; an event of another deployment (another subject prefix) is
// never even received; and a validly signed event whose seq is far past
// the store's head (a replica's bug, a secret holder) does not wedge the
// tenant: later writes go through, and the event is dropped once the store
// says it never existed.
func TestForgedMessagesChangeNothing(t *testing.T) {
	store := openStore(t)
	srv := startNATS(t)
	a := startNode(t, "replica-a", store, testBusConfig(srv.URL()))
	defer a.close()
	const key = "victim"
	id := engine.KeyID(key)
	ctx := context.Background()
	if _, _, err := a.rep.Write(ctx, key, engine.Change{Op: engine.OpAddRole, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	head := a.eng.Seq(id)

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	forged := func(seq uint64, user string) []byte {
		ev := engine.Event{Tenant: id, Seq: seq, ID: 7, Time: time.Now().UTC(),
			Change: engine.Change{Op: engine.OpAddMembership, Role: "admin", User: user}}
		data, err := ev.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	subject := "auth.ev." + id.String()
	publish := func(m *nats.Msg) {
		t.Helper()
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(secret, subj string, data []byte) nats.Header {
		h := hmac.New(sha256.New, []byte(secret))
		h.Write([]byte(subj))
		h.Write([]byte{0})
		h.Write(data)
		return nats.Header{"Auth-Mac": {base64.RawStdEncoding.EncodeToString(h.Sum(nil))}}
	}
	data := forged(head+1, "mallory")
	publish(&nats.Msg{Subject: subject, Data: data})                                                            // unsigned
	publish(&nats.Msg{Subject: subject, Data: data, Header: sign("another-deployments-secret", subject, data)}) // wrong secret
	publish(&nats.Msg{Subject: subject, Data: data, Header: sign(testSecret, "auth.heads", data)})              // signed for another subject
	publish(&nats.Msg{Subject: "other.ev." + id.String(), Data: data, Header: sign(testSecret, "other.ev."+id.String(), data)})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.bus.Stats().Rejected < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("forged messages not rejected: %+v", a.bus.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a.rep.Tenant(id).HasMembership("mallory", "admin") || a.eng.Seq(id) != head {
		t.Fatal("a forged event was applied")
	}
	if st := a.bus.Stats(); st.Received != 0 || st.Rejected != 3 {
		t.Fatalf("received %d (want 0: another deployment's subject is not ours), rejected %d (want 3)", st.Received, st.Rejected)
	}

	// Signed, far past the head: it wedges nothing.
	far := forged(head+1000, "eve")
	publish(&nats.Msg{Subject: subject, Data: far, Header: sign(testSecret, subject, far)})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for a.bus.Stats().Received < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("signed event not received: %+v", a.bus.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 3 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _, err := a.rep.Write(wctx, key, engine.Change{Op: engine.OpAddMembership, Role: "admin", User: fmt.Sprintf("u%d", i)})
		cancel()
		if err != nil {
			t.Fatalf("write after a far-future event: %v", err)
		}
	}
	if a.rep.Tenant(id).HasMembership("eve", "admin") {
		t.Fatal("the far-future event was applied")
	}
}

// Two replicas take A includes B and B includes A at the same moment: the
// store orders the two events, and whichever comes second is refused when
// it is applied, at every replica. Never both succeed; both replicas end
// with the one inclusion that did.
func TestConcurrentInclusionsCannotMakeACycle(t *testing.T) {
	ns := startNATS(t)
	cfg := testBusConfig(ns.URL())
	c := newCluster(t, openStore(t), cfg, cfg)
	n0, n1 := c.slots[0].n, c.slots[1].n
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const key = "cycle-race"
	for round := range 40 {
		a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
		for _, r := range []string{a, b} {
			if _, _, err := n0.rep.Write(ctx, key, engine.Change{Op: engine.OpAddRole, Role: r}); err != nil {
				t.Fatal(err)
			}
		}
		// Both replicas know both roles before the race.
		if err := n1.rep.Sync(ctx, engine.KeyID(key)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var errs [2]error
		var results [2]bool
		for i, w := range []struct {
			n        *node
			from, to string
		}{{n0, a, b}, {n1, b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], _, errs[i] = w.n.rep.Write(ctx, key, engine.Change{Op: engine.OpAddInclusion, Role: w.from, Includes: w.to})
			}()
		}
		wg.Wait()
		won := 0
		for i := range errs {
			switch {
			case errs[i] == nil && results[i]:
				won++
			case errors.Is(errs[i], engine.ErrCycle):
			default:
				t.Fatalf("round %d, replica %d: (%v, %v), want true or ErrCycle", round, i, results[i], errs[i])
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of the two inclusions succeeded, want exactly 1 (errors %v)", round, won, errs)
		}
	}
	id := engine.KeyID(key)
	await.Cond(t, 10*time.Second, "both replicas at the same seq", func() bool {
		return n0.rep.Tenant(id).Seq() == n1.rep.Tenant(id).Seq()
	})
	for round := range 40 {
		a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
		for i, n := range []*node{n0, n1} {
			tn := n.rep.Tenant(id)
			if ab, ba := tn.HasInclusion(a, b), tn.HasInclusion(b, a); ab == ba {
				t.Errorf("replica %d, round %d: %s includes %s: %v; %s includes %s: %v; want exactly one", i, round, a, b, ab, b, a, ba)
			}
		}
		if n0.rep.Tenant(id).HasInclusion(a, b) != n1.rep.Tenant(id).HasInclusion(a, b) {
			t.Errorf("round %d: the replicas kept different inclusions", round)
		}
	}
}
