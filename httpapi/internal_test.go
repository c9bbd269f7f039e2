package httpapi

import (
	"context"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/threadcpu"
	"auth/persist/bolt"
	"auth/replica"
)

func newInternalServer(tb testing.TB, opts ...func(*Config)) (*Server, *replica.Replica) {
	tb.Helper()
	store, err := bolt.Open(bolt.DefaultConfig(tb.TempDir()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	rep, err := replica.New(engine.New(), store, replica.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := rep.Load(context.Background()); err != nil {
		tb.Fatal(err)
	}
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg, rep)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, rep
}

// newCheckServer is newInternalServer with one grant under the key "key":
// user u is in role r, which is granted perm.
func newCheckServer(tb testing.TB, perm string, opts ...func(*Config)) (*Server, *replica.Replica) {
	tb.Helper()
	srv, rep := newInternalServer(tb, opts...)
	for _, c := range []engine.Change{
		{Op: engine.OpAddRole, Role: "r"},
		{Op: engine.OpAddPermission, Role: "r", Permission: perm},
		{Op: engine.OpAddMembership, Role: "r", User: "u"},
	} {
		if _, _, err := rep.Write(context.Background(), "key", c); err != nil {
			tb.Fatal(err)
		}
	}
	return srv, rep
}

func request(method, uri string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	return &ctx
}

func FuzzDecodeSegment(f *testing.F) {
	for _, s := range []string{"", "plain", "a%2Fb", "a%2fb", "%", "%4", "%ZZ", "+", "%20", "%C3%BC", "%%", "a%2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p := getParams()
		defer putParams(p)
		got, ok := p.decode(raw)
		want, err := url.PathUnescape(raw)
		if ok != (err == nil) {
			t.Fatalf("decode(%q) ok=%v, url.PathUnescape err=%v", raw, ok, err)
		}
		if ok && got != want {
			t.Fatalf("decode(%q) = %q, want %q", raw, got, want)
		}
	})
}

// FuzzRoutes sends arbitrary paths and methods through the whole handler:
// it must never panic or answer 5xx, and every answer must be JSON.
func FuzzRoutes(f *testing.F) {
	for _, s := range []string{
		"/api/has_permission/k/u/p", "/api/role/k/r", "/api/role/k/%2F", "/api/roles/k",
		"/api/membership/k/u/r", "/api/permission/k/r/%FF", "/api//", "/%00", "/api/role/k/" + strings.Repeat("%41", 300),
	} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	srv, _ := newInternalServer(f)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, path string) {
		if method != "GET" && method != "POST" && method != "DELETE" {
			method = "GET"
		}
		ctx := request(method, path)
		h(ctx)
		if code := ctx.Response.StatusCode(); code >= 500 {
			t.Fatalf("%s %q answered %d: %s", method, path, code, ctx.Response.Body())
		}
		if ct := string(ctx.Response.Header.ContentType()); ct != contentJSON && ctx.Response.StatusCode() != 200 {
			t.Fatalf("%s %q answered Content-Type %q", method, path, ct)
		}
	})
}

func BenchmarkHasPermissionHandler(b *testing.B) {
	b.Run("metrics=off", func(b *testing.B) { benchmarkHasPermission(b, false) })
	b.Run("metrics=on", func(b *testing.B) { benchmarkHasPermission(b, true) })
}

func benchmarkHasPermission(b *testing.B, metrics bool) {
	var opts []func(*Config)
	if metrics {
		reg := prometheus.NewRegistry()
		opts = append(opts, func(c *Config) { c.Registerer, c.Gatherer = reg, reg })
	}
	srv, rep := newInternalServer(b, opts...)
	ctx0 := context.Background()
	for _, c := range []engine.Change{
		{Op: engine.OpAddRole, Role: "r"},
		{Op: engine.OpAddPermission, Role: "r", Permission: "p"},
		{Op: engine.OpAddMembership, Role: "r", User: "u"},
	} {
		if _, _, err := rep.Write(ctx0, "key", c); err != nil {
			b.Fatal(err)
		}
	}
	h := srv.Handler()
	b.Run("server", func(b *testing.B) {
		ctx := request("GET", "/api/has_permission/key/u/p")
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			h(ctx)
		}
	})
	b.Run("route-handler", func(b *testing.B) {
		ctx := request("GET", "/api/has_permission/key/u/p")
		ctx.SetUserValue("key", "key")
		ctx.SetUserValue("user", "u")
		ctx.SetUserValue("name", "p")
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			srv.hasPermission(ctx)
		}
	})
	b.Run("router", func(b *testing.B) {
		ctx := request("GET", "/api/has_permission/key/u/p")
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			srv.router.Handler(ctx)
		}
	})
	b.Run("server-v1", func(b *testing.B) {
		ctx := request("GET", "/v1/has_permission/u/p")
		ctx.Request.Header.Set("Authorization", "Bearer key")
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			h(ctx)
		}
	})
}

// BenchmarkCheckV1VsAPI times the two check routes through the server's
// handler in alternating blocks, and reports /v1's time per check over
// /api's, measured on the same machine state: "v1/api" by wall time, and
// "v1/api-cpu" by the benchmark thread's CPU time, which a busy machine's
// preemptions do not count. epoch=none is a service whose store has no
// epoch, epoch=store one that has (as auth-server's stores do), where /v1
// answers X-Auth-Epoch beside X-Auth-Seq:
//
//	go test ./httpapi -run '^$' -bench CheckV1VsAPI -count 6
func BenchmarkCheckV1VsAPI(b *testing.B) {
	srv, rep := newCheckServer(b, "p")
	b.Run("epoch=none", func(b *testing.B) { benchmarkCheckV1VsAPI(b, srv) })
	esrv, err := New(DefaultConfig(), epochReplica{rep, "0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("epoch=store", func(b *testing.B) { benchmarkCheckV1VsAPI(b, esrv) })
}

// epochReplica is a replica whose store has an epoch.
type epochReplica struct {
	*replica.Replica
	epoch string
}

func (r epochReplica) StoreEpoch() string { return r.epoch }

func benchmarkCheckV1VsAPI(b *testing.B, srv *Server) {
	h := srv.Handler()
	api := request("GET", "/api/has_permission/key/u/p")
	v1 := request("GET", "/v1/has_permission/u/p")
	v1.Request.Header.Set("Authorization", "Bearer key")
	for _, ctx := range []*fasthttp.RequestCtx{api, v1} {
		h(ctx)
		if string(ctx.Response.Body()) != `{"result": true}` {
			b.Fatalf("%s answered %d %s", ctx.Request.URI().Path(), ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	if got := string(v1.Response.Header.Peek("X-Auth-Epoch")); got != srv.epoch {
		b.Fatalf("/v1 answered X-Auth-Epoch %q, want %q", got, srv.epoch)
	}
	const block = 4096
	runtime.LockOSThread() // the thread's CPU clock is this goroutine's
	defer runtime.UnlockOSThread()
	var tAPI, tV1, cAPI, cV1 time.Duration
	for i := 0; b.Loop(); i++ {
		ctxs := [2]*fasthttp.RequestCtx{api, v1}
		if i%2 == 1 {
			ctxs[0], ctxs[1] = v1, api
		}
		for _, ctx := range ctxs {
			start, cpu := time.Now(), threadcpu.Time()
			for range block {
				ctx.Response.Reset()
				h(ctx)
			}
			if ctx == api {
				tAPI += time.Since(start)
				cAPI += threadcpu.Time() - cpu
			} else {
				tV1 += time.Since(start)
				cV1 += threadcpu.Time() - cpu
			}
		}
	}
	b.ReportMetric(float64(tV1)/float64(tAPI), "v1/api")
	if cAPI > 0 {
		b.ReportMetric(float64(cV1)/float64(cAPI), "v1/api-cpu")
	}
}

// FuzzSplit2: split2 splits at the one slash between two non-empty
// segments, and calls them plain exactly when both are valid names with
// nothing to decode (no escapes), so that taking them as they stand is
// what decoding and validating them would do.
func FuzzSplit2(f *testing.F) {
	for _, s := range []string{"u/p", "u/p/", "/p", "u/", "u", "u//p", "u/p%2Fq", "ü/p", "u\x01/p", "u/p\x7f", "u /p q", "\xff/p",
		strings.Repeat("u", engine.MaxNameLen) + "/p", strings.Repeat("u", engine.MaxNameLen+1) + "/p", "u/" + strings.Repeat("p", engine.MaxNameLen+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, plain, ok := split2(s)
		parts := strings.Split(s, "/")
		wantOK := len(parts) == 2 && parts[0] != "" && parts[1] != ""
		if ok != wantOK {
			t.Fatalf("split2(%q) ok = %v, want %v", s, ok, wantOK)
		}
		if !ok {
			if plain {
				t.Fatalf("split2(%q) refused it and called it plain", s)
			}
			return
		}
		if got != [2]string{parts[0], parts[1]} {
			t.Fatalf("split2(%q) = %q", s, got)
		}
		wantPlain := !strings.Contains(s, "%") && engine.ValidName(parts[0]) == nil && engine.ValidName(parts[1]) == nil &&
			!strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })
		if plain != wantPlain {
			t.Fatalf("split2(%q) plain = %v, want %v", s, plain, wantPlain)
		}
	})
}

func TestSplit3(t *testing.T) {
	for _, c := range []struct {
		in   string
		want [3]string
		ok   bool
	}{
		{"k/u/p", [3]string{"k", "u", "p"}, true},
		{"k%2F/u%2F/p%2F", [3]string{"k%2F", "u%2F", "p%2F"}, true},
		{"k/u", [3]string{}, false},
		{"k/u/p/", [3]string{}, false},
		{"k/u/p/x", [3]string{}, false},
		{"/u/p", [3]string{}, false},
		{"k//p", [3]string{}, false},
		{"k/u/", [3]string{}, false},
		{"", [3]string{}, false},
	} {
		got, ok := split3(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("split3(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzCheckFastPath: the check route matched before the router answers
// exactly as the router's route does, for any path under its prefix.
func FuzzCheckFastPath(f *testing.F) {
	for _, s := range []string{"key/u/p", "k/u/p", "key/u/p/", "key//p", "key/u", "k%2F/u/p", "key/u/%FF", "key/u/p?x=1", "key/u/p/q", "%00/u/p", "key/u/" + strings.Repeat("a", 300)} {
		f.Add(s)
	}
	srv, _ := newCheckServer(f, "p")
	f.Fuzz(func(t *testing.T, rest string) {
		sameAsRoute(t, srv, "GET", checkPrefix+rest, "")
	})
}

// FuzzCheckV1FastPath is FuzzCheckFastPath for the /v1 check, its query
// (min_seq, epoch) and its Authorization header.
func FuzzCheckV1FastPath(f *testing.F) {
	for _, s := range []string{"u/p", "u/p/", "u", "/p", "u%2F/p", "u/%FF", "u/p?min_seq=1", "u/p?min_seq=9", "u/p?min_seq=x",
		"u/p?min_seq=1&epoch=65cc214741437ac3", "u/p?epoch=x", "u/p?x=1", "%00/p", "u/" + strings.Repeat("a", 300)} {
		for _, auth := range []string{"Bearer key", "bearer  key", "Bearer other", "Bearer ak_x", "Basic k", "Bearer ", ""} {
			f.Add(s, auth)
		}
	}
	srv, _ := newCheckServer(f, "p")
	srv.cfg.MinSeqWait = time.Millisecond
	srv.epoch, srv.epochValue = "65cc214741437ac3", []byte("65cc214741437ac3")
	f.Fuzz(func(t *testing.T, rest, auth string) {
		sameAsRoute(t, srv, "GET", v1CheckPrefix+rest, auth)
	})
}

func t0() context.Context { return context.Background() }

// TestShutdownRightAfterServe: a Shutdown that comes before Serve has got
// going still ends it (fasthttp alone would leave it serving).
func TestShutdownRightAfterServe(t *testing.T) {
	_, rep := newInternalServer(t)
	for range 200 {
		srv, err := New(DefaultConfig(), rep)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve after Shutdown: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve still running after Shutdown")
		}
	}
}

// sameAsRoute fails t unless the server's handler answers a request as
// the router's route does: status, body and the headers a check sets.
func sameAsRoute(t *testing.T, srv *Server, method, uri, auth string) {
	t.Helper()
	fast, slow := request(method, uri), request(method, uri)
	if auth != "" {
		fast.Request.Header.Set("Authorization", auth)
		slow.Request.Header.Set("Authorization", auth)
	}
	srv.Handler()(fast)
	srv.router.Handler(slow)
	for _, h := range []string{"X-Auth-Seq", "X-Auth-Epoch", "WWW-Authenticate", "Content-Type", "Allow"} {
		if f, s := string(fast.Response.Header.Peek(h)), string(slow.Response.Header.Peek(h)); f != s {
			t.Errorf("%s %q (%q): header %s %q, the route's %q", method, uri, auth, h, f, s)
		}
	}
	if fast.Response.StatusCode() != slow.Response.StatusCode() || string(fast.Response.Body()) != string(slow.Response.Body()) {
		t.Errorf("%s %q (%q) = %d %s, the route answers %d %s", method, uri, auth,
			fast.Response.StatusCode(), fast.Response.Body(), slow.Response.StatusCode(), slow.Response.Body())
	}
}

// TestCheckFastPathIsTheRoute: every check request the fast path takes is
// answered exactly as the router's route answers it (status, body, seq,
// epoch, auth header), min_seq and epoch included, and those it must not
// take (extra segments, another method) still reach the router.
func TestCheckFastPathIsTheRoute(t *testing.T) {
	srv, rep := newCheckServer(t, "p/q", func(c *Config) { c.MinSeqWait = 10 * time.Millisecond })
	srv.epoch, srv.epochValue = "65cc214741437ac3", []byte("65cc214741437ac3")
	scoped, rec, err := engine.NewKey(engine.KeyID("key"), "checker", engine.ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	revoked, rec2, err := engine.NewKey(engine.KeyID("key"), "gone", engine.ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []engine.Change{engine.AddKeyChange(rec), engine.AddKeyChange(rec2), engine.DelKeyChange(rec2.ID)} {
		if _, _, err := rep.Write(t0(), "key", c); err != nil {
			t.Fatal(err)
		}
	}
	// Every path under every Authorization header.
	auths := []string{"Bearer key", "bearer   key", "Bearer other", "Bearer " + scoped, "Bearer " + revoked, "", "Basic a2V5"}
	for _, rest := range []string{
		"u/p%2Fq", "u/nope", "u/p", "u/p%ZZ", "u\x01/p", "u\xff/p", "u/" + strings.Repeat("p", 3*engine.MaxKeyLen+1),
		"u/p%2Fq?min_seq=3", "u/p%2Fq?min_seq=5", "u/p%2Fq?min_seq=99", "u/p%2Fq?min_seq=x", "u/p%2Fq?other=1",
		"u/p%2Fq?min_seq=1&epoch=65cc214741437ac3", "u/p%2Fq?min_seq=1&epoch=0123456789abcdef",
		"u/p/q", "u/",
	} {
		for _, auth := range auths {
			sameAsRoute(t, srv, "GET", v1CheckPrefix+rest, auth)
		}
	}
	sameAsRoute(t, srv, "POST", v1CheckPrefix+"u/p%2Fq", "Bearer key")
	for _, key := range []string{"key", revoked} {
		sameAsRoute(t, srv, "GET", checkPrefix+key+"/u/p%2Fq", "")
	}
}
