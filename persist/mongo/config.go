package mongo

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of [DefaultConfig].
const (
	DefaultDatabase     = "auth"
	DefaultWriteConcern = "majority"
	DefaultTimeout      = 3 * time.Second
	DefaultChunkSize    = 4 << 20

	// DefaultMaxInlineEvent is the largest event document written as one
	// document (about 13,000 memberships in one batch); larger batches are
	// stored in chunks. It keeps every single insert quick.
	DefaultMaxInlineEvent = 1 << 20

	// MaxChunkSize keeps a chunk document under MongoDB's 16 MiB limit
	// with room for its _id and field names.
	MaxChunkSize = 15 << 20
)

// Config configures a Store.
type Config struct {
	// URI is the MongoDB connection string, e.g. "mongodb://host:27017/";
	// see [URIFromHostPort]. Log it only through [Redacted].
	URI string

	// CAFile, if set, is a PEM file of the CAs that sign the server's
	// certificate, and turns TLS on. It does what tlsCAFile in URI does
	// (give one or the other), for deployments where the URI is awkward
	// to change. Everything else about TLS is said in URI: tls=true alone
	// trusts the system's CAs, tlsCertificateKeyFile presents a client
	// certificate, mongodb+srv:// implies TLS.
	CAFile string

	// Database holds the store's collections (default "auth").
	Database string

	// WriteConcern is the "w" of every write: "majority" (the default: an
	// acknowledged event survives the loss of the primary) or a number of
	// members such as "1". Reads use read concern "majority" with
	// "majority" writes and "local" otherwise, so that a replica never
	// applies an event that a failover could roll back. "1" trades that
	// guarantee for latency; on a standalone server the two are the same.
	WriteConcern string

	// Timeout bounds each Append, Head and SaveSnapshot check as a whole
	// and every other round trip to the server (one page of events, one
	// snapshot or event chunk): an unreachable server makes calls fail
	// with persist.ErrUnavailable after at most about this long (default
	// 3s). The exception is the append of an event stored in chunks (see
	// MaxInlineEvent), which legitimately takes longer: it writes its
	// chunks one at a time, each chunk (with its retries) within Timeout,
	// and then inserts the event document within Timeout, as any append.
	Timeout time.Duration

	// KeepEvents, if not 0, lets SaveSnapshot delete the tenant's events
	// with seq <= snapshot seq - KeepEvents once the snapshot is stored.
	// The default 0 keeps every event: the events collection is the audit
	// trail. Every process sharing a database must use the same value.
	KeepEvents uint64

	// Access chooses how heads are found and ranges of events read:
	// AccessAuto (the default) by what the server says it is, AccessMongoDB
	// (indexed range queries) or AccessFerretDB (_id lookups, for the test
	// server, which reads every document to answer a range query).
	Access string

	// ChunkSize is the size of the pieces a snapshot, or an event too large
	// to be stored inline, is stored in (default 4 MiB, at most
	// MaxChunkSize). Each piece is written within Timeout: lower it on a
	// link slower than about ChunkSize per Timeout.
	ChunkSize int

	// MaxInlineEvent is the size of the largest event document that is
	// written as it is; a batch event whose document would be larger (its
	// changes listed inline) is stored in chunks of ChunkSize instead, and
	// its event document names them. 0 means DefaultMaxInlineEvent (1 MiB);
	// at most MaxChunkSize.
	MaxInlineEvent int
}

// DefaultConfig returns the defaults for a store at uri.
func DefaultConfig(uri string) Config {
	return Config{
		URI:            uri,
		Database:       DefaultDatabase,
		WriteConcern:   DefaultWriteConcern,
		Timeout:        DefaultTimeout,
		ChunkSize:      DefaultChunkSize,
		MaxInlineEvent: DefaultMaxInlineEvent,
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.URI == "":
		return errors.New("mongo: URI is empty")
	case !strings.HasPrefix(c.URI, "mongodb://") && !strings.HasPrefix(c.URI, "mongodb+srv://"):
		return fmt.Errorf("mongo: URI %s does not start with mongodb:// or mongodb+srv://", Redacted(c.URI))
	case c.Timeout <= 0:
		return errors.New("mongo: Timeout must be positive")
	case c.ChunkSize < 1024 || c.ChunkSize > MaxChunkSize:
		return fmt.Errorf("mongo: ChunkSize must be between 1 KiB and %d bytes", MaxChunkSize)
	case c.MaxInlineEvent < 0 || c.MaxInlineEvent > MaxChunkSize:
		return fmt.Errorf("mongo: MaxInlineEvent must be between 0 (the default) and %d bytes", MaxChunkSize)
	case c.Access != AccessAuto && c.Access != AccessMongoDB && c.Access != AccessFerretDB:
		return fmt.Errorf("mongo: Access %q is not %q, %q or %q", c.Access, AccessAuto, AccessMongoDB, AccessFerretDB)
	}
	if err := validDatabase(c.Database); err != nil {
		return err
	}
	if _, err := c.w(); err != nil {
		return err
	}
	return nil
}

// maxInline returns the effective MaxInlineEvent.
func (c Config) maxInline() int {
	if c.MaxInlineEvent == 0 {
		return DefaultMaxInlineEvent
	}
	return c.MaxInlineEvent
}

// w returns the write concern's "w" value: "majority" or a member count.
func (c Config) w() (any, error) {
	if c.WriteConcern == "majority" {
		return "majority", nil
	}
	n, err := strconv.Atoi(c.WriteConcern)
	if err != nil || n < 1 || n > 50 {
		return nil, fmt.Errorf("mongo: WriteConcern %q must be \"majority\" or a member count from 1", c.WriteConcern)
	}
	return n, nil
}

func validDatabase(name string) error {
	if name == "" {
		return errors.New("mongo: Database is empty")
	}
	if len(name) > 63 {
		return errors.New("mongo: Database name is longer than 63 bytes")
	}
	if i := strings.IndexAny(name, "/\\. \"$*<>:|?\x00"); i >= 0 {
		return fmt.Errorf("mongo: Database name %q contains %q", name, name[i])
	}
	return nil
}

// URIFromHostPort builds a connection string from a host and a port, as the
// MONGO_HOST and MONGO_PORT environment variables give them; an empty host
// means localhost and an empty port 27017.
func URIFromHostPort(host, port string) string {
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "27017"
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return "mongodb://" + net.JoinHostPort(host, port) + "/"
}

// Redacted returns uri with its password, and the values of query options
// that may hold secrets, replaced by "xxxxx", for logs.
func Redacted(uri string) string {
	const mask = "xxxxx"
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		// Not a URI we understand: show nothing that could be a secret.
		if strings.ContainsAny(uri, "@") {
			return mask
		}
		return uri
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(authority[:at], ":")
		if hasPass {
			authority = user + ":" + mask + authority[at:]
		}
	}
	if path, query, hasQuery := strings.Cut(tail, "?"); hasQuery {
		opts := strings.Split(query, "&")
		for i, o := range opts {
			k, _, _ := strings.Cut(o, "=")
			lk := strings.ToLower(k)
			if strings.Contains(lk, "password") || strings.Contains(lk, "secret") ||
				strings.Contains(lk, "token") || lk == "authmechanismproperties" {
				opts[i] = k + "=" + mask
			}
		}
		tail = path + "?" + strings.Join(opts, "&")
	}
	return scheme + "://" + authority + tail
}
