// Command auth-server serves the authorization API.
//
// With no configuration it listens on :4000 and keeps its data in
// ./auth-data. Flags override environment variables, which override the
// defaults:
//
//	-addr  AUTH_ADDR  listen address (default ":4000")
//	-data  AUTH_DATA  data folder of the embedded store (default "./auth-data")
//
// SIGINT or SIGTERM stops accepting connections, lets requests in flight
// finish (up to -shutdown-timeout), waits for background snapshots and
// closes the store. With -tls-cert and -tls-key it serves HTTPS, and
// SIGHUP reloads the certificate files (they are also reloaded when they
// change).
//
// Two subcommands work on the embedded store's data:
//
//	auth-server check -data DIR        verify a data folder (or -file FILE)
//	auth-server backup -from URL -to FILE
//	                                   copy a running server's store, from
//	                                   its admin listener (-admin-addr)
//	auth-server backup -data DIR -to FILE
//	                                   copy a stopped server's store
//
// A third asks a running server whether it answers, for a container's
// health check (it needs no shell and no curl):
//
//	auth-server health [-addr ADDR]  GET /healthz of the server listening
//	                                 at ADDR (AUTH_ADDR); exit 0 if it
//	                                 answers 200 within -timeout (2s)
//
// A server that finds its data corrupt, at start or while it serves,
// stops and exits 1 with one message naming the file, what is wrong and
// what to do.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"auth/admin"
	"auth/bus"
	"auth/engine"
	"auth/httpapi"
	"auth/httpapi/ui"
	"auth/persist"
	"auth/persist/bolt"
	"auth/replica"
)

// config is everything the command reads from flags and environment.
type config struct {
	addr            string
	dataDir         string
	snapshotEvery   uint64
	shutdownTimeout time.Duration
	logLevel        slog.Level
	logFormat       string
	metrics         bool
	http            httpapi.Config
	mongo           mongoConfig
	bus             busConfig
	tls             tlsConfig
	readyNeedsBus   bool
	admin           admin.Config
	windowGrace     time.Duration
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "check":
			os.Exit(runCheck(context.Background(), args[1:], os.Getenv, os.Stdout, os.Stderr))
		case "backup":
			os.Exit(runBackup(context.Background(), args[1:], os.Getenv, os.Stdout, os.Stderr))
		case "health":
			os.Exit(runHealth(context.Background(), args[1:], os.Getenv, os.Stdout, os.Stderr))
		}
	}
	if err := run(context.Background(), args, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "auth-server:", failure(err))
		os.Exit(1)
	}
}

// failure is the one message of a server that stops on err: for damaged
// data, what is damaged and what to do.
func failure(err error) string {
	var ce *bolt.CorruptError
	switch {
	case errors.As(err, &ce):
		dir := filepath.Dir(ce.Path)
		return fmt.Sprintf("%v. Nothing is served from it. To recover, restore the latest backup "+
			"(stop the server, copy the backup file to %s, start it: see \"Backups and recovery\" in the README); "+
			"\"auth-server check -data %s\" reports everything that is wrong.", ce, ce.Path, dir)
	case errors.Is(err, bolt.ErrNewerFormat):
		return fmt.Sprintf("%v. Run the version of auth-server that wrote it, or a newer one.", err)
	case errors.Is(err, persist.ErrCorrupt):
		return fmt.Sprintf("%v. Nothing is served from it. "+
			"Restore the database from a backup (mongorestore), or repair the document named.", err)
	}
	return err.Error()
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(name, def string) string { return envOr(getenv, name, def) }
	c := config{http: httpapi.DefaultConfig()}
	fs := flag.NewFlagSet("auth-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", env("AUTH_ADDR", ":4000"), "listen address (env AUTH_ADDR)")
	fs.StringVar(&c.dataDir, "data", env("AUTH_DATA", "./auth-data"), "data folder of the embedded store (env AUTH_DATA)")
	fs.Uint64Var(&c.snapshotEvery, "snapshot-every", replica.DefaultConfig().SnapshotEvery, "events of a tenant between snapshots (0: never)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long requests in flight may take to finish on shutdown")
	c.mongo.flags(fs, getenv)
	c.bus.flags(fs, getenv)
	c.tls.flags(fs, getenv)
	fs.DurationVar(&c.windowGrace, "window-grace", 24*time.Hour, "memberships whose window ended longer ago than this are removed (one event per tenant, checked every minute)")
	fs.BoolVar(&c.readyNeedsBus, "ready-needs-bus", true, "with a bus, /readyz answers 503 while the NATS link is down")
	c.admin = admin.DefaultConfig()
	fs.StringVar(&c.admin.Addr, "admin-addr", getenv("AUTH_ADMIN_ADDR"), "address of the admin listener (GET /admin/backup, /debug/pprof/), e.g. 127.0.0.1:4001; off unless set; not for the public network: a loopback address unless -admin-token is set (env AUTH_ADMIN_ADDR)")
	fs.StringVar(&c.admin.Token, "admin-token", getenv("AUTH_ADMIN_TOKEN"), "token the admin listener requires (Authorization: Bearer), at least 16 bytes; lets it listen beyond loopback. Prefer the environment (AUTH_ADMIN_TOKEN), which stays out of the process list")
	level := fs.String("log-level", env("AUTH_LOG_LEVEL", "info"), "debug, info, warn or error (env AUTH_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", env("AUTH_LOG_FORMAT", logText), "text, or json for log pipelines: one JSON object a line, the access log too (env AUTH_LOG_FORMAT)")
	fs.BoolVar(&c.metrics, "metrics", true, "serve Prometheus metrics at /metrics")
	console := fs.Bool("ui", true, "serve the web console at /ui/")
	openTenants := fs.Bool("open-tenants", getenv("AUTH_OPEN_TENANTS") != "0", "a write under a key no tenant has makes its tenant, as the original server does; false refuses it (401), for deployments that make tenants deliberately (env AUTH_OPEN_TENANTS=0)")
	fs.BoolVar(&c.http.AccessLog, "access-log", getenv("AUTH_ACCESS_LOG") == "1", "log every request by its route template, never its path (env AUTH_ACCESS_LOG=1)")
	fs.DurationVar(&c.http.ReadTimeout, "read-timeout", c.http.ReadTimeout, "time allowed to read a whole request")
	fs.DurationVar(&c.http.WriteTimeout, "write-timeout", c.http.WriteTimeout, "time allowed to write an answer")
	fs.DurationVar(&c.http.IdleTimeout, "idle-timeout", c.http.IdleTimeout, "how long an idle keep-alive connection is kept")
	fs.IntVar(&c.http.MaxConns, "max-conns", c.http.MaxConns, "concurrent connections at most")
	fs.IntVar(&c.http.MaxConnsPerIP, "max-conns-per-ip", c.http.MaxConnsPerIP, "concurrent connections per client address at most (0: no cap)")
	fs.IntVar(&c.http.MaxHeaderBytes, "max-header-bytes", c.http.MaxHeaderBytes, "largest request line and headers")
	fs.IntVar(&c.http.MaxRequestBodySize, "max-body-bytes", c.http.MaxRequestBodySize, "largest request body (but for imports)")
	fs.IntVar(&c.http.MaxImportBodySize, "max-import-bytes", c.http.MaxImportBodySize, "largest body of POST /v1/import")
	fs.IntVar(&c.http.MaxImports, "max-imports", c.http.MaxImports, "imports in progress at once on the server (one per tenant in any case)")
	fs.IntVar(&c.http.MaxBatchChecks, "max-batch-checks", c.http.MaxBatchChecks, "most checks in one POST /v1/check")
	fs.IntVar(&c.http.MaxWatches, "max-watches", c.http.MaxWatches, "event streams and waiting long-polls in progress at most")
	fs.IntVar(&c.http.MaxWatchesPerClient, "max-watches-per-client", c.http.MaxWatchesPerClient, "event streams and waiting long-polls per client at most (0: no cap)")
	fs.DurationVar(&c.http.MaxStreamLifetime, "max-stream-lifetime", c.http.MaxStreamLifetime, "an event stream ends after this long; the client resumes with Last-Event-ID")
	fs.IntVar(&c.http.IPv6PrefixBits, "ipv6-prefix-bits", c.http.IPv6PrefixBits, "IPv6 clients are counted by prefixes this long for the per-client caps")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.http.ClosedTenants = !*openTenants
	if *console {
		c.http.UI = ui.Handler()
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("-log-level: %w", err)
	}
	if err := validLogFormat(c.logFormat); err != nil {
		return c, err
	}
	if err := c.tls.validate(); err != nil {
		return c, err
	}
	if err := c.mongo.validate(); err != nil {
		return c, err
	}
	c.http.Logger = slog.New(slog.DiscardHandler) // set for real in run
	if err := c.http.Validate(); err != nil {
		return c, err
	}
	if c.bus.url != "" && c.mongo.uri == "" {
		return c, errors.New("-nats-url needs -mongo-uri: replicas must share one store, and the embedded store is one process's own")
	}
	if err := c.bus.validate(); err != nil {
		return c, err
	}
	if err := c.admin.Validate(); err != nil {
		return c, fmt.Errorf("-admin-addr: %w", err)
	}
	if c.windowGrace < 0 {
		return c, errors.New("-window-grace must not be negative: a sweep would remove memberships before their windows end")
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) (err error) {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if cfg.logFormat == logJSON {
		// A pipeline reading JSON sees why the process stopped too.
		defer func() {
			if err != nil {
				log.Error("exiting", "err", err)
			}
		}()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	certs, err := cfg.tls.load(log)
	if err != nil {
		return err
	}

	// Damage the store finds while serving stops the server (below):
	// what it would serve may come from it.
	corrupt := make(chan error, 1)
	store, embedded, desc, err := openStore(ctx, cfg, func(err error) {
		select {
		case corrupt <- err:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	epoch := ""
	if embedded != nil {
		info := embedded.Info()
		epoch = info.Epoch
		log.Info("store opened", "store", desc, "epoch", epoch, "clean_stop", !info.Unclean, "checked", info.Checked)
		if info.NewEpoch {
			log.Warn("restored backup: the store takes a new epoch; seqs of the store it was copied from mean nothing here", "epoch", epoch)
		}
		if info.Framed > 0 {
			log.Info("the store was written before checksums: its records are checksummed now", "records", info.Framed)
		}
	} else {
		if e, ok := store.(interface{ Epoch() string }); ok {
			epoch = e.Epoch()
		}
		log.Info("store opened", "store", desc, "epoch", epoch)
	}

	if cfg.admin.Addr != "" {
		stopAdmin, err := serveAdmin(cfg, embedded, log)
		if err != nil {
			return err
		}
		// Before the store closes: a backup in flight holds it open.
		defer stopAdmin(cfg.shutdownTimeout)
	}

	var reg *prometheus.Registry
	if cfg.metrics {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	rcfg := replica.DefaultConfig()
	rcfg.SnapshotEvery = cfg.snapshotEvery
	rcfg.Logger = log
	if reg != nil {
		rcfg.Registerer = reg
	}
	rep, err := replica.New(engine.New(), store, rcfg)
	if err != nil {
		return err
	}
	defer rep.Close()
	var b *bus.Bus
	var stats replica.LoadStats
	if cfg.bus.url != "" {
		var bcfg bus.Config
		if bcfg, err = cfg.bus.config(log); err != nil {
			return err
		}
		if b, err = bus.New(bcfg, rep, store); err != nil {
			return err
		}
		cfg.http.ConvergeWithin = bcfg.Converge
		if reg != nil {
			reg.MustRegister(b.Collector())
		}
		defer b.Close() // before the replica and the store close
		// Subscribe first, then load: no event falls between the two.
		stats, err = b.Start(ctx)
	} else {
		stats, err = rep.Load(ctx)
	}
	if err != nil {
		if embedded == nil && errors.Is(err, persist.ErrCorrupt) {
			return fmt.Errorf("MongoDB database %s holds a damaged document: %w", cfg.mongo.database, err)
		}
		return err
	}
	log.Info("state loaded", "tenants", stats.Tenants, "tail_events", stats.Events, "duration", stats.Duration.Round(time.Millisecond))
	// What the load decoded (events, snapshots) is garbage now; give it
	// back to the operating system while the server starts serving, so
	// that the process's size is its state's, not the load's peak.
	go debug.FreeOSMemory()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() { defer close(swept); rep.RunSweeper(sweepCtx, cfg.windowGrace, replica.SweepRound, log) }()
	defer func() { stopSweep(); <-swept }()

	hcfg := cfg.http
	hcfg.Logger = log
	if reg != nil {
		hcfg.Registerer, hcfg.Gatherer = reg, reg
	}
	hcfg.Ready = func(ctx context.Context) error {
		// The state is loaded before the server starts; ready means the
		// store (and the bus, if any) answer now.
		if _, err := store.Head(ctx, engine.TenantID{}); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if b != nil && cfg.readyNeedsBus && !b.Connected() {
			return errors.New("bus: NATS link is down")
		}
		return nil
	}
	kind := "embedded"
	if cfg.mongo.uri != "" {
		kind = "mongodb"
	}
	srv, err := httpapi.New(hcfg, service{Replica: rep, store: kind, epoch: epoch, bus: b})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if certs != nil {
		ln = serveTLS(ctx, certs, ln, hcfg.Registerer)
	}
	log.Info("serving", "addr", ln.Addr().String(), "tls", certs != nil)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var stopped error
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	case stopped = <-corrupt:
		log.Error("stopping: the store is corrupt", "err", stopped)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if stopped != nil {
		return stopped
	}
	log.Info("stopped")
	return nil
}

// serveAdmin starts the admin listener, and returns how to stop it.
func serveAdmin(cfg config, embedded *bolt.Store, log *slog.Logger) (func(time.Duration), error) {
	acfg := cfg.admin
	acfg.Logger = log.With("listener", "admin")
	if embedded != nil {
		acfg.Backup = func(ctx context.Context) (admin.Copy, error) {
			b, err := embedded.OpenBackup(ctx)
			if err != nil {
				return nil, err
			}
			return b, nil
		}
	}
	adm, err := admin.New(acfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", acfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("-admin-addr: %w", err)
	}
	log.Info("admin listening", "addr", ln.Addr().String(), "token", acfg.Token != "")
	done := make(chan error, 1)
	go func() { done <- adm.Serve(ln) }()
	return func(timeout time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := adm.Shutdown(ctx); err != nil {
			log.Warn("admin listener: requests cut off at shutdown", "err", err)
		}
		if err := <-done; err != nil {
			log.Error("admin listener", "err", err)
		}
	}, nil
}
