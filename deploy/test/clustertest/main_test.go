package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// replica fakes the two routes converged reads.
func replica(t *testing.T, seq int, roles ...string) string {
	var list []string
	for _, r := range roles {
		list = append(list, fmt.Sprintf(`{"role": %q}`, r))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/roles/"+faultKey:
			fmt.Fprintf(w, `{"result": [%s]}`, strings.Join(list, ", "))
		case r.URL.Path == "/status" && r.Header.Get("Authorization") == "Bearer "+faultKey:
			fmt.Fprintf(w, `{"store": "mongodb", "bus": "connected", "tenants": 1, "seq": %d}`, seq)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestConverged: the check the container test ends with finds a lost
// acknowledged write, a refused write that was applied, a role nobody
// wrote and replicas that disagree, and accepts either state for a write
// of unknown outcome.
func TestConverged(t *testing.T) {
	w := &writer{roles: []role{
		{name: "kept", add: acked},
		{name: "deleted", add: acked, del: acked},
		{name: "refused", add: refused},
		{name: "unknown", add: unknown},
		{name: "unknown-delete", add: acked, del: unknown},
	}}
	for _, c := range []struct {
		name  string
		urls  []string
		wrong string // "" if the check must pass
	}{
		{"as answered", []string{replica(t, 9, "kept"), replica(t, 9, "kept"), replica(t, 9, "kept")}, ""},
		{"unknown ones held", []string{replica(t, 9, "kept", "unknown", "unknown-delete"), replica(t, 9, "kept", "unknown", "unknown-delete"), replica(t, 9, "kept", "unknown", "unknown-delete")}, ""},
		{"acknowledged write lost", []string{replica(t, 9), replica(t, 9), replica(t, 9)}, "kept (add acked"},
		{"acknowledged delete undone", []string{replica(t, 9, "deleted", "kept"), replica(t, 9, "deleted", "kept"), replica(t, 9, "deleted", "kept")}, "deleted (add acked, delete acked"},
		{"refused write applied", []string{replica(t, 9, "kept", "refused"), replica(t, 9, "kept", "refused"), replica(t, 9, "kept", "refused")}, "refused (add refused"},
		{"role never written", []string{replica(t, 9, "ghost", "kept"), replica(t, 9, "ghost", "kept"), replica(t, 9, "ghost", "kept")}, "[ghost]"},
		{"replicas differ", []string{replica(t, 9, "kept"), replica(t, 9, "kept"), replica(t, 8)}, "replicas differ"},
		{"seqs differ", []string{replica(t, 9, "kept"), replica(t, 9, "kept"), replica(t, 10, "kept")}, "replicas differ"},
	} {
		cl := cluster{names: []string{"a", "b", "c"}, urls: c.urls, convergeWithin: 300 * time.Millisecond}
		err := cl.converged([]*writer{w})
		switch {
		case c.wrong == "" && err != nil:
			t.Errorf("%s: %v, want nil", c.name, err)
		case c.wrong != "" && (err == nil || !strings.Contains(err.Error(), c.wrong)):
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.wrong)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		code int
		body string
		err  error
		want outcome
	}{
		{200, `{"result": true}`, nil, acked},
		{400, `{"error": "bad"}`, nil, refused},
		{503, `{"error": "store", "outcome": "not_applied"}`, nil, refused},
		{503, `{"error": "store"}`, nil, unknown},
		{504, `{"error": "timeout", "outcome": "unknown"}`, nil, unknown},
		{500, `{}`, nil, unknown},
		{0, "", fmt.Errorf("connection refused"), unknown},
	} {
		if got := classify(c.code, c.body, c.err); got != c.want {
			t.Errorf("classify(%d, %s, %v) = %v, want %v", c.code, c.body, c.err, got, c.want)
		}
	}
}
