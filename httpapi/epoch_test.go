package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"auth/engine"
	"auth/httpapi"
	"auth/internal/testhttp"
	"auth/replica"
)

// epochService is a replica whose store has an epoch.
type epochService struct {
	*replica.Replica
	epoch string
}

func (s epochService) StoreEpoch() string { return s.epoch }

// newEpochServer serves a replica over a real embedded store, telling
// that store's epoch.
func newEpochServer(t *testing.T) (*testServer, string) {
	t.Helper()
	store, rep := newTestReplica(t)
	if store.Epoch() == "" {
		t.Fatal("the embedded store has no epoch")
	}
	base, srv := serve(t, epochService{rep, store.Epoch()})
	return &testServer{t: t, base: base, store: store, rep: rep, srv: srv}, store.Epoch()
}

// get sends a GET with the tenant's key and headers; it returns the
// answer with its body read.
func get(t *testing.T, base, path, key string, headers ...[2]string) (*http.Response, string) {
	t.Helper()
	if key != "" {
		headers = append([][2]string{{"Authorization", "Bearer " + key}}, headers...)
	}
	resp, body := testhttp.Get(t, base+path, headers...)
	return resp, string(body)
}

// TestEpochShown: /status names the store's epoch, and every answer that
// carries a seq carries the epoch beside it (writes, reads, the fast
// check, the batch check, the export, the events).
func TestEpochShown(t *testing.T) {
	s, epoch := newEpochServer(t)
	const key = "epoch-shown-key"
	auth := [2]string{"Authorization", "Bearer " + key}
	if code, body := s.doWith("POST", "/v1/role/r", "", auth); code != 200 {
		t.Fatalf("write: %d %s", code, body)
	}
	_, body := get(t, s.base, "/status", key)
	var st struct {
		Epoch string
		Seq   uint64
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Epoch != epoch || st.Seq != 1 {
		t.Errorf("/status = %s, want epoch %q and seq 1", body, epoch)
	}
	if _, body := get(t, s.base, "/status", ""); !strings.Contains(body, `"epoch": "`+epoch+`"`) {
		t.Errorf("/status without a key = %s, want the epoch", body)
	}
	for _, path := range []string{"/v1/has_permission/u/p", "/v1/has_permission/u/p?min_seq=1", "/v1/roles", "/v1/role/r", "/v1/export", "/v1/events"} {
		resp, body := get(t, s.base, path, key)
		if resp.StatusCode != 200 || resp.Header.Get("X-Auth-Epoch") != epoch || resp.Header.Get("X-Auth-Seq") != "1" {
			t.Errorf("GET %s = %d, X-Auth-Epoch %q, X-Auth-Seq %q (%s); want 200, %q, 1", path, resp.StatusCode, resp.Header.Get("X-Auth-Epoch"), resp.Header.Get("X-Auth-Seq"), body, epoch)
		}
	}
	req, _ := http.NewRequest("POST", s.base+"/v1/role/r2", nil)
	req.Header.Set(auth[0], auth[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Auth-Epoch") != epoch {
		t.Errorf("a write's X-Auth-Epoch = %q, want %q", resp.Header.Get("X-Auth-Epoch"), epoch)
	}
}

// TestOtherEpochStartsOver: a seq token or a cursor of another epoch is
// answered plainly, never compared with this epoch's seqs: reads with
// min_seq (and an epoch) answer 412 with the epoch and seq here, the
// long-poll feed too, and a stream resumed from another epoch's
// Last-Event-ID answers one reset event and ends. The same epoch, or none
// given, is served as before; the stream's ids carry the epoch.
func TestOtherEpochStartsOver(t *testing.T) {
	s, epoch := newEpochServer(t)
	const key = "epoch-other-key"
	auth := [2]string{"Authorization", "Bearer " + key}
	for _, path := range []string{"/v1/role/r", "/v1/permission/r/p", "/v1/membership/u/r"} {
		if code, body := s.doWith("POST", path, "", auth); code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
	}
	const other = "0123456789abcdef"
	before := s.snapshot(key)
	for _, path := range []string{
		"/v1/has_permission/u/p?min_seq=2&epoch=" + other,
		"/v1/has_permission/u/p?epoch=" + other,
		"/v1/roles?min_seq=1&epoch=" + other,
		"/v1/export?min_seq=1&epoch=" + other,
		"/v1/events?after=1&epoch=" + other,
	} {
		resp, body := get(t, s.base, path, key)
		var e struct {
			Error, Epoch string
			Seq          uint64
		}
		if resp.StatusCode != http.StatusPreconditionFailed || json.Unmarshal([]byte(body), &e) != nil || e.Epoch != epoch || e.Seq != 3 || !strings.Contains(e.Error, "another epoch") {
			t.Errorf("GET %s = %d %s, want 412 naming epoch %s and seq 3", path, resp.StatusCode, body, epoch)
		}
	}
	// The batch check too.
	resp, err := http.DefaultClient.Do(func() *http.Request {
		req, _ := http.NewRequest("POST", s.base+"/v1/check?min_seq=1&epoch="+other, strings.NewReader(`{"checks": [{"user": "u", "permission": "p"}]}`))
		req.Header.Set(auth[0], auth[1])
		return req
	}())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("POST /v1/check of another epoch = %d, want 412", resp.StatusCode)
	}
	if string(s.snapshot(key)) != string(before) {
		t.Error("a refused read changed the tenant")
	}
	// The same epoch is served.
	if resp, body := get(t, s.base, "/v1/has_permission/u/p?min_seq=3&epoch="+epoch, key); resp.StatusCode != 200 || body != `{"result": true}` {
		t.Errorf("min_seq of this epoch = %d %s", resp.StatusCode, body)
	}

	// The stream: ids carry the epoch; another epoch's cursor resets.
	resp, body := get(t, s.base, "/v1/events/stream", key, [2]string{"Last-Event-ID", other + ":2"})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream of another epoch: %d %s", resp.StatusCode, body)
	}
	ev, data, ok := strings.Cut(body, "\n")
	var reset struct{ Reason, Epoch string }
	if !ok || ev != "event: reset" || json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(data), "data: ")), &reset) != nil || reset.Reason != "epoch" || reset.Epoch != epoch {
		t.Errorf("stream of another epoch answered %q, want one reset event naming epoch %s", body, epoch)
	}
	if resp, body := get(t, s.base, "/v1/events/stream?after=1&epoch="+other, key); !strings.HasPrefix(body, "event: reset\n") {
		t.Errorf("stream with epoch=%s answered %d %q, want a reset event", other, resp.StatusCode, body)
	}

	// A cursor of this epoch (or a bare seq) resumes, ids "EPOCH:SEQ".
	for _, last := range []string{epoch + ":1", "1"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/events/stream", nil)
		req.Header.Set(auth[0], auth[1])
		req.Header.Set("Last-Event-ID", last)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		if err != nil || line != "id: "+epoch+":2\n" {
			t.Errorf("Last-Event-ID %s: first line %q (%v), want the id %s:2", last, line, err, epoch)
		}
		cancel()
		resp.Body.Close()
	}
	// A malformed cursor is a 400.
	for _, last := range []string{":2", "x", epoch + ":"} {
		if resp, body := get(t, s.base, "/v1/events/stream", key, [2]string{"Last-Event-ID", last}); resp.StatusCode != 400 {
			t.Errorf("Last-Event-ID %q = %d %s, want 400", last, resp.StatusCode, body)
		}
	}
}

// TestNoEpochNoHeader: a store without an epoch sends no X-Auth-Epoch,
// plain seqs as stream ids, and takes any epoch given.
func TestNoEpochNoHeader(t *testing.T) {
	s := newTestServer(t)
	const key = "no-epoch-key"
	s.rep.Write(context.Background(), key, engine.Change{Op: engine.OpAddRole, Role: "r"})
	resp, body := get(t, s.base, "/v1/roles?min_seq=1&epoch=abc", key)
	if resp.StatusCode != 200 || resp.Header.Get("X-Auth-Epoch") != "" {
		t.Errorf("no epoch: %d %s, X-Auth-Epoch %q", resp.StatusCode, body, resp.Header.Get("X-Auth-Epoch"))
	}
	if _, body := get(t, s.base, "/status", ""); strings.Contains(body, "epoch") {
		t.Errorf("/status = %s, with no epoch", body)
	}
	_ = httpapi.EpochReporter(epochService{})
}

// TestStreamHeartbeats: a stream's heartbeats carry the tenant's seq here
// and the store's epoch: one as soon as the stream has caught up, then at
// the interval the client asked for; a bad interval is a 400.
func TestStreamHeartbeats(t *testing.T) {
	s, epoch := newEpochServer(t)
	const key = "heartbeat-key"
	auth := [2]string{"Authorization", "Bearer " + key}
	for _, path := range []string{"/v1/role/r", "/v1/role/s"} {
		if code, body := s.doWith("POST", path, "", auth); code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/events/stream?after=1&heartbeat=100ms", nil)
	req.Header.Set(auth[0], auth[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var got []string
	begin := time.Now()
	for len(got) < 4*3 { // the event, then three heartbeats
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, line)
	}
	took := time.Since(begin)
	want := []string{"id: " + epoch + ":2\n"}
	if got[0] != want[0] || !strings.HasPrefix(got[1], `data: {"seq": 2,`) {
		t.Errorf("the event: %q", got[:3])
	}
	beat := "event: heartbeat\n"
	data := `data: {"seq": 2, "epoch": "` + epoch + `"}` + "\n"
	for i := 3; i < len(got); i += 3 {
		if got[i] != beat || got[i+1] != data || got[i+2] != "\n" {
			t.Errorf("heartbeat %d: %q, want %q %q", i/3, got[i:i+3], beat, data)
		}
	}
	if took > 5*time.Second {
		t.Errorf("three heartbeats at 100ms took %v", took)
	}
	for _, bad := range []string{"x", "-1s"} {
		if resp, body := get(t, s.base, "/v1/events/stream?heartbeat="+bad, key); resp.StatusCode != 400 {
			t.Errorf("heartbeat=%s: %d %s, want 400", bad, resp.StatusCode, body)
		}
	}
}
