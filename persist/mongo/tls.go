package mongo

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// applyCAFile makes opts trust the CAs of Config.CAFile, with TLS on.
// The URI keeps every other TLS setting it gives (a client certificate,
// for one); it may not give a CA file too, nor turn TLS off.
func applyCAFile(opts *options.ClientOptions, uri, file string) error {
	if cs, err := connstring.Parse(uri); err == nil {
		switch {
		case cs.SSLCaFileSet:
			return fmt.Errorf("mongo: a CA file is given twice, as CAFile and as tlsCAFile in the URI: give one")
		case cs.SSLSet && !cs.SSL:
			return fmt.Errorf("mongo: CAFile turns TLS on, and the URI turns it off (tls=false): drop one")
		}
	} // else Connect reports the URI's error
	pem, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("mongo: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("mongo: CA file %s holds no PEM certificate", file)
	}
	if opts.TLSConfig == nil {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	opts.TLSConfig.RootCAs = pool
	return nil
}
