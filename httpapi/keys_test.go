package httpapi_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"auth/engine"
	"auth/httpapi"
	"auth/persist"
	"auth/replica"
)

// newKey makes a key under admin with name and scope and returns its id
// and secret.
func (s *testServer) newKey(admin, name, scope string) (id, secret string) {
	s.t.Helper()
	code, body := s.doWith(http.MethodPost, "/v1/keys", `{"name": "`+name+`", "scope": "`+scope+`"}`, bearerHeader(admin))
	if code != http.StatusOK {
		s.t.Fatalf("POST /v1/keys: %d %s", code, body)
	}
	m := decodeJSON(s.t.(*testing.T), body)
	id, _ = m["id"].(string)
	secret, _ = m["key"].(string)
	if !strings.HasPrefix(secret, engine.KeyPrefix) || !strings.HasPrefix(id, "k_") || m["scope"] != scope || m["name"] != name {
		s.t.Fatalf("POST /v1/keys answered %s", body)
	}
	return id, secret
}

// routeRequest is a request of every route of srv that takes a key, with
// key, and the scope it needs.
type routeRequest struct {
	method, path, body string
	need               engine.Scope
	header             bool // the key goes in the Authorization header
}

func keyedRoutes(t *testing.T, srv *httpapi.Server, key string) []routeRequest {
	t.Helper()
	fill := strings.NewReplacer("{key}", key, "{role}", "r", "{user}", "u", "{name}", "p", "{id}", "k_0000000000000000")
	var out []routeRequest
	for _, r := range srv.Routes() {
		if !strings.Contains(r.Path, "{key}") && !strings.HasPrefix(r.Path, "/v1/") && r.Path != "/status" {
			continue
		}
		rr := routeRequest{method: r.Method, path: fill.Replace(r.Path), need: engine.ScopeRead, header: !strings.Contains(r.Path, "{key}")}
		switch {
		case strings.HasPrefix(r.Path, "/v1/keys"):
			rr.need = engine.ScopeAdmin
			if r.Method == http.MethodPost {
				rr.body = `{"name": "n", "scope": "check"}`
			}
		case strings.Contains(r.Path, "has_permission") || r.Path == "/status":
			rr.need = engine.ScopeCheck
		case r.Path == "/v1/check":
			rr.need, rr.body = engine.ScopeCheck, `{"checks": [{"user": "u", "permission": "p"}]}`
		case r.Path == "/v1/import":
			rr.need, rr.body = engine.ScopeAdmin, `{"role": "imported"}`+"\n"
		case r.Method != http.MethodGet:
			rr.need = engine.ScopeAdmin
		}
		out = append(out, rr)
	}
	if len(out) < 40 {
		t.Fatalf("only %d routes take a key", len(out))
	}
	return out
}

func (s *testServer) send(r routeRequest, key string) (int, string) {
	s.t.Helper()
	if r.header {
		return s.doWith(r.method, r.path, r.body, bearerHeader(key))
	}
	return s.doWith(r.method, r.path, r.body)
}

// TestKeyScopes: a check key can check and nothing else, a read key can
// read and not write, an admin key can do everything; outside its scope a
// key gets 403 with a JSON error, and nothing changed. A revoked key gets
// 401 on every route, /api ones included.
func TestKeyScopes(t *testing.T) {
	s := newTestServer(t)
	const first = "scopes-first-key"
	s.grant(first, "u", "r", "p")
	keys := map[engine.Scope]string{}
	for _, sc := range []engine.Scope{engine.ScopeCheck, engine.ScopeRead, engine.ScopeAdmin} {
		_, keys[sc] = s.newKey(first, sc.String()+"-service", sc.String())
	}
	// The check key answers from the tenant's state.
	s.expect(http.MethodGet, "/api/has_permission/"+keys[engine.ScopeCheck]+"/u/p", 200, `{"result": true}`)
	code, body := s.doWith(http.MethodGet, "/v1/has_permission/u/p", "", bearerHeader(keys[engine.ScopeCheck]))
	if code != 200 || body != `{"result": true}` {
		t.Errorf("check key, v1 check: %d %s", code, body)
	}
	// The read key lists what the first key wrote.
	code, body = s.doWith(http.MethodGet, "/v1/members/r", "", bearerHeader(keys[engine.ScopeRead]))
	if code != 200 || !strings.Contains(body, `"u"`) {
		t.Errorf("read key, members: %d %s", code, body)
	}
	_, revoked := s.newKey(first, "gone", "admin")
	revokedID := ""
	for _, k := range listKeys(t, s, first) {
		if k["name"] == "gone" {
			revokedID = k["id"].(string)
		}
	}
	if code, body := s.doWith(http.MethodDelete, "/v1/keys/"+revokedID, "", bearerHeader(first)); code != 200 || body != `{"result": true, "seq": 8}` {
		t.Fatalf("DELETE /v1/keys/%s: %d %s", revokedID, code, body)
	}
	if code, body := s.doWith(http.MethodDelete, "/v1/keys/"+revokedID, "", bearerHeader(first)); code != 404 || body != `{"error": "no such key"}` {
		t.Fatalf("DELETE /v1/keys/%s again: %d %s", revokedID, code, body)
	}

	for sc, key := range keys {
		for _, r := range keyedRoutes(t, s.srv, key) {
			if r.path == "/v1/events/stream" && sc.Allows(r.need) {
				continue // an allowed stream does not end
			}
			if r.path == "/v1/keys/rotate" && sc.Allows(r.need) {
				continue // TestRotate
			}
			if r.path == "/v1/tenant" && sc.Allows(r.need) {
				continue // TestDeleteTenantEverywhere
			}
			before := s.rep.Engine().Seq(engine.KeyID(first))
			code, body := s.send(r, key)
			switch {
			case !sc.Allows(r.need):
				if code != http.StatusForbidden || !strings.Contains(body, `"error"`) {
					t.Errorf("%s key, %s %s: %d %s, want 403", sc, r.method, r.path, code, body)
				}
				if after := s.rep.Engine().Seq(engine.KeyID(first)); after != before {
					t.Errorf("%s key, %s %s: refused, yet the tenant moved from %d to %d", sc, r.method, r.path, before, after)
				}
			case code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500:
				t.Errorf("%s key, %s %s: %d %s, want it served", sc, r.method, r.path, code, body)
			}
		}
	}
	// The revoked key: 401 everywhere.
	for _, r := range keyedRoutes(t, s.srv, revoked) {
		if code, body := s.send(r, revoked); code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("revoked key, %s %s: %d %s, want 401", r.method, r.path, code, body)
		}
	}
	// Bad key requests change nothing.
	for _, bad := range []string{`{"name": "x", "scope": "write"}`, `{"name": "", "scope": "read"}`, `not json`, `{"name": "a\u0001", "scope": "read"}`} {
		before := s.rep.Engine().Seq(engine.KeyID(first))
		if code, body := s.doWith(http.MethodPost, "/v1/keys", bad, bearerHeader(first)); code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("POST /v1/keys %s: %d %s, want 400", bad, code, body)
		}
		if s.rep.Engine().Seq(engine.KeyID(first)) != before {
			t.Errorf("POST /v1/keys %s changed the tenant", bad)
		}
	}
	if code, _ := s.doWith(http.MethodDelete, "/v1/keys/nope", "", bearerHeader(first)); code != 400 {
		t.Errorf("DELETE /v1/keys/nope: %d, want 400", code)
	}
}

func listKeys(t *testing.T, s *testServer, admin string) []map[string]any {
	t.Helper()
	code, body := s.doWith(http.MethodGet, "/v1/keys", "", bearerHeader(admin))
	if code != 200 {
		t.Fatalf("GET /v1/keys: %d %s", code, body)
	}
	var out []map[string]any
	for _, k := range decodeJSON(t, body)["keys"].([]any) {
		out = append(out, k.(map[string]any))
	}
	return out
}

// TestKeyList: GET /v1/keys lists ids, names, scopes and creation times,
// never a secret; the tenant keeps its keys through a restart.
func TestKeyList(t *testing.T) {
	store, rep := newTestReplica(t)
	base, srv := serve(t, rep)
	s := &testServer{t: t, base: base, store: store, rep: rep, srv: srv}
	const first = "list-first-key"
	id, secret := s.newKey(first, "billing", "check")
	code, body := s.doWith(http.MethodGet, "/v1/keys", "", bearerHeader(first))
	if code != 200 || strings.Contains(body, secret) || strings.Contains(body, secret[len(engine.KeyPrefix):]) {
		t.Fatalf("GET /v1/keys: %d %s", code, body)
	}
	keys := listKeys(t, s, first)
	if len(keys) != 2 || keys[0]["id"] != engine.FirstKey || keys[0]["scope"] != "admin" ||
		keys[1]["id"] != id || keys[1]["name"] != "billing" || keys[1]["scope"] != "check" || keys[1]["created"] == nil {
		t.Fatalf("keys: %v", keys)
	}
	// A restart: another replica loads the store and knows the key.
	rep.Close()
	rep2, err := replica.New(engine.New(), store, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	base2, _ := serve(t, rep2)
	s2 := &testServer{t: t, base: base2, store: store, rep: rep2}
	if code, body := s2.doWith(http.MethodGet, "/v1/has_permission/u/p", "", bearerHeader(secret)); code != 200 {
		t.Fatalf("after a restart, the check key: %d %s", code, body)
	}
	if code, _ := s2.doWith(http.MethodGet, "/v1/roles", "", bearerHeader(secret)); code != 403 {
		t.Fatalf("after a restart, the check key lists: %d", code)
	}
}

// TestRotate: rotating gives a new admin key that sees every fact, and
// revokes the key that called it in the same event; the old key gets 401
// on every route, and is never taken for a fresh tenant.
func TestRotate(t *testing.T) {
	s := newTestServer(t)
	const first = "rotate-first-key"
	s.grant(first, "sara", "cooks", "cook")
	id := engine.KeyID(first)
	before := s.rep.Engine().Seq(id)
	tenants := s.rep.Engine().TenantCount()
	code, body := s.doWith(http.MethodPost, "/v1/keys/rotate", "", bearerHeader(first))
	if code != 200 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	m := decodeJSON(t, body)
	next, _ := m["key"].(string)
	if m["revoked"] != engine.FirstKey || m["scope"] != "admin" || !strings.HasPrefix(next, engine.KeyPrefix) {
		t.Fatalf("rotate answered %s", body)
	}
	if after := s.rep.Engine().Seq(id); after != before+1 {
		t.Fatalf("rotate took the tenant from %d to %d, want one event", before, after)
	}
	// The new key sees every fact, in the same tenant: nothing copied.
	code, body = s.doWith(http.MethodGet, "/v1/export", "", bearerHeader(next))
	if code != 200 || !strings.Contains(body, `"sara"`) || !strings.Contains(body, `"cook"`) {
		t.Fatalf("export with the new key: %d %s", code, body)
	}
	if code, body := s.doWith(http.MethodGet, "/v1/has_permission/sara/cook", "", bearerHeader(next)); code != 200 || body != `{"result": true}` {
		t.Fatalf("check with the new key: %d %s", code, body)
	}
	// The old key: 401 on every route, and no fresh tenant.
	for _, r := range keyedRoutes(t, s.srv, first) {
		if code, body := s.send(r, first); code != http.StatusUnauthorized {
			t.Errorf("old key, %s %s: %d %s, want 401", r.method, r.path, code, body)
		}
	}
	if n := s.rep.Engine().TenantCount(); n != tenants {
		t.Fatalf("%d tenants after the old key was refused, want %d", n, tenants)
	}
	// A rotated key rotates again: the second revokes the first rotated.
	code, body = s.doWith(http.MethodPost, "/v1/keys/rotate", `{"name": "third"}`, bearerHeader(next))
	if code != 200 {
		t.Fatalf("second rotate: %d %s", code, body)
	}
	third, _ := decodeJSON(t, body)["key"].(string)
	if code, _ := s.doWith(http.MethodGet, "/v1/roles", "", bearerHeader(next)); code != 401 {
		t.Fatalf("the rotated key after its rotation: %d", code)
	}
	keys := listKeys(t, s, third)
	if len(keys) != 1 || keys[0]["name"] != "third" {
		t.Fatalf("keys after two rotations: %v", keys)
	}
}

// TestAuditKeyIDs: every event says which key made it, and the feed shows
// it; the first key's events say "first".
func TestAuditKeyIDs(t *testing.T) {
	s := newTestServer(t)
	const first = "audit-first-key"
	adminID, admin := s.newKey(first, "ops", "admin")
	if code, body := s.doWith(http.MethodPost, "/v1/role/r", "", bearerHeader(admin)); code != 200 {
		t.Fatalf("write with the admin key: %d %s", code, body)
	}
	code, body := s.doWith(http.MethodGet, "/v1/events", "", bearerHeader(first))
	if code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
	evs := decodeJSON(t, body)["events"].([]any)
	if len(evs) != 2 {
		t.Fatalf("events: %s", body)
	}
	e1, e2 := evs[0].(map[string]any), evs[1].(map[string]any)
	if e1["key"] != engine.FirstKey || e1["op"] != "add_key" || e1["key_id"] != adminID || e1["scope"] != "admin" || e1["key_name"] != "ops" {
		t.Errorf("first event: %v", e1)
	}
	if e2["key"] != adminID || e2["op"] != "add_role" {
		t.Errorf("second event: %v", e2)
	}
	if strings.Contains(body, admin) || strings.Contains(body, admin[len(engine.KeyPrefix):]) {
		t.Error("the feed holds a secret")
	}
}

// TestUnknownServerKeys: a key of the server's form no tenant has is never
// a fresh tenant: 401 on reads and writes, and nothing is made.
// ClosedTenants refuses writes under any unknown key.
func TestUnknownServerKeys(t *testing.T) {
	s := newTestServer(t)
	made := "ak_" + strings.Repeat("A", 86)
	if _, ok := engine.KeyTenant(made); !ok {
		t.Fatal("test key is not of the server's form")
	}
	for _, r := range keyedRoutes(t, s.srv, made) {
		if code, body := s.send(r, made); code != http.StatusUnauthorized {
			t.Errorf("made-up key, %s %s: %d %s, want 401", r.method, r.path, code, body)
		}
	}
	if n := s.rep.Engine().TenantCount(); n != 0 {
		t.Fatalf("%d tenants made by a made-up key", n)
	}

	closed := newTestServer(t, func(c *httpapi.Config) { c.ClosedTenants = true })
	if code, body := closed.doWith(http.MethodPost, "/v1/role/r", "", bearerHeader("new-tenant-key")); code != 401 || !strings.Contains(body, "open-tenants") {
		t.Fatalf("closed tenants, a write under an unknown key: %d %s", code, body)
	}
	if code, _ := closed.do(http.MethodPost, "/api/role/new-tenant-key/r"); code != 401 {
		t.Fatalf("closed tenants, an /api write under an unknown key: %d", code)
	}
	closed.expect(http.MethodGet, "/api/roles/new-tenant-key", 200, `{"result": []}`)
	if n := closed.rep.Engine().TenantCount(); n != 0 {
		t.Fatalf("closed tenants: %d tenants made", n)
	}
}

// countingStore counts the reads of a tenant's head.
type countingStore struct {
	persist.Store
	heads atomic.Int64
}

func (s *countingStore) Head(ctx context.Context, id engine.TenantID) (uint64, error) {
	s.heads.Add(1)
	return s.Store.Head(ctx, id)
}

// TestServerKeyCatchUp: a replica that has not heard of a key of the
// server's form brings its tenant up from the store before it answers
// (here B shares A's store and has no bus, so that it learns of nothing
// else); a made-up key of that form costs at most one store read per
// interval, and is refused.
func TestServerKeyCatchUp(t *testing.T) {
	store, repA := newTestReplica(t)
	counting := &countingStore{Store: store}
	repB, err := replica.New(engine.New(), counting, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repB.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repB.Close() })
	baseA, srvA := serve(t, repA)
	a := &testServer{t: t, base: baseA, store: store, rep: repA, srv: srvA}
	baseB, srvB := serve(t, repB)
	b := &testServer{t: t, base: baseB, store: store, rep: repB, srv: srvB}

	const first = "catch-up-first"
	a.expect(http.MethodPost, "/api/role/"+first+"/r", 200, `{"result": true}`)
	a.expect(http.MethodPost, "/api/permission/"+first+"/r/p", 200, `{"result": true}`)
	a.expect(http.MethodPost, "/api/membership/"+first+"/u/r", 200, `{"result": true}`)
	_, key := a.newKey(first, "reader", "read")
	if repB.Engine().Tenant(engine.KeyID(first)) != nil {
		t.Fatal("B heard of the tenant without a bus")
	}
	if code, body := b.doWith(http.MethodGet, "/v1/user_permissions/u", "", bearerHeader(key)); code != 200 || body != `{"results": [{"name": "p"}]}` {
		t.Fatalf("the new key at B: %d %s", code, body)
	}
	b.expect(http.MethodGet, "/api/has_permission/"+key+"/u/p", 200, `{"result": true}`)

	// A made-up key naming the tenant: refused, at most one store read
	// per interval however often it is tried.
	made := engine.KeyPrefix + key[len(engine.KeyPrefix):len(key)-4] + "AAAA"
	if made == key {
		t.Fatal("made-up key is the key")
	}
	before := counting.heads.Load()
	for range 20 {
		if code, _ := b.doWith(http.MethodGet, "/v1/roles", "", bearerHeader(made)); code != 401 {
			t.Fatalf("made-up key at B: %d, want 401", code)
		}
	}
	if n := counting.heads.Load() - before; n != 1 {
		t.Fatalf("20 tries of a made-up key read the store's head %d times, want 1", n)
	}
}

// TestStreamEndsOnRevocation: an event stream open under a key ends, with
// a revoked event, when the key is revoked; the revoking event is not sent
// to it.
func TestStreamEndsOnRevocation(t *testing.T) {
	s := newTestServer(t)
	const first = "stream-first-key"
	s.expect(http.MethodPost, "/api/role/"+first+"/r", 200, `{"result": true}`)
	id, reader := s.newKey(first, "follower", "read")
	req, err := http.NewRequest(http.MethodGet, s.base+"/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+reader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Read up to the first heartbeat (caught up), then revoke.
	timeout := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before its first heartbeat")
			}
			seen = l == "event: heartbeat"
		case <-timeout:
			t.Fatal("no heartbeat")
		}
	}
	if code, body := s.doWith(http.MethodDelete, "/v1/keys/"+id, "", bearerHeader(first)); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	var rest []string
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			rest = append(rest, l)
		case <-timeout:
			t.Fatalf("the stream did not end after the revocation: %q", rest)
		}
	}
	all := strings.Join(rest, "\n")
	if !strings.Contains(all, "event: revoked") || strings.Contains(all, "del_key") {
		t.Fatalf("the stream's end: %q", rest)
	}
}

// TestMinSeqNeedsTheKeyFirst: a read with min_seq past the tenant's seq
// waits, then answers 409 with the seq, only for a key that may make the
// read: a revoked key gets 401 and a key outside its scope 403 at once,
// and neither learns the tenant's seq.
func TestMinSeqNeedsTheKeyFirst(t *testing.T) {
	s := newTestServer(t)
	const first = "min-seq-first-key"
	s.expect(http.MethodPost, "/api/role/"+first+"/r", 200, `{"result": true}`)
	_, checker := s.newKey(first, "checker", "check")
	_, gone := s.newKey(first, "gone", "read")
	for _, k := range listKeys(t, s, first) {
		if k["name"] == "gone" {
			if code, _ := s.doWith(http.MethodDelete, "/v1/keys/"+k["id"].(string), "", bearerHeader(first)); code != 200 {
				t.Fatal("revoke")
			}
		}
	}
	for _, c := range []struct {
		key, path string
		want      int
	}{
		{gone, "/v1/roles?min_seq=1000", 401},
		{gone, "/v1/export?min_seq=1000", 401},
		{gone, "/v1/has_permission/u/p?min_seq=1000", 401},
		{checker, "/v1/roles?min_seq=1000", 403},
		{checker, "/v1/export?min_seq=1000", 403},
		{first, "/v1/roles?min_seq=1000", 409},
	} {
		code, body, h := call(t, http.MethodGet, s.base+c.path, c.key, "")
		seq := h.Get("X-Auth-Seq")
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.path, code, body, c.want)
		}
		if c.want != 409 && (strings.Contains(body, "seq") || seq != "") {
			t.Errorf("%s refused, yet it told the seq: %q, header %q", c.path, body, seq)
		}
	}
}

// grant makes role with perm and user a member of it, under key, through
// the original routes.
func (s *testServer) grant(key, user, role, perm string) {
	s.t.Helper()
	s.expect(http.MethodPost, "/api/role/"+key+"/"+role, 200, `{"result": true}`)
	s.expect(http.MethodPost, "/api/permission/"+key+"/"+role+"/"+perm, 200, `{"result": true}`)
	s.expect(http.MethodPost, "/api/membership/"+key+"/"+user+"/"+role, 200, `{"result": true}`)
}
