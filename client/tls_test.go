package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
	"auth/internal/tlstest"
)

// tlsServer is a real server serving TLS with a certificate of its own CA,
// written as files.
type tlsServer struct {
	url    string
	ca     *tlstest.CA
	caFile string
	dir    string
}

func startTLS(t *testing.T, cert tls.Certificate, configure func(*tls.Config)) (*clienttest.Server, string) {
	t.Helper()
	srv := clienttest.New(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if configure != nil {
		configure(cfg)
	}
	u, err := srv.ServeTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, u
}

func newTLSServer(t *testing.T, configure func(*tls.Config)) *tlsServer {
	t.Helper()
	s := &tlsServer{ca: tlstest.NewCA(t, "server CA"), dir: t.TempDir()}
	s.caFile = s.ca.WriteCert(t, s.dir, "ca.pem")
	_, s.url = startTLS(t, s.ca.Issue(t, "auth", tlstest.Options{}).TLS(t), configure)
	return s
}

// trusted is a client TLS configuration that trusts the server's CA
// (and has no certificate of its own).
func (s *tlsServer) trusted(t *testing.T) *tls.Config {
	t.Helper()
	cfg, err := client.LoadTLS(client.TLSFiles{CA: s.caFile})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTLSCustomCA: an https:// server whose certificate comes from a
// private CA is served through WithTLS(LoadTLS(CA)), and refused without
// it.
func TestTLSCustomCA(t *testing.T) {
	ctx := context.Background()
	s := newTLSServer(t, nil)
	cfg := s.trusted(t)
	c := client.New(s.url, "tls-ca-key", client.WithTLS(cfg))
	defer c.CloseIdleConnections()
	if _, err := c.AddRole(ctx, "r"); err != nil {
		t.Fatalf("AddRole over TLS: %v", err)
	}
	if _, err := c.AddPermission(ctx, "r", "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddMembership(ctx, "u", "r"); err != nil {
		t.Fatal(err)
	}
	if a, err := c.UserHasPermission(ctx, "u", "p"); err != nil || !a.Result {
		t.Fatalf("UserHasPermission over TLS = %+v, %v", a, err)
	}

	// The system's CAs do not know the private CA.
	plain := client.New(s.url, "tls-ca-key")
	defer plain.CloseIdleConnections()
	err := plain.Ping(ctx)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("without the CA: %v, want x509.UnknownAuthorityError", err)
	}
	if err != nil && strings.Contains(err.Error(), "tls-ca-key") {
		t.Error("the error holds the key")
	}
}

// TestTLSRefusesBadCertificates: a server certificate that has expired,
// is not valid yet, is for another name, or comes from another CA is
// refused.
func TestTLSRefusesBadCertificates(t *testing.T) {
	ca := tlstest.NewCA(t, "server CA")
	cfg := &tls.Config{RootCAs: ca.Pool()}
	now := time.Now()
	expired := ca.Issue(t, "auth", tlstest.Options{NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
	early := ca.Issue(t, "auth", tlstest.Options{NotBefore: now.Add(time.Hour), NotAfter: now.Add(2 * time.Hour)})
	other := tlstest.NewCA(t, "other CA").Issue(t, "auth", tlstest.Options{})
	wrongName := ca.Issue(t, "auth", tlstest.Options{Client: true}) // no server names, client usage
	cases := []struct {
		name  string
		cert  *tlstest.Pair
		check func(error) bool
	}{
		{"expired", expired, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{"not valid yet", early, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired // Go reports both as Expired
		}},
		{"another CA", other, func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
		{"not a server certificate for this name", wrongName, func(err error) bool { return err != nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, u := startTLS(t, tc.cert.TLS(t), nil)
			c := client.New(u, "k", client.WithTLS(cfg))
			defer c.CloseIdleConnections()
			if err := c.Ping(context.Background()); !tc.check(err) {
				t.Errorf("Ping = %v", err)
			}
		})
	}
}

// TestTLSClientCertificate: a server that requires client certificates
// serves a client given one by LoadTLS and refuses one without; a client
// certificate replaced on disk is presented on the next connection.
func TestTLSClientCertificate(t *testing.T) {
	ctx := context.Background()
	clientCA := tlstest.NewCA(t, "client CA")
	var (
		mu   sync.Mutex
		seen []string // the client certificates' names, by handshake
	)
	s := newTLSServer(t, func(c *tls.Config) {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = clientCA.Pool()
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, cs.PeerCertificates[0].Subject.CommonName)
			return nil
		}
	})
	certFile, keyFile := clientCA.Issue(t, "service-a", tlstest.Options{Client: true}).Write(t, s.dir, "client")
	cfg, err := client.LoadTLS(client.TLSFiles{CA: s.caFile, Cert: certFile, Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.url, "mtls-key", client.WithTLS(cfg))
	defer c.CloseIdleConnections()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	noCert := s.trusted(t)
	without := client.New(s.url, "mtls-key", client.WithTLS(noCert))
	defer without.CloseIdleConnections()
	if err := without.Ping(ctx); err == nil {
		t.Error("a client without a certificate was served")
	}

	// Rotation: the next connection presents the new certificate.
	clientCA.Issue(t, "service-a-2", tlstest.Options{Client: true}).Write(t, s.dir, "client")
	c.CloseIdleConnections()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("after the client certificate's rotation: %v", err)
	}
	// A pair that does not load: the previous one is presented.
	tlstest.WriteFile(t, keyFile, []byte("not a key\n"))
	c.CloseIdleConnections()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("with a broken pair on disk: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"service-a", "service-a-2", "service-a-2"}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("client certificates presented: %q, want %q", seen, want)
	}
}

// TestWithTLSAndHTTPClient: WithTLS applies to the transport given by
// WithHTTPClient, copied, when it is an *http.Transport; another
// RoundTripper is reported by the calls.
func TestWithTLSAndHTTPClient(t *testing.T) {
	ctx := context.Background()
	s := newTLSServer(t, nil)
	cfg := s.trusted(t)
	own := client.NewTransport()
	c := client.New(s.url, "k", client.WithHTTPClient(&http.Client{Transport: own}), client.WithTLS(cfg))
	defer c.CloseIdleConnections()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("WithHTTPClient(*http.Transport) and WithTLS: %v", err)
	}
	// (Cloning a transport sets up HTTP/2 on it, TLSClientConfig with
	// it; the CA must not be there.)
	if own.TLSClientConfig != nil && own.TLSClientConfig.RootCAs != nil {
		t.Error("WithTLS changed the caller's transport")
	}
	odd := client.New(s.url, "k", client.WithHTTPClient(&http.Client{Transport: &recorder{next: own}}), client.WithTLS(cfg))
	if err := odd.Ping(ctx); err == nil || !strings.Contains(err.Error(), "WithTLS needs") {
		t.Errorf("WithTLS with a RoundTripper of its own: %v, want an error saying why", err)
	}
}

// TestLoadTLSRefuses: files that cannot make a configuration are refused,
// saying why.
func TestLoadTLSRefuses(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "CA")
	caFile := ca.WriteCert(t, dir, "ca.pem")
	certFile, keyFile := ca.Issue(t, "c", tlstest.Options{Client: true}).Write(t, dir, "c")
	for _, c := range []struct {
		files client.TLSFiles
		want  string
	}{
		{client.TLSFiles{CA: dir + "/none.pem"}, "no such file"},
		{client.TLSFiles{CA: keyFile}, "holds no PEM certificate"},
		{client.TLSFiles{CA: caFile, Cert: certFile}, "needs both"},
		{client.TLSFiles{Cert: certFile, Key: caFile}, "client certificate"},
	} {
		if _, err := client.LoadTLS(c.files); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadTLS(%+v) = %v, want an error saying %q", c.files, err, c.want)
		}
	}
}
