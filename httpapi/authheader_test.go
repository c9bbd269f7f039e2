package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
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
			status, body := rawGet(t, s, path, hdr)
			if status != http.StatusOK || !strings.Contains(body, "true") && !strings.Contains(body, `"p"`) {
				t.Errorf("GET %s with %q: %d %s", path, hdr, status, body)
			}
		}
		if status, body := rawGet(t, s, path, "X-Authorization: Bearer k"); status != http.StatusUnauthorized {
			t.Errorf("GET %s without Authorization: %d %s, want 401", path, status, body)
		}
	}
}

// rawGet sends a GET of path with the header lines as written and returns
// the answer's status and body.
func rawGet(t *testing.T, s *testServer, path, headers string) (int, string) {
	t.Helper()
	resp, conn := s.rawResponse("GET " + path + " HTTP/1.1\r\nHost: test\r\n" + headers + "\r\nConnection: close\r\n\r\n")
	defer conn.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
