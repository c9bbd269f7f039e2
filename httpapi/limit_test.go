package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"auth/httpapi"
)

// rawCheck opens a connection to base, sends one keep-alive request and
// returns the connection and the response.
func rawCheck(t *testing.T, base string) (net.Conn, *http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /api/has_permission/k/u/p HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return c, resp, string(body)
}

// wantRefused checks a refusal at a connection cap: 503, a JSON error
// naming the cap, and the connection closed.
func wantRefused(t *testing.T, resp *http.Response, body, naming string) {
	t.Helper()
	var e struct{ Error string }
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/json" ||
		json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, naming) || !resp.Close {
		t.Fatalf("past the cap: %d %q %q (close %v), want 503 with a JSON error about %q, and close",
			resp.StatusCode, resp.Header.Get("Content-Type"), body, resp.Close, naming)
	}
}

// TestConnectionCaps: connections past MaxConns, or past MaxConnsPerIP
// from one address, are answered 503 with a JSON error, like every other
// refusal, and a connection that closes gives its place back.
func TestConnectionCaps(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		ts := newTestServer(t, func(c *httpapi.Config) { c.MaxConns, c.MaxConnsPerIP = 2, 0 })
		first, resp, _ := rawCheck(t, ts.base)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first connection: %d", resp.StatusCode)
		}
		if _, resp, _ := rawCheck(t, ts.base); resp.StatusCode != http.StatusOK {
			t.Fatalf("second connection: %d", resp.StatusCode)
		}
		_, resp, body := rawCheck(t, ts.base)
		wantRefused(t, resp, body, "connections to this server")
		first.Close()
		// The server sees the close when it next reads the connection.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, resp, body := rawCheck(t, ts.base)
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a closed connection's place was not given back: %d %s", resp.StatusCode, body)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("address", func(t *testing.T) {
		ts := newTestServer(t, func(c *httpapi.Config) { c.MaxConns, c.MaxConnsPerIP = 100, 1 })
		if _, resp, _ := rawCheck(t, ts.base); resp.StatusCode != http.StatusOK {
			t.Fatalf("first connection: %d", resp.StatusCode)
		}
		_, resp, body := rawCheck(t, ts.base)
		wantRefused(t, resp, body, "connections from this address")
	})
}
