package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
	"auth/httpapi"
)

const testKey = "t3st-Key_never/in?a=url&b#c"

// recorder is a RoundTripper that records every request's URL and
// Authorization header before sending it on.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, url, path, auth string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.String(), req.URL.RequestURI(), req.Header.Get("Authorization")})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func newRecorded(t *testing.T, base, key string, opts ...client.Option) (*client.Client, *recorder) {
	t.Helper()
	rec := &recorder{next: client.NewTransport()}
	c := client.New(base, key, append([]client.Option{client.WithHTTPClient(&http.Client{Transport: rec})}, opts...)...)
	t.Cleanup(c.CloseIdleConnections)
	return c, rec
}

// TestVerbs: every verb, in the story's order, with its answer and the
// seq it carries, and the request it sent.
func TestVerbs(t *testing.T) {
	srv := clienttest.New(t)
	c, rec := newRecorded(t, srv.URL, testKey)
	ctx := context.Background()

	type result struct {
		v   any
		err error
	}
	w := func(w client.Write, err error) result { return result{w, err} }
	a := func(a client.Answer, err error) result { return result{a, err} }
	l := func(l client.List, err error) result { return result{l, err} }
	tests := []struct {
		name   string
		do     func() result
		want   any
		method string
		path   string // the request URI, escaped
	}{
		{"Roles empty", func() result { return l(c.Roles(ctx)) }, client.List{Names: []string{}, Seq: 0}, "GET", "/v1/roles"},
		{"AddRole", func() result { return w(c.AddRole(ctx, "cookers")) }, client.Write{Result: true, Seq: 1}, "POST", "/v1/role/cookers"},
		{"AddRole again", func() result { return w(c.AddRole(ctx, "cookers")) }, client.Write{Result: false, Seq: 1}, "POST", "/v1/role/cookers"},
		{"AddRole dancers", func() result { return w(c.AddRole(ctx, "dancers")) }, client.Write{Result: true, Seq: 2}, "POST", "/v1/role/dancers"},
		{"HasRole", func() result { return a(c.HasRole(ctx, "cookers")) }, client.Answer{Result: true, Seq: 2}, "GET", "/v1/role/cookers"},
		{"HasRole no", func() result { return a(c.HasRole(ctx, "admin")) }, client.Answer{Result: false, Seq: 2}, "GET", "/v1/role/admin"},
		{"Roles", func() result { return l(c.Roles(ctx, client.MinSeq(2))) }, client.List{Names: []string{"cookers", "dancers"}, Seq: 2}, "GET", "/v1/roles?min_seq=2"},
		{"AddPermission", func() result { return w(c.AddPermission(ctx, "cookers", "cook")) }, client.Write{Result: true, Seq: 3}, "POST", "/v1/permission/cookers/cook"},
		{"AddPermission no role", func() result { return w(c.AddPermission(ctx, "nobody", "cook")) }, client.Write{Result: false, Seq: 3}, "POST", "/v1/permission/nobody/cook"},
		{"AddPermission dance", func() result { return w(c.AddPermission(ctx, "dancers", "dance")) }, client.Write{Result: true, Seq: 4}, "POST", "/v1/permission/dancers/dance"},
		{"HasPermission", func() result { return a(c.HasPermission(ctx, "cookers", "cook")) }, client.Answer{Result: true, Seq: 4}, "GET", "/v1/permission/cookers/cook"},
		{"HasPermission no", func() result { return a(c.HasPermission(ctx, "cookers", "dance")) }, client.Answer{Result: false, Seq: 4}, "GET", "/v1/permission/cookers/dance"},
		{"RolePermissions", func() result { return l(c.RolePermissions(ctx, "cookers")) }, client.List{Names: []string{"cook"}, Seq: 4}, "GET", "/v1/role_permissions/cookers"},
		{"WhichRolesCan", func() result { return l(c.WhichRolesCan(ctx, "dance")) }, client.List{Names: []string{"dancers"}, Seq: 4}, "GET", "/v1/which_roles_can/dance"},
		{"AddMembership", func() result { return w(c.AddMembership(ctx, "sara", "cookers")) }, client.Write{Result: true, Seq: 5}, "POST", "/v1/membership/sara/cookers"},
		{"AddMembership jack", func() result { return w(c.AddMembership(ctx, "jack", "dancers")) }, client.Write{Result: true, Seq: 6}, "POST", "/v1/membership/jack/dancers"},
		{"AddMembership no role", func() result { return w(c.AddMembership(ctx, "jack", "nobody")) }, client.Write{Result: false, Seq: 6}, "POST", "/v1/membership/jack/nobody"},
		{"HasMembership", func() result { return a(c.HasMembership(ctx, "sara", "cookers")) }, client.Answer{Result: true, Seq: 6}, "GET", "/v1/membership/sara/cookers"},
		{"HasMembership no", func() result { return a(c.HasMembership(ctx, "sara", "dancers")) }, client.Answer{Result: false, Seq: 6}, "GET", "/v1/membership/sara/dancers"},
		{"UserHasPermission", func() result { return a(c.UserHasPermission(ctx, "jack", "dance")) }, client.Answer{Result: true, Seq: 6}, "GET", "/v1/has_permission/jack/dance"},
		{"UserHasPermission no", func() result { return a(c.UserHasPermission(ctx, "sara", "dance", client.MinSeq(6))) }, client.Answer{Result: false, Seq: 6}, "GET", "/v1/has_permission/sara/dance?min_seq=6"},
		{"UserPermissions", func() result { return l(c.UserPermissions(ctx, "sara")) }, client.List{Names: []string{"cook"}, Seq: 6}, "GET", "/v1/user_permissions/sara"},
		{"UserRoles", func() result { return l(c.UserRoles(ctx, "jack")) }, client.List{Names: []string{"dancers"}, Seq: 6}, "GET", "/v1/user_roles/jack"},
		{"RoleMembers", func() result { return l(c.RoleMembers(ctx, "cookers")) }, client.List{Names: []string{"sara"}, Seq: 6}, "GET", "/v1/members/cookers"},
		{"WhichUsersCan", func() result { return l(c.WhichUsersCan(ctx, "cook")) }, client.List{Names: []string{"sara"}, Seq: 6}, "GET", "/v1/which_users_can/cook"},
		{"DelMembership", func() result { return w(c.DelMembership(ctx, "sara", "cookers")) }, client.Write{Result: true, Seq: 7}, "DELETE", "/v1/membership/sara/cookers"},
		{"DelMembership again", func() result { return w(c.DelMembership(ctx, "sara", "cookers")) }, client.Write{Result: true, Seq: 7}, "DELETE", "/v1/membership/sara/cookers"},
		{"DelPermission", func() result { return w(c.DelPermission(ctx, "cookers", "cook")) }, client.Write{Result: true, Seq: 8}, "DELETE", "/v1/permission/cookers/cook"},
		{"DelRole", func() result { return w(c.DelRole(ctx, "dancers")) }, client.Write{Result: true, Seq: 9}, "DELETE", "/v1/role/dancers"},
		{"DelRole again", func() result { return w(c.DelRole(ctx, "dancers")) }, client.Write{Result: false, Seq: 9}, "DELETE", "/v1/role/dancers"},
		{"UserHasPermission after", func() result { return a(c.UserHasPermission(ctx, "jack", "dance")) }, client.Answer{Result: false, Seq: 9}, "GET", "/v1/has_permission/jack/dance"},
		{"WhichUsersCan none", func() result { return l(c.WhichUsersCan(ctx, "dance")) }, client.List{Names: []string{}, Seq: 9}, "GET", "/v1/which_users_can/dance"},
	}
	for _, tc := range tests {
		before := len(rec.requests())
		got := tc.do()
		if got.err != nil {
			t.Errorf("%s: %v", tc.name, got.err)
			continue
		}
		if !reflect.DeepEqual(got.v, tc.want) {
			t.Errorf("%s = %+v, want %+v", tc.name, got.v, tc.want)
		}
		reqs := rec.requests()
		if len(reqs) != before+1 {
			t.Errorf("%s sent %d requests, want 1", tc.name, len(reqs)-before)
			continue
		}
		if r := reqs[before]; r.method != tc.method || r.path != tc.path || r.auth != "Bearer "+testKey {
			t.Errorf("%s sent %s %s (Authorization %q), want %s %s with the key", tc.name, r.method, r.path, r.auth, tc.method, tc.path)
		}
	}
}

// TestNames: names that need escaping arrive intact, one path segment
// each.
func TestNames(t *testing.T) {
	srv := clienttest.New(t)
	c, rec := newRecorded(t, srv.URL, testKey)
	ctx := context.Background()
	names := []string{"a/b", "with space", "plus+sign", "100%", "?#&=", ".", "..", "ünïcødé", "日本", `quote"back\slash`, "semi;colon", "%2F", strings.Repeat("é", 128)}
	for _, n := range names {
		for _, step := range []func() (client.Write, error){
			func() (client.Write, error) { return c.AddRole(ctx, n) },
			func() (client.Write, error) { return c.AddPermission(ctx, n, n) },
			func() (client.Write, error) { return c.AddMembership(ctx, n, n) },
		} {
			if w, err := step(); err != nil || !w.Result {
				t.Fatalf("%q: %+v %v", n, w, err)
			}
		}
		if a, err := c.UserHasPermission(ctx, n, n); err != nil || !a.Result {
			t.Errorf("UserHasPermission(%q, %q) = %+v %v", n, n, a, err)
		}
		for _, list := range []func() (client.List, error){
			func() (client.List, error) { return c.UserRoles(ctx, n) },
			func() (client.List, error) { return c.RolePermissions(ctx, n) },
			func() (client.List, error) { return c.WhichUsersCan(ctx, n) },
		} {
			if l, err := list(); err != nil || !reflect.DeepEqual(l.Names, []string{n}) {
				t.Errorf("%q: list = %+v %v", n, l, err)
			}
		}
	}
	roles, err := c.Roles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if !reflect.DeepEqual(roles.Names, want) {
		t.Errorf("Roles = %q, want %q", roles.Names, want)
	}
	for _, r := range rec.requests() {
		if strings.Contains(r.path, "/./") || strings.Contains(r.path, "/../") || strings.HasSuffix(r.path, "/.") || strings.HasSuffix(r.path, "/..") {
			t.Errorf("request %s has a dot segment", r.path)
		}
	}
}

// TestKeyNeverInURL: whatever the call, the key goes in the Authorization
// header only: not in a URL, not in an error, not in the client's printed
// form.
func TestKeyNeverInURL(t *testing.T) {
	srv := clienttest.New(t)
	ctx := context.Background()
	c, rec := newRecorded(t, srv.URL, testKey)
	var errs []error
	keep := func(_ any, err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	keep(c.AddRole(ctx, "r"))
	keep(c.AddPermission(ctx, "r", "p"))
	keep(c.AddMembership(ctx, "u", "r"))
	keep(c.HasRole(ctx, "r"))
	keep(c.Roles(ctx))
	keep(c.HasPermission(ctx, "r", "p"))
	keep(c.RolePermissions(ctx, "r"))
	keep(c.HasMembership(ctx, "u", "r"))
	keep(c.UserHasPermission(ctx, "u", "p"))
	keep(c.UserPermissions(ctx, "u"))
	keep(c.UserRoles(ctx, "u"))
	keep(c.RoleMembers(ctx, "r"))
	keep(c.WhichRolesCan(ctx, "p"))
	keep(c.WhichUsersCan(ctx, "p"))
	keep(c.Check(ctx, []client.Check{{User: "u", Permission: "p"}}))
	keep(c.Events(ctx, client.EventsQuery{After: 1}))
	var buf bytes.Buffer
	keep(c.Export(ctx, &buf))
	keep(c.Import(ctx, &buf))
	keep(c.Status(ctx))
	keep(nil, c.Ping(ctx))
	wctx, cancel := context.WithCancel(ctx)
	keep(nil, c.Watch(wctx, 0, func(client.Event) error { cancel(); return nil }))
	keep(c.DelMembership(ctx, "u", "r"))
	keep(c.DelPermission(ctx, "r", "p"))
	keep(c.DelRole(ctx, "r"))
	// Errors.
	keep(c.AddRole(ctx, "bad\x01"))
	keep(c.Roles(ctx, client.MinSeq(1<<40)))
	keep(client.New(srv.URL+"/nope", testKey).Roles(ctx))
	if len(errs) != 4 { // the cancelled watch and the three errors above
		t.Errorf("errors: %v", errs)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), testKey) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testKey) {
			t.Errorf("an error holds the key: %v", err)
		}
	}
	reqs := rec.requests()
	if len(reqs) < 25 {
		t.Fatalf("only %d requests recorded", len(reqs))
	}
	escaped := url.PathEscape(testKey)
	for _, r := range reqs {
		for _, form := range []string{testKey, escaped, url.QueryEscape(testKey), "t3st-Key"} {
			if strings.Contains(r.url, form) {
				t.Errorf("%s %s holds the key", r.method, r.url)
			}
		}
		if r.auth != "Bearer "+testKey {
			t.Errorf("%s %s: Authorization %q", r.method, r.url, r.auth)
		}
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String()} {
		if strings.Contains(s, "t3st-Key") {
			t.Errorf("the client prints its key: %s", s)
		}
	}
}

func TestErrors(t *testing.T) {
	srv := clienttest.New(t, func(c *httpapi.Config) { c.MinSeqWait = 50 * time.Millisecond })
	// Small limits, so that an oversized body fits the socket buffers and
	// the answer is read before the server closes the connection.
	small := client.New(clienttest.New(t, func(c *httpapi.Config) { c.MaxRequestBodySize, c.MaxImportBodySize = 4<<10, 4<<10 }).URL, testKey)
	ctx := context.Background()
	c, rec := newRecorded(t, srv.URL, testKey)
	if _, err := c.AddRole(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	noKey := client.New(srv.URL, "")
	long := strings.Repeat("x", 257)
	tests := []struct {
		name     string
		err      error
		sentinel error
		status   int // 0: refused without a request
	}{
		{"no key, read", second(noKey.Roles(ctx)), client.ErrUnauthorized, 401},
		{"no key, write", second(noKey.AddRole(ctx, "r")), client.ErrUnauthorized, 401},
		{"no key, check", second(noKey.Check(ctx, nil)), client.ErrUnauthorized, 401},
		{"no key, events", second(noKey.Events(ctx, client.EventsQuery{})), client.ErrUnauthorized, 401},
		{"no key, export", second(noKey.Export(ctx, io.Discard)), client.ErrUnauthorized, 401},
		{"no key, import", second(noKey.Import(ctx, strings.NewReader(`{"role": "r"}`))), client.ErrUnauthorized, 401},
		{"no key, watch", noKey.Watch(ctx, 0, func(client.Event) error { return nil }), client.ErrUnauthorized, 401},
		{"control character", second(c.AddRole(ctx, "a\x01b")), client.ErrBadRequest, 400},
		{"too long", second(c.AddPermission(ctx, "r", long)), client.ErrBadRequest, 400},
		{"invalid UTF-8", second(c.UserHasPermission(ctx, "\xff", "p")), client.ErrBadRequest, 400},
		{"too long key", second(client.New(srv.URL, strings.Repeat("k", 1025)).Roles(ctx)), client.ErrBadRequest, 400},
		{"bad check", second(c.Check(ctx, []client.Check{{User: "u", Permission: "p"}, {User: "u\n", Permission: "p"}})), client.ErrBadRequest, 400},
		{"too many checks", second(c.Check(ctx, make([]client.Check, 1001))), client.ErrBadRequest, 400},
		{"bad import", second(c.Import(ctx, strings.NewReader("{\"role\": \"ok\"}\n{\"user\": \"u\"}\n"))), client.ErrBadRequest, 400},
		{"bad limit", second(c.Events(ctx, client.EventsQuery{Limit: 5000})), client.ErrBadRequest, 400},
		{"empty role", second(c.AddRole(ctx, "")), client.ErrBadRequest, 0},
		{"empty permission", second(c.UserHasPermission(ctx, "u", "")), client.ErrBadRequest, 0},
		{"empty user", second(c.UserRoles(ctx, "")), client.ErrBadRequest, 0},
		{"behind", second(c.HasRole(ctx, "r", client.MinSeq(2))), client.ErrBehind, 409},
		{"behind, list", second(c.Roles(ctx, client.MinSeq(100))), client.ErrBehind, 409},
		{"behind, check", second(c.Check(ctx, []client.Check{{User: "u", Permission: "p"}}, client.MinSeq(100))), client.ErrBehind, 409},
		{"behind, export", second(c.Export(ctx, io.Discard, client.MinSeq(100))), client.ErrBehind, 409},
		{"no route", second(client.New(srv.URL+"/prefix", testKey).Roles(ctx)), client.ErrNotFound, 404},
		{"too large check", second(small.Check(ctx, slices.Repeat([]client.Check{{User: "u", Permission: "p"}}, 300))), client.ErrTooLarge, 413},
		{"too large import", second(small.Import(ctx, strings.NewReader(strings.Repeat("{\"role\": \"r\"}\n", 500)))), client.ErrTooLarge, 413},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.sentinel) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.sentinel)
			continue
		}
		var e *client.Error
		if got := errors.As(tc.err, &e); got != (tc.status != 0) {
			t.Errorf("%s: %v is an *Error: %v", tc.name, tc.err, got)
			continue
		}
		if e != nil && (e.StatusCode != tc.status || e.Message == "" || e.Method == "" || e.Path == "") {
			t.Errorf("%s: %+v, want status %d with a message", tc.name, e, tc.status)
		}
		for _, other := range []error{client.ErrBadRequest, client.ErrUnauthorized, client.ErrBehind, client.ErrUnavailable, client.ErrNotFound, client.ErrTooLarge} {
			if other != tc.sentinel && errors.Is(tc.err, other) {
				t.Errorf("%s: %v also matches %v", tc.name, tc.err, other)
			}
		}
	}
	// A 409 says where the replica is.
	_, err := c.Roles(ctx, client.MinSeq(5))
	var e *client.Error
	if !errors.As(err, &e) || e.Seq != 1 || !strings.Contains(e.Message, "min_seq") {
		t.Errorf("behind: %#v, want seq 1", err)
	}
	// Empty names never leave the client.
	for _, r := range rec.requests() {
		if strings.HasSuffix(r.path, "/") || strings.Contains(r.path, "//") {
			t.Errorf("sent %s %s", r.method, r.path)
		}
	}
	// Nothing of the above changed anything.
	if roles, err := c.Roles(ctx); err != nil || !reflect.DeepEqual(roles, client.List{Names: []string{"r"}, Seq: 1}) {
		t.Errorf("after the errors: %+v %v", roles, err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestUnavailable: 503 (a store that cannot write) and a proxy's 502 and
// 504 match ErrUnavailable; an answer that is not JSON still makes an
// *Error.
func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		msg    string
	}{
		{503, `{"error": "store unavailable; nothing was changed"}`, "store unavailable; nothing was changed"},
		{502, "<html>bad gateway</html>", "<html>bad gateway</html>"},
		{504, "", "(no message)"},
	} {
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		_, err := client.New(fake.URL, testKey).AddRole(context.Background(), "r")
		fake.Close()
		var e *client.Error
		if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &e) || e.StatusCode != tc.status || e.Message != tc.msg {
			t.Errorf("%d: %#v", tc.status, err)
		}
	}
}

func TestBaseURL(t *testing.T) {
	srv := clienttest.New(t)
	ctx := context.Background()
	// Behind a proxy, under a path prefix.
	target, _ := url.Parse(srv.URL)
	proxy := httptest.NewServer(http.StripPrefix("/auth", httputil.NewSingleHostReverseProxy(target)))
	defer proxy.Close()
	for _, base := range []string{proxy.URL + "/auth", proxy.URL + "/auth/"} {
		c := client.New(base, testKey)
		if w, err := c.AddRole(ctx, "a/b"); err != nil || w.Seq != 1 {
			t.Fatalf("%s: AddRole = %+v %v", base, w, err)
		}
		if l, err := c.Roles(ctx); err != nil || !reflect.DeepEqual(l.Names, []string{"a/b"}) {
			t.Errorf("%s: Roles = %+v %v", base, l, err)
		}
	}
	for _, bad := range []string{"localhost:4000", "ftp://h", "http://", "::"} {
		c := client.New(bad, testKey)
		if _, err := c.Roles(ctx); err == nil || strings.Contains(err.Error(), testKey) {
			t.Errorf("base %q: %v", bad, err)
		}
		if err := c.Watch(ctx, 0, func(client.Event) error { return nil }); err == nil {
			t.Errorf("base %q: Watch did not fail", bad)
		}
	}
}

func TestStatusPing(t *testing.T) {
	srv := clienttest.New(t)
	ctx := context.Background()
	c := client.New(srv.URL, testKey)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	c.AddRole(ctx, "r")
	c.AddRole(ctx, "s")
	st, err := c.Status(ctx)
	if err != nil || st.Seq == nil || *st.Seq != 2 || st.Store != "embedded" || st.Bus != "none" || st.Tenants != 1 {
		t.Errorf("Status = %+v %v", st, err)
	}
	st, err = client.New(srv.URL, "").Status(ctx)
	if err != nil || st.Seq != nil {
		t.Errorf("Status without key = %+v %v", st, err)
	}
	// Ping of something that is not the server.
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"message": "hello"}`) }))
	defer fake.Close()
	if err := client.New(fake.URL, "").Ping(ctx); err == nil {
		t.Error("Ping of a server answering hello succeeded")
	}
}

func TestCheck(t *testing.T) {
	srv := clienttest.New(t)
	ctx := context.Background()
	c := client.New(srv.URL, testKey)
	c.AddRole(ctx, "r")
	c.AddPermission(ctx, "r", `p "quoted" \ <html>&`)
	w, _ := c.AddMembership(ctx, "ü ser", "r")
	checks := make([]client.Check, client.MaxChecks)
	want := make([]bool, len(checks))
	for i := range checks {
		checks[i] = client.Check{User: fmt.Sprintf("user%d", i%7), Permission: `p "quoted" \ <html>&`}
		if i%3 == 0 {
			checks[i].User = "ü ser"
			want[i] = true
		}
	}
	got, err := c.Check(ctx, checks, client.MinSeq(w.Seq))
	if err != nil || got.Seq != w.Seq || !reflect.DeepEqual(got.Results, want) {
		t.Fatalf("Check = %+v %v", got, err)
	}
	got, err = c.Check(ctx, nil)
	if err != nil || len(got.Results) != 0 {
		t.Errorf("empty Check = %+v %v", got, err)
	}
}

func TestEvents(t *testing.T) {
	srv := clienttest.New(t)
	ctx := context.Background()
	c := client.New(srv.URL, testKey)
	page, err := c.Events(ctx, client.EventsQuery{})
	if err != nil || len(page.Events) != 0 || page.Events == nil || page.Seq != 0 {
		t.Fatalf("no events = %+v %v", page, err)
	}
	c.AddRole(ctx, "r")
	c.AddPermission(ctx, "r", "p")
	c.AddMembership(ctx, "u", "r")
	c.Import(ctx, strings.NewReader("{\"role\": \"s\"}\n{\"role\": \"s\", \"user\": \"v\"}\n"))
	page, err = c.Events(ctx, client.EventsQuery{After: 1, Limit: 2})
	if err != nil || page.Seq != 4 || len(page.Events) != 2 {
		t.Fatalf("page = %+v %v", page, err)
	}
	want := []client.Change{{Op: client.OpAddPermission, Role: "r", Permission: "p"}, {Op: client.OpAddMembership, Role: "r", User: "u"}}
	for i, ev := range page.Events {
		if ev.Seq != uint64(i+2) || ev.Change != want[i] || time.Since(ev.Time) > time.Minute {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
	page, _ = c.Events(ctx, client.EventsQuery{After: 3})
	if len(page.Events) != 1 || page.Events[0].Op != client.OpBatch || len(page.Events[0].Changes) != 2 ||
		page.Events[0].String() != "4 batch (2 changes)" {
		t.Errorf("batch event = %+v", page)
	}
	// A long poll answers the next event as soon as it is applied.
	got := make(chan client.EventPage, 1)
	go func() {
		p, err := c.Events(ctx, client.EventsQuery{After: 4, Wait: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	time.Sleep(50 * time.Millisecond)
	c.DelRole(ctx, "s")
	select {
	case p := <-got:
		if len(p.Events) != 1 || p.Events[0].Seq != 5 || p.Events[0].Op != client.OpDelRole {
			t.Errorf("long poll = %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not answer")
	}
}

func TestExportImport(t *testing.T) {
	srv := clienttest.New(t)
	ctx := context.Background()
	src, dst := client.New(srv.URL, "source-key"), client.New(srv.URL, "destination-key")
	for _, n := range []string{"a/b", "ü", "r"} {
		src.AddRole(ctx, n)
		src.AddPermission(ctx, n, "p "+n)
		src.AddMembership(ctx, "u "+n, n)
	}
	var exported bytes.Buffer
	seq, err := src.Export(ctx, &exported)
	if err != nil || seq != 9 {
		t.Fatalf("Export = %d %v", seq, err)
	}
	var facts []client.Fact
	for f, err := range client.ReadFacts(bytes.NewReader(exported.Bytes())) {
		if err != nil {
			t.Fatal(err)
		}
		facts = append(facts, f)
	}
	if len(facts) != 9 || facts[0] != (client.Fact{Role: "a/b"}) || facts[3] != (client.Fact{Role: "a/b", Permission: "p a/b"}) {
		t.Errorf("facts = %+v", facts)
	}
	// Import streams its body (no length known in advance).
	pr, pw := io.Pipe()
	go func() {
		for _, f := range slices.Backward(facts) { // any order
			fmt.Fprintf(pw, "%s\n\n", must(jsonLine(f)))
		}
		pw.Close()
	}()
	imported, err := dst.Import(ctx, pr)
	if err != nil || imported != (client.Imported{Seq: 1, Roles: 3, Permissions: 3, Memberships: 3}) {
		t.Fatalf("Import = %+v %v", imported, err)
	}
	var again bytes.Buffer
	if seq, err := dst.Export(ctx, &again, client.MinSeq(1)); err != nil || seq != 1 || again.String() != exported.String() {
		t.Errorf("export of the import = %d %v\n%s\nwant\n%s", seq, err, again.String(), exported.String())
	}
	// A replace import leaves only its facts: the destination's state
	// becomes one role of the source's.
	if _, err := dst.ImportReplace(ctx, strings.NewReader("{\"role\": \"r\"}\n{\"role\": \"r\", \"user\": \"u r\"}\n")); err != nil {
		t.Fatal(err)
	}
	var replaced bytes.Buffer
	if _, err := dst.Export(ctx, &replaced, client.MinSeq(2)); err != nil || replaced.String() != "{\"role\": \"r\"}\n{\"role\": \"r\", \"user\": \"u r\"}\n" {
		t.Errorf("export after ImportReplace = %v\n%s", err, replaced.String())
	}
	// An empty tenant exports nothing.
	var empty bytes.Buffer
	if seq, err := client.New(srv.URL, "empty-key").Export(ctx, &empty); err != nil || seq != 0 || empty.Len() != 0 {
		t.Errorf("empty export = %d %v %q", seq, err, empty.String())
	}
	// ReadFacts refuses what is not a fact.
	for _, bad := range []string{`{"user": "u"}`, `nope`, `{"role": "r", "user": "u", "permission": "p"}`} {
		n := 0
		for _, err := range client.ReadFacts(strings.NewReader("{\"role\": \"ok\"}\n" + bad)) {
			if n++; n == 2 && (err == nil || !strings.Contains(err.Error(), "line 2")) {
				t.Errorf("ReadFacts(%q): %v", bad, err)
			}
		}
	}
}

func jsonLine(f client.Fact) (string, error) {
	var b strings.Builder
	_, err := fmt.Fprintf(&b, `{"role": %q`, f.Role)
	if f.Permission != "" {
		fmt.Fprintf(&b, `, "permission": %q`, f.Permission)
	}
	if f.User != "" {
		fmt.Fprintf(&b, `, "user": %q`, f.User)
	}
	b.WriteString("}")
	return b.String(), err
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
