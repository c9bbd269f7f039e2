package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"auth/engine"
)

// Service is what the API needs from the system: reads from a tenant's
// in-memory state and durable writes.
type Service interface {
	// Tenant returns the tenant's state for reads; nil is an empty tenant.
	Tenant(id engine.TenantID) *engine.Tenant
	// Access returns what key may do in which tenant (engine.Engine.Access),
	// without hashing the key on every call; it must not allocate.
	Access(key string) engine.Access
	// Write makes change c to the tenant of key durably and returns the
	// original API's answer and the tenant's seq after it. Errors tell the
	// outcome: engine.ErrInvalid (bad input) and persist.ErrUnavailable or
	// persist.ErrClosed without persist.ErrAmbiguous (the store could not
	// take it) mean nothing changed; persist.ErrAmbiguous means the write
	// may have been made, or was made at the seq returned (when not 0) and
	// its answer is unknown. Any other error is taken as unknown too.
	Write(ctx context.Context, key string, c engine.Change) (result bool, seq uint64, err error)
	// WriteBatch makes all of changes as one event, atomically, and
	// returns the tenant's seq after it; errors as for Write.
	WriteBatch(ctx context.Context, key string, changes []engine.Change) (seq uint64, err error)
	// WaitSeq waits until the tenant is applied up to seq here, or ctx
	// ends (an error).
	WaitSeq(ctx context.Context, id engine.TenantID, seq uint64) error
	// OnApplied registers fn to be told of every event applied, by tenant
	// and seq, in seq order per tenant; fn must be quick. The server
	// registers once, in New. It must not keep anything per tenant that
	// is not there already: watchers name any key they like.
	OnApplied(fn func(id engine.TenantID, seq uint64))
	// Events returns up to limit of the tenant's applied events after
	// seq, in seq order.
	Events(ctx context.Context, id engine.TenantID, after uint64, limit int) ([]engine.Event, error)
}

// Config configures a Server.
type Config struct {
	// Name is sent in the Server header.
	Name string
	// ReadTimeout, WriteTimeout and IdleTimeout bound a connection's
	// request read (headers and body: a client that trickles a request,
	// slowloris-style, is cut off), response write and keep-alive idle
	// time.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConns caps concurrent connections; MaxConnsPerIP caps them per
	// client address (0: no cap). Connections past a cap are refused.
	MaxConns, MaxConnsPerIP int
	// MaxHeaderBytes bounds a request's line and headers; larger answer
	// 431.
	MaxHeaderBytes int
	// MaxRequestBodySize refuses larger bodies with 413, on every route
	// but the import.
	MaxRequestBodySize int
	// MaxImportBodySize bounds the body of POST /v1/import: bytes are
	// counted as they are read, and the import answers 413 the moment
	// they pass it.
	MaxImportBodySize int
	// MaxImports bounds the imports in progress at once on the server
	// (one per tenant in any case); past it an import answers 429.
	MaxImports int
	// MaxBatchChecks bounds the checks of one POST /v1/check.
	MaxBatchChecks int
	// MinSeqWait bounds how long a /v1 read with min_seq waits for this
	// replica to catch up before it answers 409.
	MinSeqWait time.Duration
	// MaxWatch bounds the wait of a long-polling GET /v1/events.
	MaxWatch time.Duration
	// MaxWatches caps the event streams and waiting long-polls in
	// progress on the server, MaxWatchesPerClient those of one client
	// (0: no cap per client); past a cap they answer 429.
	MaxWatches, MaxWatchesPerClient int
	// MaxStreamLifetime ends an event stream after this long; the client
	// resumes with Last-Event-ID.
	MaxStreamLifetime time.Duration
	// IPv6PrefixBits groups IPv6 clients by prefix for the per-client
	// caps (connections and watches): 64 counts a /64 as one client.
	IPv6PrefixBits int
	// WriteDeadline bounds one write through the Service, so that a stuck
	// store answers 503 instead of hanging the client.
	WriteDeadline time.Duration
	// Logger receives server errors; never keys.
	Logger *slog.Logger
	// AccessLog logs every request, the key redacted (see accesslog.go).
	AccessLog bool
	// Registerer, if set, receives the HTTP metrics.
	Registerer prometheus.Registerer
	// Gatherer, if set, is served at GET /metrics.
	Gatherer prometheus.Gatherer
	// UI, if set, serves the web console (package httpapi/ui) at
	// GET /ui/{file:*} (the page at /ui/); GET /ui redirects to /ui/.
	UI fasthttp.RequestHandler
	// Ready, if set, decides GET /readyz: nil means ready, an error says
	// what is not.
	Ready func(ctx context.Context) error
	// ClosedTenants refuses writes under a key no tenant has (401), for
	// deployments that make tenants deliberately; by default such a write
	// makes the tenant, as the original server does.
	ClosedTenants bool
	// ConvergeWithin is the bound on how long another replica may take to
	// apply an event (a bus's Config.Converge); 0 for a server without
	// replicas. DELETE /v1/tenant says by when the tenant is gone from
	// every replica with it.
	ConvergeWithin time.Duration
}

// DefaultMaxImportBodySize is the default bound of an import's body:
// 160 MiB, which takes a tenant of 3M memberships (about 120-140 MB of
// lines) in one import with room to spare. An import holds up to a few
// times its body while it is parsed, stored and applied (see import.go);
// at this bound that is well under a GiB, which a 2-core machine of a few
// GiB can spare for one import at a time (Config.MaxImports).
const DefaultMaxImportBodySize = 160 << 20

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Name:                "auth-server",
		ReadTimeout:         10 * time.Second,
		WriteTimeout:        10 * time.Second,
		IdleTimeout:         2 * time.Minute,
		MaxConns:            16384,
		MaxConnsPerIP:       1024,
		MaxHeaderBytes:      8192,
		MaxRequestBodySize:  1 << 20,
		MaxImportBodySize:   DefaultMaxImportBodySize,
		MaxImports:          1,
		MaxBatchChecks:      1000,
		MinSeqWait:          2 * time.Second,
		MaxWatch:            time.Minute,
		MaxWatches:          4096,
		MaxWatchesPerClient: 128,
		MaxStreamLifetime:   10 * time.Minute,
		IPv6PrefixBits:      64,
		WriteDeadline:       5 * time.Second,
		Logger:              slog.New(slog.DiscardHandler),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("httpapi: timeouts must be positive")
	case c.MaxConns <= 0 || c.MaxConnsPerIP < 0:
		return errors.New("httpapi: MaxConns must be positive and MaxConnsPerIP not negative")
	case c.MaxHeaderBytes < 1024:
		return errors.New("httpapi: MaxHeaderBytes must be at least 1024")
	case c.WriteDeadline <= 0:
		return errors.New("httpapi: WriteDeadline must be positive")
	case c.MaxRequestBodySize <= 0 || c.MaxImportBodySize <= 0:
		return errors.New("httpapi: body size limits must be positive")
	case c.MaxImports <= 0:
		return errors.New("httpapi: MaxImports must be positive")
	case c.MaxBatchChecks <= 0:
		return errors.New("httpapi: MaxBatchChecks must be positive")
	case c.MinSeqWait < 0 || c.MaxWatch < 0:
		return errors.New("httpapi: MinSeqWait and MaxWatch must not be negative")
	case c.MaxWatches <= 0 || c.MaxWatchesPerClient < 0:
		return errors.New("httpapi: MaxWatches must be positive and MaxWatchesPerClient not negative")
	case c.MaxStreamLifetime <= 0:
		return errors.New("httpapi: MaxStreamLifetime must be positive")
	case c.IPv6PrefixBits < 1 || c.IPv6PrefixBits > 128:
		return errors.New("httpapi: IPv6PrefixBits must be between 1 and 128")
	case c.Logger == nil:
		return errors.New("httpapi: Logger is nil")
	}
	return nil
}

// Server serves the API.
type Server struct {
	cfg     Config
	svc     Service
	router  *router.Router
	srv     *fasthttp.Server
	routes  []Route
	metrics *httpMetrics // nil without a Registerer
	limits  *connLimits
	imports *importSlots
	words   map[string]bool // the routes' literal segments (access log)
	feeds   *feeds
	watches *watchLimits
	unknown unknownTenants
	// unknownKeys are keys of the server's form the store was asked about
	// lately, by their hash (keys.go).
	unknownKeys unknownTenants
	// epoch is the store's epoch ("" for none), epochValue its bytes for
	// X-Auth-Epoch (nil for none); see epoch.go.
	epoch      string
	epochValue []byte

	refusedWatches, refusedImports atomic.Uint64
	// closing is closed when Shutdown starts, so that long-lived answers
	// (watches, streams) end and let the server stop.
	closing   chan struct{}
	closeOnce sync.Once

	lnMu      sync.Mutex // guards shut and listeners
	shut      bool
	listeners []net.Listener
}

// Route is one registered route.
type Route struct {
	Method, Path string
}

// New returns a server for svc.
func New(cfg Config, svc Service) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, svc: svc, router: router.New(), closing: make(chan struct{}),
		limits:  newConnLimits(cfg.MaxConns, cfg.MaxConnsPerIP, cfg.IPv6PrefixBits),
		imports: newImportSlots(cfg.MaxImports),
		watches: newWatchLimits(cfg.MaxWatches, cfg.MaxWatchesPerClient, cfg.IPv6PrefixBits),
		feeds:   newFeeds(svc, cfg.WriteDeadline)}
	if s.epoch = epochOf(svc); s.epoch != "" {
		s.epochValue = []byte(s.epoch)
	}
	r := s.router
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		if cfg.UI != nil && ctx.IsGet() && string(ctx.Path()) == "/ui" {
			ctx.Redirect("/ui/", fasthttp.StatusMovedPermanently)
			return
		}
		writeError(ctx, fasthttp.StatusNotFound, "no such route")
	}
	r.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed on this route")
	}
	r.PanicHandler = func(ctx *fasthttp.RequestCtx, v any) {
		s.cfg.Logger.Error("panic serving request", "method", string(ctx.Method()), "panic", fmt.Sprint(v))
		writeError(ctx, fasthttp.StatusInternalServerError, "internal error")
	}
	if cfg.Registerer != nil {
		s.metrics = newHTTPMetrics(cfg.Registerer)
		s.registerStateMetrics(cfg.Registerer)
	}
	// Metrics and the access log name a request by its route's template.
	r.SaveMatchedRoutePath = cfg.Registerer != nil || cfg.AccessLog
	s.register()
	s.words = routeWords(s.routes)
	// The connection caps are s.limits', which answer in JSON. fasthttp's
	// own would answer in plain text: its concurrency cap is set above
	// them (it frees a worker only after the connection's Close has given
	// its place back), and it has no per-address cap.
	s.srv = &fasthttp.Server{
		Handler:                      s.serve,
		Name:                         cfg.Name,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		Concurrency:                  2 * cfg.MaxConns,
		ReadBufferSize:               cfg.MaxHeaderBytes,
		CloseOnShutdown:              true,
		MaxRequestBodySize:           cfg.MaxRequestBodySize,
		StreamRequestBody:            true,
		LazyRequestTime:              s.metrics == nil && !cfg.AccessLog, // the clock is read for durations only
		DisablePreParseMultipartForm: true,
		Logger:                       fasthttpLogger{cfg.Logger},
		// fasthttp would log the bytes of a request it could not parse,
		// key and all.
		SecureErrorLogMessage: true,
		ErrorHandler:          s.errorHandler,
	}
	return s, nil
}

func (s *Server) handle(method, path string, h fasthttp.RequestHandler) {
	s.routes = append(s.routes, Route{method, path})
	s.router.Handle(method, path, h)
}

// Routes lists every registered API route, in registration order (the
// console's files, Config.UI, are not API routes).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Handler returns the server's request handler, for tests and embedding.
func (s *Server) Handler() fasthttp.RequestHandler { return s.serve }

// Serve serves on ln until Shutdown, then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	if s.shut {
		s.lnMu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.lnMu.Unlock()
	return s.srv.Serve(&limitListener{Listener: ln, l: s.limits})
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// requests in flight to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.lnMu.Lock()
	s.shut = true
	lns := s.listeners
	s.lnMu.Unlock()
	err := s.srv.ShutdownWithContext(ctx)
	// fasthttp closes only the listeners its Serve has registered; a Serve
	// that began just before Shutdown may not have yet, and would then
	// serve on. Closing every listener ends it.
	for _, ln := range lns {
		ln.Close()
	}
	return err
}

// errorHandler answers requests fasthttp could not parse.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body is too large")
	case errors.As(err, &small):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "request headers are too large")
	default:
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			writeError(ctx, fasthttp.StatusRequestTimeout, "request timed out")
			return
		}
		writeError(ctx, fasthttp.StatusBadRequest, "malformed request")
	}
}

type fasthttpLogger struct{ l *slog.Logger }

// Printf logs fasthttp's connection errors (clients that went away, read
// timeouts) at debug level: under a slowloris attack there is one per
// attacking connection.
func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("http", "msg", fmt.Sprintf(format, args...))
}

// The check routes' paths, which serve matches before the router.
const (
	checkPrefix   = "/api/has_permission/"
	v1CheckPrefix = "/v1/has_permission/"
)

// serve is the server's handler. The check routes, which services call on
// every request, are matched here before the router: the router allocates
// for its path parameters, and the check path must not allocate. Anything
// that is not exactly a GET of /api/has_permission/{key}/{user}/{name}
// with three non-empty segments, or of /v1/has_permission/{user}/{name}
// with two (any query: min_seq and epoch are honoured here too), goes to
// the router, which answers it the same way it would have.
func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	path := ctx.Request.URI().PathOriginal()
	if n := ctx.Request.Header.ContentLength(); n > s.cfg.MaxRequestBodySize && (n > s.cfg.MaxImportBodySize || string(path) != importPath) {
		refuseTooLarge(ctx, "request body is too large")
		if s.metrics != nil {
			s.metrics.observe(ctx)
		}
		return
	}
	if ctx.IsGet() {
		if len(path) > len(checkPrefix) && string(path[:len(checkPrefix)]) == checkPrefix {
			rest := unsafe.String(&path[len(checkPrefix)], len(path)-len(checkPrefix))
			if raws, ok := split3(rest); ok {
				p := getParams()
				if p.parseRaw(ctx, hasPermissionParams, raws[:]) {
					s.check(ctx, p)
				}
				putParams(p)
				s.observeFast(ctx, checkRoute)
				return
			}
		}
		if len(path) > len(v1CheckPrefix) && string(path[:len(v1CheckPrefix)]) == v1CheckPrefix {
			rest := unsafe.String(&path[len(v1CheckPrefix)], len(path)-len(v1CheckPrefix))
			if raws, plain, ok := split2(rest); ok {
				s.checkV1(ctx, raws, plain)
				s.observeFast(ctx, v1CheckRoute)
				return
			}
		}
	}
	s.router.Handler(ctx)
	if s.metrics != nil {
		s.metrics.observe(ctx)
	}
	if s.cfg.AccessLog {
		s.accessLog(ctx, s.logRoute(ctx))
	}
}

// observeFast records a request a check route answered on the fast path.
func (s *Server) observeFast(ctx *fasthttp.RequestCtx, route string) {
	if s.metrics != nil {
		s.metrics.observeCheck(ctx, route)
	}
	if s.cfg.AccessLog {
		s.accessLog(ctx, route)
	}
}
