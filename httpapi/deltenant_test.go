package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"auth/bus/natstest"
	"auth/engine"
	"auth/httpapi"
	"auth/internal/await"
	"auth/persist"
	"auth/replica"
)

// TestDeleteTenantEverywhere deletes a tenant at one replica of two on a
// bus, with a third replica over the same store that hears nothing (as
// one cut off from the bus would be): only an admin key may delete; at the
// other replica every key of the tenant gets 401 on every route (at once
// with min_seq), and its first key names no fresh tenant; a write the
// cut-off replica makes from its stale state is refused (410, not
// applied) and changes nothing anywhere; the store keeps no name of the
// tenant's, and a replica that loads it afterwards finds it deleted.
func TestDeleteTenantEverywhere(t *testing.T) {
	nats := natstest.Start(t)
	store, cut := newTestReplica(t) // cut: loaded, never on the bus
	nodes := []*busNode{startBusNode(t, "replica-a", nats.URL(), store), startBusNode(t, "replica-b", nats.URL(), store)}
	const bound = 7 * time.Second
	a, _ := serve(t, nodes[0].rep, func(c *httpapi.Config) { c.ConvergeWithin = bound })
	b, _ := serve(t, nodes[1].rep)
	c, _ := serve(t, cut)
	const first = "tenant-to-delete-first"
	for _, p := range []string{"/api/role/" + first + "/cooks", "/api/permission/" + first + "/cooks/cook", "/api/membership/" + first + "/sara/cooks"} {
		if code, body, _ := call(t, http.MethodPost, a+p, "", ""); code != 200 {
			t.Fatalf("POST %s: %d %s", p, code, body)
		}
	}
	newKey := func(scope string) string {
		code, body, _ := call(t, http.MethodPost, a+"/v1/keys", first, `{"name": "`+scope+`", "scope": "`+scope+`"}`)
		var made struct{ Key string }
		if code != 200 || json.Unmarshal([]byte(body), &made) != nil {
			t.Fatalf("POST /v1/keys: %d %s", code, body)
		}
		return made.Key
	}
	checker, admin := newKey("check"), newKey("admin")
	// The cut-off replica catches up once (a key of the server's form
	// brings its tenant up to date from the store), then hears nothing.
	if code, body, _ := call(t, http.MethodGet, c+"/v1/has_permission/sara/cook", admin, ""); code != 200 || body != `{"result": true}` {
		t.Fatalf("the cut-off replica before the deletion: %d %s", code, body)
	}

	if code, body, _ := call(t, http.MethodDelete, a+"/v1/tenant", checker, ""); code != 403 {
		t.Fatalf("DELETE /v1/tenant with a check key: %d %s, want 403", code, body)
	}
	before := time.Now()
	code, body, _ := call(t, http.MethodDelete, a+"/v1/tenant", admin, "")
	var del struct {
		Result bool
		Seq    uint64
		Gone   time.Time `json:"gone_everywhere_by"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &del) != nil || !del.Result || del.Seq == 0 {
		t.Fatalf("DELETE /v1/tenant: %d %s", code, body)
	}
	if lo, hi := before.Add(bound-time.Second), time.Now().Add(bound+time.Second); del.Gone.Before(lo) || del.Gone.After(hi) {
		t.Fatalf("gone_everywhere_by %v, want within [%v, %v]", del.Gone, lo, hi)
	}

	// At B, with min_seq: every key refused at once; then without it, on
	// every route, at both replicas on the bus.
	seq := strconv.FormatUint(del.Seq, 10)
	for _, key := range []string{first, checker, admin} {
		if code, body, _ := call(t, http.MethodGet, b+"/v1/has_permission/sara/cook?min_seq="+seq, key, ""); code != 401 {
			t.Fatalf("a key of the deleted tenant at B with min_seq: %d %s, want 401", code, body)
		}
	}
	routes := [][3]string{
		{http.MethodGet, "/api/has_permission/" + first + "/sara/cook", ""},
		{http.MethodPost, "/api/role/" + first + "/fresh", ""},
		{http.MethodGet, "/api/roles/" + first, ""},
		{http.MethodGet, "/api/has_permission/" + checker + "/sara/cook", ""},
		{http.MethodGet, "/v1/has_permission/sara/cook", first},
		{http.MethodGet, "/v1/export", admin},
		{http.MethodPost, "/v1/role/fresh", admin},
		{http.MethodPost, "/v1/keys", admin},
		{http.MethodDelete, "/v1/tenant", admin},
		{http.MethodGet, "/v1/has_permission/sara/cook", checker},
	}
	for _, base := range []string{a, b} {
		for _, r := range routes {
			if code, answer, _ := call(t, r[0], base+r[1], r[2], ""); code != 401 {
				t.Errorf("%s %s after the deletion: %d %s, want 401", r[0], r[1], code, answer)
			}
		}
	}

	// The cut-off replica still has the tenant, and writes from it: the
	// write is refused where it is applied, and changes nothing.
	code, body, _ = call(t, http.MethodPost, c+"/v1/membership/jack/cooks", admin, "")
	if code != 410 || !strings.Contains(body, `"outcome": "not_applied"`) {
		t.Fatalf("a write from the stale replica: %d %s, want 410 not_applied", code, body)
	}
	id := engine.KeyID(first)
	await.Cond(t, 10*time.Second, "B at the refused write's seq", func() bool { return nodes[1].eng.Seq(id) > del.Seq })
	if tn := nodes[1].eng.Tenant(id); !tn.Deleted() || tn.HasMembership("jack", "cooks") || len(tn.Roles()) != 0 {
		t.Fatalf("B after the stale write: deleted %v, roles %v", tn.Deleted(), tn.Roles())
	}

	// The store: purged, its tombstone kept; a replica loading it now
	// finds the tenant deleted.
	ctx := context.Background()
	await.Cond(t, 10*time.Second, "the purge", func() bool {
		_, err := store.Events(ctx, id, 0, -1)
		return errors.Is(err, persist.ErrPruned)
	})
	st, err := store.LoadTenant(ctx, id)
	if err != nil || st.Snapshot == nil || !st.Snapshot.Deleted || st.Snapshot.Seq < del.Seq {
		t.Fatalf("the tenant in the store: snapshot %+v, %v", st.Snapshot, err)
	}
	// What is left are the tombstone and the events from it: none before
	// the deletion.
	evs, err := store.Events(ctx, id, st.Snapshot.Seq-1, -1)
	if err != nil || len(evs) == 0 || evs[0].Seq < del.Seq {
		t.Fatalf("events left: %+v, %v", evs, err)
	}
	fresh, err := replica.New(engine.New(), store, replica.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if tn := fresh.Tenant(id); !tn.Deleted() || fresh.Access(first).Status != engine.KeyRevoked || fresh.Access(admin).Scope != engine.ScopeNone {
		t.Fatalf("a replica loaded after the deletion: deleted %v, first key %+v", tn.Deleted(), fresh.Access(first))
	}
}
