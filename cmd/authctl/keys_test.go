package main

import (
	"strings"
	"testing"
)

// TestKeyCommands: key add prints the secret alone, key list never shows
// one, key revoke refuses the key at once, key rotate replaces AUTH_KEY.
func TestKeyCommands(t *testing.T) {
	e := newEnv(t)
	e.expect(exitOK, "role r: created (seq 1)\n", "role", "add", "r")
	r := e.run("key", "add", "billing", "check")
	secret := strings.TrimSpace(r.stdout)
	if r.code != exitOK || !strings.HasPrefix(secret, "ak_") || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stderr, "shown this once") {
		t.Fatalf("key add: %+v", r)
	}
	r = e.run("key", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "first\tadmin\t-\tfirst") ||
		!strings.Contains(lines[1], "\tcheck\t") || !strings.HasSuffix(lines[1], "\tbilling") || strings.Contains(r.stdout, secret) {
		t.Fatalf("key list: %+v", r)
	}
	id := strings.Fields(lines[1])[0]
	// The check key checks, and may not list.
	checker := &tenv{t: t, url: e.url, env: map[string]string{"AUTH_KEY": secret, "AUTH_URL": e.url}}
	if r := checker.run("role", "list"); r.code == exitOK || !strings.Contains(r.stderr, "403") {
		t.Fatalf("role list with the check key: %+v", r)
	}
	e.expect(exitError, "", "key", "add", "x", "write")
	e.expect(exitOK, "key "+id+": revoked (seq 3)\n", "key", "revoke", id)
	e.expect(exitNo, "", "key", "revoke", id)
	if r := checker.run("can", "u", "p"); r.code == exitOK || r.code == exitNo || !strings.Contains(r.stderr, "401") {
		t.Fatalf("can with the revoked key: %+v", r)
	}
	// Rotation: the new secret on stdout, AUTH_KEY refused from then on.
	r = e.run("key", "rotate", "ops")
	next := strings.TrimSpace(r.stdout)
	if r.code != exitOK || !strings.HasPrefix(next, "ak_") || !strings.Contains(r.stderr, "key first is revoked") {
		t.Fatalf("key rotate: %+v", r)
	}
	if r := e.run("role", "list"); !strings.Contains(r.stderr, "401") {
		t.Fatalf("role list with the rotated-away key: %+v", r)
	}
	e.env["AUTH_KEY"] = next
	e.expect(exitOK, "r\n", "role", "list")
	// Deleting the tenant takes -yes, and leaves no key that works.
	e.expect(exitError, "", "tenant", "delete")
	e.expect(exitOK, "r\n", "role", "list")
	if r := e.run("tenant", "delete", "-yes"); r.code != exitOK || !strings.HasPrefix(r.stdout, "tenant deleted (seq 5)") {
		t.Fatalf("tenant delete -yes: %+v", r)
	}
	if r := e.run("role", "list"); !strings.Contains(r.stderr, "401") {
		t.Fatalf("role list after the deletion: %+v", r)
	}
}
