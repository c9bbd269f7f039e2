package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestBadRequestsChangeNothing: malformed requests of every kind get the
// right 4xx and leave the state byte for byte as it was.
func TestBadRequestsChangeNothing(t *testing.T) {
	s := newTestServer(t)
	for _, st := range storySteps(key)[:20] {
		s.do(st.method, st.path)
	}
	before := s.snapshot(key)
	auth := "Authorization: Bearer " + key + "\r\n"
	long := strings.Repeat("a", 20000)
	for _, c := range []struct {
		name string
		raw  string
		want int
	}{
		{"header too large", "GET /ping HTTP/1.1\r\nHost: x\r\nX-Junk: " + long + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"URL too large", "POST /api/role/" + key + "/" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"too many headers", "POST /api/role/" + key + "/x HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 2000) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"not HTTP", "HELLO THERE\r\n\r\n", http.StatusBadRequest},
		{"bad request line", "GET\r\n\r\n", http.StatusBadRequest},
		{"body too large", "POST /api/role/" + key + "/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n" + strings.Repeat("x", 1100000), http.StatusRequestEntityTooLarge},
		{"batch too large", "POST /v1/check HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5000000\r\n\r\n" + strings.Repeat("x", 1100000), http.StatusRequestEntityTooLarge},
		{"bad content length", "POST /api/role/" + key + "/x HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", http.StatusBadRequest},
		{"import bad JSON", "POST /v1/import HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 9\r\n\r\n{\"role\": ", http.StatusBadRequest},
		{"import NUL in name", "POST /v1/import HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 18\r\n\r\n{\"role\": \"a\\u0000\"}", http.StatusBadRequest},
		{"batch not JSON", "POST /v1/check HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 3\r\n\r\nabc", http.StatusBadRequest},
		{"v1 write without key", "POST /v1/role/new HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusUnauthorized},
		{"v1 write with Basic auth", "POST /v1/role/new HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zm9vOmJhcg==\r\n\r\n", http.StatusUnauthorized},
		{"v1 key too long", "POST /v1/role/new HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + strings.Repeat("k", 1100) + "\r\n\r\n", http.StatusBadRequest},
		{"PUT on a role", "PUT /api/role/" + key + "/new HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
		{"PATCH on a membership", "PATCH /api/membership/" + key + "/u/cookers HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
		{"POST on a check", "POST /api/has_permission/" + key + "/u/p HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
		{"DELETE on a list", "DELETE /api/roles/" + key + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
		{"unknown method", "BREW /api/role/" + key + "/new HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
		{"escaped slash in key", "POST /api/role/" + key + "%2/x HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"escape cut short", "POST /api/role/" + key + "/x%E HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"overlong UTF-8", "POST /api/role/" + key + "/%C0%AF HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"surrogate half", "POST /api/role/" + key + "/%ED%A0%80 HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"tab in name", "POST /api/role/" + key + "/a%09b HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"empty name via trailing slash", "POST /api/role/" + key + "/ HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNotFound},
		{"extra segment", "POST /api/role/" + key + "/a/b HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNotFound},
		{"min_seq not a number", "GET /v1/roles?min_seq=-1 HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", http.StatusBadRequest},
		{"events limit absurd", "GET /v1/events?limit=99999999999999999999 HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", http.StatusBadRequest},
	} {
		if got := s.rawStatus(c.raw); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	if after := s.snapshot(key); !bytes.Equal(before, after) {
		t.Fatal("bad requests changed the state")
	}
}
