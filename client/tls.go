package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// WithTLS makes the client verify an https:// server, and present a client
// certificate if the server asks for one, as cfg says: its RootCAs (nil:
// the system's), its Certificates or GetClientCertificate. [LoadTLS]
// builds one from files. It takes effect on the Client's own transport;
// with [WithHTTPClient] as well, that client's transport must be an
// *http.Transport, which is copied with cfg (any other is reported by
// every call). Plain http:// servers ignore it.
func WithTLS(cfg *tls.Config) Option { return func(c *Client) { c.tls = cfg } }

// TLSFiles names PEM files for [LoadTLS].
type TLSFiles struct {
	// CA holds the certificates of the CAs that sign the server's
	// certificate; empty: the system's CAs.
	CA string
	// Cert and Key are a client certificate (followed by any intermediate
	// certificates) and its private key, for servers that require client
	// certificates (mutual TLS); both or neither.
	Cert, Key string
}

// LoadTLS returns a TLS configuration for [WithTLS] from files. The client
// certificate is read again when its files change (looked at when a new
// connection asks for it), so a rotating issuer's new certificate is
// presented without restarting the program; a pair that does not load
// then is skipped and the previous one presented.
func LoadTLS(f TLSFiles) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("auth: CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth: CA file %s holds no PEM certificate", f.CA)
		}
	}
	switch {
	case f.Cert == "" && f.Key == "":
	case f.Cert == "" || f.Key == "":
		return nil, errors.New("auth: a client certificate needs both its certificate file and its key file")
	default:
		kp := &keyPair{certFile: f.Cert, keyFile: f.Key}
		if err := kp.reload(); err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = kp.get
	}
	return cfg, nil
}

// keyPair is a client certificate read from files, read again when they
// change.
type keyPair struct {
	certFile, keyFile string

	mu         sync.Mutex
	cert       *tls.Certificate
	certStat   os.FileInfo // the files as they were when cert was read
	keyStat    os.FileInfo
	lastFailed time.Time // a reload failed then: do not retry before a second passed
}

func (k *keyPair) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cs, err1 := os.Stat(k.certFile)
	ks, err2 := os.Stat(k.keyFile)
	changed := err1 == nil && err2 == nil && (!sameFile(cs, k.certStat) || !sameFile(ks, k.keyStat))
	if changed && time.Since(k.lastFailed) > time.Second {
		if err := k.reloadLocked(); err != nil {
			k.lastFailed = time.Now() // presented: the previous pair
		}
	}
	return k.cert, nil
}

func (k *keyPair) reload() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked()
}

func (k *keyPair) reloadLocked() error {
	cs, err := os.Stat(k.certFile)
	if err != nil {
		return fmt.Errorf("auth: client certificate: %w", err)
	}
	ks, err := os.Stat(k.keyFile)
	if err != nil {
		return fmt.Errorf("auth: client key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("auth: client certificate %s and key %s: %w", k.certFile, k.keyFile, err)
	}
	k.cert, k.certStat, k.keyStat = &cert, cs, ks
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// applyTLS gives the client's transport its TLS configuration (see
// WithTLS).
func (c *Client) applyTLS() {
	if c.hc == nil {
		t := NewTransport()
		t.TLSClientConfig = c.tls
		c.hc = &http.Client{Transport: t}
		return
	}
	var t *http.Transport
	switch rt := c.hc.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		if c.baseErr == nil {
			c.baseErr = fmt.Errorf("auth: WithTLS needs WithHTTPClient's transport to be an *http.Transport, not %T", rt)
		}
		return
	}
	t.TLSClientConfig = c.tls
	hc := *c.hc
	hc.Transport = t
	c.hc = &hc
}
