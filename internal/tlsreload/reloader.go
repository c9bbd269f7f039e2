package tlsreload

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrExpired is the error of a certificate past its NotAfter.
var ErrExpired = errors.New("certificate has expired")

// Reloader serves the current certificate of its files. It is safe for
// concurrent use.
type Reloader struct {
	cfg  Config
	base *tls.Config
	cur  atomic.Pointer[state]

	failures atomic.Uint64 // reloads reported as failed

	mu       sync.Mutex // serializes loads; guards what follows
	seen     fileStats  // the files as they were at the last load attempt
	failed   error      // that attempt's error; nil if it loaded
	reported bool       // failed has been logged
}

// state is what one load gave.
type state struct {
	cert *tls.Certificate // Leaf set
	// config is the handshake's configuration with the client CAs of this
	// load; nil without client certificates.
	config *tls.Config
}

// New loads the files and returns a Reloader serving them; it fails if
// they do not load. Call Run to follow changes.
func New(cfg Config) (*Reloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Reloader{cfg: cfg}
	r.base = &tls.Config{
		// Go's defaults choose the cipher suites (only AEADs with forward
		// secrecy for TLS 1.2, all of TLS 1.3's) and the curves.
		MinVersion: tls.VersionTLS12,
		// HTTP/1.1 only: the server speaks nothing else, and saying so
		// keeps clients that offer h2 from trying it.
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
	}
	if cfg.ClientCAFile != "" {
		r.base.ClientAuth = tls.RequireAndVerifyClientCert
		if cfg.ClientAuth == VerifyClientCertIfGiven {
			r.base.ClientAuth = tls.VerifyClientCertIfGiven
		}
		r.base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load().config, nil
		}
	}
	r.seen = r.stat()
	st, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(st)
	r.logLoaded(st)
	return r, nil
}

// TLSConfig returns the server configuration that serves the current
// certificate. Do not modify it.
func (r *Reloader) TLSConfig() *tls.Config { return r.base }

// Certificate returns the certificate served now.
func (r *Reloader) Certificate() *x509.Certificate { return r.cur.Load().cert.Leaf }

// Failures returns how many reloads failed and were reported.
func (r *Reloader) Failures() uint64 { return r.failures.Load() }

// Run looks at the files every Config.Poll and loads them when they
// change, until ctx ends.
func (r *Reloader) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.poll()
		}
	}
}

// poll loads the files if they changed since the last attempt, and
// retries (once) an attempt that failed: see "When files are read again"
// in the package doc.
func (r *Reloader) poll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.stat()
	switch {
	case !now.equal(r.seen):
		r.seen = now
		_ = r.try(false)
	case r.failed != nil && !r.reported:
		_ = r.try(true)
	}
}

// Reload loads the files now, whether they changed or not, and logs the
// outcome. On failure the previous certificate stays.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = r.stat()
	return r.try(true)
}

// try loads the files and serves them, or keeps the current state; a
// failure is logged if report. r.mu is held.
func (r *Reloader) try(report bool) error {
	st, err := r.load()
	if err != nil {
		r.failed, r.reported = err, report
		if report {
			r.failures.Add(1)
			old := r.cur.Load().cert.Leaf
			r.cfg.Logger.Error("tls: the certificate files do not load; still serving the previous certificate",
				"err", err, "serving_sha256", fingerprint(old), "serving_not_after", old.NotAfter)
		}
		return err
	}
	r.failed = nil
	r.cur.Store(st)
	r.logLoaded(st)
	return nil
}

func (r *Reloader) logLoaded(st *state) {
	leaf := st.cert.Leaf
	ips := make([]string, len(leaf.IPAddresses))
	for i, ip := range leaf.IPAddresses {
		ips[i] = ip.String()
	}
	args := []any{"cert_file", r.cfg.CertFile, "subject", leaf.Subject.String(), "dns", leaf.DNSNames, "ips", ips,
		"issuer", leaf.Issuer.String(), "not_before", leaf.NotBefore, "not_after", leaf.NotAfter, "sha256", fingerprint(leaf)}
	if r.cfg.ClientCAFile != "" {
		args = append(args, "client_ca_file", r.cfg.ClientCAFile, "client_auth", r.base.ClientAuth.String())
	}
	r.cfg.Logger.Info("tls: certificate loaded", args...)
	now := time.Now()
	switch {
	case now.Before(leaf.NotBefore):
		// Served anyway: clients whose clocks are ahead accept it, and
		// refusing it would keep a certificate that is about to expire.
		r.cfg.Logger.Warn("tls: the certificate is not valid yet (is this machine's clock behind?)", "not_before", leaf.NotBefore)
	case expiresSoon(leaf, now):
		r.cfg.Logger.Warn("tls: the certificate expires soon", "not_after", leaf.NotAfter)
	}
}

// expiresSoon says whether c has less than a week left and less than a
// third of its lifetime: a short-lived certificate (a day, say) freshly
// issued is not near its end, one whose rotation has stalled is.
func expiresSoon(c *x509.Certificate, now time.Time) bool {
	left := c.NotAfter.Sub(now)
	return left < 7*24*time.Hour && left < c.NotAfter.Sub(c.NotBefore)/3
}

// load reads the files.
func (r *Reloader) load() (*state, error) {
	certPEM, err := os.ReadFile(r.cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(r.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM) // the key lives on in cert only
	if err != nil {
		return nil, fmt.Errorf("certificate %s and key %s: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	if cert.Leaf == nil { // X509KeyPair sets it; be sure
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", r.cfg.CertFile, err)
		}
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("certificate %s: %w (at %s)", r.cfg.CertFile, ErrExpired, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	st := &state{cert: &cert}
	if r.cfg.ClientCAFile != "" {
		caPEM, err := os.ReadFile(r.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("client CA file %s holds no PEM certificate", r.cfg.ClientCAFile)
		}
		st.config = r.base.Clone()
		st.config.GetConfigForClient = nil
		st.config.ClientCAs = pool
	}
	return st, nil
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// fileStat is what a poll compares of one file; fi is nil if it could not
// be stat'ed.
type fileStat struct{ fi os.FileInfo }

func (a fileStat) equal(b fileStat) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

// fileStats are the files' stats: certificate, key, client CAs.
type fileStats [3]fileStat

func (a fileStats) equal(b fileStats) bool {
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

func (r *Reloader) stat() fileStats {
	var s fileStats
	for i, name := range []string{r.cfg.CertFile, r.cfg.KeyFile, r.cfg.ClientCAFile} {
		if name != "" {
			s[i].fi, _ = os.Stat(name)
		}
	}
	return s
}
