package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestInclusionRoutes: admin includes editor includes viewer; every route
// that says what a user can do follows the chain, the routes that say
// what was written stay direct unless asked for effective=true, a cycle
// is refused with 422 and changes nothing, and both twins answer alike.
func TestInclusionRoutes(t *testing.T) {
	s := newTestServer(t)
	const k = "incl-Key"
	api := func(path string) string { return strings.Replace(path, "{k}", k, 1) }
	steps := []struct {
		method, path string
		code         int
		body         string
	}{
		{"POST", "/api/role/{k}/admin", 200, `{"result": true}`},
		{"POST", "/api/role/{k}/editor", 200, `{"result": true}`},
		{"POST", "/api/role/{k}/viewer", 200, `{"result": true}`},
		{"POST", "/api/permission/{k}/viewer/read", 200, `{"result": true}`},
		{"POST", "/api/permission/{k}/editor/write", 200, `{"result": true}`},
		{"POST", "/api/membership/{k}/ann/admin", 200, `{"result": true}`},
		{"POST", "/api/membership/{k}/bob/viewer", 200, `{"result": true}`},
		{"GET", "/api/has_permission/{k}/ann/read", 200, `{"result": false}`},
		{"POST", "/api/inclusion/{k}/admin/editor", 200, `{"result": true}`},
		{"POST", "/api/inclusion/{k}/editor/viewer", 200, `{"result": true}`},
		{"POST", "/api/inclusion/{k}/editor/viewer", 200, `{"result": true}`},  // already there
		{"POST", "/api/inclusion/{k}/admin/nobody", 200, `{"result": false}`},  // no such role
		{"POST", "/api/inclusion/{k}/nobody/viewer", 200, `{"result": false}`}, // no such role
		{"POST", "/api/inclusion/{k}/viewer/admin", 422, `{"error": "\"viewer\" including \"admin\" would make a cycle of roles", "outcome": "not_applied"}`},
		{"POST", "/api/inclusion/{k}/viewer/viewer", 422, `{"error": "\"viewer\" including \"viewer\" would make a cycle of roles", "outcome": "not_applied"}`},
		{"GET", "/api/inclusion/{k}/admin/editor", 200, `{"result": true}`},
		{"GET", "/api/inclusion/{k}/admin/viewer", 200, `{"result": false}`}, // not directly
		{"GET", "/api/inclusions/{k}/admin", 200, `{"result": [{"role": "editor"}]}`},
		{"GET", "/api/inclusions/{k}/viewer", 200, `{"result": []}`},
		{"GET", "/api/has_permission/{k}/ann/read", 200, `{"result": true}`},
		{"GET", "/api/has_permission/{k}/ann/write", 200, `{"result": true}`},
		{"GET", "/api/has_permission/{k}/bob/write", 200, `{"result": false}`},
		{"GET", "/api/user_permissions/{k}/ann", 200, `{"results": [{"name": "read"}, {"name": "write"}]}`},
		{"GET", "/api/which_users_can/{k}/read", 200, `{"result": [{"user": "ann"}, {"user": "bob"}]}`},
		{"GET", "/api/which_roles_can/{k}/read", 200, `{"result": [{"role": "admin"}, {"role": "editor"}, {"role": "viewer"}]}`},
		{"GET", "/api/role_permissions/{k}/admin", 200, `{"results": []}`},
		{"GET", "/api/role_permissions/{k}/admin?effective=true", 200, `{"results": [{"name": "read"}, {"name": "write"}]}`},
		{"GET", "/api/role_permissions/{k}/admin?effective=maybe", 400, `{"error": "effective must be true or false"}`},
		{"GET", "/api/user_roles/{k}/ann", 200, `{"result": [{"role": "admin"}]}`},
		{"GET", "/api/user_roles/{k}/ann?effective=true", 200, `{"result": [{"role": "admin"}, {"role": "editor"}, {"role": "viewer"}]}`},
		{"GET", "/api/members/{k}/viewer", 200, `{"result": [{"user": "bob"}]}`},
		{"GET", "/api/members/{k}/viewer?effective=true", 200, `{"result": [{"user": "ann"}, {"user": "bob"}]}`},
		{"GET", "/api/permission/{k}/admin/read", 200, `{"result": false}`},
		{"GET", "/api/membership/{k}/ann/viewer", 200, `{"result": false}`},
		{"GET", "/api/why/{k}/ann/read", 200, `{"result": true, "via": [{"role": "viewer", "path": ["admin", "editor", "viewer"]}]}`},
		{"GET", "/api/why/{k}/bob/read", 200, `{"result": true, "via": [{"role": "viewer"}]}`},
		{"GET", "/api/why/{k}/bob/write", 200, `{"result": false, "via": []}`},
		// Deleting a role in the middle of the chain cuts it.
		{"DELETE", "/api/role/{k}/editor", 200, `{"result": true}`},
		{"GET", "/api/has_permission/{k}/ann/read", 200, `{"result": false}`},
		{"GET", "/api/inclusions/{k}/admin", 200, `{"result": []}`},
		{"POST", "/api/inclusion/{k}/admin/viewer", 200, `{"result": true}`},
		{"DELETE", "/api/inclusion/{k}/admin/viewer", 200, `{"result": true}`},
		{"DELETE", "/api/inclusion/{k}/admin/viewer", 200, `{"result": true}`},
		{"GET", "/api/has_permission/{k}/ann/read", 200, `{"result": false}`},
		// A user deleted is out of every role.
		{"POST", "/api/membership/{k}/bob/admin", 200, `{"result": true}`},
		{"DELETE", "/api/user/{k}/bob", 200, `{"result": true}`},
		{"GET", "/api/user_roles/{k}/bob", 200, `{"result": []}`},
		{"DELETE", "/api/user/{k}/bob", 200, `{"result": true}`},
	}
	v1 := newTestServer(t)
	for _, st := range steps {
		s.expect(st.method, api(st.path), st.code, st.body)
		path, key, _ := toV1(api(st.path))
		code, body := v1.doWith(st.method, path, "", bearerHeader(key))
		if st.method != http.MethodGet && code == 200 {
			// /v1 writes add the seq: compare the result alone.
			body = body[:strings.Index(body, `, "seq"`)] + "}"
		}
		if code != st.code || body != st.body {
			t.Errorf("v1 %s %s: %d %s, want %d %s", st.method, path, code, body, st.code, st.body)
		}
	}
}

// TestInclusionCycleChangesNothing: a refused inclusion leaves the seq
// where it was, and a batch import that would close a cycle is refused
// whole.
func TestInclusionCycleChangesNothing(t *testing.T) {
	s := newTestServer(t)
	const k = "cycle-Key"
	h := bearerHeader(k)
	for _, p := range []string{"/v1/role/a", "/v1/role/b", "/v1/inclusion/a/b"} {
		if code, body := s.doWith("POST", p, "", h); code != 200 {
			t.Fatalf("POST %s: %d %s", p, code, body)
		}
	}
	_, before := s.doWith("GET", "/status", "", h)
	if !strings.Contains(before, `"seq": 3`) {
		t.Fatalf("status %s, want seq 3", before)
	}
	if code, body := s.doWith("POST", "/v1/inclusion/b/a", "", h); code != 422 || !strings.Contains(body, "cycle") {
		t.Fatalf("cycle: %d %s, want 422", code, body)
	}
	import_ := `{"role": "c"}` + "\n" + `{"role": "c", "includes": "a"}` + "\n" + `{"role": "b", "includes": "c"}` + "\n"
	code, body := s.doWith("POST", "/v1/import", import_, h)
	if code != 422 || !strings.Contains(body, `"change 2: \"b\" including \"c\" would make a cycle of roles"`) || !strings.Contains(body, "not_applied") {
		t.Fatalf("import closing a cycle: %d %s, want 422", code, body)
	}
	if _, after := s.doWith("GET", "/status", "", h); after != before {
		t.Errorf("refused writes changed the tenant: %s, then %s", before, after)
	}
	s.expect("GET", "/api/role/"+k+"/c", 200, `{"result": false}`)
}
