package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"auth/bench/dataset"
	"auth/engine"
	"auth/persist"
	"auth/persist/bolt"
	"auth/persist/mongo"
)

// coldDataset is the cold-start dataset: 1M users × 3 roles (3M
// memberships), 1k roles, 10k permissions, 20 grants per role.
var coldDataset = dataset.Config{Tenants: 1, Users: 1_000_000, Roles: 1_000, Perms: 10_000, RolesPerUser: 3, GrantsPerRole: 20, Seed: 1}

func cmdSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	dir := fs.String("dir", "", "data folder to write (must not hold a store yet)")
	batch := fs.Int("batch", 10_000, "changes per batch event")
	snap := fs.Bool("snapshot", true, "save each tenant's snapshot at its head (else a start replays every event)")
	cfg := coldDataset
	datasetFlags(fs, &cfg)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("seed: -dir is required")
	}
	st, err := seed(ctx, *dir, cfg, *batch, *snap)
	if err != nil {
		return err
	}
	logf("seeded %s in %s: %d events, %.1fs", cfg, *dir, st.events, st.dur.Seconds())
	return nil
}

type seedStats struct {
	events int
	dur    time.Duration
}

// seed writes cfg into a new embedded store in dir the way the server
// would have stored it, only faster: each tenant's changes as batch events
// (appended through the store, applied to an engine), then the tenant's
// snapshot at its head.
func seed(ctx context.Context, dir string, cfg dataset.Config, batch int, snap bool) (seedStats, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return seedStats{}, err
	}
	store, err := bolt.Open(bolt.DefaultConfig(dir))
	if err != nil {
		return seedStats{}, err
	}
	return seedStore(ctx, store, cfg, batch, snap, start)
}

// seedStore writes cfg into store (which it closes) as batch events and
// snapshots.
func seedStore(ctx context.Context, store persist.Store, cfg dataset.Config, batch int, snap bool, start time.Time) (seedStats, error) {
	eng := engine.New()
	var (
		mu     sync.Mutex
		first  error
		events int
		wg     sync.WaitGroup
	)
	tenants := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tenants {
				n, err := seedTenant(ctx, store, eng, cfg, t, batch, snap)
				mu.Lock()
				events += n
				if err != nil && first == nil {
					first = fmt.Errorf("tenant %d: %w", t, err)
				}
				mu.Unlock()
			}
		}()
	}
	for t := 0; t < cfg.Tenants && ctx.Err() == nil; t++ {
		tenants <- t
	}
	close(tenants)
	wg.Wait()
	if err := store.Close(); err != nil && first == nil {
		first = err
	}
	if first == nil {
		first = ctx.Err()
	}
	return seedStats{events: events, dur: time.Since(start)}, first
}

func seedTenant(ctx context.Context, store persist.Store, eng *engine.Engine, cfg dataset.Config, t, batch int, snap bool) (int, error) {
	id := engine.KeyID(dataset.Key(t))
	var changes []engine.Change
	events := 0
	flush := func() error {
		if len(changes) == 0 {
			return nil
		}
		ev := &engine.Event{Tenant: id, ID: rand.Uint64(), Time: time.Now().UTC(), Change: engine.Change{Op: engine.OpBatch}, Changes: changes}
		if err := store.Append(ctx, ev); err != nil {
			return err
		}
		if _, err := eng.Apply(ev); err != nil {
			return err
		}
		events++
		changes = nil
		return nil
	}
	err := cfg.Changes(t, func(c engine.Change) error {
		changes = append(changes, c)
		if len(changes) >= batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return events, err
	}
	if snap {
		if err := store.SaveSnapshot(ctx, eng.Snapshot(id)); err != nil {
			return events, err
		}
	}
	// Keep memory flat across many tenants: the engine is only a means to
	// the snapshot.
	return events, nil
}

// seedMongo writes cfg into database db of the MongoDB server at uri as the
// server stores one POST /v1/import of each tenant's whole dataset (a
// single batch event; the store keeps one that large in event_chunks, the
// event document small) followed by a snapshot at its head.
//
// It used to write batches of 5,000 changes: 65 inline event documents of
// 320 KB for the 100k-user tenant, 55 MB of events. The test server
// (FerretDB on SQLite) uses no index for any query but an insert: every
// lookup scans the collection, so those documents cost every later read
// of the events collection ~0.2 s (see persist/mongo's package doc).
func seedMongo(ctx context.Context, uri, db string, cfg dataset.Config) (seedStats, error) {
	start := time.Now()
	mc := mongo.DefaultConfig(uri)
	mc.Database = db
	mc.Timeout = time.Minute
	store, err := mongo.Open(ctx, mc)
	if err != nil {
		return seedStats{}, err
	}
	perTenant := cfg.Writes() / cfg.Tenants
	return seedStore(ctx, store, cfg, max(perTenant, 1), true, start)
}
