//go:build !race

package httpapi

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"auth/engine"
)

// TestHasPermissionHandlerAllocs holds the check handler to zero
// allocations of its own: path parameters set as the router sets them,
// escapes decoded, key hashed, answer written.
func TestHasPermissionHandlerAllocs(t *testing.T) {
	t.Run("metrics=off", func(t *testing.T) { testHasPermissionAllocs(t, "") })
	t.Run("metrics=on", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		testHasPermissionAllocs(t, "", func(c *Config) { c.Registerer, c.Gatherer = reg, reg })
	})
	// A store with an epoch: /v1 answers carry X-Auth-Epoch too.
	t.Run("epoch", func(t *testing.T) { testHasPermissionAllocs(t, "65cc214741437ac3") })
}

func testHasPermissionAllocs(t *testing.T, epoch string, opts ...func(*Config)) {
	srv, _ := newCheckServer(t, "p/q", opts...)
	if epoch != "" {
		srv.epoch, srv.epochValue = epoch, []byte(epoch)
	}
	for _, c := range []struct {
		user, perm string
		want       string
	}{
		{"u", "p%2Fq", `{"result": true}`},
		{"u", "nope", `{"result": false}`},
		{"nobody", "p%2Fq", `{"result": false}`},
	} {
		// The whole server handler, as fasthttp calls it for a parsed
		// request.
		h := srv.Handler()
		ctx := request("GET", "/api/has_permission/key/"+c.user+"/"+c.perm)
		h(ctx)
		if got := string(ctx.Response.Body()); got != c.want {
			t.Fatalf("check %s %s = %s, want %s", c.user, c.perm, got, c.want)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			h(ctx)
		})
		if allocs != 0 {
			t.Errorf("server handler for has_permission (%s, %s): %v allocs per request, want 0", c.user, c.perm, allocs)
		}
		// And the route's handler as the router calls it.
		ctx.SetUserValue("key", "key")
		ctx.SetUserValue("user", c.user)
		ctx.SetUserValue("name", c.perm)
		allocs = testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			srv.hasPermission(ctx)
		})
		if allocs != 0 {
			t.Errorf("has_permission route handler (%s, %s): %v allocs per request, want 0", c.user, c.perm, allocs)
		}
		// The /v1 twin, through the server handler too.
		v1 := request("GET", "/v1/has_permission/"+c.user+"/"+c.perm)
		v1.Request.Header.Set("Authorization", "Bearer key")
		h(v1)
		if got := string(v1.Response.Body()); got != c.want || string(v1.Response.Header.Peek("X-Auth-Seq")) != "3" || string(v1.Response.Header.Peek("X-Auth-Epoch")) != epoch {
			t.Fatalf("/v1 check %s %s = %s (seq %s), want %s at seq 3", c.user, c.perm, got, v1.Response.Header.Peek("X-Auth-Seq"), c.want)
		}
		allocs = testing.AllocsPerRun(1000, func() {
			v1.Response.Reset()
			h(v1)
		})
		if allocs != 0 {
			t.Errorf("server handler for /v1/has_permission (%s, %s): %v allocs per request, want 0", c.user, c.perm, allocs)
		}
		// With min_seq (and the epoch), which the fast path takes too.
		query := "?min_seq=3"
		if epoch != "" {
			query += "&epoch=" + epoch
		}
		v1 = request("GET", "/v1/has_permission/"+c.user+"/"+c.perm+query)
		v1.Request.Header.Set("Authorization", "Bearer key")
		allocs = testing.AllocsPerRun(1000, func() {
			v1.Response.Reset()
			h(v1)
		})
		if got := string(v1.Response.Body()); got != c.want || string(v1.Response.Header.Peek("X-Auth-Seq")) != "3" {
			t.Fatalf("/v1 check %s %s%s = %s (seq %s), want %s at seq 3", c.user, c.perm, query, got, v1.Response.Header.Peek("X-Auth-Seq"), c.want)
		}
		if allocs != 0 {
			t.Errorf("server handler for /v1/has_permission (%s, %s)%s: %v allocs per request, want 0", c.user, c.perm, query, allocs)
		}
	}
}

// TestScopedCheckAllocs: a check under a scoped key allocates no more than
// under the first key: nothing.
func TestScopedCheckAllocs(t *testing.T) {
	srv, rep := newCheckServer(t, "p")
	secret, rec, err := engine.NewKey(engine.KeyID("key"), "checker", engine.ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rep.Write(t0(), "key", engine.AddKeyChange(rec)); err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	for _, path := range []string{"/v1/has_permission/u/p", "/api/has_permission/" + secret + "/u/p"} {
		ctx := request("GET", path)
		ctx.Request.Header.Set("Authorization", "Bearer "+secret)
		h(ctx)
		if got := string(ctx.Response.Body()); got != `{"result": true}` {
			t.Fatalf("%s = %s", path, got)
		}
		if allocs := testing.AllocsPerRun(1000, func() { ctx.Response.Reset(); h(ctx) }); allocs != 0 {
			t.Errorf("%s with a scoped key: %v allocs per request, want 0", path, allocs)
		}
	}
}
