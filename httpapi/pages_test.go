package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"auth/httpapi"
	"auth/httpapi/ui"
)

const pageKey = "pages-key"

var pageAuth = [2]string{"Authorization", "Bearer " + pageKey}

// importLines imports JSON lines into the tenant of pageKey.
func (s *testServer) importLines(lines []string) {
	s.t.Helper()
	status, body := s.doWith("POST", "/v1/import", strings.Join(lines, "\n")+"\n", pageAuth)
	if status != http.StatusOK {
		s.t.Fatalf("import: %d %s", status, body)
	}
}

func (s *testServer) get(path string) (int, string) {
	s.t.Helper()
	return s.doWith("GET", path, "", pageAuth)
}

// TestListPages: every /v1 list route pages with limit, after and prefix;
// "next" appears only with limit; without any of them the answer is
// byte for byte the whole list; the original's routes ignore them.
func TestListPages(t *testing.T) {
	s := newTestServer(t)
	var lines []string
	for _, r := range []string{"admins", "cookers", "dancers", "a+b"} {
		lines = append(lines, fmt.Sprintf(`{"role": %q}`, r))
	}
	users := []string{"ann", "bob", "cy", "dee", "eve", "a+b", "sp ace", "x/y"}
	for _, u := range users {
		lines = append(lines, fmt.Sprintf(`{"role": "admins", "user": %q}`, u))
	}
	lines = append(lines, `{"role": "cookers", "user": "ann"}`, `{"role": "dancers", "user": "ann"}`,
		`{"role": "admins", "permission": "all"}`, `{"role": "cookers", "permission": "cook"}`, `{"role": "cookers", "permission": "clean"}`)
	s.importLines(lines)

	whole := map[string]string{}
	for _, path := range []string{"/v1/roles", "/v1/members/admins", "/v1/role_permissions/cookers", "/v1/user_roles/ann",
		"/v1/user_permissions/ann", "/v1/which_roles_can/all", "/v1/which_users_can/all"} {
		status, body := s.get(path)
		if status != 200 {
			t.Fatalf("GET %s = %d %s", path, status, body)
		}
		whole[path] = body
		if strings.Contains(body, "next") {
			t.Errorf("GET %s without limit has next: %s", path, body)
		}
	}
	if want := `{"result": [{"user": "a+b"}, {"user": "ann"}, {"user": "bob"}, {"user": "cy"}, {"user": "dee"}, {"user": "eve"}, {"user": "sp ace"}, {"user": "x/y"}]}`; whole["/v1/members/admins"] != want {
		t.Fatalf("members = %s, want %s", whole["/v1/members/admins"], want)
	}

	for _, c := range []struct{ path, want string }{
		{"/v1/members/admins?limit=3", `{"result": [{"user": "a+b"}, {"user": "ann"}, {"user": "bob"}], "next": "bob"}`},
		{"/v1/members/admins?limit=3&after=bob", `{"result": [{"user": "cy"}, {"user": "dee"}, {"user": "eve"}], "next": "eve"}`},
		{"/v1/members/admins?limit=3&after=eve", `{"result": [{"user": "sp ace"}, {"user": "x/y"}], "next": null}`},
		{"/v1/members/admins?limit=2&after=dee", `{"result": [{"user": "eve"}, {"user": "sp ace"}], "next": "sp ace"}`},
		{"/v1/members/admins?limit=2&after=sp%20ace", `{"result": [{"user": "x/y"}], "next": null}`},
		{"/v1/members/admins?limit=8", `{"result": [{"user": "a+b"}, {"user": "ann"}, {"user": "bob"}, {"user": "cy"}, {"user": "dee"}, {"user": "eve"}, {"user": "sp ace"}, {"user": "x/y"}], "next": null}`},
		{"/v1/members/admins?prefix=a", `{"result": [{"user": "a+b"}, {"user": "ann"}]}`},
		{"/v1/members/admins?prefix=a%2B", `{"result": [{"user": "a+b"}]}`},
		{"/v1/members/admins?after=eve", `{"result": [{"user": "sp ace"}, {"user": "x/y"}]}`},
		{"/v1/members/admins?prefix=zz&limit=5", `{"result": [], "next": null}`},
		{"/v1/members/nobody?limit=5", `{"result": [], "next": null}`},
		{"/v1/roles?limit=2", `{"result": [{"role": "a+b"}, {"role": "admins"}], "next": "admins"}`},
		{"/v1/roles?counts=true", `{"result": [{"role": "a+b", "members": 0, "permissions": 0}, {"role": "admins", "members": 8, "permissions": 1}, {"role": "cookers", "members": 1, "permissions": 2}, {"role": "dancers", "members": 1, "permissions": 0}]}`},
		{"/v1/roles?counts=true&limit=1&after=admins", `{"result": [{"role": "cookers", "members": 1, "permissions": 2}], "next": "cookers"}`},
		{"/v1/roles?counts=false&prefix=d", `{"result": [{"role": "dancers"}]}`},
		{"/v1/role_permissions/cookers?limit=1", `{"results": [{"name": "clean"}], "next": "clean"}`},
		{"/v1/user_roles/ann?limit=2&after=admins", `{"result": [{"role": "cookers"}, {"role": "dancers"}], "next": null}`},
		{"/v1/user_permissions/ann?prefix=c", `{"results": [{"name": "clean"}, {"name": "cook"}]}`},
		{"/v1/which_roles_can/all?limit=1", `{"result": [{"role": "admins"}], "next": null}`},
		{"/v1/which_users_can/all?limit=2&prefix=s", `{"result": [{"user": "sp ace"}], "next": null}`},
		// No paging argument: the whole list, as before.
		{"/v1/members/admins?min_seq=1", whole["/v1/members/admins"]},
	} {
		if status, body := s.get(c.path); status != 200 || body != c.want {
			t.Errorf("GET %s = %d %s\nwant 200 %s", c.path, status, body, c.want)
		}
	}

	// The original's routes keep their answers, query or not.
	s.expect("GET", "/api/members/"+pageKey+"/admins?limit=1", 200, whole["/v1/members/admins"])

	// Bad arguments: 400 with a JSON error.
	for _, path := range []string{"/v1/members/admins?limit=0", "/v1/members/admins?limit=-1", "/v1/members/admins?limit=x",
		"/v1/members/admins?limit=10001", "/v1/roles?after=%01", "/v1/roles?prefix=" + strings.Repeat("p", 257), "/v1/roles?counts=maybe"} {
		status, body := s.get(path)
		var e struct{ Error string }
		if status != 400 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("GET %s = %d %s, want 400 with an error", path, status, body)
		}
	}
}

// TestRoleCountsAndWhy: the counts route, and the check with the roles it
// holds through.
func TestRoleCountsAndWhy(t *testing.T) {
	s := newTestServer(t)
	s.importLines([]string{`{"role": "cookers"}`, `{"role": "chefs"}`, `{"role": "empty"}`,
		`{"role": "cookers", "permission": "cook"}`, `{"role": "chefs", "permission": "cook"}`, `{"role": "chefs", "permission": "taste"}`,
		`{"role": "cookers", "user": "sara"}`, `{"role": "chefs", "user": "sara"}`, `{"role": "chefs", "user": "jack"}`})
	for _, c := range []struct{ path, want string }{
		{"/v1/role_counts/chefs", `{"result": true, "members": 2, "permissions": 2}`},
		{"/v1/role_counts/empty", `{"result": true, "members": 0, "permissions": 0}`},
		{"/v1/role_counts/none", `{"result": false, "members": 0, "permissions": 0}`},
		{"/v1/why/sara/cook", `{"result": true, "via": [{"role": "chefs"}, {"role": "cookers"}]}`},
		{"/v1/why/jack/cook", `{"result": true, "via": [{"role": "chefs"}]}`},
		{"/v1/why/jack/dance", `{"result": false, "via": []}`},
		{"/v1/why/nobody/cook", `{"result": false, "via": []}`},
	} {
		if status, body := s.get(c.path); status != 200 || body != c.want {
			t.Errorf("GET %s = %d %s, want 200 %s", c.path, status, body, c.want)
		}
	}
	// The why route agrees with the check.
	for _, u := range []string{"sara", "jack", "nobody"} {
		for _, p := range []string{"cook", "taste", "dance"} {
			_, check := s.get("/v1/has_permission/" + u + "/" + p)
			_, why := s.get("/v1/why/" + u + "/" + p)
			if strings.HasPrefix(why, `{"result": true`) != (check == `{"result": true}`) {
				t.Errorf("%s %s: check %s, why %s", u, p, check, why)
			}
		}
	}
	s.expect("GET", "/v1/why/sara", 404, `{"error": "no such route"}`)
	if status, _ := s.doWith("GET", "/v1/why/sara/cook", ""); status != 401 {
		t.Errorf("why without a key = %d, want 401", status)
	}
	if status, _ := s.do("GET", "/v1/why/%01/cook"); status != 401 {
		t.Errorf("why without a key = %d, want 401", status)
	}
	if status, _ := s.get("/v1/why/%01/cook"); status != 400 {
		t.Errorf("why of a bad name = %d, want 400", status)
	}
}

// TestConsoleServed: with Config.UI the console is at /ui/ with its
// security headers; without it there is nothing there.
func TestConsoleServed(t *testing.T) {
	on := newTestServer(t, func(c *httpapi.Config) { c.UI = ui.Handler() })
	off := newTestServer(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for path, ct := range map[string]string{"/ui/": "text/html", "/ui/index.html": "text/html", "/ui/app.js": "text/javascript", "/ui/app.css": "text/css"} {
		resp, body := get(on.base, path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || body == "" {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); csp != ui.CSP || !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
		if resp, _ := get(off.base, path); resp.StatusCode != 404 {
			t.Errorf("without UI, GET %s = %d", path, resp.StatusCode)
		}
	}
	if resp, _ := get(on.base, "/ui"); resp.StatusCode != 301 || resp.Header.Get("Location") == "" || !strings.HasSuffix(resp.Header.Get("Location"), "/ui/") {
		t.Errorf("GET /ui = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/ui/nothing.js", "/ui/%2e%2e%2fopenapi.go", "/ui/static/app.js", "/ui/ui.go"} {
		if resp, _ := get(on.base, path); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
	// The page has no inline script or style, which the policy forbids.
	_, page := get(on.base, "/ui/")
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	// The script sets names as text only.
	_, script := get(on.base, "/ui/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage", "document.cookie"} {
		if strings.Contains(script, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	// The console's routes are not API routes.
	for _, r := range on.srv.Routes() {
		if strings.HasPrefix(r.Path, "/ui") {
			t.Errorf("%s is listed as an API route", r.Path)
		}
	}
}

// TestOpenAPIDocumentsPages: the OpenAPI document gives every /v1 list
// route the page arguments, /v1/roles its counts, and "next" in the
// answers' schemas.
func TestOpenAPIDocumentsPages(t *testing.T) {
	doc, ops := parseOpenAPI(t, httpapi.OpenAPI())
	for _, path := range []string{"/v1/roles", "/v1/members/{role}", "/v1/role_permissions/{role}", "/v1/user_roles/{user}",
		"/v1/user_permissions/{user}", "/v1/which_roles_can/{name}", "/v1/which_users_can/{name}"} {
		op, ok := ops[httpapi.Route{Method: "GET", Path: path}]
		if !ok {
			t.Fatalf("GET %s is not documented", path)
		}
		want := map[string]bool{"limit": false, "after": false, "prefix": false}
		if path == "/v1/roles" {
			want["counts"] = false
		}
		for _, p := range op.Parameters {
			if p.Ref != "" {
				p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if _, ok := want[p.Name]; ok && p.In == "query" {
				want[p.Name] = true
			}
		}
		for name, found := range want {
			if !found {
				t.Errorf("GET %s: no query parameter %s", path, name)
			}
		}
	}
	for _, name := range []string{"RoleList", "UserList", "PermissionList"} {
		b, _ := json.Marshal(doc.Components.Schemas[name])
		if !strings.Contains(string(b), `"next":`) {
			t.Errorf("schema %s has no next", name)
		}
	}
	for _, r := range []httpapi.Route{{Method: "GET", Path: "/v1/why/{user}/{name}"}, {Method: "GET", Path: "/v1/role_counts/{role}"}} {
		if _, ok := ops[r]; !ok {
			t.Errorf("%s %s is not documented", r.Method, r.Path)
		}
	}
}
