package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"auth/client"
	"auth/client/clienttest"
)

// TestEpochRestore: a server restored from a backup takes another epoch;
// the client sees it in Status, a MinSeq of the old epoch (InEpoch) is
// refused with ErrOtherEpoch rather than compared, and Watch, resuming
// across the restore, ends with ErrReset rather than mix the histories
// (the restored server's seqs 4 and 5 are other writes than the
// original's).
func TestEpochRestore(t *testing.T) {
	ctx := context.Background()
	a, err := clienttest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	aClosed := false
	defer func() {
		if !aClosed {
			a.Close()
		}
	}()
	var target atomic.Pointer[url.URL]
	u, _ := url.Parse(a.URL)
	target.Store(u)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target.Load()) }, FlushInterval: -1}
	proxy := httptest.NewServer(rp)
	defer proxy.Close()
	c := client.New(proxy.URL, testKey)
	for _, r := range []string{"r1", "r2", "r3"} {
		if _, err := c.AddRole(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var backup bytes.Buffer
	if err := a.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"r4", "r5"} {
		if _, err := c.AddRole(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.Status(ctx)
	if err != nil || st.Epoch != a.Epoch() || st.Epoch == "" {
		t.Fatalf("Status = %+v, %v; want epoch %q", st, err, a.Epoch())
	}
	seen := make(chan uint64, 10)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Watch(wctx, 0, func(ev client.Event) error { seen <- ev.Seq; return nil }) }()
	for want := uint64(1); want <= 5; want++ {
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("event %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %d", want)
		}
	}

	// The restore: the backup as another server's data; the proxy now
	// sends to it.
	b, err := clienttest.Restore(backup.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Epoch() == a.Epoch() {
		t.Fatalf("the restored store kept epoch %s", a.Epoch())
	}
	ub, _ := url.Parse(b.URL)
	target.Store(ub)
	aClosed = true
	if err := a.Close(); err != nil { // ends the stream: Watch reconnects, to b
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrReset) {
			t.Errorf("Watch across the restore returned %v, want ErrReset", err)
		}
	case seq := <-seen:
		t.Fatalf("Watch gave event %d of the restored store's history", seq)
	case <-time.After(20 * time.Second):
		t.Fatal("Watch did not end across the restore")
	}

	// The restored server's seq 4 is another write than the original's.
	if _, err := c.AddRole(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	_, err = c.HasRole(ctx, "r4", client.MinSeq(4), client.InEpoch(a.Epoch()))
	var e *client.Error
	if !errors.Is(err, client.ErrOtherEpoch) || !errors.As(err, &e) || e.Epoch != b.Epoch() || e.Seq != 4 {
		t.Errorf("a MinSeq of the old epoch: %v (%+v), want ErrOtherEpoch naming epoch %s and seq 4", err, e, b.Epoch())
	}
	if ans, err := c.HasRole(ctx, "other", client.MinSeq(4), client.InEpoch(b.Epoch())); err != nil || !ans.Result {
		t.Errorf("a MinSeq of the new epoch: %+v, %v", ans, err)
	}
	if st, err := c.Status(ctx); err != nil || st.Epoch != b.Epoch() {
		t.Errorf("Status after the restore = %+v, %v; want epoch %s", st, err, b.Epoch())
	}
	_ = http.StatusOK
}
