package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestMembershipWindowsOverHTTP: /v1 writes a membership's window from
// the body, answers it back, counts it only within it in checks and lists
// (and as of ?at=), refuses bad bodies with 400 changing nothing, exports
// and imports it and shows it in the event feed; the original's routes
// answer as they always did.
func TestMembershipWindowsOverHTTP(t *testing.T) {
	s := newTestServer(t)
	const key = "window-http-key"
	auth := bearerHeader(key)
	call := func(method, path, body string, wantStatus int, wantBody string) string {
		t.Helper()
		status, got := s.doWith(method, path, body, auth)
		if status != wantStatus || (wantBody != "" && got != wantBody) {
			t.Fatalf("%s %s %s = %d %s, want %d %s", method, path, body, status, got, wantStatus, wantBody)
		}
		return got
	}
	call("POST", "/v1/role/admin", "", 200, "")
	call("POST", "/v1/permission/admin/sudo", "", 200, "")
	call("POST", "/v1/membership/jack/admin", `{"expires_at": "2020-01-01T00:00:00Z"}`, 200, `{"result": true, "seq": 3}`)
	call("POST", "/v1/membership/ann/admin", `{"expires_in": "72h"}`, 200, "")
	call("POST", "/v1/membership/bob/admin", `{"starts_at": "2100-01-01T00:00:00+01:00", "expires_at": "2100-02-01T00:00:00Z"}`, 200, "")
	call("POST", "/v1/membership/sara/admin", ``, 200, "")

	call("GET", "/v1/membership/jack/admin", "", 200, `{"result": false, "expires_at": "2020-01-01T00:00:00Z"}`)
	call("GET", "/v1/membership/bob/admin", "", 200, `{"result": false, "starts_at": "2099-12-31T23:00:00Z", "expires_at": "2100-02-01T00:00:00Z"}`)
	call("GET", "/v1/membership/sara/admin", "", 200, `{"result": true}`)
	if got := call("GET", "/v1/membership/ann/admin", "", 200, ""); !strings.HasPrefix(got, `{"result": true, "expires_at": "`) {
		t.Fatalf("ann: %s", got)
	}
	s.expect("GET", "/api/membership/"+key+"/jack/admin", 200, `{"result": false}`)
	s.expect("GET", "/api/membership/"+key+"/ann/admin", 200, `{"result": true}`)
	for user, want := range map[string]string{"jack": "false", "ann": "true", "bob": "false", "sara": "true"} {
		s.expect("GET", "/api/has_permission/"+key+"/"+user+"/sudo", 200, `{"result": `+want+`}`)
		call("GET", "/v1/has_permission/"+user+"/sudo", "", 200, `{"result": `+want+`}`)
	}
	call("POST", "/v1/check", `{"checks": [{"user": "jack", "permission": "sudo"}, {"user": "ann", "permission": "sudo"}, {"user": "bob", "permission": "sudo"}]}`,
		200, `{"results": [false, true, false]}`)
	s.expect("GET", "/api/members/"+key+"/admin", 200, `{"result": [{"user": "ann"}, {"user": "sara"}]}`)
	s.expect("GET", "/api/which_users_can/"+key+"/sudo", 200, `{"result": [{"user": "ann"}, {"user": "sara"}]}`)
	s.expect("GET", "/api/user_roles/"+key+"/jack", 200, `{"result": []}`)
	s.expect("GET", "/api/user_permissions/"+key+"/jack", 200, `{"results": []}`)
	call("GET", "/v1/members/admin?at=2019-06-01T00:00:00Z", "", 200,
		`{"result": [{"user": "ann"}, {"user": "jack"}, {"user": "sara"}], "at": "2019-06-01T00:00:00Z"}`)
	call("GET", "/v1/which_users_can/sudo?at=2100-01-15T00:00:00Z&limit=1", "", 200,
		`{"result": [{"user": "bob"}], "next": "bob", "at": "2100-01-15T00:00:00Z"}`)
	call("GET", "/v1/user_roles/bob?at=2100-01-15T00:00:00Z", "", 200, `{"result": [{"role": "admin"}], "at": "2100-01-15T00:00:00Z"}`)
	call("GET", "/v1/user_permissions/jack?at=2019-01-01T00:00:00Z", "", 200, `{"results": [{"name": "sudo"}], "at": "2019-01-01T00:00:00Z"}`)
	call("GET", "/v1/members/admin?at=yesterday", "", 400, "")

	// Bad bodies: 400 with a JSON error, nothing changed.
	before := s.snapshot(key)
	for _, body := range []string{`{"expires_at": "tomorrow"}`, `{"expires_at": "2030-01-01T00:00:00.5Z"}`, `{"foo": "1"}`,
		`{"expires_at": "2030-01-01T00:00:00Z", "expires_in": "1h"}`, `[1]`, `{"expires_in": "-1h"}`, `{"expires_in": 5}`,
		`{"starts_at": "2030-01-02T00:00:00Z", "expires_at": "2030-01-01T00:00:00Z"}`, `{`} {
		got := call("POST", "/v1/membership/jack/admin", body, 400, "")
		if !strings.HasPrefix(got, `{"error": `) {
			t.Errorf("%s: %s", body, got)
		}
	}
	if !bytes.Equal(before, s.snapshot(key)) {
		t.Fatal("a refused body changed the state")
	}

	// The export carries windows; an import of it into another tenant
	// exports the same.
	_, export := s.doWith("GET", "/v1/export", "", auth)
	if !strings.Contains(export, `{"role": "admin", "user": "jack", "expires_at": "2020-01-01T00:00:00Z"}`+"\n") ||
		!strings.Contains(export, `{"role": "admin", "user": "sara"}`+"\n") {
		t.Fatalf("export:\n%s", export)
	}
	other := bearerHeader("window-http-other")
	if status, got := s.doWith("POST", "/v1/import", export, other); status != 200 || !strings.Contains(got, `"memberships": 4`) {
		t.Fatalf("import: %d %s", status, got)
	}
	if _, again := s.doWith("GET", "/v1/export", "", other); again != export {
		t.Fatalf("export after import:\n%s\nwant:\n%s", again, export)
	}

	// The event feed shows the window.
	if _, feed := s.doWith("GET", "/v1/events", "", auth); !strings.Contains(feed, `"op": "add_membership_window", "role": "admin", "user": "jack", "expires_at": "2020-01-01T00:00:00Z"`) {
		t.Fatalf("feed: %s", feed)
	}

	// A write without a window makes the membership permanent; the
	// original's route never writes one, body or not.
	call("POST", "/v1/membership/jack/admin", "{}", 200, "")
	call("GET", "/v1/membership/jack/admin", "", 200, `{"result": true}`)
	call("POST", "/v1/membership/zed/admin", `{"expires_at": "2020-01-01T00:00:00Z"}`, 200, "")
	if status, got := s.doWith("POST", "/api/membership/"+key+"/zed/admin", `{"expires_at": "2020-01-01T00:00:00Z"}`); status != http.StatusOK || got != `{"result": true}` {
		t.Fatalf("original POST: %d %s", status, got)
	}
	call("GET", "/v1/membership/zed/admin", "", 200, `{"result": true}`)
}
