package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"auth/internal/tlsreload"
)

// tlsConfig is the HTTPS part of the configuration. With none of it set
// the server speaks plain HTTP.
type tlsConfig struct {
	cert, key  string // -tls-cert, -tls-key
	clientCA   string // -tls-client-ca: mutual TLS
	clientAuth string // -tls-client-auth; "" means require
}

func (c *tlsConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.cert, "tls-cert", getenv("AUTH_TLS_CERT"), "serve HTTPS with this certificate file (PEM, followed by any intermediates); reloaded when the file changes, and on SIGHUP (env AUTH_TLS_CERT)")
	fs.StringVar(&c.key, "tls-key", getenv("AUTH_TLS_KEY"), "the private key file of -tls-cert (PEM) (env AUTH_TLS_KEY)")
	fs.StringVar(&c.clientCA, "tls-client-ca", getenv("AUTH_TLS_CLIENT_CA"), "with -tls-cert, accept client certificates signed by these CAs (PEM): mutual TLS (env AUTH_TLS_CLIENT_CA)")
	fs.StringVar(&c.clientAuth, "tls-client-auth", getenv("AUTH_TLS_CLIENT_AUTH"), `with -tls-client-ca: "require" (the default) refuses a client without a certificate, "verify-if-given" admits it (env AUTH_TLS_CLIENT_AUTH)`)
}

func (c *tlsConfig) enabled() bool { return c.cert != "" || c.key != "" }

// validate checks what can be checked before any file is read.
func (c *tlsConfig) validate() error {
	switch {
	case (c.cert == "") != (c.key == ""):
		return errors.New("-tls-cert and -tls-key go together")
	case c.clientCA != "" && !c.enabled():
		return errors.New("-tls-client-ca needs -tls-cert and -tls-key")
	case c.clientAuth != "" && c.clientCA == "":
		return errors.New("-tls-client-auth needs -tls-client-ca")
	case c.clientAuth != "" && c.clientAuth != string(tlsreload.RequireClientCert) && c.clientAuth != string(tlsreload.VerifyClientCertIfGiven):
		return fmt.Errorf("-tls-client-auth %q: want %q or %q", c.clientAuth, tlsreload.RequireClientCert, tlsreload.VerifyClientCertIfGiven)
	}
	return nil
}

// load reads the certificate (and client CA) files: nil without TLS. It
// runs before anything else starts, so that a bad file stops the server
// at once.
func (c *tlsConfig) load(log *slog.Logger) (*tlsreload.Reloader, error) {
	if !c.enabled() {
		return nil, nil
	}
	rc := tlsreload.DefaultConfig(c.cert, c.key)
	rc.ClientCAFile = c.clientCA
	rc.ClientAuth = tlsreload.ClientAuth(c.clientAuth)
	rc.Logger = log
	r, err := tlsreload.New(rc)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return r, nil
}

// serveTLS returns ln serving TLS with r's certificate, follows the files
// until ctx ends, reloads them on SIGHUP, and exports the certificate's
// expiry and failed reloads as metrics (reg may be nil).
func serveTLS(ctx context.Context, r *tlsreload.Reloader, ln net.Listener, reg prometheus.Registerer) net.Listener {
	go r.Run(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = r.Reload() // logged either way
			}
		}
	}()
	if reg != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "auth_tls_certificate_expiration_timestamp_seconds",
				Help: "When the certificate served now expires (Unix time): alert well before it.",
			}, func() float64 { return float64(r.Certificate().NotAfter.Unix()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "auth_tls_reload_failures_total",
				Help: "Certificate files that changed (or SIGHUP) but did not load; the previous certificate is still served.",
			}, func() float64 { return float64(r.Failures()) }),
		)
	}
	return r.Listener(ln)
}
