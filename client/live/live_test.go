package live_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
	"auth/client/live"
	"auth/internal/await"
)

const testKey = "live-replica-test-key"

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, base string, o live.Options) *live.Replica {
	t.Helper()
	r, err := live.Open(ctxT(t, 30*time.Second), base, testKey, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// names are the pools the tests draw names from.
var (
	roles = []string{"cookers", "dancers", "laughers", "admin", "r/5"}
	users = []string{"sara", "jack", "ann", "bo", "ünï"}
	perms = []string{"cook", "dance", "laugh", "cook all", "p5"}
)

// sameAsServer checks every read verb of r, for every name of the pools,
// against the server's answer at seq.
func sameAsServer(t *testing.T, r *live.Replica, c *client.Client, seq uint64) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	at := client.MinSeq(seq)
	fail := func(what string, local, server any, err error) {
		t.Helper()
		t.Errorf("at seq %d: %s: local %v, server %v (%v)", seq, what, local, server, err)
	}
	boolSame := func(what string, local bool, lerr error, server client.Answer, serr error) {
		t.Helper()
		if lerr != nil || serr != nil || local != server.Result {
			fail(what, local, server.Result, errors.Join(lerr, serr))
		}
	}
	listSame := func(what string, local []string, lerr error, server client.List, serr error) {
		t.Helper()
		if lerr != nil || serr != nil || !slices.Equal(local, server.Names) {
			fail(what, local, server.Names, errors.Join(lerr, serr))
		}
	}
	lr, lerr := r.Roles()
	sr, serr := c.Roles(ctx, at)
	listSame("roles", lr, lerr, sr, serr)
	for _, role := range roles {
		l, le := r.HasRole(role)
		s, se := c.HasRole(ctx, role, at)
		boolSame("has_role "+role, l, le, s, se)
	}
	// Every list of one name, for every name of its pool.
	for _, q := range []struct {
		what   string
		pool   []string
		local  func(string) ([]string, error)
		server func(context.Context, string, ...client.ReadOption) (client.List, error)
	}{
		{"role_permissions", roles, r.RolePermissions, c.RolePermissions},
		{"members", roles, r.RoleMembers, c.RoleMembers},
		{"user_roles", users, r.UserRoles, c.UserRoles},
		{"user_permissions", users, r.UserPermissions, c.UserPermissions},
		{"which_roles_can", perms, r.WhichRolesCan, c.WhichRolesCan},
		{"which_users_can", perms, r.WhichUsersCan, c.WhichUsersCan},
	} {
		for _, n := range q.pool {
			local, lerr := q.local(n)
			server, serr := q.server(ctx, n, at)
			listSame(q.what+" "+n, local, lerr, server, serr)
		}
	}
	// Every question of two names, for every pair of their pools.
	for _, q := range []struct {
		what   string
		as, bs []string
		local  func(a, b string) (bool, error)
		server func(context.Context, string, string, ...client.ReadOption) (client.Answer, error)
	}{
		{"permission", roles, perms, r.HasPermission, c.HasPermission},
		{"membership", users, roles, r.HasMembership, c.HasMembership},
		{"has_permission", users, perms, r.Check, c.UserHasPermission},
	} {
		for _, a := range q.as {
			for _, b := range q.bs {
				local, lerr := q.local(a, b)
				server, serr := q.server(ctx, a, b, at)
				boolSame(q.what+" "+a+" "+b, local, lerr, server, serr)
			}
		}
	}
}

// randomWrite makes one random write at the server and returns its seq.
func randomWrite(t *testing.T, c *client.Client, rng *rand.Rand) uint64 {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	role, user, perm := roles[rng.IntN(len(roles))], users[rng.IntN(len(users))], perms[rng.IntN(len(perms))]
	var w client.Write
	var err error
	switch n := rng.IntN(23); {
	case n >= 20:
		// A window: closed, not open yet, or open, far from now.
		past, future := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
		bounds := [][2]time.Time{{{}, past}, {future, {}}, {past, future}}[n-20]
		w, err = c.AddMembershipWindow(ctx, user, role, bounds[0], bounds[1])
	case n < 4:
		w, err = c.AddRole(ctx, role)
	case n < 5:
		w, err = c.DelRole(ctx, role)
	case n < 9:
		w, err = c.AddPermission(ctx, role, perm)
	case n < 10:
		w, err = c.DelPermission(ctx, role, perm)
	case n < 15:
		w, err = c.AddMembership(ctx, user, role)
	case n < 17:
		w, err = c.DelMembership(ctx, user, role)
	default:
		var lines strings.Builder
		for range 1 + rng.IntN(4) {
			fmt.Fprintf(&lines, "{\"role\": %q}\n{\"role\": %q, \"user\": %q}\n{\"role\": %q, \"permission\": %q}\n", role, role, users[rng.IntN(len(users))], role, perms[rng.IntN(len(perms))])
			role = roles[rng.IntN(len(roles))]
		}
		var im client.Imported
		im, err = c.Import(ctx, strings.NewReader(lines.String()))
		w.Seq = im.Seq
	}
	if err != nil {
		t.Fatal(err)
	}
	return w.Seq
}

// TestSameAsServer: the property. Random writes at the server (every
// write verb and imports); after each round, Wait for the last write's
// seq, then every read verb answers locally exactly as the server does at
// that seq.
func TestSameAsServer(t *testing.T) {
	srv := clienttest.New(t)
	c := client.New(srv.URL, testKey)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	// Some state before the replica opens: it loads it from the export.
	var seq uint64
	for range 15 {
		seq = randomWrite(t, c, rng)
	}
	r := open(t, srv.URL, live.Options{})
	if r.Seq() != seq || r.Epoch() != srv.Epoch() {
		t.Fatalf("opened at seq %d epoch %q, want %d %q", r.Seq(), r.Epoch(), seq, srv.Epoch())
	}
	sameAsServer(t, r, c, seq)
	for round := range 12 {
		for range 1 + rng.IntN(12) {
			seq = randomWrite(t, c, rng)
		}
		if err := r.Wait(ctxT(t, 10*time.Second), seq); err != nil {
			t.Fatalf("round %d: Wait(%d): %v (at %d)", round, seq, err, r.Seq())
		}
		sameAsServer(t, r, c, seq)
		if t.Failed() {
			return
		}
	}
	if rebuilds, _ := r.Stats(); rebuilds != 0 {
		t.Errorf("%d rebuilds without a fault", rebuilds)
	}
}

// switchProxy forwards to a target that the test can change, and can cut
// the event stream in the middle of an event.
type switchProxy struct {
	*httptest.Server
	target  atomic.Pointer[url.URL]
	cutNext atomic.Bool  // cut the stream in the middle of its next event
	streams atomic.Int64 // stream connections made
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	p := &switchProxy{}
	p.point(target)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(p.target.Load()) }, FlushInterval: -1}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/events/stream" {
			rp.ServeHTTP(w, req)
			return
		}
		p.streams.Add(1)
		// The stream, copied by hand so that it can be cut anywhere.
		up, err := http.NewRequestWithContext(req.Context(), "GET", p.target.Load().String()+req.URL.RequestURI(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		up.Header = req.Header.Clone()
		resp, err := http.DefaultClient.Do(up)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			chunk := buf[:n]
			if i := bytes.Index(chunk, []byte("\ndata: {\"seq\"")); i >= 0 && p.cutNext.CompareAndSwap(true, false) {
				w.Write(chunk[:i+20]) // the id, and half the event's data
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // the connection breaks
			}
			w.Write(chunk)
			w.(http.Flusher).Flush()
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *switchProxy) point(target string) {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	p.target.Store(u)
}

// TestStreamCutMidEvent: the stream breaks in the middle of an event,
// several times: the replica applies nothing of the cut event, resumes
// with Last-Event-ID and converges, without a rebuild.
func TestStreamCutMidEvent(t *testing.T) {
	srv := clienttest.New(t)
	p := newSwitchProxy(t, srv.URL)
	c := client.New(srv.URL, testKey)
	r := open(t, p.URL, live.Options{})
	rng := rand.New(rand.NewPCG(2, 2))
	var seq uint64
	for round := range 4 {
		p.cutNext.Store(true)
		for range 5 {
			seq = randomWrite(t, c, rng)
		}
		if err := r.Wait(ctxT(t, 20*time.Second), seq); err != nil {
			t.Fatalf("round %d: Wait(%d): %v (at %d)", round, seq, err, r.Seq())
		}
		if p.cutNext.Load() {
			t.Fatalf("round %d: the stream was not cut", round)
		}
		sameAsServer(t, r, c, seq)
	}
	rebuilds, reconnects := r.Stats()
	if reconnects < 4 || rebuilds != 0 || p.streams.Load() < 5 {
		t.Errorf("%d rebuilds, %d reconnects, %d streams; want 0 rebuilds and a reconnect a cut", rebuilds, reconnects, p.streams.Load())
	}
}

// TestServerStoppedAndRestarted: the server stops. Failing closed (the
// default), reads answer ErrStale once the bound has passed; serving
// stale, they keep answering from the last state. The server comes back
// (on another port, behind the same address): both replicas converge to
// the writes made since, and answer again, without being reopened.
func TestServerStoppedAndRestarted(t *testing.T) {
	dir := t.TempDir()
	srv, err := clienttest.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := newSwitchProxy(t, srv.URL)
	c := client.New(p.URL, testKey)
	ctx := ctxT(t, time.Minute)
	for _, w := range [][2]string{{"cookers", "cook"}} {
		c.AddRole(ctx, w[0])
		c.AddPermission(ctx, w[0], w[1])
	}
	wr, err := c.AddMembership(ctx, "sara", "cookers")
	if err != nil {
		t.Fatal(err)
	}
	const bound = 400 * time.Millisecond
	closed := open(t, p.URL, live.Options{MaxStaleness: bound})
	open_ := open(t, p.URL, live.Options{MaxStaleness: bound, ServeStale: true})
	for _, r := range []*live.Replica{closed, open_} {
		if err := r.Wait(ctx, wr.Seq); err != nil {
			t.Fatal(err)
		}
		if ok, err := r.Check("sara", "cook"); !ok || err != nil {
			t.Fatalf("Check = %v, %v", ok, err)
		}
	}
	// Fresh while the server is up, though the tenant is quiet.
	time.Sleep(3 * bound)
	if ok, err := closed.Check("sara", "cook"); !ok || err != nil || closed.Staleness() > bound {
		t.Fatalf("a quiet tenant, the server up: Check = %v, %v; staleness %v", ok, err, closed.Staleness())
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 10*time.Second, "fail closed past the bound", func() bool {
		_, err := closed.Check("sara", "cook")
		return errors.Is(err, live.ErrStale)
	})
	if closed.Staleness() <= bound {
		t.Errorf("ErrStale at staleness %v, under the bound %v", closed.Staleness(), bound)
	}
	if _, err := closed.Roles(); !errors.Is(err, live.ErrStale) {
		t.Errorf("Roles past the bound: %v, want ErrStale", err)
	}
	if ok, err := open_.Check("sara", "cook"); !ok || err != nil || open_.Staleness() <= bound {
		t.Errorf("serving stale: Check = %v, %v at staleness %v", ok, err, open_.Staleness())
	}

	// The server comes back, on the same data.
	srv2, err := clienttest.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	p.point(srv2.URL)
	w2, err := c.DelPermission(ctx, "cookers", "cook")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*live.Replica{closed, open_} {
		if err := r.Wait(ctx, w2.Seq); err != nil {
			t.Fatal(err)
		}
		await.Cond(t, 10*time.Second, "fresh again", func() bool {
			_, err := r.Check("sara", "cook")
			return err == nil
		})
		if ok, err := r.Check("sara", "cook"); ok || err != nil {
			t.Errorf("after the restart: Check = %v, %v; want false (revoked)", ok, err)
		}
		sameAsServer(t, r, c, w2.Seq)
		if rebuilds, _ := r.Stats(); rebuilds != 0 {
			t.Errorf("%d rebuilds across a restart on the same store", rebuilds)
		}
	}
}

// TestRestoredServerRebuilds: the server's store is restored from a
// backup (another epoch, whose seqs name other writes): the replica,
// resuming, is told to reset, rebuilds from the restored server's export
// while its readers keep the old state, and converges to it.
func TestRestoredServerRebuilds(t *testing.T) {
	a, err := clienttest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	aOpen := true
	defer func() {
		if aOpen {
			a.Close()
		}
	}()
	p := newSwitchProxy(t, a.URL)
	c := client.New(p.URL, testKey)
	ctx := ctxT(t, time.Minute)
	c.AddRole(ctx, "cookers")
	c.AddPermission(ctx, "cookers", "cook")
	var backup bytes.Buffer
	if err := a.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	w, err := c.AddMembership(ctx, "sara", "cookers")
	if err != nil {
		t.Fatal(err)
	}
	r := open(t, p.URL, live.Options{})
	if err := r.Wait(ctx, w.Seq); err != nil {
		t.Fatal(err)
	}
	b, err := clienttest.Restore(backup.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The restored store's seq 3 is another write than the original's.
	bc := client.New(b.URL, testKey)
	w3, err := bc.AddMembership(ctx, "jack", "cookers")
	if err != nil || w3.Seq != w.Seq {
		t.Fatalf("restored: %+v %v, want seq %d", w3, err, w.Seq)
	}
	p.point(b.URL)
	aOpen = false
	a.Close()
	await.Cond(t, 20*time.Second, "rebuilt in the new epoch", func() bool { return r.Epoch() == b.Epoch() })
	if ok, _ := r.Check("sara", "cook"); ok {
		t.Error("sara can still cook: the original's seq 3 kept")
	}
	if ok, err := r.Check("jack", "cook"); !ok || err != nil {
		t.Errorf("jack cannot cook: %v %v", ok, err)
	}
	sameAsServer(t, r, bc, w3.Seq)
	if rebuilds, _ := r.Stats(); rebuilds != 1 {
		t.Errorf("%d rebuilds, want 1", rebuilds)
	}
}

// TestWaitAndClose: Wait ends with ctx, and with Close; reads after Close
// answer ErrClosed.
func TestWaitAndClose(t *testing.T) {
	srv := clienttest.New(t)
	r := open(t, srv.URL, live.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for a seq never written = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Wait(context.Background(), 5) }()
	time.Sleep(20 * time.Millisecond)
	r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, live.ErrClosed) {
			t.Errorf("Wait across Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not end at Close")
	}
	if _, err := r.Check("u", "p"); !errors.Is(err, live.ErrClosed) {
		t.Errorf("Check after Close = %v", err)
	}
	if _, err := live.Open(ctxT(t, 5*time.Second), srv.URL, "", live.Options{}); err == nil {
		t.Error("Open with an empty key succeeded")
	}
	_ = io.EOF
}

// TestCheckAllocs: the local check allocates nothing.
func TestCheckAllocs(t *testing.T) {
	srv := clienttest.New(t)
	c := client.New(srv.URL, testKey)
	ctx := ctxT(t, 30*time.Second)
	c.AddRole(ctx, "cookers")
	c.AddPermission(ctx, "cookers", "cook")
	c.AddMembership(ctx, "sara", "cookers")
	r := open(t, srv.URL, live.Options{})
	if a := testing.AllocsPerRun(1000, func() {
		if ok, err := r.Check("sara", "cook"); !ok || err != nil {
			t.Fatal("sara cannot cook")
		}
	}); a != 0 {
		t.Errorf("Check allocates %v times", a)
	}
}
