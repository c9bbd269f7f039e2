package client

import (
	"auth/internal/sse"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The ops of events.
const (
	OpAddRole       = "add_role"
	OpDelRole       = "del_role"
	OpAddPermission = "add_permission"
	OpDelPermission = "del_permission"
	OpAddMembership = "add_membership"
	OpDelMembership = "del_membership"
	OpAddInclusion  = "add_inclusion" // Role includes Includes
	OpDelInclusion  = "del_inclusion"
	OpDelUser       = "del_user" // User out of every role
	// OpBatch is an import: its changes, applied all together, are in
	// Event.Changes.
	OpBatch = "batch"
	// OpClear begins the changes of an import that replaced the tenant's
	// state (POST /v1/import?mode=replace): the state before it is gone.
	OpClear = "clear"
	// OpAddKey makes a key (KeyID, KeyName, Scope, KeyHash: the hash of
	// its secret, never the secret); OpDelKey revokes one (KeyID).
	OpAddKey = "add_key"
	OpDelKey = "del_key"
	// OpDelTenant deletes the tenant: nothing of it is left, and no key
	// reaches it any more.
	OpDelTenant = "del_tenant"
	// OpAddMembershipWindow makes User a member of Role within a window
	// (StartsAt and/or ExpiresAt, RFC 3339); OpSweepWindows removes every
	// membership whose window ended at or before its ExpiresAt.
	OpAddMembershipWindow = "add_membership_window"
	OpSweepWindows        = "sweep_windows"
)

// Change is one change of state; only the names its op needs are set.
type Change struct {
	Op         string `json:"op"`
	Role       string `json:"role,omitempty"`
	Permission string `json:"permission,omitempty"`
	User       string `json:"user,omitempty"`
	Includes   string `json:"includes,omitempty"`
	KeyID      string `json:"key_id,omitempty"`
	KeyName    string `json:"key_name,omitempty"`
	Scope      string `json:"scope,omitempty"`
	KeyHash    string `json:"key_hash,omitempty"`
	StartsAt   string `json:"starts_at,omitempty"`
	ExpiresAt  string `json:"expires_at,omitempty"`
}

// String describes the change: its op, then its names as role=...,
// permission=..., user=..., includes=... (quoted if they hold a space or a
// quote).
func (c Change) String() string {
	b := []byte(c.Op)
	for _, f := range [...]struct{ name, v string }{{"role", c.Role}, {"permission", c.Permission}, {"user", c.User}, {"includes", c.Includes},
		{"key_id", c.KeyID}, {"key_name", c.KeyName}, {"scope", c.Scope}, {"starts_at", c.StartsAt}, {"expires_at", c.ExpiresAt}} {
		if f.v == "" {
			continue
		}
		b = append(b, ' ')
		b = append(b, f.name...)
		b = append(b, '=')
		if strings.ContainsAny(f.v, " \"=") {
			b = strconv.AppendQuote(b, f.v)
		} else {
			b = append(b, f.v...)
		}
	}
	return string(b)
}

// String describes the event: its seq and its change, and a batch's
// number of changes.
func (e Event) String() string {
	s := strconv.FormatUint(e.Seq, 10) + " " + e.Change.String()
	if e.Op == OpBatch {
		s += " (" + strconv.Itoa(len(e.Changes)) + " changes)"
	}
	return s
}

// Event is one applied change of the tenant's state, in the order every
// replica applies them.
type Event struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Key is the id of the key that made the event (never its secret):
	// "first" for the tenant's first key, "" for events made before keys
	// had ids.
	Key string `json:"key,omitempty"`
	Change
	// Changes are a batch's changes.
	Changes []Change `json:"changes,omitempty"`
}

// EventPage is a page of events.
type EventPage struct {
	Events []Event `json:"events"`
	// Seq is the tenant's seq on the replica that answered.
	Seq uint64 `json:"seq"`
}

// EventsQuery selects a page of events.
type EventsQuery struct {
	// After: the events after this seq (0: from the first).
	After uint64
	// Limit: at most this many (0: the server's default, 100; at most
	// 1000).
	Limit int
	// Wait: when there is no event after After, wait up to this long for
	// one (long poll; the server caps it, at 1 min by default).
	Wait time.Duration
}

// Events answers a page of the tenant's events, in seq order. To read
// them all, pass the last event's seq as the next After until a page is
// empty.
func (c *Client) Events(ctx context.Context, q EventsQuery) (EventPage, error) {
	query := url.Values{"after": {strconv.FormatUint(q.After, 10)}}
	if q.Limit != 0 {
		query.Set("limit", strconv.Itoa(q.Limit))
	}
	timeout := c.timeout
	if q.Wait > 0 {
		query.Set("wait", q.Wait.String())
		if timeout > 0 {
			timeout += q.Wait
		}
	}
	u, err := c.endpoint("/v1/events", query)
	if err != nil {
		return EventPage{}, err
	}
	var page EventPage
	_, err = c.call(ctx, request{method: http.MethodGet, url: u, timeout: timeout}, &page)
	if page.Events == nil {
		page.Events = []Event{}
	}
	return page, err
}

// Watch follows the tenant's events as server-sent events: it calls fn
// with each event after seq after, in order, each once, as the server
// applies them, until ctx ends (it returns ctx's error), fn returns an
// error (it returns that error) or the server refuses the request (a bad
// key: an *Error). A broken connection, a server restart or a store error
// is not the end: Watch reconnects, with backoff from 100 ms up to 5 s,
// and resumes after the last event fn was given (sending it as
// Last-Event-ID), so nothing is skipped or repeated. A connection silent
// for 45 s (the server sends a heartbeat every 15 s) counts as broken.
// The cursor carries the epoch of the server's store, as the stream's ids
// do: when the store has taken another epoch (restored from a backup) the
// seqs mean other events, and Watch returns an error matching [ErrReset]
// rather than go on in another history; start over from an export.
//
// fn runs on Watch's goroutine; while it runs, the stream is not read.
func (c *Client) Watch(ctx context.Context, after uint64, fn func(Event) error) error {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	cur := cursor{seq: after}
	for {
		progressed, err := c.watchOnce(ctx, &cur, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe fnError
		if errors.As(err, &fe) {
			return fe.err
		}
		if isPermanent(err) || errors.Is(err, errBadBase) || errors.Is(err, ErrReset) {
			return err
		}
		if progressed {
			backoff = minBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watchIdle is how long a stream may stay silent before Watch reconnects:
// three of the server's keep-alive periods.
var watchIdle = 45 * time.Second

// fnError carries an error of Watch's callback out of watchOnce.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

var errBadBase = errors.New("auth: bad base URL")

// errStreamError is the server's "event: error": the store failed; the
// stream ends and may be resumed.
var errStreamError = errors.New("auth: the event stream reported an error")

// ErrReset is the event stream's reset: the feed cannot be resumed from
// the cursor given (the server's store took another epoch: it was restored
// from a backup; or retention deleted the events after it), and the
// follower must start over from an export.
var ErrReset = errors.New("auth: the event feed cannot be resumed from this cursor; start over from an export")

// cursor is where a stream resumes: the last event's seq, and the epoch
// of the store it came from ("" before the first id, or for a store
// without one).
type cursor struct {
	epoch string
	seq   uint64
}

// watchOnce reads one connection's stream; progressed reports whether it
// got an event.
func (c *Client) watchOnce(ctx context.Context, cur *cursor, fn func(Event) error) (progressed bool, err error) {
	after := &cur.seq
	u, err := c.endpoint("/v1/events/stream", url.Values{"after": {strconv.FormatUint(*after, 10)}})
	if err != nil {
		return false, fmt.Errorf("%w: %w", errBadBase, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watchdog: no line for watchIdle ends the connection.
	watchdog := time.AfterFunc(watchIdle, cancel)
	defer watchdog.Stop()
	h := http.Header{"Accept": {"text/event-stream"}, "Cache-Control": {"no-cache"}}
	if *after > 0 || cur.epoch != "" {
		h.Set("Last-Event-ID", sse.EventID(cur.epoch, cur.seq))
	}
	resp, done, err := c.send(ctx, request{method: http.MethodGet, url: u, header: h})
	if err != nil {
		return false, err
	}
	defer done()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" && !strings.HasPrefix(ct, "text/event-stream;") {
		return false, fmt.Errorf("auth: GET /v1/events/stream: Content-Type %q, want text/event-stream", ct)
	}
	r := sse.NewReader(resp.Body, 64<<10)
	r.Line = func() { watchdog.Reset(watchIdle) }
	for {
		sev, err := r.Next()
		if err != nil {
			return progressed, err // io.ErrUnexpectedEOF at its end: a stream never ends on its own
		}
		switch sev.Type {
		case "", "message":
			var ev Event
			if err := json.Unmarshal(sev.Data, &ev); err != nil {
				return progressed, fmt.Errorf("auth: event stream: malformed event: %w", err)
			}
			if ev.Seq <= *after {
				continue // never give an event twice
			}
			if err := fn(ev); err != nil {
				return progressed, fnError{err}
			}
			*after, progressed = ev.Seq, true
			if e, _, ok := strings.Cut(sev.ID, ":"); ok {
				cur.epoch = e
			}
		case "error":
			return progressed, errStreamError
		case "reset":
			return progressed, fmt.Errorf("%w: %s", ErrReset, sev.Data)
		}
	}
}
