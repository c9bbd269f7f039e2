package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"auth/client"
	"auth/engine"
	"auth/internal/sse"
)

// run follows the server until Close: it reads the stream, resuming it
// after breaks with backoff, rebuilds from an export when the stream
// cannot go on, and judges staleness on a ticker.
func (r *Replica) run() {
	defer close(r.done)
	stop := make(chan struct{})
	defer close(stop)
	go r.judge(stop)
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	rebuild := false
	for r.ctx.Err() == nil {
		var err error
		if rebuild {
			err = r.rebuild()
			if err == nil {
				rebuild, backoff = false, minBackoff
				continue
			}
		} else {
			var progressed bool
			progressed, err = r.follow()
			if errors.Is(err, errKeyRefused) {
				r.opts.Logger.Warn("live: the server refuses the key; reads fail from now on", "tenant", r.id.String()[:8], "err", err)
				r.revoke()
				return
			}
			if errors.Is(err, errRebuild) {
				r.opts.Logger.Info("live: rebuilding from an export", "tenant", r.id.String()[:8], "why", err)
				rebuild = true
				continue
			}
			if progressed {
				backoff = minBackoff
			}
			r.reconnects.Add(1)
		}
		if r.ctx.Err() != nil {
			return
		}
		r.opts.Logger.Debug("live: stream ended; reconnecting", "tenant", r.id.String()[:8], "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// judge flips refuse as the replica's staleness passes the bound and
// comes back under it: reads load the flag, and never read the clock.
func (r *Replica) judge(stop <-chan struct{}) {
	every := max(r.opts.MaxStaleness/20, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			stale := r.Staleness() > r.opts.MaxStaleness
			r.refuse.Store(stale && !r.opts.ServeStale || r.revoked.Load())
		}
	}
}

// errKeyRefused: the server refused the key (401, or a stream that ended
// with a revoked event): revoked, or its tenant deleted.
var errKeyRefused = errors.New("live: the server refused the key")

// revoke makes every read fail with ErrRevoked from now on, and wakes the
// waiters to say so.
func (r *Replica) revoke() {
	r.revoked.Store(true)
	r.refuse.Store(true)
	r.notify()
}

// errRebuild: the stream cannot go on from the replica's state (another
// epoch, the events after it no longer kept, an event that does not
// follow): rebuild from an export.
var errRebuild = errors.New("live: the feed cannot go on from this state")

// rebuild loads an export aside and swaps it in; readers keep the old
// state until then.
func (r *Replica) rebuild() error {
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	st, err := r.load(ctx)
	if err != nil {
		return err
	}
	r.cur.Store(st)
	r.fresh.Store(time.Now().UnixNano())
	r.rebuilds.Add(1)
	r.notify()
	return nil
}

// heartbeat is the data of a heartbeat or a reset.
type heartbeat struct {
	Seq    uint64 `json:"seq"`
	Epoch  string `json:"epoch"`
	Reason string `json:"reason"`
}

// follow reads one connection's stream from the replica's seq, applying
// its events, until it breaks or must be rebuilt (errRebuild).
func (r *Replica) follow() (progressed bool, err error) {
	st := r.cur.Load()
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	// The watchdog: three heartbeats missed end the connection.
	idle := 3*r.opts.Heartbeat + time.Second
	watchdog := time.AfterFunc(idle, cancel)
	defer watchdog.Stop()
	q := url.Values{"heartbeat": {r.opts.Heartbeat.String()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v1/events/stream?"+q.Encode(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", sse.EventID(st.epoch, st.t.Seq()))
	resp, err := r.hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return false, fmt.Errorf("%w: event stream: %s", errKeyRefused, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("live: event stream: %s", resp.Status)
	}
	// A cut mid-event applies nothing of it: an event is applied only
	// whole, at its blank line, and the next connection resumes after the
	// last one applied.
	sr := sse.NewReader(resp.Body, 64<<10)
	sr.Line = func() { watchdog.Reset(idle) }
	var ev engine.Event
	for {
		sev, err := sr.Next()
		if err != nil {
			return progressed, err
		}
		d := sev.Data
		switch sev.Type {
		case "", "message":
			var e client.Event
			if err := json.Unmarshal(d, &e); err != nil {
				return progressed, fmt.Errorf("%w: malformed event: %w", errRebuild, err)
			}
			seq := st.t.Seq()
			if e.Seq <= seq {
				continue // had it already
			}
			if e.Seq != seq+1 {
				return progressed, fmt.Errorf("%w: event %d after %d", errRebuild, e.Seq, seq)
			}
			if err := toEngine(&ev, r.id, &e); err != nil {
				return progressed, fmt.Errorf("%w: event %d: %w", errRebuild, e.Seq, err)
			}
			if _, err := st.eng.Apply(&ev); err != nil && !errors.Is(err, engine.ErrRefused) {
				return progressed, fmt.Errorf("%w: event %d: %w", errRebuild, e.Seq, err)
			}
			progressed = true
			r.notify()
		case "heartbeat":
			var h heartbeat
			if err := json.Unmarshal(d, &h); err != nil {
				return progressed, fmt.Errorf("live: malformed heartbeat: %w", err)
			}
			if h.Epoch != st.epoch {
				return progressed, fmt.Errorf("%w: the server's store is of epoch %q, the replica's %q", errRebuild, h.Epoch, st.epoch)
			}
			if st.t.Seq() >= h.Seq {
				r.fresh.Store(time.Now().UnixNano())
				r.refuse.Store(r.revoked.Load())
			}
		case "reset":
			var h heartbeat
			_ = json.Unmarshal(d, &h)
			return progressed, fmt.Errorf("%w: the server reset the stream (%s)", errRebuild, h.Reason)
		case "revoked":
			return progressed, fmt.Errorf("%w: %s", errKeyRefused, d)
		case "error":
			return progressed, fmt.Errorf("live: the event stream reported an error: %s", d)
		}
	}
}

// toEngine converts an event of the stream into dst.
func toEngine(dst *engine.Event, id engine.TenantID, e *client.Event) error {
	c, err := changeOf(&e.Change)
	if err != nil {
		return err
	}
	*dst = engine.Event{Tenant: id, Seq: e.Seq, Time: e.Time, By: e.Key, Change: c}
	if c.Op == engine.OpBatch {
		dst.Changes = make([]engine.Change, len(e.Changes))
		for i := range e.Changes {
			if dst.Changes[i], err = changeOf(&e.Changes[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// changeOf is the engine's change of a change of the feed.
func changeOf(c *client.Change) (engine.Change, error) {
	op, err := engine.ParseOp(c.Op)
	if err != nil {
		return engine.Change{}, err
	}
	return engine.Change{Op: op, Role: c.Role, Permission: c.Permission, User: c.User, Includes: c.Includes,
		Key: engine.NewKeyArgs(c.KeyID, c.KeyName, c.Scope, c.KeyHash), Window: engine.NewWindowArgs(c.StartsAt, c.ExpiresAt)}, nil
}
