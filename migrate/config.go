package migrate

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultDatabase is the original's database name (auth 0.5.3 connects to
// it whatever its configuration).
const DefaultDatabase = "Authorization_0x0199"

// Config is one migration.
type Config struct {
	// Source is the MongoDB URI of the original's server, such as
	// mongodb://host:27017/. It is read, never written.
	Source string
	// Database is the original's database (DefaultDatabase).
	Database string
	// Target is the auth-server's base URL, such as http://localhost:4000.
	Target string

	// Options choose what is imported beyond what the original answered.
	Options
	// DryRun reads and plans, and writes nothing: the report says what
	// would be imported.
	DryRun bool
	// Verify compares every tenant on the server, after the import, with
	// what the original answered: every role, every role's permissions
	// and members, and Checks checks (default true).
	Verify bool
	// Checks is the size of each tenant's sample of checks (default
	// 1,000; all of its users and permissions if fewer).
	Checks int
	// Parallel is how many tenants are read, written or verified at once
	// (default 4).
	Parallel int
	// Imports is how many of those send their import at once (default 1:
	// a server takes -max-imports at once, 1 by default, and answers 429
	// past it, which the migration waits out).
	Imports int
	// Timeout bounds connecting to the source and each request to the
	// server but the imports, which only the context bounds (default 30 s).
	Timeout time.Duration

	// HTTPClient sends the requests to the server; nil: one of the
	// client package's transport.
	HTTPClient *http.Client
	// UserAgent names the migration to the server.
	UserAgent string
	// Progress, if not nil, receives a line every ProgressEvery while the
	// migration runs.
	Progress      io.Writer
	ProgressEvery time.Duration

	// afterWrite, for tests, runs after every tenant is written and before
	// any is verified.
	afterWrite func()
}

// DefaultConfig is a migration from the original's server at source to
// the auth-server at target, verified.
func DefaultConfig(source, target string) Config {
	return Config{
		Source:        source,
		Database:      DefaultDatabase,
		Target:        target,
		Verify:        true,
		Checks:        1000,
		Parallel:      4,
		Imports:       1,
		Timeout:       30 * time.Second,
		UserAgent:     "auth-migrate/1",
		ProgressEvery: 5 * time.Second,
	}
}

// ErrConfig matches every error of Validate.
var ErrConfig = errors.New("migrate: bad configuration")

// Validate says what is wrong with c, if anything.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Source == "":
		return bad("no source: give the original's MongoDB URI (mongodb://host:port/)")
	case !hasScheme(c.Source, "mongodb", "mongodb+srv"):
		return bad("the source must be a mongodb:// or mongodb+srv:// URI")
	case c.Database == "":
		return bad("no database")
	case c.Target == "" && !c.DryRun:
		return bad("no target server")
	case c.Target != "" && !hasScheme(c.Target, "http", "https"):
		return bad("the target must be an http:// or https:// URL")
	case c.Checks < 0:
		return bad("checks must be 0 or more")
	case c.Parallel < 1:
		return bad("parallel must be at least 1")
	case c.Imports < 1:
		return bad("imports must be at least 1")
	case c.Timeout <= 0:
		return bad("timeout must be positive")
	case c.Progress != nil && c.ProgressEvery <= 0:
		return bad("progress needs a positive interval")
	}
	return nil
}

func hasScheme(raw string, schemes ...string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		// A MongoDB URI of several hosts is no URL to net/url; its scheme
		// is still its first word.
		for _, s := range schemes {
			if len(raw) > len(s)+3 && raw[:len(s)+3] == s+"://" {
				return true
			}
		}
		return false
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return true
		}
	}
	return false
}
