package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/engine"
	"auth/internal/testhttp"
	"auth/persist/bolt"
)

func TestValidate(t *testing.T) {
	token := strings.Repeat("t", MinTokenLen)
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"", "", true},
		{"127.0.0.1:4001", "", true},
		{"127.0.0.2:4001", "", true},
		{"localhost:4001", "", true},
		{"[::1]:4001", "", true},
		{":4001", "", false},
		{"0.0.0.0:4001", "", false},
		{"[::]:4001", "", false},
		{"10.1.2.3:4001", "", false},
		{"admin.example:4001", "", false},
		{"0.0.0.0:4001", token, true},
		{":4001", token, true},
		{"127.0.0.1:4001", "short", false},
		{"127.0.0.1", "", false},
	} {
		cfg := DefaultConfig()
		cfg.Addr, cfg.Token = tc.addr, tc.token
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%q, token %q) = %v, want ok %v", tc.addr, tc.token, err, tc.ok)
		}
	}
}

// serve runs the admin server of cfg on a loopback port.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testhttp.Serve(t, s)
}

func get(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	if token == "" {
		return testhttp.Get(t, url)
	}
	return testhttp.Get(t, url, [2]string{"Authorization", "Bearer " + token})
}

// storeWithEvents opens a real embedded store holding n events.
func storeWithEvents(t *testing.T, n int) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(bolt.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range n {
		ev := engine.Event{Tenant: engine.KeyID("admin-test"), Change: engine.Change{Op: engine.OpAddRole, Role: "r" + strings.Repeat("x", i%50)}}
		if err := s.Append(context.Background(), &ev); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func backupOf(s *bolt.Store) func(context.Context) (Copy, error) {
	return func(ctx context.Context) (Copy, error) {
		b, err := s.OpenBackup(ctx)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// TestBackupRoute: GET /admin/backup streams a copy of the store that
// passes bolt.Check, of the length it announced, named for a file.
func TestBackupRoute(t *testing.T) {
	s := storeWithEvents(t, 30)
	cfg := DefaultConfig()
	cfg.Backup = backupOf(s)
	base := serve(t, cfg)
	resp, body := get(t, base+"/admin/backup", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET /admin/backup = %d %s", resp.StatusCode, resp.Header)
	}
	if cl := resp.ContentLength; cl != int64(len(body)) || cl == 0 {
		t.Errorf("Content-Length %d, body %d bytes", cl, len(body))
	}
	if d := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, `attachment; filename="auth-`+s.Epoch()) {
		t.Errorf("Content-Disposition %q", d)
	}
	path := filepath.Join(t.TempDir(), bolt.FileName)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := bolt.Check(context.Background(), path)
	if err != nil || !r.OK() || r.Events != 30 || !r.Backup {
		t.Errorf("Check of the copy: %+v, %v", r, err)
	}
}

// TestToken: with a token, a request without it or with another is
// refused 401 with a JSON error, and one with it is answered.
func TestToken(t *testing.T) {
	const token = "0123456789abcdef-admin"
	cfg := DefaultConfig()
	cfg.Token = token
	cfg.Backup = backupOf(storeWithEvents(t, 1))
	base := serve(t, cfg)
	for _, tc := range []struct {
		token string
		code  int
	}{{"", 401}, {"wrong-token-of-the-right-length", 401}, {token + "x", 401}, {token, 200}} {
		resp, body := get(t, base+"/admin/backup", tc.token)
		if resp.StatusCode != tc.code {
			t.Errorf("token %q: %d, want %d", tc.token, resp.StatusCode, tc.code)
		}
		if tc.code == 401 && !strings.Contains(string(body), `"error"`) {
			t.Errorf("token %q: body %q, want a JSON error", tc.token, body)
		}
	}
	if resp, _ := get(t, base+"/debug/pprof/", ""); resp.StatusCode != 401 {
		t.Errorf("pprof without the token: %d", resp.StatusCode)
	}
}

// TestLoopbackOnly: without a token, a request from a peer outside
// loopback is refused, whatever address the listener has.
func TestLoopbackOnly(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer string
		code int
	}{{"192.0.2.7:5555", 403}, {"[2001:db8::1]:5555", 403}, {"127.0.0.1:5555", 200}, {"[::1]:5555", 200}} {
		req := httptest.NewRequest("GET", "/debug/pprof/", nil)
		req.RemoteAddr = tc.peer
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("peer %s: %d, want %d", tc.peer, rec.Code, tc.code)
		}
	}
}

// TestProfilesAndErrors: the pprof index and a profile answer; a store
// without backups answers 501, a route that does not exist 404, both as
// JSON errors.
func TestProfilesAndErrors(t *testing.T) {
	base := serve(t, DefaultConfig())
	for _, tc := range []struct {
		path string
		code int
		has  string
	}{
		{"/debug/pprof/", 200, "goroutine"},
		{"/debug/pprof/heap?debug=1", 200, "heap profile"},
		{"/debug/pprof/cmdline", 200, ""},
		{"/admin/backup", 501, `"error"`},
		{"/admin/restore", 404, `"error"`},
	} {
		resp, body := get(t, base+tc.path, "")
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.has) {
			t.Errorf("GET %s = %d %.100q, want %d with %q", tc.path, resp.StatusCode, body, tc.code, tc.has)
		}
	}
	req, _ := http.NewRequest("POST", base+"/admin/backup", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /admin/backup = %d, want 405", resp.StatusCode)
	}
}

// failingCopy fails after writing half of what it announced.
type failingCopy struct{ size int64 }

func (c failingCopy) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(make([]byte, c.size/2))
	if err != nil {
		return int64(n), err
	}
	return int64(n), errors.New("disk read error")
}
func (c failingCopy) Size() int64  { return c.size }
func (c failingCopy) Name() string { return "x.db" }
func (c failingCopy) Close() error { return nil }

// TestBackupCutShort: a copy that fails midway reaches the client as a
// failed read, never as a shorter file that looks whole.
func TestBackupCutShort(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backup = func(context.Context) (Copy, error) { return failingCopy{1 << 20}, nil }
	base := serve(t, cfg)
	resp, err := http.Get(base + "/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil {
		t.Errorf("read %d bytes of %d without an error", n, resp.ContentLength)
	}
	if d := cmp.Diff(int64(1<<20), resp.ContentLength); d != "" {
		t.Error(d)
	}
}
