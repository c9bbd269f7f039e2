package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"auth/persist"
)

// Config configures the admin listener.
type Config struct {
	// Addr is where to listen; empty: the listener is off.
	Addr string
	// Token, if set, is required of every request as a Bearer token, and
	// lets Addr be other than a loopback address. At least MinTokenLen
	// bytes.
	Token string
	// Backup opens a copy of the store for GET /admin/backup; nil: the
	// store has none to give (MongoDB is backed up with its own tools).
	Backup func(ctx context.Context) (Copy, error)
	// Logger receives a line per backup; nil discards.
	Logger *slog.Logger
	// ReadHeaderTimeout bounds the wait for a request's headers. There is
	// no write timeout: a backup or a profile takes as long as it takes.
	ReadHeaderTimeout time.Duration
}

// MinTokenLen is the shortest token accepted.
const MinTokenLen = 16

// Copy is a consistent copy of a store, pinned until closed.
type Copy interface {
	io.WriterTo
	// Size is the copy's length in bytes.
	Size() int64
	// Name is a file name for it.
	Name() string
	Close() error
}

// DefaultConfig returns the listener off.
func DefaultConfig() Config {
	return Config{ReadHeaderTimeout: 10 * time.Second}
}

// Validate reports a configuration that cannot work or is unsafe: a
// listener beyond loopback without a token, a short token.
func (c Config) Validate() error {
	if c.Addr == "" {
		return nil
	}
	if c.Token != "" && len(c.Token) < MinTokenLen {
		return fmt.Errorf("admin: the token must be at least %d bytes", MinTokenLen)
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("admin: address %q: %w", c.Addr, err)
	}
	if c.Token == "" && !loopbackHost(host) {
		return fmt.Errorf("admin: %q is not a loopback address: the admin listener serves backups and profiles, which are not for the network; listen on 127.0.0.1, or set a token to listen beyond loopback", c.Addr)
	}
	if c.ReadHeaderTimeout <= 0 {
		return errors.New("admin: ReadHeaderTimeout must be positive")
	}
	return nil
}

// loopbackHost reports whether host names only loopback addresses: a
// loopback IP, or "localhost". An empty host is every interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is the admin listener.
type Server struct {
	cfg Config
	srv *http.Server
	log *slog.Logger
}

// New returns the admin server of cfg, which must have an address.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		return nil, errors.New("admin: no address")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Handler returns the admin routes, behind the access check.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/admin/backup", s.backup)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: the admin listener serves GET /admin/backup and /debug/pprof/")
	})
	return s.guard(mux)
}

// guard lets through only requests with the token, or, without one, from
// a loopback peer.
func (s *Server) guard(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil || !loopbackHost(host) {
				writeError(w, http.StatusForbidden, "the admin listener answers loopback peers only, unless it has a token")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="auth-server admin"`)
			writeError(w, http.StatusUnauthorized, "the admin listener needs Authorization: Bearer <admin token>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "GET /admin/backup")
		return
	}
	if s.cfg.Backup == nil {
		writeError(w, http.StatusNotImplemented, "this store has no backup to give here: back MongoDB up with its own tools (mongodump)")
		return
	}
	c, err := s.cfg.Backup(r.Context())
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, persist.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		s.log.Error("backup refused", "err", err)
		writeError(w, status, "backup: "+err.Error())
		return
	}
	defer c.Close()
	begin := time.Now()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(c.Size(), 10))
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", c.Name()))
	h.Set("Cache-Control", "no-store")
	n, err := c.WriteTo(w)
	if err != nil {
		s.log.Error("backup cut short", "name", c.Name(), "bytes", n, "of", c.Size(), "err", err)
		// Abort the connection: the client sees fewer bytes than
		// Content-Length said, never a copy that looks whole.
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup sent", "name", c.Name(), "bytes", n, "duration", time.Since(begin).Round(time.Millisecond))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Serve serves on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the listener and waits for requests in flight until ctx
// ends, then cuts those left (a long backup) off: a store closes only once
// its backups are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		return errors.Join(err, s.srv.Close())
	}
	return nil
}
