package mongo_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"auth/engine"
	"auth/internal/tlstest"
	"auth/persist"
	"auth/persist/mongo"
	"auth/persist/mongo/mongotest"
)

// TestTLS: against the test server speaking TLS only, the store works with
// the CA given as Config.CAFile or as tlsCAFile in the URI, and with a
// client certificate in the URI where the server requires one; without
// the CA, without the certificate, in plain TCP, or with CAFile against a
// server that does not speak TLS, Open fails within its timeout and says
// why. Conflicting settings are refused before any connection.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "mongo CA")
	caFile := ca.WriteCert(t, dir, "ca.pem")
	certFile, keyFile := ca.Issue(t, "mongo", tlstest.Options{}).Write(t, dir, "mongo")
	clientCA := tlstest.NewCA(t, "mongo client CA")
	clientCAFile := clientCA.WriteCert(t, dir, "clients.pem")
	clientPEM := clientCA.Issue(t, "auth-server", tlstest.Options{Client: true}).WriteCombined(t, dir, "client.pem")

	srv := mongotest.StartTLS(t, mongotest.TLS{CertFile: certFile, KeyFile: keyFile})
	mtls := mongotest.StartTLS(t, mongotest.TLS{CertFile: certFile, KeyFile: keyFile, CAFile: clientCAFile})
	plain := mongotest.Start(t)
	if !strings.Contains(srv.URI(), "tls=true") {
		t.Fatalf("the TLS server's URI %s does not say tls=true", srv.URI())
	}
	q := url.QueryEscape
	cases := []struct {
		name      string
		uri       string
		caFile    string
		wantErr   string // "" for a store that works
		reachable bool   // the error is not persist.ErrUnavailable
	}{
		{"CAFile, URI without tls", "mongodb://" + srv.Addr() + "/", caFile, "", true},
		{"CAFile, URI with tls=true", srv.URI(), caFile, "", true},
		{"tlsCAFile in the URI", srv.URI() + "&tlsCAFile=" + q(caFile), "", "", true},
		{"client certificate in the URI", mtls.URI() + "&tlsCertificateKeyFile=" + q(clientPEM), caFile, "", true},
		{"no CA", srv.URI(), "", "certificate signed by unknown authority", false},
		{"plain TCP to TLS", "mongodb://" + srv.Addr() + "/", "", "", false},
		{"no client certificate", mtls.URI(), caFile, "", false},
		{"CAFile against a plain server", plain.URI(), caFile, "", false},
		{"CA twice", srv.URI() + "&tlsCAFile=" + q(caFile), caFile, "a CA file is given twice", true},
		{"CAFile and tls=false", "mongodb://" + srv.Addr() + "/?tls=false", caFile, "the URI turns it off", true},
		{"CA file missing", srv.URI(), dir + "/none.pem", "no such file", true},
		{"CA file without certificates", srv.URI(), keyFile, "holds no PEM certificate", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mongo.DefaultConfig(c.uri)
			cfg.Database = mongotest.Database(t)
			cfg.CAFile = c.caFile
			works := c.wantErr == "" && c.reachable
			if !works {
				cfg.Timeout = time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			begin := time.Now()
			s, err := mongo.Open(ctx, cfg)
			if works {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				tn := engine.KeyID("tls-tenant")
				ev := addRole(tn, 1, "r")
				if err := s.Append(ctx, &ev); err != nil {
					t.Fatalf("Append over TLS: %v", err)
				}
				if head, err := s.Head(ctx, tn); err != nil || head != 1 {
					t.Fatalf("Head over TLS = %d, %v; want 1", head, err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("Open: %v", err)
			if took := time.Since(begin); took > 10*time.Second {
				t.Errorf("Open failed after %v, well past its 1 s timeout", took)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Open: %v, want an error saying %q", err, c.wantErr)
			}
			if errors.Is(err, persist.ErrUnavailable) == c.reachable {
				t.Errorf("Open: %v; wraps ErrUnavailable %v, want %v", err, !c.reachable, !c.reachable)
			}
		})
	}
}
