package tlsreload

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ClientAuth says whether clients must present a certificate.
type ClientAuth string

// The client certificate modes, as the -tls-client-auth flag names them.
const (
	// RequireClientCert refuses a handshake without a client certificate
	// signed by one of Config.ClientCAFile's CAs.
	RequireClientCert ClientAuth = "require"
	// VerifyClientCertIfGiven accepts a client without a certificate, and
	// refuses one whose certificate does not verify.
	VerifyClientCertIfGiven ClientAuth = "verify-if-given"
)

// DefaultPoll is how often the files are looked at by default.
const DefaultPoll = time.Second

// Config configures a Reloader.
type Config struct {
	// CertFile holds the certificate in PEM, followed by any intermediate
	// certificates; KeyFile its private key in PEM.
	CertFile, KeyFile string
	// ClientCAFile, if set, holds the CAs (PEM) that sign the client
	// certificates accepted; ClientAuth then says whether one is required
	// (the default) or only verified if given. It is reloaded with the
	// pair.
	ClientCAFile string
	ClientAuth   ClientAuth
	// Poll is how often Run looks at the files for a change.
	Poll time.Duration
	// Logger receives loads and failed reloads.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for the pair certFile, keyFile.
func DefaultConfig(certFile, keyFile string) Config {
	return Config{CertFile: certFile, KeyFile: keyFile, Poll: DefaultPoll, Logger: slog.New(slog.DiscardHandler)}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.CertFile == "" || c.KeyFile == "":
		return errors.New("tlsreload: a certificate file and a key file are both needed")
	case c.ClientAuth != "" && c.ClientAuth != RequireClientCert && c.ClientAuth != VerifyClientCertIfGiven:
		return fmt.Errorf("tlsreload: client auth %q is not %q or %q", c.ClientAuth, RequireClientCert, VerifyClientCertIfGiven)
	case c.ClientAuth != "" && c.ClientCAFile == "":
		return errors.New("tlsreload: a client auth mode needs a client CA file")
	case c.Poll <= 0:
		return errors.New("tlsreload: Poll must be positive")
	case c.Logger == nil:
		return errors.New("tlsreload: Logger is nil")
	}
	return nil
}
