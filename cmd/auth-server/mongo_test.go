package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"auth/persist/mongo/mongotest"
)

// TestMongoOutage: with MongoDB stopped, writes fail within about 3 s with
// a JSON error that tells their outcome and change nothing, checks keep
// answering from memory; once MongoDB is back, writes succeed without a
// restart. A write sent on a connection the server had just dropped cannot
// know whether the server took it, and must say so (504, unknown); once
// the driver knows the server is gone, writes are refused (503,
// not_applied).
func TestMongoOutage(t *testing.T) {
	srv := mongotest.Start(t)
	p := start(t, t.TempDir(), "-mongo-uri", srv.URI(), "-mongo-db", mongotest.Database(t))
	p.tellStory()
	// The database's epoch, kept in it, shown by /status.
	if code, body, err := p.call("GET", "/status"); err != nil || code != 200 || !regexp.MustCompile(`"epoch": "[0-9a-f]{16}"`).MatchString(body) {
		t.Errorf("/status on MongoDB = %d %s %v, want its epoch", code, body, err)
	}
	srv.Stop()

	for i, w := range [][2]string{
		{"POST", "/api/role/" + key + "/admin"},
		{"POST", "/api/membership/" + key + "/sara/dancers"},
		{"DELETE", "/api/role/" + key + "/laughers"},
	} {
		begin := time.Now()
		code, body, err := p.call(w[0], w[1])
		took := time.Since(begin)
		refused := code == http.StatusServiceUnavailable && strings.HasSuffix(body, `, "outcome": "not_applied"}`)
		unknown := code == http.StatusGatewayTimeout && strings.HasSuffix(body, `, "outcome": "unknown"}`)
		if err != nil || !strings.HasPrefix(body, `{"error": "`) || !(refused || unknown && i == 0) {
			t.Errorf("%s %s with MongoDB down = %d %s (%v), want 503 with a JSON error, outcome not_applied (or for the first write, 504 unknown)", w[0], w[1], code, body, err)
		}
		if took > 3500*time.Millisecond {
			t.Errorf("%s %s took %v to fail, want about 3 s at most", w[0], w[1], took)
		}
	}
	// Reads answer from memory, and nothing changed.
	for _, r := range reads {
		p.expect(r[0], r[1], r[2])
	}
	p.expect("GET", "/api/role/"+key+"/admin", `{"result": false}`)
	if code, _, _ := p.call("GET", "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with MongoDB down = %d, want 503", code)
	}

	srv.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := p.call("POST", "/api/role/"+key+"/admin")
		if err == nil && code == http.StatusOK && body == `{"result": true}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not recover after MongoDB came back: %d %s %v", code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.expect("POST", "/api/membership/"+key+"/sara/admin", `{"result": true}`)
	p.expect("GET", "/api/user_roles/"+key+"/sara", `{"result": [{"role": "admin"}, {"role": "cookers"}, {"role": "laughers"}]}`)
	p.stop()
}

// TestMongoCorruptDocument: an event document damaged in MongoDB (its op
// no longer one the server knows) stops the server at start with one
// message naming the document and what to do, no stack trace, and nothing
// served: no tenant half-loaded.
func TestMongoCorruptDocument(t *testing.T) {
	cfg := mongotest.Config(t)
	args := []string{"-mongo-uri", cfg.URI, "-mongo-db", cfg.Database}
	p := start(t, t.TempDir(), args...)
	p.tellStory()
	p.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mc, err := mongo.Connect(options.Client().ApplyURI(cfg.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(ctx)
	res, err := mc.Database(cfg.Database).Collection("events").UpdateOne(ctx, bson.D{{Key: "seq", Value: 5}}, bson.D{{Key: "$set", Value: bson.D{{Key: "op", Value: "bogus"}}}})
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("damaging event 5: %v %+v", err, res)
	}

	code, _, stderr, took := runOnce(t, 60*time.Second, append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir()}, args...)...)
	t.Logf("exit %d after %v:\n%s", code, took.Round(time.Millisecond), stderr)
	last := stderr[strings.LastIndex(strings.TrimSuffix(stderr, "\n"), "\n")+1:]
	if code != 1 || stackTrace.MatchString(stderr) || strings.Contains(stderr, "msg=serving") {
		t.Errorf("exit %d, want 1, with no stack trace and nothing served", code)
	}
	for _, want := range []string{"corrupt", ":00000000000000000005", "database " + cfg.Database, "mongorestore"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line lacks %q:\n%s", want, last)
		}
	}
}
