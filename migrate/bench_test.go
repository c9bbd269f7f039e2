package migrate

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/client"
	"auth/client/clienttest"
	"auth/migrate/origtest"
	"auth/persist/mongo/mongotest"
)

// seeded is a source holding a dataset written in bulk, and what it holds.
func seeded(tb testing.TB, d origtest.Dataset) (*source, origtest.Counts) {
	tb.Helper()
	src := newSource(tb, mongotest.URI(tb))
	counts, err := origtest.Seed(context.Background(), src.mc.Database(src.db), d)
	if err != nil {
		tb.Fatal(err)
	}
	return src, counts
}

// checkSeeded fails tb unless rep migrated all of a seeded dataset and
// verified it, and counted what it holds.
func checkSeeded(tb testing.TB, rep *Report, c origtest.Counts, outcome Outcome) {
	tb.Helper()
	s := rep.Summary
	if !rep.OK() || s.Outcomes[outcome] != c.Tenants || s.Verified != c.Tenants ||
		s.Roles != c.Roles || s.Grants != c.Grants || s.Memberships != c.Memberships ||
		s.DanglingRefs != c.DanglingRefs || s.DuplicateRefs != c.DuplicateRefs || s.HiddenGrants != c.HiddenGrants {
		tb.Fatalf("summary %+v, want %s and %+v", s, outcome, c)
	}
}

// TestMigrateSeeded is BenchmarkMigrate1M's run, scaled down for CI: a
// dataset written in bulk, migrated, verified, migrated again.
func TestMigrateSeeded(t *testing.T) {
	src, counts := seeded(t, origtest.Dataset{Tenants: 4, Roles: 6, Permissions: 10, Users: 300, RolesPerUser: 2})
	srv := clienttest.New(t)
	cfg := src.config(srv.URL, nil)
	cfg.Checks = 200
	rep := run(t, cfg)
	checkSeeded(t, rep, counts, Imported)
	for _, r := range rep.Tenants {
		if r.Verification.Checks != 200 {
			t.Errorf("tenant %s: %d checks", r.Name, r.Verification.Checks)
		}
	}
	checkSeeded(t, run(t, cfg), counts, Unchanged)
}

// BenchmarkMigrate1M: the figure, 100 keys and 1M memberships
// (each key: 50 roles, 200 permissions granted to 2 roles each, 5,000
// users in 2 roles each, and the dataset's dangling, repeated and hidden
// references), read from the test MongoDB server, imported into an
// in-process auth-server on the embedded store, and verified (1,000
// checks a tenant); then run again (every tenant unchanged, verified).
// Both share the machine with MongoDB and the server.
//
// Baselines, measured in the same run: reading the three collections
// with the driver, decoding nothing; and importing the same facts, one
// import a tenant, into a fresh server. x-floor is the
// migration's time over the sum of the two.
//
//	go test ./migrate -run '^$' -bench Migrate1M -benchtime 1x
func BenchmarkMigrate1M(b *testing.B) {
	d := origtest.Dataset{Tenants: 100, Roles: 50, Permissions: 200, Users: 5000, RolesPerUser: 2}
	seedStart := time.Now()
	src, counts := seeded(b, d)
	b.Logf("seeded %d memberships in %v", counts.Memberships, time.Since(seedStart).Round(time.Millisecond))
	var first, again *Report
	var total, rerun time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		srv, err := clienttest.Start("")
		if err != nil {
			b.Fatal(err)
		}
		cfg := src.config(srv.URL, nil)
		cfg.Progress = nil
		b.StartTimer()
		start := time.Now()
		first, err = Run(context.Background(), cfg)
		total += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		checkSeeded(b, first, counts, Imported)
		start = time.Now()
		if again, err = Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		rerun += time.Since(start)
		checkSeeded(b, again, counts, Unchanged)
		if err := srv.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	readFloor := readFloor(b, src)
	importFloor := importFloor(b, src)
	n := float64(b.N)
	s := first.Summary
	b.ReportMetric(total.Seconds()/n, "s/migration")
	b.ReportMetric(time.Duration(s.Read).Seconds(), "read-s")
	b.ReportMetric(time.Duration(s.Write).Seconds(), "write-s")
	b.ReportMetric(time.Duration(s.Verify).Seconds(), "verify-s")
	b.ReportMetric(rerun.Seconds()/n, "rerun-s")
	b.ReportMetric(readFloor.Seconds(), "floor-read-s")
	b.ReportMetric(importFloor.Seconds(), "floor-import-s")
	b.ReportMetric(total.Seconds()/n/(readFloor+importFloor).Seconds(), "x-floor")
	b.ReportMetric(float64(counts.Memberships)/(total.Seconds()/n), "memberships/s")
}

// readFloor is the time to read the three collections, decoding nothing.
func readFloor(b *testing.B, src *source) time.Duration {
	ctx := context.Background()
	start := time.Now()
	for _, coll := range []string{collGroups, collPermissions, collMemberships} {
		cur, err := src.mc.Database(src.db).Collection(coll).Find(ctx, bson.D{})
		if err != nil {
			b.Fatal(err)
		}
		for cur.Next(ctx) {
		}
		if err := cur.Err(); err != nil {
			b.Fatal(err)
		}
		cur.Close(ctx)
	}
	return time.Since(start)
}

// importFloor is the time to import the migration's facts, built
// beforehand, into a fresh server: one import a tenant, one at a time (as
// the server takes them).
func importFloor(b *testing.B, src *source) time.Duration {
	rd, err := ReadSource(context.Background(), src.uri, src.db, 10*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	tenants := Plan(rd, Options{})
	bodies := make([][]byte, len(tenants))
	for i, t := range tenants {
		bodies[i] = encodeFacts(t.facts)
	}
	srv, err := clienttest.Start("")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	start := time.Now()
	for i, t := range tenants {
		c := client.New(srv.URL, t.Key.s)
		if _, err := c.Import(context.Background(), bytes.NewReader(bodies[i])); err != nil {
			b.Fatal(err)
		}
		c.CloseIdleConnections()
	}
	return time.Since(start)
}
