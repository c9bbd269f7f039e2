package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"auth/persist/mongo/mongotest"
)

// TestMongoOutage: with MongoDB stopped, writes fail within about 3 s with
// a JSON error that tells their outcome and change nothing, checks keep
// answering from memory; once MongoDB is back, writes succeed without a
// restart. A write sent on a connection the server had just dropped cannot
// know whether the server took it, and must say so (504, unknown); once
// the driver knows the server is gone, writes are refused (503,
// not_applied).
func TestMongoOutage(t *testing.T) {
	srv := mongotest.Start(t)
	p := start(t, t.TempDir(), "-mongo-uri", srv.URI(), "-mongo-db", mongotest.Database(t))
	for _, s := range story {
		p.expect(s[0], s[1], s[2])
	}
	srv.Stop()

	for i, w := range [][2]string{
		{"POST", "/api/role/" + key + "/admin"},
		{"POST", "/api/membership/" + key + "/sara/dancers"},
		{"DELETE", "/api/role/" + key + "/laughers"},
	} {
		begin := time.Now()
		code, body, err := p.call(w[0], w[1])
		took := time.Since(begin)
		refused := code == http.StatusServiceUnavailable && strings.HasSuffix(body, `, "outcome": "not_applied"}`)
		unknown := code == http.StatusGatewayTimeout && strings.HasSuffix(body, `, "outcome": "unknown"}`)
		if err != nil || !strings.HasPrefix(body, `{"error": "`) || !(refused || unknown && i == 0) {
			t.Errorf("%s %s with MongoDB down = %d %s (%v), want 503 with a JSON error, outcome not_applied (or for the first write, 504 unknown)", w[0], w[1], code, body, err)
		}
		if took > 3500*time.Millisecond {
			t.Errorf("%s %s took %v to fail, want about 3 s at most", w[0], w[1], took)
		}
	}
	// Reads answer from memory, and nothing changed.
	for _, r := range reads {
		p.expect(r[0], r[1], r[2])
	}
	p.expect("GET", "/api/role/"+key+"/admin", `{"result": false}`)
	if code, _, _ := p.call("GET", "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with MongoDB down = %d, want 503", code)
	}

	srv.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := p.call("POST", "/api/role/"+key+"/admin")
		if err == nil && code == http.StatusOK && body == `{"result": true}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not recover after MongoDB came back: %d %s %v", code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.expect("POST", "/api/membership/"+key+"/sara/admin", `{"result": true}`)
	p.expect("GET", "/api/user_roles/"+key+"/sara", `{"result": [{"role": "admin"}, {"role": "cookers"}, {"role": "laughers"}]}`)
	p.stop()
}
