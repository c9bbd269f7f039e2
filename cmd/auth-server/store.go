package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"auth/persist"
	"auth/persist/bolt"
	"auth/persist/mongo"
)

// mongoConfig is the MongoDB part of the configuration. With none of it
// set, the embedded store is used.
type mongoConfig struct {
	uri          string // -mongo-uri, MONGO_URI, or built from MONGO_HOST/MONGO_PORT
	caFile       string // -mongo-ca-file: TLS, the server certificate's CAs
	database     string
	writeConcern string
	timeout      time.Duration
	keepEvents   uint64
}

func (m *mongoConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string { return envOr(getenv, name, def) }
	uri := getenv("MONGO_URI")
	if uri == "" && (getenv("MONGO_HOST") != "" || getenv("MONGO_PORT") != "") {
		// The original server's variables.
		uri = mongo.URIFromHostPort(getenv("MONGO_HOST"), getenv("MONGO_PORT"))
	}
	def := mongo.DefaultConfig("")
	fs.StringVar(&m.uri, "mongo-uri", uri, "MongoDB connection string; unset: the embedded store (env MONGO_URI, or MONGO_HOST and MONGO_PORT)")
	fs.StringVar(&m.caFile, "mongo-ca-file", getenv("MONGO_CA_FILE"), "CA certificates (PEM) of the MongoDB server's certificate; turns TLS on (the same as tlsCAFile in the URI, which can say all else about TLS) (env MONGO_CA_FILE)")
	fs.StringVar(&m.database, "mongo-db", env("MONGO_DB", def.Database), "MongoDB database (env MONGO_DB)")
	fs.StringVar(&m.writeConcern, "mongo-write-concern", env("MONGO_WRITE_CONCERN", def.WriteConcern), `MongoDB write concern: "majority" or a member count (env MONGO_WRITE_CONCERN)`)
	fs.DurationVar(&m.timeout, "mongo-timeout", def.Timeout, "bound of one MongoDB operation; past it a write answers 503")
	fs.Uint64Var(&m.keepEvents, "mongo-keep-events", 0, "if not 0, drop events older than the latest snapshot minus this many (0: keep every event, the audit trail)")
}

// validate checks what can be checked before anything starts.
func (m *mongoConfig) validate() error {
	if m.caFile != "" && m.uri == "" {
		return errors.New("-mongo-ca-file needs -mongo-uri")
	}
	return nil
}

// openStore opens the store the configuration names and describes it for
// logs, without secrets. The embedded store is also returned as such (nil
// for MongoDB): it takes backups and tells its epoch. onCorrupt hears of
// damage the embedded store finds after it opened.
func openStore(ctx context.Context, cfg config, onCorrupt func(error)) (persist.Store, *bolt.Store, string, error) {
	if cfg.mongo.uri == "" {
		bc := bolt.DefaultConfig(cfg.dataDir)
		bc.OnCorrupt = onCorrupt
		s, err := bolt.Open(bc)
		if err != nil {
			return nil, nil, "", err
		}
		return s, s, "embedded " + s.Path(), nil
	}
	mc := mongo.DefaultConfig(cfg.mongo.uri)
	mc.Database = cfg.mongo.database
	mc.CAFile = cfg.mongo.caFile
	mc.WriteConcern = cfg.mongo.writeConcern
	mc.Timeout = cfg.mongo.timeout
	mc.KeepEvents = cfg.mongo.keepEvents
	desc := fmt.Sprintf("mongodb %s db=%s w=%s", mongo.Redacted(mc.URI), mc.Database, mc.WriteConcern)
	if mc.CAFile != "" {
		desc += " ca-file=" + mc.CAFile
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, mc)
	if err != nil {
		return nil, nil, "", fmt.Errorf("open %s: %w", desc, err)
	}
	return s, nil, desc, nil
}
