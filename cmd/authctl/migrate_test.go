package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/client"
	"auth/engine"
	"auth/migrate"
	"auth/migrate/origtest"
	"auth/persist/mongo/mongotest"
)

// The original's keys in TestMigrateOriginal.
const (
	key1 = "first-Key_Xy12Zq34"
	key2 = "second-Key_Pq56Rs78"
)

// writeOriginal writes, through the original's own writes:
//
//	key1: staff may read (hidden: key2 granted read later), admins may
//	      write; ann in staff and in gone (deleted since), bob in staff
//	      and admins.
//	key2: ops may read; cy and "bad\x01name" in ops.
func writeOriginal(t *testing.T, uri, db string) {
	ctx := context.Background()
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	o, err := origtest.New(ctx, mc.Database(db))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() (bool, error){
		func() (bool, error) { return o.AddRole(ctx, key1, "staff") },
		func() (bool, error) { return o.AddRole(ctx, key1, "admins") },
		func() (bool, error) { return o.AddRole(ctx, key1, "gone") },
		func() (bool, error) { return o.AddPermission(ctx, key1, "staff", "read") },
		func() (bool, error) { return o.AddPermission(ctx, key1, "admins", "write") },
		func() (bool, error) { return o.AddMembership(ctx, key1, "ann", "staff") },
		func() (bool, error) { return o.AddMembership(ctx, key1, "ann", "gone") },
		func() (bool, error) { return o.AddMembership(ctx, key1, "bob", "staff") },
		func() (bool, error) { return o.AddMembership(ctx, key1, "bob", "admins") },
		func() (bool, error) { return o.DelRole(ctx, key1, "gone") },
		func() (bool, error) { return o.AddRole(ctx, key2, "ops") },
		func() (bool, error) { return o.AddPermission(ctx, key2, "ops", "read") },
		func() (bool, error) { return o.AddMembership(ctx, key2, "cy", "ops") },
		func() (bool, error) { return o.AddMembership(ctx, key2, "bad\x01name", "ops") },
	} {
		if ok, err := step(); !ok || err != nil {
			t.Fatalf("writing the original's data: %v %v", ok, err)
		}
	}
}

// runMigrate runs authctl without AUTH_KEY and checks that no key is
// printed.
func (e *tenv) runMigrate(args ...string) result {
	e.t.Helper()
	delete(e.env, "AUTH_KEY")
	r := e.run(args...)
	for _, k := range []string{key1, key2} {
		if strings.Contains(r.stdout, k) || strings.Contains(r.stderr, k) {
			e.t.Fatalf("authctl %q printed a key: %+v", args, r)
		}
	}
	return r
}

// withoutTimes is the output without the summary's times, which vary.
func withoutTimes(out string) string {
	if i := strings.LastIndex(out, "; read "); i >= 0 {
		return out[:i] + "\n"
	}
	return out
}

func TestMigrateOriginal(t *testing.T) {
	uri, db := mongotest.URI(t), mongotest.Database(t)
	writeOriginal(t, uri, db)
	e := newEnv(t)
	fp1, fp2 := engine.KeyID(key1).String()[:8], engine.KeyID(key2).String()[:8]
	tenant1 := func(outcome string) string {
		return "tenant " + fp1 + ": " + outcome + "; 2 roles, 1 grant, 3 memberships\n" +
			"  skipped: 1 dangling reference\n" +
			"  1 hidden grant, not imported (-restore-hidden-grants imports them): \"staff\" may \"read\"\n"
	}
	tenant2 := func(outcome, invalid string) string {
		return "tenant " + fp2 + ": " + outcome + "\n" +
			"  1 name the server refuses, " + invalid + ": user \"bad\\x01name\" (name contains a control character)\n"
	}
	sorted := func(a, b string) string {
		if fp1 < fp2 {
			return a + b
		}
		return b + a
	}
	const summary = "summary: 2 tenants: %s; skipped: 1 dangling reference, 0 duplicate references, 0 references to another key's role, 0 duplicate documents, 0 malformed documents; 1 hidden grant (0 restored); 1 refused name (%s refused)%s\n"
	from := []string{"migrate-original", "-from", uri, "-db", db, "-progress", "0"}

	// A dry run: what would be imported, nothing written; key2's tenant
	// would be refused, so it exits 2.
	r := e.runMigrate(append(from, "-dry-run")...)
	want := sorted(tenant1("to import"), tenant2("not applied (nothing written); 0 roles, 0 grants, 0 memberships\n  refused: names the server refuses", "their tenant is not imported (-skip-invalid drops just their facts)")) +
		fmt.Sprintf(summary, "0 imported, 0 unchanged, 1 not applied, 0 unknown, 1 to import (dry run: nothing written); 2 roles, 1 grant, 3 memberships", "1 tenant", "")
	if diff := cmp.Diff(want, withoutTimes(r.stdout)); diff != "" || r.code != exitError {
		t.Errorf("dry run: exit %d, stderr %q, stdout (-want +got):\n%s", r.code, r.stderr, diff)
	}
	if st, err := client.New(e.url, "").Status(context.Background()); err != nil || st.Tenants != 0 {
		t.Fatalf("a dry run wrote %d tenants (%v)", st.Tenants, err)
	}

	// With -skip-invalid: both imported, verified; exit 0.
	r = e.runMigrate(append(from, "-skip-invalid")...)
	want = sorted(tenant1("imported (seq 1), verified (2 roles, 4 checks)"), tenant2("imported (seq 1), verified (1 role, 1 check); 1 role, 1 grant, 1 membership", "dropped with their facts")) +
		fmt.Sprintf(summary, "2 imported, 0 unchanged, 0 not applied, 0 unknown; 3 roles, 2 grants, 4 memberships", "0 tenants", "; verified 2, failed 0")
	if diff := cmp.Diff(want, withoutTimes(r.stdout)); diff != "" || r.code != exitOK {
		t.Errorf("migration: exit %d, stderr %q, stdout (-want +got):\n%s", r.code, r.stderr, diff)
	}
	// The server answers as the original did: ann may not read (the
	// grant was hidden), bob may write, cy may read.
	for _, c := range []struct {
		key, user, perm string
		code            int
	}{{key1, "ann", "read", exitNo}, {key1, "bob", "write", exitOK}, {key2, "cy", "read", exitOK}} {
		e.env["AUTH_KEY"] = c.key
		if r := e.run("can", c.user, c.perm); r.code != c.code {
			t.Errorf("can %s %s = %d, want %d", c.user, c.perm, r.code, c.code)
		}
	}

	// Again, as JSON: nothing written, both unchanged and verified.
	r = e.runMigrate(append([]string{"-json"}, append(from, "-skip-invalid")...)...)
	var rep migrate.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitOK {
		t.Fatalf("rerun -json: exit %d, %v: %q", r.code, err, r.stdout)
	}
	for _, tn := range rep.Tenants {
		if tn.Outcome != migrate.Unchanged || tn.Seq != 1 || !tn.Verification.OK() {
			t.Errorf("rerun: %+v", tn)
		}
	}

	// Another database: none of the original's collections.
	r = e.runMigrate("migrate-original", "-from", uri, "-db", db+"_not")
	if r.code != exitError || !strings.Contains(r.stderr, "holds none of auth_group, auth_membership, auth_permission") {
		t.Errorf("the wrong database: exit %d, stderr %q", r.code, r.stderr)
	}

	// Without -skip-invalid, against a fresh server: key2's tenant is
	// refused, the run exits 2.
	fresh := newEnv(t)
	r = fresh.runMigrate(from...)
	if r.code != exitError || !strings.Contains(r.stdout, "tenant "+fp2+": not applied (nothing written)") || !strings.Contains(r.stdout, "tenant "+fp1+": imported (seq 1), verified") {
		t.Errorf("without -skip-invalid: exit %d, %q", r.code, r.stdout)
	}
}

func TestMigrateOriginalUsage(t *testing.T) {
	e := &tenv{t: t, env: map[string]string{"AUTH_URL": "http://127.0.0.1:1"}}
	for _, c := range []struct {
		args []string
		want string // stderr's first line
	}{
		{[]string{"migrate-original"}, "authctl: migrate-original needs -from: the original's MongoDB, mongodb://host:port/"},
		{[]string{"migrate-original", "-from", "http://x/"}, "authctl: the source must be a mongodb:// or mongodb+srv:// URI"},
		{[]string{"migrate-original", "-from", "mongodb://x/", "-parallel", "0"}, "authctl: parallel must be at least 1"},
		{[]string{"migrate-original", "-from", "mongodb://x/", "extra"}, "authctl: migrate-original -from URI [flags]"},
	} {
		r := e.runMigrate(c.args...)
		first, _, _ := strings.Cut(r.stderr, "\n")
		if r.code != exitError || first != c.want || !strings.Contains(r.stderr, "usage") {
			t.Errorf("%q: exit %d, stderr %q", c.args, r.code, r.stderr)
		}
	}
	// An unreachable source: exit 2, the URI's password masked.
	r := e.runMigrate("-timeout", "500ms", "migrate-original", "-from", "mongodb://admin:pa55word@127.0.0.1:1/")
	if r.code != exitError || !strings.Contains(r.stderr, "connect to mongodb://admin:xxxxx@127.0.0.1:1/") || strings.Contains(r.stderr, "pa55word") {
		t.Errorf("unreachable source: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := e.runMigrate("migrate-original", "-h"); r.code != exitOK || !strings.Contains(r.stderr, "-restore-hidden-grants") {
		t.Errorf("-h: exit %d, stderr %q", r.code, r.stderr)
	}
}
