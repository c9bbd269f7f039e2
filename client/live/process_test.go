package live_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"auth/client"
	"auth/client/live"
	"auth/internal/await"
)

// startProcess starts the auth-server binary on addr with its data in
// dir, and waits until it answers.
func startProcess(t *testing.T, bin, addr, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-addr", addr, "-data", dir)
	cmd.Env = append(os.Environ(), "AUTH_ADDR=", "AUTH_DATA=", "MONGO_URI=", "MONGO_HOST=", "MONGO_PORT=", "NATS_URL=", "AUTH_ADMIN_ADDR=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	await.Cond(t, 30*time.Second, "the server answers", func() bool {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return cmd
}

// TestChildProcessServer: against auth-server as a child process: the
// replica follows its writes; the server is killed (kill -9): reads fail
// closed past the bound; the server is started again on its data: the
// replica converges to the writes made since and answers again, without
// being reopened.
func TestChildProcessServer(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "auth-server")
	build := exec.Command("go", "build", "-o", bin, "auth/cmd/auth-server")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building auth-server: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, "data")
	cmd := startProcess(t, bin, addr, data)
	base := "http://" + addr
	c := client.New(base, testKey)
	ctx := ctxT(t, 2*time.Minute)
	c.AddRole(ctx, "cookers")
	c.AddPermission(ctx, "cookers", "cook")
	const bound = time.Second
	r := open(t, base, live.Options{MaxStaleness: bound})
	w, err := c.AddMembership(ctx, "sara", "cookers")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(ctx, w.Seq); err != nil {
		t.Fatal(err)
	}
	sameAsServer(t, r, c, w.Seq)

	cmd.Process.Kill()
	cmd.Wait()
	await.Cond(t, 10*time.Second, "fail closed past the bound", func() bool {
		_, err := r.Check("sara", "cook")
		return errors.Is(err, live.ErrStale)
	})

	startProcess(t, bin, addr, data)
	w2, err := c.AddMembership(ctx, "jack", "cookers")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(ctx, w2.Seq); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 10*time.Second, "fresh again", func() bool {
		ok, err := r.Check("jack", "cook")
		return ok && err == nil
	})
	sameAsServer(t, r, c, w2.Seq)
}
