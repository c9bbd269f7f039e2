package tlsreload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/internal/logbuf"
	"auth/internal/tlstest"
)

// fixture is a CA, a folder of certificate files and a Reloader serving
// them on a loopback listener whose connections echo one byte.
type fixture struct {
	t        *testing.T
	ca       *tlstest.CA
	dir      string
	cfg      Config
	r        *Reloader
	logs     *logbuf.Buffer
	addr     string
	certFile string
	keyFile  string
}

func newFixture(t *testing.T, configure ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, ca: tlstest.NewCA(t, "test CA"), dir: t.TempDir(), logs: &logbuf.Buffer{}}
	f.certFile, f.keyFile = f.ca.Issue(t, "server-1", tlstest.Options{}).Write(t, f.dir, "server")
	f.cfg = DefaultConfig(f.certFile, f.keyFile)
	f.cfg.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	for _, c := range configure {
		c(&f.cfg)
	}
	var err error
	if f.r, err = New(f.cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := f.r.Listener(ln)
	f.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { tln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err == nil {
					_, _ = c.Write(b[:])
				}
			})
		}
	})
	return f
}

// dial makes a connection trusting the fixture's CA (plus cfg's other
// settings) and returns the serial of the certificate it was served.
func (f *fixture) dial(cfg *tls.Config) (*big.Int, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.RootCAs == nil {
		cfg.RootCAs = f.ca.Pool()
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", f.addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// In TLS 1.3 a refused client certificate shows on the first read.
	if _, err := c.Write([]byte{'x'}); err != nil {
		return nil, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func (f *fixture) served() *big.Int {
	f.t.Helper()
	s, err := f.dial(nil)
	if err != nil {
		f.t.Fatalf("handshake: %v", err)
	}
	return s
}

func (f *fixture) noKeyInLogs(pairs ...*tlstest.Pair) {
	f.t.Helper()
	logs := f.logs.String()
	if strings.Contains(logs, "PRIVATE KEY") {
		f.t.Errorf("the log names a PEM private key:\n%s", logs)
	}
	for _, p := range pairs {
		for _, m := range p.KeyMaterial() {
			if strings.Contains(logs, m) {
				f.t.Fatalf("the log holds key material %q:\n%s", m, logs)
			}
		}
	}
}

// TestRotation: files replaced one after the other, with a poll between
// the two (the new certificate with the old key), are served once both
// are there, with no error logged and every handshake served.
func TestRotation(t *testing.T) {
	f := newFixture(t)
	first := f.served()
	if first.Cmp(f.r.Certificate().SerialNumber) != 0 {
		t.Fatal("Certificate is not the one served")
	}
	next := f.ca.Issue(t, "server-2", tlstest.Options{})
	tlstest.WriteFile(t, f.certFile, next.CertPEM)
	f.r.poll() // certificate new, key old: does not load
	if got := f.served(); got.Cmp(first) != 0 {
		t.Fatal("a certificate without its key is served")
	}
	tlstest.WriteFile(t, f.keyFile, next.KeyPEM)
	f.r.poll()
	if got := f.served(); got.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("after the rotation: serial %v, want the new %v", got, next.Cert.SerialNumber)
	}
	if strings.Contains(f.logs.String(), "level=ERROR") || f.r.Failures() != 0 {
		t.Errorf("a rotation in two steps was reported as an error:\n%s", f.logs)
	}
	if n := strings.Count(f.logs.String(), "certificate loaded"); n != 2 {
		t.Errorf("%d loads logged, want 2 (start, rotation):\n%s", n, f.logs)
	}
	f.noKeyInLogs(next)
}

// TestRunFollowsFiles: with Run polling, a replaced pair is served within
// a few polls, and handshakes made all along never fail.
func TestRunFollowsFiles(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Poll = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.r.Run(ctx)
	stop := make(chan struct{})
	errs := make(chan error, 1)
	var handshakes int
	go func() {
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := f.dial(nil); err != nil {
				errs <- err
				return
			}
			handshakes++
		}
	}()
	next := f.ca.Issue(t, "server-2", tlstest.Options{})
	next.Write(t, f.dir, "server")
	deadline := time.Now().Add(5 * time.Second)
	for f.served().Cmp(next.Cert.SerialNumber) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate is not served 5 s after its files were written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Fatalf("a handshake failed during the rotation: %v", err)
	}
	t.Logf("%d handshakes during the rotation, none failed", handshakes)
}

// TestBadFilesKeepThePrevious: files that do not load leave the previous
// certificate served; the failure is logged once, without key material,
// and a good pair written afterwards is served.
func TestBadFilesKeepThePrevious(t *testing.T) {
	other := tlstest.NewCA(t, "other CA").Issue(t, "other", tlstest.Options{})
	expired := (*tlstest.Pair)(nil)
	cases := []struct {
		name      string
		cert, key func(f *fixture) []byte
		want      string
	}{
		{"key of another certificate", nil, func(*fixture) []byte { return other.KeyPEM }, "private key does not match public key"},
		{"garbage key", nil, func(*fixture) []byte { return []byte("not a key\n") }, "failed to find any PEM data in key input"},
		{"truncated key", nil, func(f *fixture) []byte { return other.KeyPEM[:len(other.KeyPEM)/2] }, "failed to find any PEM data in key input"},
		{"certificate as key", nil, func(f *fixture) []byte { return other.CertPEM }, "found a certificate rather than a key"},
		{"expired certificate", func(f *fixture) []byte {
			expired = f.ca.Issue(f.t, "expired", tlstest.Options{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
			return expired.CertPEM
		}, func(*fixture) []byte { return expired.KeyPEM }, "certificate has expired"},
		{"empty certificate", func(*fixture) []byte { return nil }, nil, "failed to find any PEM data in certificate input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			first := f.served()
			if c.cert != nil {
				tlstest.WriteFile(t, f.certFile, c.cert(f))
			}
			if c.key != nil {
				tlstest.WriteFile(t, f.keyFile, c.key(f))
			}
			for range 3 {
				f.r.poll()
				if got := f.served(); got.Cmp(first) != 0 {
					t.Fatal("a pair that does not load replaced the served certificate")
				}
			}
			logs := f.logs.String()
			if n := strings.Count(logs, "level=ERROR"); n != 1 || f.r.Failures() != 1 {
				t.Errorf("%d errors logged, %d failures counted, want 1:\n%s", n, f.r.Failures(), logs)
			}
			if !strings.Contains(logs, c.want) {
				t.Errorf("the log does not say %q:\n%s", c.want, logs)
			}
			f.noKeyInLogs(other)
			if expired != nil {
				f.noKeyInLogs(expired)
			}
			if err := f.r.Reload(); err == nil {
				t.Error("Reload of files that do not load answered nil")
			}
			next := f.ca.Issue(t, "server-2", tlstest.Options{})
			next.Write(t, f.dir, "server")
			f.r.poll()
			if got := f.served(); got.Cmp(next.Cert.SerialNumber) != 0 {
				t.Fatal("a good pair written after a bad one is not served")
			}
		})
	}
}

// TestReload: Reload (SIGHUP) loads at once, without waiting for a poll.
func TestReload(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Poll = time.Hour })
	next := f.ca.Issue(t, "server-2", tlstest.Options{})
	next.Write(t, f.dir, "server")
	if err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := f.served(); got.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatal("Reload did not serve the new pair")
	}
}

// TestNewRefuses: New fails, clearly, on files that cannot be served.
func TestNewRefuses(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	good := ca.Issue(t, "good", tlstest.Options{})
	certFile, keyFile := good.Write(t, dir, "good")
	expCert, expKey := ca.Issue(t, "old", tlstest.Options{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Minute)}).Write(t, dir, "old")
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing key", DefaultConfig(certFile, filepath.Join(dir, "none.key")), "key file: open"},
		{"missing certificate", DefaultConfig(filepath.Join(dir, "none.crt"), keyFile), "certificate file: open"},
		{"expired", DefaultConfig(expCert, expKey), "certificate has expired"},
		{"no key file named", DefaultConfig(certFile, ""), "a certificate file and a key file are both needed"},
		{"client auth without CA", func() Config {
			c := DefaultConfig(certFile, keyFile)
			c.ClientAuth = RequireClientCert
			return c
		}(), "needs a client CA file"},
		{"unknown client auth", func() Config {
			c := DefaultConfig(certFile, keyFile)
			c.ClientCAFile, c.ClientAuth = ca.WriteCert(t, dir, "ca.pem"), "sometimes"
			return c
		}(), `client auth "sometimes"`},
		{"client CA file without certificates", func() Config {
			c := DefaultConfig(certFile, keyFile)
			c.ClientCAFile = keyFile
			return c
		}(), "holds no PEM certificate"},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, want an error saying %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), good.KeyMaterial()[0]) {
			t.Errorf("%s: the error holds key material", c.name)
		}
	}
	if _, err := New(DefaultConfig(expCert, expKey)); !errors.Is(err, ErrExpired) {
		t.Errorf("an expired certificate: %v, want ErrExpired", err)
	}
}

// TestClientCertificates: with a client CA, "require" refuses a client
// without a certificate or with one from another CA; "verify-if-given"
// takes a client without one and still refuses a bad one. A replaced CA
// file is followed like the pair.
func TestClientCertificates(t *testing.T) {
	clientCA := tlstest.NewCA(t, "client CA")
	otherCA := tlstest.NewCA(t, "other CA")
	good := clientCA.Issue(t, "service-a", tlstest.Options{Client: true}).TLS(t)
	bad := otherCA.Issue(t, "intruder", tlstest.Options{Client: true}).TLS(t)
	expiredClient := clientCA.Issue(t, "old", tlstest.Options{Client: true, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).TLS(t)
	type outcome struct{ None, Good, Bad, Expired bool }
	for name, mode := range map[string]ClientAuth{"default": "", "require": RequireClientCert, "verify-if-given": VerifyClientCertIfGiven} {
		t.Run(name, func(t *testing.T) {
			var caFile string
			f := newFixture(t, func(c *Config) {
				caFile = clientCA.WriteCert(t, t.TempDir(), "clients.pem")
				c.ClientCAFile, c.ClientAuth = caFile, mode
			})
			try := func(cert *tls.Certificate) bool {
				// Sent whatever the server asks for: Go's client
				// would otherwise send no certificate rather than one
				// of a CA the server does not name.
				cfg := &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if cert == nil {
						return &tls.Certificate{}, nil
					}
					return cert, nil
				}}
				_, err := f.dial(cfg)
				return err == nil
			}
			got := outcome{try(nil), try(&good), try(&bad), try(&expiredClient)}
			want := outcome{None: mode == VerifyClientCertIfGiven, Good: true}
			if mode == "" { // the default with a CA file is to require one
				want.None = false
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("handshakes accepted (-want +got):\n%s", d)
			}
			// Trust the other CA instead: its clients are let in, the
			// first CA's are not any more.
			tlstest.WriteFile(t, caFile, otherCA.CertPEM)
			f.r.poll()
			if !try(&bad) || try(&good) {
				t.Error("a replaced client CA file is not followed")
			}
		})
	}
}

// TestTLSVersions: TLS 1.2 and 1.3 are served, older versions are not.
func TestTLSVersions(t *testing.T) {
	f := newFixture(t)
	for v, ok := range map[uint16]bool{tls.VersionTLS10: false, tls.VersionTLS11: false, tls.VersionTLS12: true, tls.VersionTLS13: true} {
		_, err := f.dial(&tls.Config{MinVersion: v, MaxVersion: v})
		if (err == nil) != ok {
			t.Errorf("TLS version %x: handshake error %v, want accepted %v", v, err, ok)
		}
	}
}

// TestRefusalBeforeHandshakeIsBounded: a write with a deadline on a
// connection whose client never starts its handshake returns by that
// deadline (as a server's refusal at a connection cap does), instead of
// waiting for a ClientHello that never comes.
func TestRefusalBeforeHandshakeIsBounded(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, "server", tlstest.Options{}).Write(t, dir, "server")
	r, err := New(DefaultConfig(certFile, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := r.Listener(ln)
	defer tln.Close()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := tln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\n\r\n"))
		done <- err
		c.Close()
	}()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("write = %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		c.Close()
		t.Fatal("a write before the handshake waited past its deadline for a client that sends nothing")
	}
}

// TestLoadedLogSaysWhat: the load is logged with what an operator checks
// (subject, names, expiry, fingerprint), and nothing of the key.
func TestLoadedLogSaysWhat(t *testing.T) {
	f := newFixture(t)
	logs := f.logs.String()
	for _, want := range []string{"certificate loaded", `subject="CN=server-1"`, "dns=[localhost]", "ips=\"[127.0.0.1 ::1]\"", "not_after=", "sha256="} {
		if !strings.Contains(logs, want) {
			t.Errorf("the load's log lacks %q:\n%s", want, logs)
		}
	}
	data, err := os.ReadFile(f.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs, "PRIVATE KEY") || strings.Contains(logs, string(data[30:60])) {
		t.Errorf("the log holds the key:\n%s", logs)
	}
}

// TestExpiresSoon: the warning is for certificates near the end of their
// lifetime, whatever its length.
func TestExpiresSoon(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	cases := []struct {
		name                string
		notBefore, notAfter time.Time
		want                bool
	}{
		{"90 days, fresh", now, now.Add(90 * day), false},
		{"90 days, 5 left", now.Add(-85 * day), now.Add(5 * day), true},
		{"1 day, fresh", now.Add(-time.Minute), now.Add(day), false},
		{"1 day, 2 hours left", now.Add(-22 * time.Hour), now.Add(2 * time.Hour), true},
		{"a year, 8 days left", now.Add(-357 * day), now.Add(8 * day), false},
	}
	for _, c := range cases {
		if got := expiresSoon(&x509.Certificate{NotBefore: c.notBefore, NotAfter: c.notAfter}, now); got != c.want {
			t.Errorf("%s: expiresSoon = %v, want %v", c.name, got, c.want)
		}
	}
}
