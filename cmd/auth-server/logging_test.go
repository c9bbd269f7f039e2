package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/internal/tlstest"
)

// TestLogFormats: in either format every line of the log is one record
// of that format (a JSON object, or key=value pairs), the access log
// included; and over HTTPS with client certificates, with debug logs,
// failed handshakes, a failed certificate reload and a SIGHUP, no line
// holds the tenant's key or any part of a private key.
func TestLogFormats(t *testing.T) {
	for _, format := range []string{logText, logJSON} {
		t.Run(format, func(t *testing.T) { testLogFormat(t, format) })
	}
}

func testLogFormat(t *testing.T, format string) {
	const secret = "Lg7-DISTINCTIVE-log-KEY-q2W"
	s := newTestTLS(t)
	args := append([]string{"-log-level", "debug", "-access-log"}, s.mtlsArgs()...)
	if format == logJSON {
		t.Setenv("AUTH_LOG_FORMAT", "json") // the environment's way
	} else {
		args = append(args, "-log-format", "text")
	}
	p := start(t, t.TempDir(), args...)
	s.use(p)

	// Traffic: the original's routes with the key in the path, /v1 with
	// the key in a header, a request cut off in its headers.
	for _, r := range [][2]string{
		{"POST", "/api/role/" + secret + "/r"}, {"POST", "/api/permission/" + secret + "/r/p"},
		{"POST", "/api/membership/" + secret + "/u/r"}, {"GET", "/api/has_permission/" + secret + "/u/p"},
		{"GET", "/api/roles/" + secret}, {"POST", "/api/role/" + secret + "/bad%00"}, {"GET", "/api/nowhere/" + secret},
	} {
		if _, _, err := p.call(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/v1/has_permission/u/p", "/v1/roles", "/status"} {
		req, _ := http.NewRequest("GET", p.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := p.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if c, err := tls.Dial("tcp", p.addr(), s.config(true)); err == nil {
		fmt.Fprintf(c, "GET /api/roles/%s HTTP/1.1\r\nHost: x\r\nX-Cut: ", secret)
		time.Sleep(100 * time.Millisecond)
		c.Close()
	}
	// Handshakes that fail: no client certificate, plain HTTP.
	if resp, err := s.httpClient(s.config(false)).Get(p.base + "/api/roles/" + secret); err == nil {
		resp.Body.Close()
		t.Error("a client without a certificate was served")
	}
	if c, err := net.Dial("tcp", p.addr()); err == nil {
		fmt.Fprintf(c, "GET /api/roles/%s HTTP/1.1\r\nHost: x\r\n\r\n", secret)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.ReadAll(c)
		c.Close()
	}
	// A reload that fails (a key that is not the certificate's), then a
	// good pair loaded on SIGHUP.
	tlstest.WriteFile(t, s.keyFile, s.issue("unrelated").KeyPEM)
	waitLog(t, p, "do not load", 10*time.Second)
	s.issue("server-2").Write(t, s.dir, "server")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "CN=server-2", 10*time.Second)
	p.expect("GET", "/ping", `{"message": "PONG"}`)
	p.stop()

	logs := p.logs.String()
	requests := 0
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var msg, path string
		if format == logJSON {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("a line of the JSON log is not a JSON object (%v): %s", err, line)
			}
			if keys := topKeys(t, line); len(keys) != len(rec) {
				t.Errorf("a JSON log record has a key twice %q: %s", keys, line)
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("a JSON log record lacks %q: %s", k, line)
				}
			}
			msg, _ = rec["msg"].(string)
			path, _ = rec["path"].(string)
		} else {
			if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") || strings.Count(line, " msg=") != 1 {
				t.Fatalf("a line of the text log is not a key=value record: %s", line)
			}
			if strings.Contains(line, " msg=request ") {
				msg = "request"
				_, path, _ = strings.Cut(line, " path=")
			}
		}
		if msg == "request" {
			requests++
			if path == "" {
				t.Errorf("an access log record has no path: %s", line)
			}
		}
	}
	if requests < 10 {
		t.Errorf("%d access log records, want one per request:\n%s", requests, logs)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the log holds the tenant's key:\n%s", logs)
	}
	s.noKeyMaterial(t, logs)
}

// topKeys returns the keys of the JSON object line, in order, repeats
// included.
func topKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestLogKeysUnique: attributes named like a record's own fields are
// renamed, so that no JSON record has a key twice; others are untouched.
func TestLogKeysUnique(t *testing.T) {
	cases := []struct {
		name string
		log  func(l *slog.Logger)
		want map[string]any
	}{
		{"plain", func(l *slog.Logger) { l.Info("m", "a", 1) }, map[string]any{"msg": "m", "a": 1.0}},
		{"msg attribute", func(l *slog.Logger) { l.Debug("http", "msg", "error when serving connection") },
			map[string]any{"msg": "http", "detail": "error when serving connection"}},
		{"time, level, source", func(l *slog.Logger) { l.Info("m", "time", "t", "level", "l", "source", "s", "b", 2) },
			map[string]any{"msg": "m", "attr_time": "t", "attr_level": "l", "attr_source": "s", "b": 2.0}},
		{"With", func(l *slog.Logger) { l.With("msg", "w").Info("m") }, map[string]any{"msg": "m", "detail": "w"}},
		{"group", func(l *slog.Logger) { l.WithGroup("g").Info("m", "msg", "x") }, map[string]any{"msg": "m", "g": map[string]any{"msg": "x"}}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		c.log(newLogger(&buf, logJSON, slog.LevelDebug))
		line := strings.TrimSpace(buf.String())
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, line)
		}
		if keys := topKeys(t, line); len(keys) != len(got) {
			t.Errorf("%s: a key twice: %s", c.name, line)
		}
		delete(got, "time")
		delete(got, "level")
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, d)
		}
	}
}
