package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
	"auth/httpapi"
)

const testKey = "authctl-Secret_key"

// tenv runs authctl in-process against a real server.
type tenv struct {
	t     *testing.T
	url   string
	epoch string // the server's store's
	env   map[string]string
}

func newEnv(t *testing.T) *tenv {
	srv := clienttest.New(t, func(c *httpapi.Config) { c.MinSeqWait = 100 * time.Millisecond })
	return &tenv{t: t, url: srv.URL, epoch: srv.Epoch(), env: map[string]string{"AUTH_KEY": testKey, "AUTH_URL": srv.URL}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (e *tenv) runCtx(ctx context.Context, stdin string, args ...string) result {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, func(k string) string { return e.env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	r := result{code, stdout.String(), stderr.String()}
	if strings.Contains(r.stdout, testKey) || strings.Contains(r.stderr, testKey) {
		e.t.Errorf("authctl %q printed the key: %+v", args, r)
	}
	return r
}

func (e *tenv) run(args ...string) result {
	e.t.Helper()
	return e.runCtx(context.Background(), "", args...)
}

// expect runs args and checks the exit status and the exact output.
func (e *tenv) expect(wantCode int, wantStdout string, args ...string) {
	e.t.Helper()
	r := e.run(args...)
	if r.code != wantCode || r.stdout != wantStdout {
		e.t.Errorf("authctl %s = %d %q (stderr %q), want %d %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, wantCode, wantStdout)
	}
}

// TestStory: the Sara-and-Jack story through every verb, as text.
func TestStory(t *testing.T) {
	e := newEnv(t)
	e.expect(0, "", "role", "list")
	e.expect(0, "role cookers: created (seq 1)\n", "role", "add", "cookers")
	e.expect(0, "role cookers: already exists (seq 1)\n", "role", "add", "cookers")
	e.expect(0, "role dancers: created (seq 2)\n", "role", "add", "dancers")
	e.expect(0, "role laughers: created (seq 3)\n", "role", "add", "laughers")
	e.expect(0, "yes\n", "role", "has", "cookers")
	e.expect(1, "no\n", "role", "has", "admin")
	e.expect(0, "cookers\ndancers\nlaughers\n", "role", "list")
	e.expect(0, "role cookers: granted cook (seq 4)\n", "perm", "add", "cookers", "cook")
	e.expect(0, "role dancers: granted dance (seq 5)\n", "perm", "add", "dancers", "dance")
	e.expect(0, "role laughers: granted laugh (seq 6)\n", "perm", "add", "laughers", "laugh")
	e.expect(1, "role nobody does not exist: laugh not granted (seq 6)\n", "perm", "add", "nobody", "laugh")
	e.expect(0, "yes\n", "perm", "has", "cookers", "cook")
	e.expect(1, "no\n", "perm", "has", "cookers", "dance")
	e.expect(0, "cook\n", "perm", "list", "cookers")
	e.expect(0, "role cookers: sara added (seq 7)\n", "member", "add", "cookers", "sara")
	e.expect(0, "role laughers: sara added (seq 8)\n", "member", "add", "laughers", "sara")
	e.expect(0, "role dancers: jack added (seq 9)\n", "member", "add", "dancers", "jack")
	e.expect(0, "role laughers: jack added (seq 10)\n", "member", "add", "laughers", "jack")
	e.expect(1, "role nobody does not exist: jack not added (seq 10)\n", "member", "add", "nobody", "jack")
	e.expect(0, "yes\n", "member", "has", "dancers", "jack")
	e.expect(1, "no\n", "member", "has", "cookers", "jack")
	e.expect(0, "jack\nsara\n", "member", "list", "laughers")
	e.expect(0, "yes\n", "can", "jack", "dance")
	e.expect(1, "no\n", "can", "sara", "dance")
	e.expect(0, "dancers\nlaughers\n", "user", "roles", "jack")
	e.expect(0, "cook\nlaugh\n", "user", "perms", "sara")
	e.expect(0, "laughers\n", "which-roles", "laugh")
	e.expect(0, "", "which-roles", "fly")
	e.expect(0, "jack\nsara\n", "which-users", "laugh")
	e.expect(0, "yes\n", "-min-seq", "10", "can", "jack", "laugh")
	// Revocations.
	e.expect(0, "role cookers: cook revoked (seq 11)\n", "perm", "del", "cookers", "cook")
	e.expect(0, "role laughers: sara removed (seq 12)\n", "member", "del", "laughers", "sara")
	e.expect(0, "role dancers: deleted, with its grants and memberships (seq 13)\n", "role", "del", "dancers")
	e.expect(0, "role dancers: did not exist (seq 13)\n", "role", "del", "dancers")
	e.expect(1, "no\n", "can", "jack", "dance")
	e.expect(0, "jack\n", "which-users", "laugh")
	// Names that need quoting and escaping.
	e.expect(0, "role \"night owls\": created (seq 14)\n", "role", "add", "night owls")
	e.expect(0, "role a/b: created (seq 15)\n", "role", "add", "a/b")
	e.expect(0, "role \"night owls\": \"ü ser\" added (seq 16)\n", "member", "add", "night owls", "ü ser")
	e.expect(0, "ü ser\n", "member", "list", "night owls")
}

// TestInclusionCommands: admin includes editor includes viewer.
func TestInclusionCommands(t *testing.T) {
	e := newEnv(t)
	for _, r := range []string{"admin", "editor", "viewer"} {
		e.expect(0, "role "+r+": created (seq "+map[string]string{"admin": "1", "editor": "2", "viewer": "3"}[r]+")\n", "role", "add", r)
	}
	e.expect(0, "role viewer: granted read (seq 4)\n", "perm", "add", "viewer", "read")
	e.expect(0, "role admin: ann added (seq 5)\n", "member", "add", "admin", "ann")
	e.expect(0, "role admin: includes editor (seq 6)\n", "incl", "add", "admin", "editor")
	e.expect(0, "role editor: includes viewer (seq 7)\n", "incl", "add", "editor", "viewer")
	e.expect(1, "role admin or nobody does not exist: no inclusion made (seq 7)\n", "incl", "add", "admin", "nobody")
	if r := e.runCtx(context.Background(), "", "incl", "add", "viewer", "admin"); r.code != 2 || !strings.Contains(r.stderr, "cycle") {
		t.Errorf("a cycle: exit %d, stderr %q; want 2 and a cycle", r.code, r.stderr)
	}
	e.expect(0, "yes\n", "incl", "has", "admin", "editor")
	e.expect(1, "no\n", "incl", "has", "admin", "viewer")
	e.expect(0, "editor\n", "incl", "list", "admin")
	e.expect(0, "yes\n", "can", "ann", "read")
	e.expect(0, "admin > editor > viewer\n", "why", "ann", "read")
	e.expect(1, "no\n", "why", "ann", "write")
	e.expect(0, "", "perm", "list", "admin")
	e.expect(0, "read\n", "-effective", "perm", "list", "admin")
	e.expect(0, "admin\neditor\nviewer\n", "-effective", "user", "roles", "ann")
	e.expect(0, "admin\neditor\nviewer\n", "which-roles", "read")
	e.expect(0, "role editor: no longer includes viewer (seq 8)\n", "incl", "del", "editor", "viewer")
	e.expect(1, "no\n", "can", "ann", "read")
	e.expect(0, "user ann: out of every role (seq 9)\n", "user", "del", "ann")
	e.expect(0, "", "user", "roles", "ann")
}

func TestJSON(t *testing.T) {
	e := newEnv(t)
	e.expect(0, `{"names":[],"seq":0}`+"\n", "-json", "role", "list")
	e.expect(0, `{"result":true,"seq":1}`+"\n", "-json", "role", "add", "r")
	e.expect(0, `{"result":true,"seq":2}`+"\n", "-json", "perm", "add", "r", "p")
	e.expect(0, `{"result":true,"seq":3}`+"\n", "-json", "member", "add", "r", "u")
	e.expect(1, `{"result":false,"seq":3}`+"\n", "-json", "member", "add", "nobody", "u")
	e.expect(0, `{"result":true,"seq":3}`+"\n", "-json", "can", "u", "p")
	e.expect(1, `{"result":false,"seq":3}`+"\n", "-json", "role", "has", "s")
	e.expect(0, `{"names":["r"],"seq":3}`+"\n", "-json", "user", "roles", "u")
	e.expect(0, `{"names":["p"],"seq":3}`+"\n", "-json", "user", "perms", "u")
	e.expect(0, `{"names":["u"],"seq":3}`+"\n", "-json", "which-users", "p")
	e.expect(0, `{"names":["r"],"seq":3}`+"\n", "-json", "which-roles", "p")
	e.expect(0, `{"names":["p"],"seq":3}`+"\n", "-json", "perm", "list", "r")
	e.expect(0, `{"names":["u"],"seq":3}`+"\n", "-json", "member", "list", "r")
	e.expect(0, `{"result":true,"seq":3}`+"\n", "-json", "perm", "has", "r", "p")
	e.expect(0, `{"result":true,"seq":3}`+"\n", "-json", "member", "has", "r", "u")
	e.expect(0, `{"result":true,"seq":4}`+"\n", "-json", "member", "del", "r", "u")
	e.expect(0, `{"result":true,"seq":5}`+"\n", "-json", "perm", "del", "r", "p")
	e.expect(0, `{"result":true,"seq":6}`+"\n", "-json", "role", "del", "r")
	e.expect(0, `{"store":"embedded","epoch":"`+e.epoch+`","bus":"none","tenants":1,"seq":6}`+"\n", "-json", "status")
	e.expect(0, `{"message":"PONG"}`+"\n", "-json", "ping")
	r := e.runCtx(context.Background(), "u p\nv p\n", "-json", "check")
	if r.code != 1 || r.stdout != `{"checks":[{"user":"u","permission":"p","result":false},{"user":"v","permission":"p","result":false}],"seq":6}`+"\n" {
		t.Errorf("check -json = %+v", r)
	}
	r = e.run("-json", "events", "-after", "4")
	var evs []client.Event
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev client.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events -json line %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	if r.code != 0 || len(evs) != 2 || evs[0].Seq != 5 || evs[0].Op != client.OpDelPermission || evs[1].Op != client.OpDelRole {
		t.Errorf("events -json = %+v %+v", r, evs)
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t)
	e.run("role", "add", "r")
	e.run("perm", "add", "r", "read docs")
	e.run("member", "add", "r", "sara")
	e.run("member", "add", "r", "jack smith")
	stdin := "# who reads\nsara\tread docs\n\njack smith\tread docs\r\nnobody\tread docs\n"
	r := e.runCtx(context.Background(), stdin, "check")
	if r.code != 1 || r.stdout != "sara\tread docs\tyes\njack smith\tread docs\tyes\nnobody\tread docs\tno\n" {
		t.Errorf("check = %+v", r)
	}
	// More than one batch.
	var b strings.Builder
	for i := range 2500 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "sara\tread docs\n")
		} else {
			fmt.Fprintf(&b, "user%d\tread docs\n", i)
		}
	}
	r = e.runCtx(context.Background(), b.String(), "check")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 1 || len(lines) != 2500 || lines[2498] != "sara\tread docs\tyes" || lines[2499] != "user2499\tread docs\tno" {
		t.Errorf("check of 2500: %d, %d lines", r.code, len(lines))
	}
	r = e.runCtx(context.Background(), strings.Repeat("sara\tread docs\n", 1500), "check")
	if r.code != 0 {
		t.Errorf("all allowed: %+v", r.code)
	}
	// Bad lines.
	for _, bad := range []string{"sara\n", "a b c\n", "a\tb\tc\n"} {
		if r := e.runCtx(context.Background(), bad, "check"); r.code != 2 || !strings.Contains(r.stderr, "line 1") {
			t.Errorf("check %q = %+v", bad, r)
		}
	}
	if r := e.runCtx(context.Background(), "u\x01\tp\n", "check"); r.code != 2 || !strings.Contains(r.stderr, "400") {
		t.Errorf("check of a bad name = %+v", r)
	}
	if r := e.runCtx(context.Background(), "", "check"); r.code != 0 || r.stdout != "" {
		t.Errorf("check of nothing = %+v", r)
	}
}

func TestExportImport(t *testing.T) {
	e := newEnv(t)
	e.run("role", "add", "r")
	e.run("perm", "add", "r", "p")
	e.run("member", "add", "r", "u")
	want := "{\"role\": \"r\"}\n{\"role\": \"r\", \"permission\": \"p\"}\n{\"role\": \"r\", \"user\": \"u\"}\n"
	e.expect(0, want, "export")
	e.expect(0, want, "export", "-")
	dir := t.TempDir()
	file := filepath.Join(dir, "tenant.jsonl")
	e.expect(0, "exported to "+file+" (seq 3)\n", "export", file)
	if got, err := os.ReadFile(file); err != nil || string(got) != want {
		t.Fatalf("export file = %q %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("export left %d files", len(entries))
	}
	e.expect(0, `{"seq":3}`+"\n", "-json", "export", file)

	// Into another tenant, from a file and from stdin.
	e.env["AUTH_KEY"] = "another-key"
	e.expect(0, "imported 1 roles, 1 grants, 1 memberships (seq 1)\n", "import", file)
	if r := e.runCtx(context.Background(), "{\"role\": \"s\"}\n", "-json", "import"); r.code != 0 || r.stdout != `{"seq":2,"roles":1,"permissions":0,"memberships":0}`+"\n" {
		t.Errorf("import from stdin = %+v", r)
	}
	if r := e.runCtx(context.Background(), "{\"role\": \"t\"}\n", "import", "-"); r.code != 0 {
		t.Errorf("import - = %+v", r)
	}
	e.expect(0, "yes\n", "can", "u", "p")
	// A replace import: the tenant becomes the one role given.
	if r := e.runCtx(context.Background(), "{\"role\": \"only\"}\n", "import", "-replace", "-"); r.code != 0 {
		t.Errorf("import -replace = %+v", r)
	}
	e.expect(0, "only\n", "role", "list")
	e.expect(1, "no\n", "can", "u", "p")
	// Errors.
	if r := e.runCtx(context.Background(), "{\"user\": \"u\"}\n", "import"); r.code != 2 || !strings.Contains(r.stderr, "line 1") {
		t.Errorf("bad import = %+v", r)
	}
	if r := e.run("import", filepath.Join(dir, "missing")); r.code != 2 {
		t.Errorf("import of a missing file = %+v", r)
	}
	if r := e.run("export", filepath.Join(dir, "no", "such", "dir")); r.code != 2 {
		t.Errorf("export into a missing directory = %+v", r)
	}
	if r := e.run("-min-seq", "99", "export", file); r.code != 2 || !strings.Contains(r.stderr, "409") {
		t.Errorf("export behind = %+v", r)
	}
	if got, _ := os.ReadFile(file); string(got) != want {
		t.Error("a failed export changed the file")
	}
}

func TestEventsAndWatch(t *testing.T) {
	e := newEnv(t)
	e.expect(0, "", "events")
	for _, r := range []string{"a", "b", "c"} {
		e.run("role", "add", r)
	}
	e.run("import", "-") // nothing: an error, no event
	e.runCtx(context.Background(), "{\"role\": \"d\"}\n{\"role\": \"d\", \"user\": \"u\"}\n", "import")
	r := e.run("events")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 6 || !strings.HasPrefix(lines[0], "1\t") || !strings.HasSuffix(lines[0], "\tfirst\tadd_role role=a") ||
		!strings.HasSuffix(lines[3], "\tfirst\tbatch") || lines[4] != "\t\t  add_role role=d" || lines[5] != "\t\t  add_membership role=d user=u" {
		t.Errorf("events = %+v", r)
	}
	r = e.run("events", "-after", "1", "-limit", "1")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasSuffix(r.stdout, "\tadd_role role=b\n") {
		t.Errorf("events -after 1 -limit 1 = %+v", r)
	}
	// A long poll for the next event.
	done := make(chan result)
	go func() { done <- e.run("events", "-after", "4", "-wait", "10s") }()
	time.Sleep(50 * time.Millisecond)
	e.run("role", "add", "e")
	select {
	case r := <-done:
		if r.code != 0 || !strings.HasSuffix(r.stdout, "\tadd_role role=e\n") {
			t.Errorf("events -wait = %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events -wait did not answer")
	}

	// watch -n stops after n events; the ones after -after, then new ones.
	var wg sync.WaitGroup
	wg.Add(1)
	var w result
	go func() {
		defer wg.Done()
		w = e.run("watch", "-after", "3", "-n", "4")
	}()
	time.Sleep(50 * time.Millisecond)
	e.run("role", "add", "f")
	e.run("role", "del", "a")
	wg.Wait()
	lines = strings.Split(strings.TrimSuffix(w.stdout, "\n"), "\n")
	if w.code != 0 || len(lines) != 6 || !strings.HasPrefix(lines[0], "4\t") || !strings.HasSuffix(lines[5], "\tdel_role role=a") {
		t.Errorf("watch = %+v", w)
	}
	// Interrupted, a watch exits 0.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if r := e.runCtx(ctx, "", "-json", "watch", "-after", "6"); r.code != 0 || !strings.Contains(r.stdout, `"op":"del_role"`) {
		t.Errorf("interrupted watch = %+v", r)
	}
	// Bad flags.
	for _, args := range [][]string{{"events", "-after", "x"}, {"events", "extra"}, {"watch", "-n", "-1"}, {"watch", "x"}, {"events", "-limit", "-1"}} {
		if r := e.run(args...); r.code != 2 {
			t.Errorf("%q = %+v", args, r)
		}
	}
}

func TestStatusPingAndConfig(t *testing.T) {
	e := newEnv(t)
	e.run("role", "add", "r")
	e.expect(0, "store:   embedded\nepoch:   "+e.epoch+"\nbus:     none\ntenants: 1\nseq:     1\n", "status")
	e.expect(0, "PONG\n", "ping")
	// Without a key: status and ping work, the rest say what is missing.
	delete(e.env, "AUTH_KEY")
	e.expect(0, "store:   embedded\nepoch:   "+e.epoch+"\nbus:     none\ntenants: 1\n", "status")
	e.expect(0, "PONG\n", "ping")
	if r := e.run("role", "list"); r.code != 2 || !strings.Contains(r.stderr, "AUTH_KEY") {
		t.Errorf("without AUTH_KEY = %+v", r)
	}
	e.env["AUTH_KEY"] = testKey
	// -url wins over AUTH_URL; the default is localhost:4000.
	e.env["AUTH_URL"] = "http://127.0.0.1:1"
	if r := e.run("ping"); r.code != 2 || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("AUTH_URL unreachable = %+v", r)
	}
	e.expect(0, "PONG\n", "-url", e.url, "ping")
	// The default URL, with a timeout that lets no request leave.
	delete(e.env, "AUTH_URL")
	delete(e.env, "AUTH_KEY")
	if r := e.run("-timeout", "1ns", "ping"); r.code != 2 || !strings.Contains(r.stderr, "http://localhost:4000/ping") {
		t.Errorf("default URL: %+v", r)
	}
	e.env["AUTH_URL"], e.env["AUTH_KEY"] = e.url, testKey
	// Bad usage exits 2 with the usage.
	for _, args := range [][]string{
		{}, {"nope"}, {"role"}, {"role", "add"}, {"role", "add", "a", "b"}, {"role", "list", "x"}, {"role", "fly", "x"},
		{"perm", "add", "r"}, {"member", "list"}, {"user", "roles"}, {"user", "x", "u"}, {"can", "u"}, {"which-roles"},
		{"which-users", "a", "b"}, {"check", "x"}, {"import", "a", "b"}, {"export", "a", "b"}, {"status", "x"}, {"ping", "x"},
		{"-nope"},
	} {
		if r := e.run(args...); r.code != 2 || !strings.Contains(r.stderr, "usage") {
			t.Errorf("%q = %+v, want 2 and the usage", args, r)
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}} {
		if r := e.run(args...); r.code != 0 || !strings.Contains(r.stderr, "usage") {
			t.Errorf("%q = %+v", args, r)
		}
	}
	// A refused request exits 2 with the server's reason.
	if r := e.run("role", "add", "a\x01"); r.code != 2 || !strings.Contains(r.stderr, "400") || !strings.Contains(r.stderr, "control character") {
		t.Errorf("bad name = %+v", r)
	}
	if r := e.run("role", "add", ""); r.code != 2 || !strings.Contains(r.stderr, "empty") {
		t.Errorf("empty name = %+v", r)
	}
	if r := e.run("-min-seq", "50", "-timeout", "5s", "role", "list"); r.code != 2 || !strings.Contains(r.stderr, "409") {
		t.Errorf("behind = %+v", r)
	}
}

// TestMemberWindowCommands: member add takes a window (-for, -until,
// -from), which the server keeps and the check honours; a bad time or both
// -for and -until are refused and change nothing.
func TestMemberWindowCommands(t *testing.T) {
	e := newEnv(t)
	e.run("role", "add", "admins")
	e.run("perm", "add", "admins", "deploy")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	e.expect(0, "role admins: jack added until "+until+" (seq 3)\n", "member", "add", "-until", until, "admins", "jack")
	e.expect(0, "yes\n", "can", "jack", "deploy")
	from := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	e.expect(0, "role admins: ann added from "+from+" (seq 4)\n", "member", "add", "-from", from, "admins", "ann")
	e.expect(exitNo, "no\n", "can", "ann", "deploy")
	if r := e.run("member", "add", "-for", "1h", "admins", "bob"); r.code != 0 || !strings.HasPrefix(r.stdout, "role admins: bob added until ") {
		t.Fatalf("member add -for: %+v", r)
	}
	w, err := client.New(e.url, testKey).MembershipWindow(context.Background(), "bob", "admins")
	if err != nil || w.ExpiresAt.IsZero() || time.Until(w.ExpiresAt) > time.Hour || time.Until(w.ExpiresAt) < 50*time.Minute {
		t.Fatalf("bob's window: %+v, %v", w, err)
	}
	e.expect(exitError, "", "member", "add", "-until", "friday", "admins", "carl")
	e.expect(exitError, "", "member", "add", "-for", "1h", "-until", until, "admins", "carl")
	e.expect(0, "role admins: carl added (seq 6)\n", "member", "add", "admins", "carl")
}
