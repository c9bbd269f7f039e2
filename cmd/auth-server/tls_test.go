package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"auth/internal/tlstest"
	"auth/persist/mongo/mongotest"
)

// testTLS is a server certificate and a client certificate, each from a
// CA of its own, written as files for auth-server's flags.
type testTLS struct {
	t                 *testing.T
	dir               string
	ca, clientCA      *tlstest.CA
	caFile            string
	certFile, keyFile string
	clientCAFile      string
	client            tls.Certificate
	// pairs are every pair made, whose keys must never be logged.
	pairs []*tlstest.Pair
}

func newTestTLS(t *testing.T) *testTLS {
	t.Helper()
	s := &testTLS{t: t, dir: t.TempDir(), ca: tlstest.NewCA(t, "server CA"), clientCA: tlstest.NewCA(t, "client CA")}
	s.caFile = s.ca.WriteCert(t, s.dir, "ca.pem")
	s.clientCAFile = s.clientCA.WriteCert(t, s.dir, "clients.pem")
	s.certFile, s.keyFile = s.issue("server-1").Write(t, s.dir, "server")
	c := s.clientCA.Issue(t, "service-a", tlstest.Options{Client: true})
	s.pairs = append(s.pairs, c)
	s.client = c.TLS(t)
	return s
}

// issue makes a new server certificate, remembered as a key never to log.
func (s *testTLS) issue(cn string) *tlstest.Pair {
	p := s.ca.Issue(s.t, cn, tlstest.Options{})
	s.pairs = append(s.pairs, p)
	return p
}

func (s *testTLS) args() []string { return []string{"-tls-cert", s.certFile, "-tls-key", s.keyFile} }

func (s *testTLS) mtlsArgs() []string {
	return append(s.args(), "-tls-client-ca", s.clientCAFile)
}

// config is a client configuration trusting the server's CA, presenting
// the client certificate if withCert (and if the server asks for one).
func (s *testTLS) config(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: s.ca.Pool()}
	if withCert {
		c.Certificates = []tls.Certificate{s.client}
	}
	return c
}

func (s *testTLS) httpClient(c *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
}

// start starts a server of the test's TLS arguments and args, which
// answers over HTTPS (use).
func (s *testTLS) start(args ...string) *proc {
	p := start(s.t, s.t.TempDir(), append(s.args(), args...)...)
	s.use(p)
	return p
}

// use points p's requests at its HTTPS address, with a client that trusts
// the CA and has the client certificate.
func (s *testTLS) use(p *proc) {
	p.base = "https://" + strings.TrimPrefix(p.base, "http://")
	p.hc = s.httpClient(s.config(true))
}

func (s *testTLS) dialer(p *proc) func() (net.Conn, error) {
	return func() (net.Conn, error) { return tls.Dial("tcp", p.addr(), s.config(true)) }
}

// noKeyMaterial fails t if text holds any part of a private key made.
func (s *testTLS) noKeyMaterial(t *testing.T, text string) {
	t.Helper()
	if strings.Contains(text, "PRIVATE KEY") {
		t.Errorf("a PEM private key header is in the output")
	}
	for _, p := range s.pairs {
		for _, m := range p.KeyMaterial() {
			if strings.Contains(text, m) {
				t.Fatalf("private key material %q is in the output", m)
			}
		}
	}
}

func (p *proc) addr() string {
	_, a, _ := strings.Cut(p.base, "://")
	return a
}

// served returns the serial of the certificate a new connection is
// served.
func (s *testTLS) served(p *proc) (*big.Int, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.addr(), s.config(true))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// TestHTTPS: with -tls-cert and -tls-key, the original's story and reads
// give the same answers over HTTPS; clients that do not trust the CA are
// refused a connection; a plain HTTP request to the port gets nothing
// readable back.
func TestHTTPS(t *testing.T) {
	s := newTestTLS(t)
	p := s.start()
	p.tellStory()
	for _, r := range reads {
		p.expect(r[0], r[1], r[2])
	}
	req, _ := http.NewRequest("POST", p.base+"/v1/check", strings.NewReader(`{"checks": [{"user": "jack", "permission": "dance"}, {"user": "sara", "permission": "dance"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := p.hc.Do(req); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `[true, false]`) {
			t.Errorf("POST /v1/check over HTTPS = %d %s", resp.StatusCode, b)
		}
	}
	if !strings.Contains(p.logs.String(), "tls=true") || !strings.Contains(p.logs.String(), "certificate loaded") {
		t.Errorf("the start-up log does not say it serves TLS:\n%s", p.logs)
	}

	// Clients that do not trust the server's CA, or that speak only TLS
	// 1.1, are refused.
	other := tlstest.NewCA(t, "other CA")
	for name, c := range map[string]*tls.Config{
		"system CAs":      {},
		"another CA":      {RootCAs: other.Pool()},
		"TLS 1.1":         {RootCAs: s.ca.Pool(), MaxVersion: tls.VersionTLS11},
		"wrong host name": {RootCAs: s.ca.Pool(), ServerName: "auth.example.com"},
	} {
		if _, err := s.httpClient(c).Get(p.base + "/ping"); err == nil {
			t.Errorf("%s: a client that must refuse the connection was answered", name)
		}
	}

	// Plain HTTP to the TLS port: no HTTP answer, nothing in clear.
	conn, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(conn)
	conn.Close()
	if bytes.Contains(got, []byte("HTTP/")) || bytes.Contains(got, []byte("PONG")) {
		t.Errorf("plain HTTP to the TLS port was answered in clear: %q", got)
	}
	if resp, err := client.Get("http://" + p.addr() + "/ping"); err == nil {
		resp.Body.Close()
		t.Errorf("an http:// request to the TLS port got an answer: %s", resp.Status)
	}
	p.stop()
}

// TestCertificateRotation: replacing the certificate files while clients
// send requests (on kept-alive connections and on new ones) serves the new
// certificate within seconds, with no restart and no failed request. A
// pair that does not load is refused, logged and counted, and the served
// certificate stays; SIGHUP reloads the files and does not stop the
// server.
func TestCertificateRotation(t *testing.T) {
	s := newTestTLS(t)
	p := s.start()
	p.tellStory()
	first, err := s.served(p)
	if err != nil {
		t.Fatal(err)
	}

	// Clients: one keeping its connections, one opening a new connection
	// for every request (a handshake each).
	keepAlive := s.httpClient(s.config(true))
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: s.config(true), DisableKeepAlives: true}}
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		requests atomic.Int64
		failMu   sync.Mutex
		failures []string
	)
	for _, hc := range []*http.Client{keepAlive, keepAlive, fresh, fresh} {
		wg.Go(func() {
			for !stop.Load() {
				resp, err := hc.Get(p.base + "/api/has_permission/" + key + "/jack/dance")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(b) != `{"result": true}` {
						err = fmt.Errorf("%d %s", resp.StatusCode, b)
					}
				}
				if err != nil {
					failMu.Lock()
					failures = append(failures, err.Error())
					failMu.Unlock()
				}
				requests.Add(1)
			}
		})
	}
	waitServed := func(want *big.Int, what string) time.Duration {
		t.Helper()
		begin := time.Now()
		for {
			got, err := s.served(p)
			if err != nil {
				t.Fatalf("%s: handshake: %v", what, err)
			}
			if got.Cmp(want) == 0 {
				return time.Since(begin)
			}
			if time.Since(begin) > 10*time.Second {
				t.Fatalf("%s: the new certificate is not served 10 s after its files were written", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	time.Sleep(200 * time.Millisecond) // traffic before the rotation
	next := s.issue("server-2")
	next.Write(t, s.dir, "server")
	took := waitServed(next.Cert.SerialNumber, "rotation")
	time.Sleep(200 * time.Millisecond) // and after
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during the rotation, the first: %s", len(failures), requests.Load(), failures[0])
	}
	if first.Cmp(next.Cert.SerialNumber) == 0 {
		t.Fatal("the two certificates have one serial")
	}
	t.Logf("new certificate served %v after its files were written; %d requests, none failed", took.Round(time.Millisecond), requests.Load())

	// A key that is not the certificate's: refused, logged, counted; the
	// new certificate stays served.
	bad := s.issue("server-3")
	tlstest.WriteFile(t, s.certFile, bad.CertPEM)
	tlstest.WriteFile(t, s.keyFile, s.issue("unrelated").KeyPEM)
	waitLog(t, p, "do not load", 10*time.Second)
	if got, err := s.served(p); err != nil || got.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("after a bad pair: serial %v (%v), want the previous %v", got, err, next.Cert.SerialNumber)
	}
	if _, m, _ := p.call("GET", "/metrics"); !strings.Contains(m, "auth_tls_reload_failures_total 1") ||
		!strings.Contains(m, "auth_tls_certificate_expiration_timestamp_seconds ") {
		t.Errorf("/metrics lacks the TLS series or the failed reload:\n%s", grepLines(m, "auth_tls"))
	}

	// SIGHUP: the good pair written back is loaded at once, and the
	// server goes on.
	last := s.issue("server-4")
	last.Write(t, s.dir, "server")
	loads := strings.Count(p.logs.String(), "certificate loaded")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitServed(last.Cert.SerialNumber, "SIGHUP")
	p.expect("GET", "/api/has_permission/"+key+"/jack/dance", `{"result": true}`)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(p.logs.String(), "certificate loaded") < loads+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// SIGHUP loads the files even when they did not change.
	loads = strings.Count(p.logs.String(), "certificate loaded")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for strings.Count(p.logs.String(), "certificate loaded") == loads {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the certificate files:\n%s", p.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.expect("GET", "/ping", `{"message": "PONG"}`)
	p.stop()
	s.noKeyMaterial(t, p.logs.String())
}

// TestMutualTLS: with -tls-client-ca a client without a certificate, or
// with one from another CA, is refused; with the mode verify-if-given
// (here from the environment) a client without one is served and one with
// a bad one still refused.
func TestMutualTLS(t *testing.T) {
	s := newTestTLS(t)
	intruder := tlstest.NewCA(t, "other CA").Issue(t, "intruder", tlstest.Options{Client: true})
	s.pairs = append(s.pairs, intruder)
	bad := intruder.TLS(t)
	// Sent whatever the server asks for (Go's client sends no
	// certificate rather than one of a CA the server does not name).
	forced := s.config(false)
	forced.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }
	ping := func(p *proc, c *tls.Config) error {
		resp, err := s.httpClient(c).Get(p.base + "/ping")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	}

	p := start(t, t.TempDir(), s.mtlsArgs()...)
	s.use(p)
	if err := ping(p, s.config(true)); err != nil {
		t.Errorf("require: a client with a good certificate: %v", err)
	}
	if err := ping(p, s.config(false)); err == nil {
		t.Error("require: a client without a certificate was served")
	}
	if err := ping(p, forced); err == nil {
		t.Error("require: a client with another CA's certificate was served")
	}
	p.stop()

	t.Setenv("AUTH_TLS_CERT", s.certFile)
	t.Setenv("AUTH_TLS_KEY", s.keyFile)
	t.Setenv("AUTH_TLS_CLIENT_CA", s.clientCAFile)
	t.Setenv("AUTH_TLS_CLIENT_AUTH", "verify-if-given")
	p = start(t, t.TempDir())
	s.use(p)
	if err := ping(p, s.config(true)); err != nil {
		t.Errorf("verify-if-given: a client with a good certificate: %v", err)
	}
	if err := ping(p, s.config(false)); err != nil {
		t.Errorf("verify-if-given: a client without a certificate: %v", err)
	}
	if err := ping(p, forced); err == nil {
		t.Error("verify-if-given: a client with another CA's certificate was served")
	}
	p.stop()
}

// TestTLSAtConnectionCap: at the connection cap, a client that connects
// and never starts its handshake is dropped within the refusal's bound
// instead of holding up the accept loop, and a TLS client past the cap is
// refused with the API's 503 over TLS; once a place is free, TLS clients
// are served again.
func TestTLSAtConnectionCap(t *testing.T) {
	s := newTestTLS(t)
	p := s.start("-max-conns", "1")
	holder := s.httpClient(s.config(true))
	if resp, err := holder.Get(p.base + "/ping"); err != nil {
		t.Fatal(err)
	} else {
		// Read whole, so that the connection stays open, idle: the one
		// place.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	silent, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(50 * time.Millisecond) // accepted, and refused, first

	// The refusal is written as soon as the handshake is done, maybe
	// before the request is sent (an HTTP client may then call it an
	// unsolicited answer): read it over a bare TLS connection.
	late, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.addr(), s.config(true))
	if err != nil {
		t.Fatalf("a TLS client past the cap got no handshake (is the accept loop held by the silent connection?): %v", err)
	}
	_ = late.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(late, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(late), nil)
	if err != nil {
		t.Fatalf("a TLS client past the cap got no answer (is the accept loop held by the silent connection?): %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	late.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"error"`) {
		t.Errorf("past the cap: %d %s, want 503 with a JSON error", resp.StatusCode, b)
	}
	holder.CloseIdleConnections()
	again := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: s.config(true), DisableKeepAlives: true}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := again.Get(p.base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("a TLS client is not served 5 s after the place was freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop()
}

// TestTLSRefusesToStart: files that cannot be served stop the server at
// start, saying why, before it opens its store.
func TestTLSRefusesToStart(t *testing.T) {
	s := newTestTLS(t)
	expired := s.ca.Issue(t, "expired", tlstest.Options{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	s.pairs = append(s.pairs, expired)
	expCert, expKey := expired.Write(t, s.dir, "expired")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"expired", []string{"-tls-cert", expCert, "-tls-key", expKey}, "certificate has expired"},
		{"key of another certificate", []string{"-tls-cert", s.certFile, "-tls-key", expKey}, "private key does not match public key"},
		{"missing key", []string{"-tls-cert", s.certFile, "-tls-key", s.dir + "/none.key"}, "no such file"},
		{"certificate without key", []string{"-tls-cert", s.certFile}, "-tls-cert and -tls-key go together"},
		{"client CA without TLS", []string{"-tls-client-ca", s.clientCAFile}, "-tls-client-ca needs -tls-cert"},
		{"client auth without CA", append(s.args(), "-tls-client-auth", "require"), "-tls-client-auth needs -tls-client-ca"},
		{"unknown client auth", append(s.mtlsArgs(), "-tls-client-auth", "maybe"), `-tls-client-auth "maybe"`},
		{"unknown log format", []string{"-log-format", "xml"}, `-log-format "xml"`},
	}
	for _, c := range cases {
		dir := t.TempDir()
		cmd := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0", "-data", dir}, c.args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v, output:\n%s\nwant a failure saying %q", c.name, err, out, c.want)
		}
		s.noKeyMaterial(t, string(out))
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("%s: the store was opened before the refusal", c.name)
		}
	}
}

// waitLog waits until the log holds s.
func waitLog(t *testing.T, p *proc, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say %q within %v:\n%s", s, within, p.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func grepLines(text, sub string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestMongoTLS: auth-server keeps its events in a MongoDB that speaks TLS
// only, trusting its CA from MONGO_CA_FILE (the -mongo-ca-file flag's
// variable), and the answers survive a restart; without the CA it refuses
// to start, saying why.
func TestMongoTLS(t *testing.T) {
	s := newTestTLS(t)
	certFile, keyFile := s.issue("mongo").Write(t, s.dir, "mongo")
	srv := mongotest.StartTLS(t, mongotest.TLS{CertFile: certFile, KeyFile: keyFile})
	db := mongotest.Database(t)
	args := []string{"-mongo-uri", srv.URI(), "-mongo-db", db}

	out, err := exec.Command(binary, append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-mongo-timeout", "10s"}, args...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate signed by unknown authority") {
		t.Errorf("without the CA: %v, output:\n%s\nwant a failure saying the certificate is not trusted", err, out)
	}

	t.Setenv("MONGO_CA_FILE", s.caFile)
	p := start(t, t.TempDir(), args...)
	p.tellStory()
	p.stop()
	if !strings.Contains(p.logs.String(), "ca-file=") {
		t.Errorf("the start-up log does not name the CA file:\n%s", p.logs)
	}
	p = start(t, t.TempDir(), args...)
	for _, r := range reads {
		p.expect(r[0], r[1], r[2])
	}
	p.stop()
	s.noKeyMaterial(t, p.logs.String())
}
