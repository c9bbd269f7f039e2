package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAuthorizationHeaderAsSent: the key is found in the Authorization
// header whatever the case of its name and whatever other headers come
// with it (cookies, a trailer announcement), on the check's fast path and
// through the router alike.
func TestAuthorizationHeaderAsSent(t *testing.T) {
	s := newTestServer(t)
	if status, body := s.doWith("POST", "/v1/import", "{\"role\": \"r\", \"permission\": \"p\"}\n{\"role\": \"r\", \"user\": \"u\"}\n{\"role\": \"r\"}\n",
		[2]string{"Authorization", "Bearer k"}); status != http.StatusOK {
		t.Fatalf("import: %d %s", status, body)
	}
	for _, path := range []string{"/v1/has_permission/u/p", "/v1/has_permission/u/p?min_seq=1", "/v1/user_permissions/u"} {
		for _, hdr := range []string{
			"Authorization: Bearer k",
			"authorization: bearer k",
			"AUTHORIZATION: BEARER   k",
			"Cookie: a=b; c=d\r\nUser-Agent: test\r\nauthorization: Bearer k",
			"Trailer: X-Sum\r\nX-Other: 1\r\nAuthorization: Bearer k",
		} {
			status, body := rawGet(t, s.base, path, hdr)
			if status != http.StatusOK || !strings.Contains(body, "true") && !strings.Contains(body, `"p"`) {
				t.Errorf("GET %s with %q: %d %s", path, hdr, status, body)
			}
		}
		if status, body := rawGet(t, s.base, path, "X-Authorization: Bearer k"); status != http.StatusUnauthorized {
			t.Errorf("GET %s without Authorization: %d %s, want 401", path, status, body)
		}
	}
}

// rawGet sends a GET of path with the header lines as written and returns
// the answer's status and body.
func rawGet(t *testing.T, base, path, headers string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: test\r\n"+headers+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
