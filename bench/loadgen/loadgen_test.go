package loadgen

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"auth/bench/dataset"
	"auth/engine"
)

var small = dataset.Config{Tenants: 2, Users: 100, Roles: 10, Perms: 50, RolesPerUser: 2, GrantsPerRole: 4, Seed: 5}

// serve runs h on a free port until the test ends.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// engineHandler answers checks, user_roles and membership writes from an
// engine, the way auth-server does.
func engineHandler(e *engine.Engine) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		parts := strings.Split(strings.TrimPrefix(string(ctx.Path()), "/api/"), "/")
		ctx.SetContentType("application/json")
		switch {
		case parts[0] == "has_permission" && len(parts) == 4:
			if e.UserHasPermission(parts[1], parts[2], parts[3]) {
				ctx.SetBody(answerTrue)
			} else {
				ctx.SetBody(answerFalse)
			}
		case parts[0] == "user_roles" && len(parts) == 3:
			var b bytes.Buffer
			b.WriteString(`{"result": [`)
			for i, r := range e.UserRoles(parts[1], parts[2]) {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(`{"role": "` + r + `"}`)
			}
			b.WriteString("]}")
			ctx.SetBody(b.Bytes())
		case parts[0] == "membership" && len(parts) == 4:
			var ok bool
			var err error
			if ctx.IsPost() {
				ok, err = e.AddMembership(parts[1], parts[2], parts[3])
			} else {
				ok, err = e.DelMembership(parts[1], parts[2], parts[3])
			}
			if err != nil || !ok {
				ctx.SetBody(answerFalse)
				return
			}
			ctx.SetBody(answerTrue)
		default:
			ctx.SetStatusCode(404)
		}
	}
}

func TestRunVerifies(t *testing.T) {
	e, err := small.Engine()
	if err != nil {
		t.Fatal(err)
	}
	good := serve(t, engineHandler(e))
	ctx := context.Background()
	if err := Verify(ctx, good, small, 300, 1); err != nil {
		t.Fatal(err)
	}
	w, err := NewWorkload(small, Mix{TrueShare: 0.5, WriteShare: 0.1, ListShare: 0.1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, rate := range []float64{0, 2000} {
		r, err := Run(ctx, w, Options{Addrs: []string{good}, Concurrency: 4, Duration: 300 * time.Millisecond,
			Warmup: 50 * time.Millisecond, Rate: rate, Verify: true, ServerPIDs: []int{os.Getpid()}, Label: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Requests == 0 || r.Failed() {
			t.Fatalf("rate %v: %+v", rate, r)
		}
	}

	// A server that always says true is caught, before and while measuring.
	liar := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(answerTrue) })
	if err := Verify(ctx, liar, small, 100, 1); err == nil {
		t.Fatal("Verify accepted wrong answers")
	}
	r, err := Run(ctx, w, Options{Addrs: []string{liar}, Concurrency: 2, Duration: 200 * time.Millisecond, Verify: true, Label: "liar"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Wrong == 0 || !r.Failed() {
		t.Fatalf("wrong answers not counted: %+v", r)
	}
}

func TestLoad(t *testing.T) {
	e := engine.New()
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		parts := strings.Split(strings.TrimPrefix(string(ctx.Path()), "/api/"), "/")
		var ok bool
		var err error
		switch parts[0] {
		case "role":
			ok, err = e.AddRole(parts[1], parts[2])
		case "permission":
			ok, err = e.AddPermission(parts[1], parts[2], parts[3])
		case "membership":
			ok, err = e.AddMembership(parts[1], parts[2], parts[3])
		}
		if err != nil || !ok {
			ctx.SetBody(answerFalse)
			return
		}
		ctx.SetBody(answerTrue)
	})
	st, err := Load(context.Background(), addr, small, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Writes != small.Writes() {
		t.Fatalf("%d writes, want %d", st.Writes, small.Writes())
	}
	if err := Verify(context.Background(), serve(t, engineHandler(e)), small, 500, 2); err != nil {
		t.Fatal(err)
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	d, err := ProcessCPU(os.Getpid())
	if err != nil || d < 0 {
		t.Fatal(d, err)
	}
	if rss, err := ProcessRSS(os.Getpid()); err != nil || rss == 0 {
		t.Fatal(rss, err)
	}
	if pss, err := processPSS(os.Getpid()); err != nil || pss == 0 {
		t.Fatal(pss, err)
	}
	if _, err := procKiB(os.Getpid(), "status", "NoSuchField"); err == nil || !strings.Contains(err.Error(), "no NoSuchField") {
		t.Fatalf("a field the file lacks: %v", err)
	}
}
