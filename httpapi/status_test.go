package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"auth/engine"
	"auth/httpapi"
	"auth/internal/testhttp"
	"auth/persist/bolt"
	"auth/replica"
)

// statusService is a replica that also reports its store and link, as the
// server's wiring does.
type statusService struct {
	*replica.Replica
	bus string
}

func (s statusService) StoreDescription() string { return "embedded" }
func (s statusService) BusStatus() string        { return s.bus }
func (s statusService) TenantCount() int         { return s.Engine().TenantCount() }

func serveStatus(t *testing.T, svc httpapi.Service) string {
	t.Helper()
	base, _ := serve(t, svc)
	return base
}

func getStatus(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	var headers [][2]string
	if auth != "" {
		headers = append(headers, [2]string{"Authorization", auth})
	}
	resp, body := testhttp.Get(t, url+"/status", headers...)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, string(body)
}

func TestStatus(t *testing.T) {
	store, err := bolt.Open(bolt.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rep, err := replica.New(engine.New(), store, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if _, err := rep.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	const key = "s3cr3t-status-key"
	for _, c := range []engine.Change{{Op: engine.OpAddRole, Role: "admin"}, {Op: engine.OpAddPermission, Role: "admin", Permission: "read"}} {
		if _, _, err := rep.Write(context.Background(), key, c); err != nil {
			t.Fatal(err)
		}
	}

	url := serveStatus(t, statusService{Replica: rep, bus: "connected"})
	for _, tc := range []struct {
		auth string
		code int
		body string
	}{
		{"", 200, `{"store": "embedded", "bus": "connected", "tenants": 1}`},
		{"Bearer " + key, 200, `{"store": "embedded", "bus": "connected", "tenants": 1, "seq": 2}`},
		{"bearer " + key, 200, `{"store": "embedded", "bus": "connected", "tenants": 1, "seq": 2}`},
		{"Bearer another-key", 200, `{"store": "embedded", "bus": "connected", "tenants": 1, "seq": 0}`},
		{"Basic " + key, 401, ""},
		{"Bearer ", 401, ""},
		{"Bearer bad\xffkey", 400, ""},
	} {
		code, body := getStatus(t, url, tc.auth)
		if code != tc.code || tc.body != "" && body != tc.body {
			t.Errorf("Authorization %q: %d %s, want %d %s", tc.auth, code, body, tc.code, tc.body)
		}
		if strings.Contains(body, key) {
			t.Errorf("Authorization %q: the answer echoes the key: %s", tc.auth, body)
		}
	}

	// A Service that reports nothing more still answers, with no bus.
	code, body := getStatus(t, serveStatus(t, rep), "Bearer "+key)
	if want := `{"store": "", "bus": "none", "tenants": 0, "seq": 2}`; code != 200 || body != want {
		t.Errorf("plain replica: %d %s, want %s", code, body, want)
	}
}
