package httpapi

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"auth/engine"
)

// BenchmarkCheckScopedVsFirst times checks over HTTP on loopback, one
// connection, with a scoped key (check scope, made by POST /v1/keys'
// change) and with the tenant's first key, in alternating blocks of the
// same run, and reports the scoped key's checks per second over the first
// key's (scoped/first: at least 0.95 is the bar):
//
//	go test ./httpapi -run '^$' -bench CheckScopedVsFirst -count 6
func BenchmarkCheckScopedVsFirst(b *testing.B) {
	srv, rep := newCheckServer(b, "p")
	id := engine.KeyID("key")
	secret, rec, err := engine.NewKey(id, "checker", engine.ScopeCheck)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := rep.Write(context.Background(), "key", engine.AddKeyChange(rec)); err != nil {
		b.Fatal(err)
	}
	if a := rep.Access(secret); a.Status != engine.KeyValid || a.Scope != engine.ScopeCheck {
		b.Fatalf("scoped key: %+v", a)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	hc := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 1}
	reqs := map[string]*fasthttp.Request{}
	for name, key := range map[string]string{"first": "key", "scoped": secret} {
		req := fasthttp.AcquireRequest()
		req.SetRequestURI("http://" + ln.Addr().String() + "/v1/has_permission/u/p")
		req.Header.Set("Authorization", "Bearer "+key)
		reqs[name] = req
	}
	resp := fasthttp.AcquireResponse()
	check := func(req *fasthttp.Request) {
		if err := hc.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		if string(resp.Body()) != `{"result": true}` {
			b.Fatalf("check answered %d %s", resp.StatusCode(), resp.Body())
		}
	}
	check(reqs["first"])
	check(reqs["scoped"])
	const block = 256
	var t [2]time.Duration
	order := [2]string{"first", "scoped"}
	for i := 0; b.Loop(); i++ {
		for j := range order {
			k := (i + j) % 2 // alternate which goes first
			start := time.Now()
			for range block {
				check(reqs[order[k]])
			}
			t[k] += time.Since(start)
		}
	}
	b.ReportMetric(float64(t[0])/float64(t[1]), "scoped/first")
}
