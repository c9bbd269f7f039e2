// Package testhttp serves HTTP on a loopback port for a test, and asks
// servers as a client would, failing the test on what a test cannot go on
// from (a server that does not start or stop, a request that gets no
// answer).
package testhttp

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Server is a server Serve can run: httpapi.Server, admin.Server.
type Server interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// Serve serves s on a loopback port until the test ends and returns its
// base URL, such as http://127.0.0.1:41234. When the test ends it shuts s
// down, allowing five seconds, and reports an error of Shutdown or Serve
// as the test's.
func Serve(t testing.TB, s Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// Do sends req with http.DefaultClient and returns the answer with its
// body, read whole and closed. A request that gets no answer, or a body
// that cannot be read, fails the test.
func Do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

// Get is Do of a GET of url, with headers given as {name, value} pairs.
func Get(t testing.TB, url string, headers ...[2]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	return Do(t, req)
}
