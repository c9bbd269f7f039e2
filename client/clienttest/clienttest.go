// Package clienttest runs a real auth-server inside a test's process, for
// tests of code that uses package client: the same HTTP server, replica
// and embedded store the auth-server command runs, on a loopback port,
// with its data in a temporary directory.
package clienttest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"auth/engine"
	"auth/httpapi"
	"auth/persist/bolt"
	"auth/replica"
)

// Server is a running server.
type Server struct {
	// URL is the server's base URL, such as http://127.0.0.1:41234.
	URL string
	// HTTP is the HTTP server, for its Routes.
	HTTP *httpapi.Server

	dir     string
	ownsDir bool
	store   *bolt.Store
	rep     *replica.Replica
	done    chan error
	extra   []chan error // ServeTLS's
}

// Start starts a server with its data in dir ("" for a new temporary
// directory, removed by Close); configure adjusts its HTTP configuration.
func Start(dir string, configure ...func(*httpapi.Config)) (_ *Server, err error) {
	s := &Server{dir: dir}
	if dir == "" {
		if s.dir, err = os.MkdirTemp("", "clienttest"); err != nil {
			return nil, err
		}
		s.ownsDir = true
	}
	defer func() {
		if err != nil {
			s.closeStore()
		}
	}()
	if s.store, err = bolt.Open(bolt.DefaultConfig(s.dir)); err != nil {
		return nil, err
	}
	if s.rep, err = replica.New(engine.New(), s.store, replica.DefaultConfig()); err != nil {
		return nil, err
	}
	if _, err = s.rep.Load(context.Background()); err != nil {
		return nil, err
	}
	cfg := httpapi.DefaultConfig()
	for _, c := range configure {
		c(&cfg)
	}
	if s.HTTP, err = httpapi.New(cfg, service{s.rep, s.store.Epoch()}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + ln.Addr().String()
	s.done = make(chan error, 1)
	go func() { s.done <- s.HTTP.Serve(ln) }()
	return s, nil
}

// Epoch is the epoch of the server's store (see bolt.Store.Epoch).
func (s *Server) Epoch() string { return s.store.Epoch() }

// Backup writes a backup of the server's store to w, as the admin
// listener's GET /admin/backup does: a server started on a directory
// holding it (as bolt.FileName) is the restore, and takes a new epoch.
func (s *Server) Backup(ctx context.Context, w io.Writer) error {
	b, err := s.store.OpenBackup(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	_, err = b.WriteTo(w)
	return err
}

// Restore starts a server whose store is backup (as Backup writes it), in
// a new temporary directory that Close removes: the restore, which takes
// a new epoch.
func Restore(backup []byte, configure ...func(*httpapi.Config)) (*Server, error) {
	dir, err := os.MkdirTemp("", "clienttest")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, bolt.FileName), backup, 0o600); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	s, err := Start(dir, configure...)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	s.ownsDir = true
	return s, nil
}

// ServeTLS serves the same server on another loopback port, over TLS
// with cfg (its certificate, client certificates), and returns that
// port's https:// URL. Close stops it with the rest. Call it before the
// server is in use by other goroutines.
func (s *Server) ServeTLS(cfg *tls.Config) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	done := make(chan error, 1)
	s.extra = append(s.extra, done)
	go func() { done <- s.HTTP.Serve(tls.NewListener(ln, cfg)) }()
	return "https://" + ln.Addr().String(), nil
}

// Close stops the server, waiting up to 5 s for requests in flight (and
// ending event streams), and removes its data if Start made the directory.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.HTTP.Shutdown(ctx)
	err = errors.Join(err, <-s.done)
	for _, done := range s.extra {
		err = errors.Join(err, <-done)
	}
	return errors.Join(err, s.closeStore())
}

func (s *Server) closeStore() error {
	var err error
	if s.rep != nil {
		err = s.rep.Close()
	}
	if s.store != nil {
		err = errors.Join(err, s.store.Close())
	}
	if s.ownsDir {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

// service is the replica, describing itself on GET /status.
type service struct {
	*replica.Replica
	epoch string
}

func (s service) StoreDescription() string { return "embedded" }
func (s service) BusStatus() string        { return "none" }
func (s service) TenantCount() int         { return s.Engine().TenantCount() }
func (s service) StoreEpoch() string       { return s.epoch }

// New starts a server for the test, with its data in tb.TempDir(), and
// stops it when the test ends.
func New(tb testing.TB, configure ...func(*httpapi.Config)) *Server {
	tb.Helper()
	s, err := Start(tb.TempDir(), configure...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("clienttest: closing the server: %v", err)
		}
	})
	return s
}

// SampleTenant is an import (JSON lines, as POST /v1/import takes them)
// of the tenant benchmarks check against: 1,000 users in 10 roles, each
// role granted 10 permissions. User user-U is a member of role role-(U%10);
// role role-R is granted perm-(10R) to perm-(10R+9); so user-U has
// perm-P exactly when P/10 == U%10.
func SampleTenant() string {
	var lines strings.Builder
	for r := range 10 {
		fmt.Fprintf(&lines, "{\"role\": \"role-%d\"}\n", r)
		for p := range 10 {
			fmt.Fprintf(&lines, "{\"role\": \"role-%d\", \"permission\": \"perm-%d\"}\n", r, 10*r+p)
		}
	}
	for u := range 1000 {
		fmt.Fprintf(&lines, "{\"role\": \"role-%d\", \"user\": \"user-%d\"}\n", u%10, u)
	}
	return lines.String()
}
