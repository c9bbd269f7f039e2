package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
)

// TestWatchResumes: the connection breaks; Watch reconnects with
// Last-Event-ID and gets every event once, in order.
func TestWatchResumes(t *testing.T) {
	srv := clienttest.New(t)
	target, _ := url.Parse(srv.URL)
	var mu sync.Mutex
	var lastIDs []string
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/events/stream" {
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	ctx := context.Background()
	c := client.New(proxy.URL, testKey)
	for _, r := range []string{"r1", "r2", "r3"} {
		if _, err := c.AddRole(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	events := make(chan client.Event, 100)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(wctx, 1, func(ev client.Event) error { events <- ev; return nil })
	}()
	next := func(want uint64) {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Seq != want || ev.Op != client.OpAddRole || ev.Role != fmt.Sprintf("r%d", want) {
				t.Fatalf("got %+v, want add_role r%d at seq %d", ev, want, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %d", want)
		}
	}
	next(2)
	next(3)
	// Writes go to the server directly: closing the proxy's connections
	// must break the stream, not the writes (a write on a connection the
	// proxy just closed could fail, and its event never come).
	direct := client.New(srv.URL, testKey)
	for round := range 3 {
		proxy.CloseClientConnections() // the stream breaks
		for _, r := range []int{4 + 2*round, 5 + 2*round} {
			if _, err := direct.AddRole(ctx, fmt.Sprintf("r%d", r)); err != nil {
				t.Fatal(err)
			}
		}
		next(uint64(4 + 2*round))
		next(uint64(5 + 2*round))
	}
	select {
	case ev := <-events:
		t.Fatalf("extra event %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch after cancel = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The cursor carries the store's epoch once an event has named it.
	e := srv.Epoch() + ":"
	if len(lastIDs) < 4 || lastIDs[0] != "1" || !slices.Contains(lastIDs, e+"5") || !slices.Contains(lastIDs, e+"7") {
		t.Errorf("Last-Event-ID of each connection: %q", lastIDs)
	}
}

// TestWatchStream: a silent connection, a stream error, a repeated event
// and keep-alive comments, from a server scripted connection by
// connection.
func TestWatchStream(t *testing.T) {
	defer client.SetWatchIdle(200 * time.Millisecond)()
	event := func(seq int) string {
		return fmt.Sprintf("id: %d\ndata: {\"seq\": %d, \"time\": \"2026-01-02T03:04:05Z\", \"op\": \"add_role\", \"role\": \"r%d\"}\n\n", seq, seq, seq)
	}
	var mu sync.Mutex
	var conns []string // Last-Event-ID of each
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns = append(conns, r.Header.Get("Last-Event-ID")+"/"+r.URL.Query().Get("after"))
		n := len(conns)
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		flush := func(s string) { io.WriteString(w, s); w.(http.Flusher).Flush() }
		switch n {
		case 1: // one event, then silence
			flush(": hello\n\n" + event(1))
			<-r.Context().Done()
		case 2: // the store failed
			flush("event: error\ndata: \"store unavailable; reconnect with Last-Event-ID\"\n\n")
		case 3: // a repeat, a keep-alive, CRLF lines, then what is new
			flush(event(1) + ": keep-alive\n\n" + "id: 2\r\ndata: {\"seq\": 2, \"time\": \"2026-01-02T03:04:05Z\",\r\ndata: \"op\": \"add_role\", \"role\": \"r2\"}\r\n\r\n" + event(3))
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusUnauthorized) // the refused key below
		}
	}))
	defer fake.Close()
	var got []uint64
	errStop := errors.New("stop")
	err := client.New(fake.URL, testKey).Watch(context.Background(), 0, func(ev client.Event) error {
		got = append(got, ev.Seq)
		if ev.Role != fmt.Sprintf("r%d", ev.Seq) {
			t.Errorf("event %+v", ev)
		}
		if ev.Seq == 3 {
			return errStop
		}
		return nil
	})
	if err != errStop {
		t.Errorf("Watch = %v, want the callback's error", err)
	}
	if !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("events %v, want 1 2 3", got)
	}
	mu.Lock()
	seen := slices.Clone(conns)
	mu.Unlock()
	if !slices.Equal(seen, []string{"/0", "1/1", "1/1"}) {
		t.Errorf("connections (Last-Event-ID/after): %q", seen)
	}

	// A refused key ends the watch at once.
	err = client.New(fake.URL, "wrong").Watch(context.Background(), 0, func(client.Event) error { return nil })
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("Watch with a refused key = %v", err)
	}
}
