package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// health runs "auth-server health" of the built binary, with AUTH_ADDR
// set to envAddr, and returns its exit status and output.
func health(t *testing.T, envAddr string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"health"}, args...)...)
	cmd.Env = append(os.Environ(), "AUTH_ADDR="+envAddr, "AUTH_TLS_CERT=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatal(err)
	return 0, ""
}

// TestHealthFollowsTheServer: the health check passes while the server
// answers, fails while its process is stopped (SIGSTOP: the port still
// accepts connections, nobody answers them), passes again once it runs,
// and fails once it is gone.
func TestHealthFollowsTheServer(t *testing.T) {
	p := start(t, t.TempDir())
	_, port, err := net.SplitHostPort(strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	// As in the image: AUTH_ADDR without a host.
	// Answers that must pass get a timeout a loaded machine cannot miss.
	if code, out := health(t, ":"+port, "-timeout", "20s"); code != 0 || !strings.Contains(out, `"ok"`) {
		t.Fatalf("health of a serving server = %d %q, want 0 and its /healthz answer", code, out)
	}

	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	code, out := health(t, ":"+port, "-timeout", "500ms")
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(out, "/healthz") {
		t.Fatalf("health of a stopped process = %d %q, want 1 and why", code, out)
	}
	if code, out := health(t, "", "-addr", "0.0.0.0:"+port, "-timeout", "20s"); code != 0 {
		t.Fatalf("health after SIGCONT = %d %q, want 0", code, out)
	}

	p.stop()
	if code, out := health(t, ":"+port, "-timeout", "500ms"); code != 1 {
		t.Fatalf("health of a server gone = %d %q, want 1", code, out)
	}
}

// TestHealthAnswers: only a 200 passes; HTTPS with -tls; bad arguments
// exit 2.
func TestHealthAnswers(t *testing.T) {
	status := http.StatusOK
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"status": "ok"}`))
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewTLSServer(h)
	defer secure.Close()
	addr := func(s *httptest.Server) string {
		return s.Listener.Addr().String()
	}
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := runHealth(context.Background(), args, func(string) string { return "" }, &out, &out)
		return code, out.String()
	}

	if code, out := run("-addr", addr(plain), "-timeout", "20s"); code != 0 {
		t.Errorf("200 = %d %q, want 0", code, out)
	}
	if code, out := run("-addr", addr(secure), "-tls", "-timeout", "20s"); code != 0 {
		t.Errorf("200 over HTTPS (self-signed) = %d %q, want 0", code, out)
	}
	if code, out := run("-addr", addr(secure)); code != 1 {
		t.Errorf("plain HTTP to an HTTPS server = %d %q, want 1", code, out)
	}
	status = http.StatusServiceUnavailable
	if code, out := run("-addr", addr(plain), "-timeout", "20s"); code != 1 || !strings.Contains(out, "503") {
		t.Errorf("503 = %d %q, want 1 and the status", code, out)
	}
	for _, args := range [][]string{{"-addr", "nocolon"}, {"extra"}, {"-no-such-flag"}} {
		if code, out := run(args...); code != 2 {
			t.Errorf("health %q = %d %q, want 2", args, code, out)
		}
	}
}

func TestHealthURL(t *testing.T) {
	for _, c := range []struct {
		addr string
		tls  bool
		want string
	}{
		{":4000", false, "http://127.0.0.1:4000/healthz"},
		{"0.0.0.0:4000", false, "http://127.0.0.1:4000/healthz"},
		{"[::]:4000", true, "https://127.0.0.1:4000/healthz"},
		{"10.1.2.3:80", false, "http://10.1.2.3:80/healthz"},
		{"[::1]:4000", false, "http://[::1]:4000/healthz"},
		{"auth:4000", false, "http://auth:4000/healthz"},
	} {
		got, err := healthURL(c.addr, c.tls)
		if err != nil || got != c.want {
			t.Errorf("healthURL(%q, %v) = %q, %v; want %q", c.addr, c.tls, got, err, c.want)
		}
	}
}
