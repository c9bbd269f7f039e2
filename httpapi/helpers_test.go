package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"auth/engine"
	"auth/httpapi"
	"auth/internal/testhttp"
	"auth/persist/bolt"
	"auth/replica"
)

// testServer is a real server on loopback over a real embedded store.
type testServer struct {
	t     testing.TB
	base  string
	store *bolt.Store
	rep   *replica.Replica
	srv   *httpapi.Server
}

func newTestServer(t testing.TB, opts ...func(*httpapi.Config)) *testServer {
	t.Helper()
	store, rep := newTestReplica(t)
	base, srv := serve(t, rep, opts...)
	return &testServer{t: t, base: base, store: store, rep: rep, srv: srv}
}

// newTestReplica returns a loaded replica on an embedded store of its
// own, both closed when the test ends.
func newTestReplica(t testing.TB) (*bolt.Store, *replica.Replica) {
	t.Helper()
	store, err := bolt.Open(bolt.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.New(engine.New(), store, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rep.Close()
		store.Close() // may already be closed by a test
	})
	return store, rep
}

// serve serves svc on a loopback port until the test ends and returns its
// base URL.
func serve(t testing.TB, svc httpapi.Service, opts ...func(*httpapi.Config)) (string, *httpapi.Server) {
	t.Helper()
	cfg := httpapi.DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := httpapi.New(cfg, svc)
	if err != nil {
		t.Fatal(err)
	}
	return testhttp.Serve(t, srv), srv
}

// do sends method path and returns the status and body. path is sent as
// written, escapes and all.
func (s *testServer) do(method, path string) (int, string) {
	s.t.Helper()
	return s.doWith(method, path, "")
}

// doWith is do with a body and headers ({name, value} pairs).
func (s *testServer) doWith(method, path, body string, headers ...[2]string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+"/", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.URL.Opaque = path // keep the path's escapes exactly as written
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	resp, answer := testhttp.Do(s.t, req)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && method != http.MethodOptions && path != "/metrics" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/x-ndjson") {
		s.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, string(answer)
}

// expect checks one request's status and exact body.
func (s *testServer) expect(method, path string, wantStatus int, wantBody string) {
	s.t.Helper()
	status, body := s.do(method, path)
	if status != wantStatus || body != wantBody {
		s.t.Errorf("%s %s = %d %s, want %d %s", method, path, status, body, wantStatus, wantBody)
	}
}

// snapshot returns the tenant's full state in binary form, to prove that a
// request changed nothing.
func (s *testServer) snapshot(key string) []byte {
	s.t.Helper()
	b, err := s.rep.Engine().Snapshot(engine.KeyID(key)).MarshalBinary()
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// rawStatus sends raw bytes on a new connection and returns the answer's
// status, read before anything more is sent.
func (s *testServer) rawStatus(raw string) int {
	s.t.Helper()
	resp, conn := s.rawResponse(raw)
	resp.Body.Close()
	conn.Close()
	return resp.StatusCode
}

// rawResponse sends raw bytes on a new connection and reads the head of the
// answer, before anything more is sent; the caller reads the body and
// closes the connection.
func (s *testServer) rawResponse(raw string) (*http.Response, net.Conn) {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(raw)); err != nil {
		conn.Close()
		s.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		s.t.Fatalf("reading the answer: %v", err)
	}
	return resp, conn
}
