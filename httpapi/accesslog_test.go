package httpapi

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"
)

// logKey is the key the access-log tests hide in paths: distinctive, so
// that any 6 bytes of it in a log line are a leak.
const logKey = "Zq7xK3pLmW9vR2tB"

// logServer is a server whose access log goes to a buffer.
func logServer(tb testing.TB) (*Server, *bytes.Buffer) {
	tb.Helper()
	var buf bytes.Buffer
	srv, _ := newInternalServer(tb, func(c *Config) {
		c.AccessLog = true
		c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	return srv, &buf
}

// loggedPath serves one request and returns the path its access log line
// shows, and the whole line.
func loggedPath(tb testing.TB, srv *Server, buf *bytes.Buffer, method, rawPath string) (string, string) {
	tb.Helper()
	buf.Reset()
	// The request is parsed from its bytes, as the server parses it.
	var ctx fasthttp.RequestCtx
	raw := method + " " + rawPath + " HTTP/1.1\r\nHost: x\r\n\r\n"
	if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		if _, fuzzing := tb.(*testing.F); fuzzing || strings.HasPrefix(tb.Name(), "FuzzAccessLog") {
			return "", "" // not a request the server would serve
		}
		tb.Fatalf("%s %q: not a request: %v", method, rawPath, err)
	}
	srv.Handler()(&ctx)
	line := buf.String()
	_, after, ok := strings.Cut(line, " path=")
	if !ok {
		tb.Fatalf("%s %q: no access log line: %q", method, rawPath, line)
	}
	path, _, _ := strings.Cut(after, " ")
	return path, line
}

// leaks reports whether line holds any 6 consecutive bytes of the key, as
// written or percent-decoded.
func leaks(line string) bool {
	decoded, err := url.PathUnescape(line)
	if err != nil {
		decoded = line
	}
	for i := 0; i+6 <= len(logKey); i++ {
		w := logKey[i : i+6]
		if strings.Contains(line, w) || strings.Contains(decoded, w) {
			return true
		}
	}
	return false
}

func TestAccessLogPath(t *testing.T) {
	srv, buf := logServer(t)
	k := logKey
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/role/" + k + "/admin", "/api/role/{key}/{role}"},
		{"GET", "/api/roles/" + k, "/api/roles/{key}"},
		{"GET", "/api/has_permission/" + k + "/u/p", "/api/has_permission/{key}/{user}/{name}"},
		{"GET", "/api/has_permission/K%2F" + k + "/u/p", "/api/has_permission/{key}/{user}/{name}"},
		{"GET", "/v1/role/admin", "/v1/role/{role}"},
		{"GET", "/ping", "/ping"},
		// What no route matches shows its shape: route words and stars.
		{"POST", "/api//role/" + k + "/x", "/api//role/*/*"},
		{"GET", "//api/roles/" + k, "//api/roles/*"},
		{"PUT", "/api/role/" + k + "/x", "/api/role/*/*"},
		{"GET", "/api/role%2F" + k + "%2Fx", "/api/*"},
		{"GET", "/api/./roles/../roles/" + k, "/api/*/roles/*/roles/*"},
		{"GET", "/api/", "/api/"},
		{"GET", "/api/roles", "/api/roles"},
		{"GET", "/", "/"},
		{"GET", "/a/b/c/d/e/f/g/h/i/" + k, "/*/*/*/*/*/*/*/*/..."},
	} {
		got, line := loggedPath(t, srv, buf, c.method, c.path)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s %s logged as %q (-want +got):\n%s", c.method, c.path, got, diff)
		}
		if leaks(line) {
			t.Errorf("%s %s: the log line holds the key: %s", c.method, c.path, line)
		}
	}
}

// FuzzAccessLog: whatever surrounds a key in a path, and however the key
// is encoded, the access log line holds none of it.
func FuzzAccessLog(f *testing.F) {
	for _, s := range []struct {
		prefix, suffix string
		enc            uint8
	}{
		{"/api/role/", "/admin", 0}, {"/api//role/", "/x", 0}, {"//api/roles/", "", 0},
		{"/api/has_permission/", "/u/p", 1}, {"/api/role%2F", "%2Fx", 2}, {"/", "", 3},
		{"/api/membership/", "//u/r", 4}, {"/v1/roles/", "/", 0}, {"/api/../api/roles/", "", 5},
	} {
		f.Add(s.prefix, s.suffix, s.enc)
	}
	srv, buf := logServer(f)
	f.Fuzz(func(t *testing.T, prefix, suffix string, enc uint8) {
		for _, method := range []string{"GET", "DELETE", "PUT"} {
			_, line := loggedPath(t, srv, buf, method, "/"+prefix+encodeKey(logKey, enc)+suffix)
			if leaks(line) {
				t.Fatalf("%s %q%q (encoding %d): the log line holds the key: %s", method, prefix, suffix, enc, line)
			}
		}
	})
}

// encodeKey writes the key as a path may carry it: plain, wholly or partly
// percent-encoded (upper or lower case), or with encoded slashes inside.
func encodeKey(k string, enc uint8) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case enc%6 == 1, enc%6 == 2 && i%2 == 0:
			fmt.Fprintf(&b, "%%%02X", c)
		case enc%6 == 3 && i%3 == 0:
			fmt.Fprintf(&b, "%%%02x", c)
		case enc%6 == 4 && i == len(k)/2:
			b.WriteString("%2F")
			b.WriteByte(c)
		case enc%6 == 5 && i == len(k)/2:
			b.WriteString("//")
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// TestAccessLogShapes: 12,000 paths built from every route, the key in
// each of its positions (or in a name's, or anywhere), then mangled as a
// hostile client might: the key is never in the log, and the routes that
// still match are logged as their templates.
func TestAccessLogShapes(t *testing.T) {
	srv, buf := logServer(t)
	routes := srv.Routes()
	rng := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "DELETE", "PUT", "HEAD", "OPTIONS"}
	templates := 0
	for i := range 12_000 {
		r := routes[rng.IntN(len(routes))]
		segs := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
		keyAt := -1 // which segment holds the key
		for j, s := range segs {
			if s == "{key}" {
				keyAt = j
			}
		}
		if keyAt < 0 || rng.IntN(4) == 0 {
			keyAt = rng.IntN(len(segs) + 1) // anywhere, also past the end
		}
		var out []string
		for j := 0; j <= len(segs); j++ {
			if j == keyAt {
				out = append(out, encodeKey(logKey, uint8(rng.IntN(6))))
			}
			if j == len(segs) {
				break
			}
			s := segs[j]
			if strings.HasPrefix(s, "{") {
				if j == keyAt {
					continue
				}
				s = fmt.Sprintf("name%d", rng.IntN(100))
			}
			out = append(out, s)
		}
		mangled := rng.IntN(2) == 0
		if mangled {
			for range 1 + rng.IntN(3) {
				j := rng.IntN(len(out) + 1)
				switch rng.IntN(6) {
				case 0: // an empty segment: a doubled slash
					out = append(out[:j], append([]string{""}, out[j:]...)...)
				case 1: // a dot segment
					out = append(out[:j], append([]string{[]string{".", ".."}[rng.IntN(2)]}, out[j:]...)...)
				case 2: // two segments joined by an encoded slash
					if j+1 < len(out) {
						out = append(out[:j], append([]string{out[j] + "%2F" + out[j+1]}, out[j+2:]...)...)
					}
				case 3: // a route word repeated
					out = append(out[:j], append([]string{"api"}, out[j:]...)...)
				case 4: // a word in another case
					if j < len(out) {
						out[j] = strings.ToUpper(out[j])
					}
				case 5: // a trailing slash
					out = append(out, "")
				}
			}
		}
		path := "/" + strings.Join(out, "/")
		if mangled && rng.IntN(3) == 0 {
			path = "/" + path // a leading doubled slash
		}
		method := r.Method
		if rng.IntN(3) == 0 {
			method = methods[rng.IntN(len(methods))]
		}
		if method == "POST" {
			method = "PUT" // no writes: they are not what is tested here
		}
		got, line := loggedPath(t, srv, buf, method, path)
		if leaks(line) {
			t.Fatalf("shape %d: %s %s: the log line holds the key: %s", i, method, path, line)
		}
		if got == r.Path {
			templates++
		}
	}
	// Not a vacuous pass: many requests matched and logged their routes.
	if templates < 1000 {
		t.Fatalf("only %d of 12,000 requests were logged as their route's template", templates)
	}
}
