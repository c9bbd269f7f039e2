package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"auth/bus/natstest"
	"auth/internal/await"
	"auth/persist/mongo/mongotest"
)

// testClusterSecret signs the bus of the tests' clusters.
const testClusterSecret = "test-cluster-secret-0123456789"

// TestNATSNeedsASecret: a bus without a cluster secret is refused at start,
// unless -insecure-bus says so; a short secret is refused too.
func TestNATSNeedsASecret(t *testing.T) {
	base := []string{"-mongo-uri", "mongodb://127.0.0.1:1/", "-nats-url", "nats://127.0.0.1:4222"}
	noEnv := func(string) string { return "" }
	if _, err := parseConfig(base, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "cluster secret") {
		t.Fatalf("a bus without a secret: %v, want a clear refusal", err)
	}
	if _, err := parseConfig(append(base, "-insecure-bus"), noEnv, io.Discard); err != nil {
		t.Fatalf("-insecure-bus: %v", err)
	}
	c, err := parseConfig(base, func(k string) string {
		if k == "AUTH_CLUSTER_SECRET" {
			return "short"
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.bus.config(slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "16 bytes") {
		t.Fatalf("a short secret: %v, want a refusal", err)
	}
}

// TestNATSNeedsMongo: a bus without a shared store is refused at start.
func TestNATSNeedsMongo(t *testing.T) {
	_, err := parseConfig([]string{"-nats-url", "nats://127.0.0.1:4222"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-mongo-uri") {
		t.Fatalf("parseConfig with NATS and no MongoDB: %v, want a clear refusal", err)
	}
}

// TestThreeReplicas runs three auth-server processes over one MongoDB and
// one NATS server. Writes go to random replicas from many clients; after
// they stop, every replica answers every query the same, at the same seq.
func TestThreeReplicas(t *testing.T) {
	nats := natstest.Start(t)
	mcfg := mongotest.Config(t)
	args := []string{"-mongo-uri", mcfg.URI, "-mongo-db", mcfg.Database, "-nats-url", nats.URL(), "-cluster-secret", testClusterSecret}
	var reps []*proc
	for range 3 {
		reps = append(reps, start(t, t.TempDir(), args...))
	}
	for _, p := range reps {
		code, body, err := p.call("GET", "/status")
		if err != nil || code != http.StatusOK || !strings.Contains(body, `"bus": "connected"`) || !strings.Contains(body, `"store": "mongodb"`) {
			t.Fatalf("/status = %d %s %v", code, body, err)
		}
	}

	roles := []string{"r0", "r1", "r2", "r3"}
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	perms := []string{"p0", "p1", "p2"}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 40 {
				p := reps[rng.IntN(len(reps))]
				role := roles[rng.IntN(len(roles))]
				var method, path string
				switch rng.IntN(5) {
				case 0:
					method, path = "POST", "/api/role/"+key+"/"+role
				case 1:
					method, path = "DELETE", "/api/role/"+key+"/"+role
				case 2:
					method, path = "POST", "/api/permission/"+key+"/"+role+"/"+perms[rng.IntN(len(perms))]
				case 3:
					method, path = "POST", "/api/membership/"+key+"/"+users[rng.IntN(len(users))]+"/"+role
				default:
					method, path = "DELETE", "/api/membership/"+key+"/"+users[rng.IntN(len(users))]+"/"+role
				}
				if code, body, err := p.call(method, path); err != nil || code != http.StatusOK {
					t.Errorf("%s %s = %d %s %v", method, path, code, body, err)
					return
				}
			}
		}()
	}
	wg.Wait()

	queries := []string{"/api/roles/" + key}
	for _, r := range roles {
		queries = append(queries, "/api/role/"+key+"/"+r, "/api/members/"+key+"/"+r, "/api/role_permissions/"+key+"/"+r)
	}
	for _, u := range users {
		queries = append(queries, "/api/user_roles/"+key+"/"+u, "/api/user_permissions/"+key+"/"+u)
		for _, p := range perms {
			queries = append(queries, "/api/has_permission/"+key+"/"+u+"/"+p)
		}
	}
	for _, p := range perms {
		queries = append(queries, "/api/which_roles_can/"+key+"/"+p, "/api/which_users_can/"+key+"/"+p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		diff := ""
		for _, q := range queries {
			var first string
			for i, p := range reps {
				_, body, err := p.call("GET", q)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = body
				} else if body != first {
					diff = fmt.Sprintf("GET %s: replica 0 %s, replica %d %s", q, first, i, body)
				}
			}
		}
		seqs := map[string]bool{}
		for _, p := range reps {
			req, _ := http.NewRequest("GET", p.base+"/status", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var st struct{ Seq uint64 }
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			seqs[fmt.Sprint(st.Seq)] = true
		}
		if diff == "" && len(seqs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not converge: %s (seqs %v)", diff, seqs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every replica exports its bus state and, for events written
	// elsewhere, the replication lag.
	for i, p := range reps {
		_, body, _ := p.call("GET", "/metrics")
		for _, want := range []string{"auth_bus_connected 1", "auth_replication_lag_seconds_count ", `auth_bus_messages_total{kind="received"}`} {
			if !strings.Contains(body, want) {
				t.Errorf("replica %d /metrics lacks %q", i, want)
			}
		}
	}
	for _, p := range reps {
		p.stop()
	}
}

// TestReadYourWritesAcrossReplicas: a write at replica A, then a read at
// replica B carrying the write's seq as min_seq, always sees the write.
func TestReadYourWritesAcrossReplicas(t *testing.T) {
	nats := natstest.Start(t)
	mcfg := mongotest.Config(t)
	args := []string{"-mongo-uri", mcfg.URI, "-mongo-db", mcfg.Database, "-nats-url", nats.URL(), "-cluster-secret", testClusterSecret}
	a, b := start(t, t.TempDir(), args...), start(t, t.TempDir(), args...)
	do := func(p *proc, method, path string) (int, string) {
		req, _ := http.NewRequest(method, p.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := do(a, "POST", "/v1/role/r"); code != http.StatusOK {
		t.Fatalf("POST /v1/role/r = %d %s", code, body)
	}
	for i := range 200 {
		user := fmt.Sprintf("user-%d", i)
		code, body := do(a, "POST", "/v1/membership/"+user+"/r")
		var w struct {
			Result bool
			Seq    uint64
		}
		if err := json.Unmarshal([]byte(body), &w); code != http.StatusOK || err != nil || !w.Result {
			t.Fatalf("write %d at A = %d %s", i, code, body)
		}
		code, body = do(b, "GET", fmt.Sprintf("/v1/membership/%s/r?min_seq=%d", user, w.Seq))
		if code != http.StatusOK || body != `{"result": true}` {
			t.Fatalf("read %d at B with min_seq %d = %d %s, want the write", i, w.Seq, code, body)
		}
	}
	a.stop()
	b.stop()
}

// TestRevokeDuringABusOutage is the lost revoke, as a user met it: with
// NATS down (replicas keep taking writes), a membership added at A and
// removed at B, which has not heard of it, then NATS back: the revoke
// holds at every replica. The same with a replica C that never hears
// anything on the bus (it is on another NATS server): it converges on its
// own, within -converge-within.
func TestRevokeDuringABusOutage(t *testing.T) {
	bus, other := natstest.Start(t), natstest.Start(t)
	mcfg := mongotest.Config(t)
	args := func(url string) []string {
		return []string{"-mongo-uri", mcfg.URI, "-mongo-db", mcfg.Database, "-nats-url", url,
			"-cluster-secret", testClusterSecret, "-converge-within", "2s"}
	}
	a, b := start(t, t.TempDir(), args(bus.URL())...), start(t, t.TempDir(), args(bus.URL())...)
	c := start(t, t.TempDir(), args(other.URL())...)
	a.expect("POST", "/api/role/"+key+"/admin", `{"result": true}`)
	a.expect("POST", "/api/permission/"+key+"/admin/root", `{"result": true}`)
	await.Cond(t, 10*time.Second, "B to hear of the role", func() bool {
		_, body, _ := b.call("GET", "/api/role/"+key+"/admin")
		return body == `{"result": true}`
	})

	bus.Stop()
	a.expect("POST", "/api/membership/"+key+"/mallory/admin", `{"result": true}`)
	b.expect("DELETE", "/api/membership/"+key+"/mallory/admin", `{"result": true}`)
	bus.Start()

	for name, p := range map[string]*proc{"A": a, "B": b, "C": c} {
		await.Cond(t, 15*time.Second, "replica "+name+" to hold the revoke", func() bool {
			_, body, _ := p.call("GET", "/api/has_permission/"+key+"/mallory/root")
			_, role, _ := p.call("GET", "/api/role/"+key+"/admin")
			return body == `{"result": false}` && role == `{"result": true}`
		})
	}
	// And mallory is in no role anywhere.
	for name, p := range map[string]*proc{"A": a, "B": b, "C": c} {
		if _, body, _ := p.call("GET", "/api/members/"+key+"/admin"); body != `{"result": []}` {
			t.Errorf("replica %s: members of admin %s, want none", name, body)
		}
	}
	for _, p := range []*proc{a, b, c} {
		p.stop()
	}
}
