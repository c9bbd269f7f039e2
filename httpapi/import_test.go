package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"auth/httpapi"
)

// countingBody is an endless stream of import lines that counts the bytes
// the client managed to send.
type countingBody struct {
	sent atomic.Int64
	line []byte
	max  int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.sent.Load() >= b.max {
		return 0, io.EOF
	}
	n := 0
	for n+len(b.line) <= len(p) {
		n += copy(p[n:], b.line)
	}
	b.sent.Add(int64(n))
	return n, nil
}

// TestImportChunkedIsCountedAsRead: a chunked import body far over the
// limit answers 413 once the limit is passed, without the server reading
// (or holding) the rest: the client could not send more than the limit,
// the bounded drain and the socket buffers.
func TestImportChunkedIsCountedAsRead(t *testing.T) {
	const limit = 1 << 20
	s := newTestServer(t, func(c *httpapi.Config) { c.MaxImportBodySize = limit })
	body := &countingBody{line: []byte(`{"role": "r", "user": "someone-with-a-name"}` + "\n"), max: 64 << 20}
	req, err := http.NewRequest("POST", s.base+"/v1/import", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// The server may close before the client has finished sending;
		// what it sent is still bounded.
		t.Logf("client: %v", err)
	} else {
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(answer), `"error"`) {
			t.Fatalf("import = %d %s, want 413 with a JSON error", resp.StatusCode, answer)
		}
	}
	// The drain reads at most 16 MiB more; socket buffers hold a few MiB.
	if sent := body.sent.Load(); sent > 32<<20 {
		t.Fatalf("the client sent %d MiB of a 64 MiB body against a 1 MiB limit: the server read on past its limit", sent>>20)
	}
	s.expect("GET", "/api/roles/"+key, ok, `{"result": []}`)
}

// holdImport starts an import whose body is sent in part and held open
// until the returned function is called; it then returns the answer.
func holdImport(t *testing.T, base, key string) (finish func() (int, string)) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n", key)
	line := "{\"role\": \"held\"}\n"
	fmt.Fprintf(conn, "%x\r\n%s\r\n", len(line), line)
	return func() (int, string) {
		t.Helper()
		fmt.Fprintf(conn, "0\r\n\r\n")
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// TestImportsAreAdmittedOneAtATime: a second import into a tenant while
// one runs, and any import past the server's cap, answer 429 with a JSON
// error without reading their bodies; once the first ends, both go in.
func TestImportsAreAdmittedOneAtATime(t *testing.T) {
	s := newTestServer(t, func(c *httpapi.Config) { c.MaxImports = 1 })
	finish := holdImport(t, s.base, key)
	// The held import has taken its place once its first line is read.
	deadline := time.Now().Add(30 * time.Second) // a bound on a busy machine, not a figure
	line := `{"role": "r"}` + "\n"
	for {
		code, answer := s.doWith("POST", "/v1/import", line, bearerHeader(key))
		if code == http.StatusTooManyRequests {
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(answer), &e); err != nil || !strings.Contains(e.Error, "this tenant") {
				t.Fatalf("429 answer %q: want a JSON error about the tenant's import", answer)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second import into the tenant = %d %s, want 429", code, answer)
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, answer := s.doWith("POST", "/v1/import", line, bearerHeader("another-tenant"))
	if code != http.StatusTooManyRequests || !strings.Contains(answer, "too many imports") {
		t.Fatalf("import past the server's cap = %d %s, want 429", code, answer)
	}
	if code, answer := finish(); code != http.StatusOK {
		t.Fatalf("held import = %d %s", code, answer)
	}
	for _, k := range []string{key, "another-tenant"} {
		if code, answer := s.doWith("POST", "/v1/import", line, bearerHeader(k)); code != http.StatusOK {
			t.Fatalf("import after the first ended = %d %s", code, answer)
		}
	}
	s.expect("GET", "/api/roles/"+key, ok, `{"result": [{"role": "held"}, {"role": "r"}]}`)
}

// TestImportReplace checks POST /v1/import?mode=replace: the tenant
// becomes exactly the lines given, in one event whose feed entry begins
// with a clear change; a bad mode is refused and changes nothing.
func TestImportReplace(t *testing.T) {
	s := newTestServer(t)
	const key = "replace-key"
	auth := bearerHeader(key)
	before := "{\"role\": \"cooks\"}\n{\"role\": \"cooks\", \"permission\": \"cook\"}\n{\"role\": \"cooks\", \"user\": \"sara\"}\n{\"role\": \"eaters\", \"user\": \"jack\"}\n"
	if code, answer := s.doWith("POST", "/v1/import", before, auth); code != http.StatusOK {
		t.Fatalf("import: %d %s", code, answer)
	}
	snap := s.snapshot(key)
	if code, answer := s.doWith("POST", "/v1/import?mode=bogus", "{\"role\": \"x\"}\n", auth); code != http.StatusBadRequest || !strings.Contains(answer, `"error"`) {
		t.Fatalf("mode=bogus: %d %s, want 400 with an error", code, answer)
	}
	if !bytes.Equal(s.snapshot(key), snap) {
		t.Fatal("a refused replace changed the tenant")
	}

	after := "{\"role\": \"cooks\"}\n{\"role\": \"cooks\", \"permission\": \"bake\"}\n{\"role\": \"cooks\", \"user\": \"jack\"}\n"
	code, answer := s.doWith("POST", "/v1/import?mode=replace", after, auth)
	if want := `{"result": true, "seq": 2, "roles": 1, "permissions": 1, "memberships": 1}`; code != http.StatusOK || answer != want {
		t.Fatalf("replace: %d %s, want 200 %s", code, answer, want)
	}
	code, export := s.doWith("GET", "/v1/export", "", auth)
	if want := "{\"role\": \"cooks\"}\n{\"role\": \"cooks\", \"permission\": \"bake\"}\n{\"role\": \"cooks\", \"user\": \"jack\"}\n"; code != http.StatusOK || export != want {
		t.Fatalf("export after replace: %d\n%s\nwant\n%s", code, export, want)
	}
	s.expect("GET", "/api/has_permission/"+key+"/sara/cook", http.StatusOK, `{"result": false}`)
	s.expect("GET", "/api/has_permission/"+key+"/jack/bake", http.StatusOK, `{"result": true}`)
	s.expect("GET", "/api/role/"+key+"/eaters", http.StatusOK, `{"result": false}`)
	code, feed := s.doWith("GET", "/v1/events?after=1", "", auth)
	if code != http.StatusOK || !strings.Contains(feed, `"changes": [{"op": "clear"}, `) {
		t.Fatalf("feed after replace: %d %s", code, feed)
	}
}
