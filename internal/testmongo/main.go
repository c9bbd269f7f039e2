// Command testmongo runs a MongoDB wire-protocol server for tests: FerretDB
// embedded as a library, storing its data in SQLite files in one folder.
//
// It listens on 127.0.0.1 (on a random port unless -port is given; with
// -tls-cert and -tls-key, TLS only, and with -tls-ca too, requiring client
// certificates signed by that CA), prints
// the server's MongoDB URI on stdout as one line once it accepts
// connections, and serves until its standard input closes (then it exits at
// once, as a crashed server would) or it receives SIGTERM or SIGINT (then it
// shuts down as FerretDB does: new connections are refused and connected
// clients get up to 3 seconds to finish). Restarting it with the same -dir
// and -port gives the same server with the same data, which is how tests
// simulate an outage.
//
// FerretDB's SQLite backend looks documents up by _id with the expression
// _ferretdb_sjson->'$._id', but indexes _id under another spelling that
// SQLite does not match to it, so every lookup by _id would scan its
// collection. testmongo gives every collection table an index on the
// expression the lookups use, as soon as the table appears (indexIDs).
//
// It is a module of its own so that FerretDB's many dependencies stay out of
// the root module; the root module's tests build it with `go build` (see
// persist/mongo/mongotest).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the driver FerretDB uses, for indexIDs
)

func main() {
	dir := flag.String("dir", "", "folder for the SQLite files (required; created if missing)")
	port := flag.Int("port", 0, "TCP port on 127.0.0.1; 0 picks a free one")
	logLevel := flag.String("log", "error", "log level on stderr: debug, info, warn or error")
	var tls tlsFiles
	flag.StringVar(&tls.cert, "tls-cert", "", "serve TLS only, with this certificate file (PEM)")
	flag.StringVar(&tls.key, "tls-key", "", "the key file of -tls-cert (PEM)")
	flag.StringVar(&tls.ca, "tls-ca", "", "with -tls-cert, require client certificates signed by this CA (PEM)")
	flag.Parse()
	if err := run(*dir, *port, *logLevel, tls); err != nil {
		fmt.Fprintln(os.Stderr, "testmongo:", err)
		os.Exit(1)
	}
}

// tlsFiles are the files of a TLS listener; cert empty: plain TCP.
type tlsFiles struct{ cert, key, ca string }

func run(dir string, port int, logLevel string, tls tlsFiles) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	listener := ferretdb.ListenerConfig{TCP: addr}
	if tls.cert != "" {
		// FerretDB requires client certificates when given a CA file.
		listener = ferretdb.ListenerConfig{TLS: addr, TLSCertFile: tls.cert, TLSKeyFile: tls.key, TLSCAFile: tls.ca}
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  listener,
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(abs) + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// The parent closes our stdin (or dies) to stop us at once, as a
		// server that crashes stops: clients see their connections reset.
		// SQLite's write-ahead log keeps every committed write.
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	go indexIDs(ctx, abs, logger)

	// MongoDBURI needs the listener, which Run sets up; wait until the
	// port accepts connections before announcing the URI.
	uri := f.MongoDBURI()
	host, err := hostOf(uri)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not accept connections on %s: %w", host, err)
		}
		select {
		case <-done:
			return fmt.Errorf("server stopped before accepting connections")
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Println(uri)

	<-done
	return nil
}

func hostOf(uri string) (string, error) {
	const scheme = "mongodb://"
	if len(uri) <= len(scheme) || uri[:len(scheme)] != scheme {
		return "", fmt.Errorf("unexpected URI %q", uri)
	}
	host := uri[len(scheme):]
	for i, c := range host {
		if c == '/' || c == '?' {
			return host[:i], nil
		}
	}
	return host, nil
}

// idExpr is the expression FerretDB's SQLite backend compares _id with.
const idExpr = `_ferretdb_sjson->'$._id'`

// indexIDs indexes idExpr in every collection table of the SQLite files in
// dir, checking for new tables every few milliseconds until ctx ends.
func indexIDs(ctx context.Context, dir string, logger *slog.Logger) {
	dbs := map[string]*sql.DB{}
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		for _, file := range files {
			db, ok := dbs[file]
			if !ok {
				var err error
				db, err = sql.Open("sqlite", "file:"+filepath.ToSlash(file)+"?_pragma=busy_timeout(10000)")
				if err != nil {
					logger.Error("open for indexing", "file", file, "err", err)
					continue
				}
				dbs[file] = db
			}
			if err := indexTables(ctx, db); err != nil && ctx.Err() == nil {
				logger.Warn("index _id", "file", file, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// indexTables creates the missing idExpr indexes of db's collection tables
// (FerretDB's own tables start with _ferretdb_).
func indexTables(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE '\_ferretdb\_%' ESCAPE '\'
		AND name || '_id_expr' NOT IN (SELECT name FROM sqlite_master WHERE type = 'index')`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (%s)`, t+"_id_expr", t, idExpr)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
