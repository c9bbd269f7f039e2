package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"auth/bus"
	"auth/bus/natstest"
	"auth/engine"
	"auth/internal/await"
	"auth/persist"
	"auth/replica"
)

// busNode is a replica on a bus: its own engine, over a shared store.
type busNode struct {
	eng *engine.Engine
	rep *replica.Replica
}

func startBusNode(t *testing.T, name, url string, store persist.Store) *busNode {
	t.Helper()
	eng := engine.New()
	rep, err := replica.New(eng, store, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bus.DefaultConfig(url)
	cfg.Name = name
	cfg.SyncInterval = 100 * time.Millisecond
	cfg.Secrets = [][]byte{[]byte("keys-bus-test-secret-0123456789")}
	b, err := bus.New(cfg, rep, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		rep.Close()
	})
	return &busNode{eng: eng, rep: rep}
}

func call(t *testing.T, method, url, key, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestKeysReachEveryReplica: keys made, rotated and revoked at one replica
// hold at the other: with min_seq at once, without it within the bus's
// convergence; a rotated-away key gets 401 on every route there (/api ones
// included), the new key sees every fact there.
func TestKeysReachEveryReplica(t *testing.T) {
	nats := natstest.Start(t)
	store, _ := newTestReplica(t)
	nodes := []*busNode{startBusNode(t, "replica-a", nats.URL(), store), startBusNode(t, "replica-b", nats.URL(), store)}
	a, _ := serve(t, nodes[0].rep)
	b, _ := serve(t, nodes[1].rep)
	const first = "bus-keys-first"
	for _, p := range []string{"/api/role/" + first + "/cooks", "/api/permission/" + first + "/cooks/cook", "/api/membership/" + first + "/sara/cooks"} {
		if code, body, _ := call(t, http.MethodPost, a+p, "", ""); code != 200 {
			t.Fatalf("POST %s: %d %s", p, code, body)
		}
	}
	code, body, _ := call(t, http.MethodPost, a+"/v1/keys", first, `{"name": "checker", "scope": "check"}`)
	if code != 200 {
		t.Fatalf("POST /v1/keys: %d %s", code, body)
	}
	var made struct {
		ID, Key string
		Seq     uint64
	}
	if err := json.Unmarshal([]byte(body), &made); err != nil {
		t.Fatal(err)
	}
	// At B, with min_seq: at once.
	seq := strconv.FormatUint(made.Seq, 10)
	if code, body, _ := call(t, http.MethodGet, b+"/v1/has_permission/sara/cook?min_seq="+seq, made.Key, ""); code != 200 || body != `{"result": true}` {
		t.Fatalf("check key at B with min_seq: %d %s", code, body)
	}
	if code, _, _ := call(t, http.MethodGet, b+"/v1/roles?min_seq="+seq, made.Key, ""); code != 403 {
		t.Fatalf("check key lists at B: %d, want 403", code)
	}

	// Rotate the first key at A.
	code, body, _ = call(t, http.MethodPost, a+"/v1/keys/rotate", first, "")
	if code != 200 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	var rot struct {
		Key string
		Seq uint64
	}
	if err := json.Unmarshal([]byte(body), &rot); err != nil {
		t.Fatal(err)
	}
	seq = strconv.FormatUint(rot.Seq, 10)
	// At B with min_seq: the old key is refused at once, the new one sees
	// every fact.
	if code, body, _ := call(t, http.MethodGet, b+"/v1/roles?min_seq="+seq, first, ""); code != 401 {
		t.Fatalf("old key at B with min_seq: %d %s, want 401", code, body)
	}
	if code, body, _ := call(t, http.MethodGet, b+"/v1/user_permissions/sara?min_seq="+seq, rot.Key, ""); code != 200 || !strings.Contains(body, `"cook"`) {
		t.Fatalf("new key at B: %d %s", code, body)
	}
	// Without min_seq, on every route of B, /api ones included: 401
	// (B has applied the rotation by now: the read above waited for it).
	oldRoutes := [][3]string{
		{http.MethodGet, "/api/has_permission/" + first + "/sara/cook", ""},
		{http.MethodPost, "/api/role/" + first + "/fresh", ""},
		{http.MethodGet, "/api/roles/" + first, ""},
		{http.MethodGet, "/v1/has_permission/sara/cook", first},
		{http.MethodPost, "/v1/check", first},
		{http.MethodGet, "/v1/export", first},
		{http.MethodGet, "/v1/events", first},
		{http.MethodPost, "/v1/role/fresh", first},
		{http.MethodGet, "/v1/keys", first},
	}
	for _, base := range []string{a, b} {
		for _, r := range oldRoutes {
			body := ""
			if r[1] == "/v1/check" {
				body = `{"checks": [{"user": "sara", "permission": "cook"}]}`
			}
			if code, answer, _ := call(t, r[0], base+r[1], r[2], body); code != 401 {
				t.Errorf("old key, %s %s: %d %s, want 401", r[0], r[1], code, answer)
			}
		}
	}
	// Revoke the check key at A, with the new admin key: B refuses it
	// within the convergence bound, and at once with min_seq.
	code, body, _ = call(t, http.MethodDelete, a+"/v1/keys/"+made.ID, rot.Key, "")
	if code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	await.Cond(t, 10*time.Second, "the revocation at B", func() bool {
		code, _, _ := call(t, http.MethodGet, b+"/v1/has_permission/sara/cook", made.Key, "")
		return code == 401
	})
	if code, _, _ := call(t, http.MethodGet, "http://"+strings.TrimPrefix(b, "http://")+"/api/has_permission/"+made.Key+"/sara/cook", "", ""); code != 401 {
		t.Fatalf("revoked check key on /api at B: %d", code)
	}
	if n := nodes[1].eng.TenantCount(); n != 1 {
		t.Fatalf("B has %d tenants, want 1", n)
	}
	if got := nodes[1].eng.Tenant(engine.KeyID(first)).Keys(); len(got) != 1 || got[0].Scope != engine.ScopeAdmin {
		t.Fatalf("B's keys: %+v", got)
	}
}
