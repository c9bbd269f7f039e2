package loadgen

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"auth/bench/dataset"
)

// jsonProto asks a server that takes checks as JSON bodies with a bearer
// key and answers {"allowed":…} with more around it, like the peers.
var jsonProto = Protocol{
	Headers: [][2]string{{"Authorization", "Bearer k"}},
	Check: func(c dataset.Check) Op {
		b, _ := json.Marshal(map[string]int{"t": c.Tenant, "u": c.User, "p": c.Perm})
		want := `"allowed":false`
		if c.Want {
			want = `"allowed":true`
		}
		return Op{Kind: KindCheck, Method: "POST", Path: []byte("/check"), Body: b, Want: []byte(want), Contains: true}
	},
}

// jsonServer answers jsonProto's checks from the dataset's ground truth,
// or always true if lie; it refuses requests without the key or body.
func jsonServer(t *testing.T, lie bool) string {
	return serve(t, func(ctx *fasthttp.RequestCtx) {
		var q struct{ T, U, P int }
		if string(ctx.Request.Header.Peek("Authorization")) != "Bearer k" || !ctx.IsPost() || json.Unmarshal(ctx.PostBody(), &q) != nil {
			ctx.SetStatusCode(400)
			return
		}
		ok := lie || small.HasPermission(q.T, q.U, q.P)
		ctx.SetBodyString(`{"revision":"x","allowed":` + map[bool]string{true: "true", false: "false"}[ok] + `}`)
	})
}

func TestProtocolVerifiesAndRuns(t *testing.T) {
	ctx := context.Background()
	good, liar := jsonServer(t, false), jsonServer(t, true)
	if err := VerifyProto(ctx, good, small, 300, 1, jsonProto); err != nil {
		t.Fatal(err)
	}
	if err := VerifyProto(ctx, liar, small, 100, 1, jsonProto); err == nil {
		t.Fatal("VerifyProto accepted wrong answers")
	}
	if _, err := NewWorkloadProto(small, Mix{TrueShare: 0.5, WriteShare: 0.1}, 1, jsonProto); err == nil {
		t.Fatal("a peer's workload accepted writes")
	}
	w, err := NewWorkloadProto(small, Mix{TrueShare: 0.5}, 1, jsonProto)
	if err != nil {
		t.Fatal(err)
	}
	for _, rate := range []float64{0, 2000} {
		r, err := Run(ctx, w, Options{Addrs: []string{good}, Concurrency: 4, Duration: 200 * time.Millisecond, Rate: rate, Verify: true, Label: "json"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Requests == 0 || r.Failed() {
			t.Fatalf("rate %v: %+v", rate, r)
		}
	}
	r, err := Run(ctx, w, Options{Addrs: []string{liar}, Concurrency: 2, Duration: 200 * time.Millisecond, Verify: true, Label: "liar"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Wrong == 0 {
		t.Fatalf("wrong answers not counted: %+v", r)
	}
}

func TestWaitVisible(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		if time.Since(start) < 50*time.Millisecond {
			ctx.SetBodyString(`{"allowed":false}`)
			return
		}
		ctx.SetBodyString(`{"allowed":true}`)
	})
	op := Op{Method: "POST", Path: []byte("/check"), Body: []byte("{}"), Want: []byte(`"allowed":true`), Contains: true}
	d, err := WaitVisible(ctx, addr, op, nil, 10*time.Second)
	if err != nil || d <= 0 {
		t.Fatal(d, err)
	}
	op.Want = []byte(`"allowed":"never"`)
	if _, err := WaitVisible(ctx, addr, op, nil, 20*time.Millisecond); err == nil {
		t.Fatal("WaitVisible accepted an answer that never came")
	}
}

// A child's CPU time counts in its parent's tree, while it runs and after
// it has exited and been reaped.
func TestTreeCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	self := os.Getpid()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if !slices.Contains(Descendants(self), cmd.Process.Pid) {
			t.Fatal("the child is not among the descendants")
		}
		child, _ := ProcessCPU(cmd.Process.Pid)
		own, _ := ProcessCPU(self)
		tree, err := TreeCPU(self)
		if err != nil {
			t.Fatal(err)
		}
		if child > 0 {
			if tree < own+child {
				t.Fatalf("tree %v < own %v + child %v", tree, own, child)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child used no measurable CPU")
		}
		time.Sleep(20 * time.Millisecond)
	}
	child, _ := ProcessCPU(cmd.Process.Pid)
	cmd.Process.Kill()
	cmd.Wait()
	// Own time first: this process keeps running (the GC, the test runner),
	// so a tree read after it can only be larger.
	own, _ := ProcessCPU(self)
	tree, _ := TreeCPU(self)
	if tree < own+child {
		t.Fatalf("after the child exited: tree %v < own %v + reaped child %v", tree, own, child)
	}
	if m, err := TreeMemory(self); err != nil || m == 0 {
		t.Fatal(m, err)
	}
}
