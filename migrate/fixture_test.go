package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/engine"
	"auth/migrate/origtest"
	"auth/persist/mongo/mongotest"
)

// The fixture's keys: distinctive, so that a test can search any output
// for them.
const (
	keyA = "sara-and-jack_Key-A1b2C3d4"
	keyB = "the-Jokers_Key-B5e6F7g8"
	keyC = "carol_Key-C9h0I1j2"
	keyD = "dave_Key-D3k4L5m6"
)

var fixtureKeys = []string{keyA, keyB, keyC, keyD}

// fp is a key's fingerprint, as the report names its tenant.
func fp(key string) string { return engine.KeyID(key).String()[:8] }

// source is a database of the original on the test MongoDB server.
type source struct {
	uri, db string
	mc      *mongo.Client
	orig    *origtest.Original
}

func newSource(t testing.TB, uri string) *source {
	t.Helper()
	ctx := context.Background()
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	s := &source{uri: uri, db: mongotest.Database(t), mc: mc}
	t.Cleanup(func() { _ = mc.Database(s.db).Drop(context.Background()) })
	if s.orig, err = origtest.New(ctx, mc.Database(s.db)); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeFixture writes, through the original's own writes (bugs and all),
// four keys' data:
//
//	A: roles cookers, laughers, admin (is_active false); cookers may cook,
//	   laughers may laugh (hidden: B granted laugh after A), admin may read;
//	   sara in cookers (referenced twice) and laughers, jack in laughers and
//	   in old (deleted since: a dangling reference), root in admin; the
//	   permission tmp of temp (deleted since: a dangling reference).
//	B: role jokers, may laugh; jack in jokers.
//	C: role x, may read (hidden: A granted read after C); carol in x.
//	D: role r, may do; dave and "bad\x01user" (a name the server refuses) in r.
func writeFixture(t testing.TB, s *source) {
	t.Helper()
	ctx := context.Background()
	o := s.orig
	must := func(ok bool, err error) {
		t.Helper()
		if err != nil || !ok {
			t.Fatalf("fixture: %v %v", ok, err)
		}
	}
	for _, r := range []string{"cookers", "laughers", "admin", "old", "temp"} {
		must(o.AddRole(ctx, keyA, r))
	}
	must(o.AddPermission(ctx, keyA, "cookers", "cook"))
	must(o.AddPermission(ctx, keyA, "laughers", "laugh"))
	must(o.AddPermission(ctx, keyA, "temp", "tmp"))
	must(o.AddMembership(ctx, keyA, "sara", "cookers"))
	must(o.AddMembership(ctx, keyA, "sara", "laughers"))
	must(o.AddMembership(ctx, keyA, "jack", "laughers"))
	must(o.AddMembership(ctx, keyA, "jack", "old"))
	must(true, o.DuplicateMembershipRef(ctx, keyA, "sara", "cookers"))
	must(o.DelRole(ctx, keyA, "old"))
	must(o.DelRole(ctx, keyA, "temp"))
	must(true, o.SetActive(ctx, keyA, "admin", false))

	must(o.AddRole(ctx, keyB, "jokers"))
	must(o.AddPermission(ctx, keyB, "jokers", "laugh"))
	must(o.AddMembership(ctx, keyB, "jack", "jokers"))

	must(o.AddRole(ctx, keyC, "x"))
	must(o.AddPermission(ctx, keyC, "x", "read"))
	must(o.AddMembership(ctx, keyC, "carol", "x"))
	must(o.AddPermission(ctx, keyA, "admin", "read"))
	must(o.AddMembership(ctx, keyA, "root", "admin"))

	must(o.AddRole(ctx, keyD, "r"))
	must(o.AddPermission(ctx, keyD, "r", "do"))
	must(o.AddMembership(ctx, keyD, "dave", "r"))
	must(o.AddMembership(ctx, keyD, "bad\x01user", "r"))
}

// config is a migration of s to the server at target, printing progress
// into out.
func (s *source) config(target string, out io.Writer) Config {
	cfg := DefaultConfig(s.uri, target)
	cfg.Database = s.db
	cfg.Progress, cfg.ProgressEvery = out, 10*time.Millisecond
	cfg.Timeout = 10 * time.Second
	return cfg
}

// run migrates and checks that no key appears in the report, however it
// is printed, or in the progress lines.
func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	var progress bytes.Buffer
	if cfg.Progress != nil {
		cfg.Progress = io.MultiWriter(cfg.Progress, &progress)
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	printed := []string{string(js), progress.String(), fmt.Sprintf("%v %+v %#v", rep, *rep, *rep)}
	for _, r := range rep.Tenants {
		printed = append(printed, fmt.Sprintf("%v %+v %#v %s %q", r, r, r, r.Key, r.Key), fmt.Sprintf("%+v %#v", *r.Tenant, *r.Tenant))
	}
	noKeys(t, printed...)
	return rep
}

// noKeys fails t if any of outs holds a fixture key or a seeded one.
func noKeys(t *testing.T, outs ...string) {
	t.Helper()
	keys := append([]string{}, fixtureKeys...)
	for i := range 8 {
		keys = append(keys, origtest.Key(i))
	}
	for _, out := range outs {
		for _, k := range keys {
			if strings.Contains(out, k) {
				t.Fatalf("a key is printed: %q", out)
			}
		}
	}
}

// tenantLine is what a test compares of a tenant's result.
type tenantLine struct {
	Outcome                      Outcome
	Roles, Grants, Memberships   int
	Dangling, Duplicates, Hidden int
	Restored                     bool
	Invalid                      []InvalidName
	Refused                      string
	Verified                     bool
}

func lines(rep *Report) map[string]tenantLine {
	out := map[string]tenantLine{}
	for _, r := range rep.Tenants {
		out[r.Name] = tenantLine{
			Outcome: r.Outcome, Roles: r.Roles, Grants: r.Grants, Memberships: r.Memberships,
			Dangling: r.DanglingRefs, Duplicates: r.DuplicateRefs, Hidden: len(r.HiddenGrants), Restored: r.Restored,
			Invalid: r.Invalid, Refused: r.Refused, Verified: r.Verification.OK(),
		}
	}
	return out
}

// answers asks the server every route of the original, for every key and
// name of the fixture, and returns the answers by request.
func answers(t *testing.T, base string) map[string]any {
	t.Helper()
	users := []string{"sara", "jack", "root", "carol", "dave", "nobody"}
	perms := []string{"cook", "laugh", "read", "do", "tmp"}
	roles := []string{"cookers", "laughers", "admin", "old", "temp", "jokers", "x", "r"}
	var paths []string
	for _, k := range fixtureKeys {
		k := url.PathEscape(k)
		paths = append(paths, "roles/"+k)
		for _, u := range users {
			paths = append(paths, "user_permissions/"+k+"/"+u, "user_roles/"+k+"/"+u)
			for _, p := range perms {
				paths = append(paths, "has_permission/"+k+"/"+u+"/"+p)
			}
		}
		for _, r := range roles {
			paths = append(paths, "role/"+k+"/"+r, "role_permissions/"+k+"/"+r, "members/"+k+"/"+r)
		}
		for _, p := range perms {
			paths = append(paths, "which_roles_can/"+k+"/"+p, "which_users_can/"+k+"/"+p)
		}
	}
	out := map[string]any{}
	for _, p := range paths {
		out[p] = get(t, base+"/api/"+p)
	}
	return out
}

func get(t *testing.T, u string) any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return v
}
