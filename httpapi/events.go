package httpapi

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
	"auth/persist"
)

// The event feed: a tenant's events, the audit trail of what changed, in
// what order, when.
//
//	GET /v1/events?after=SEQ&limit=N[&wait=30s]
//	→ {"events": [{"seq": 1, "op": "add_role", "time": "...", "role": "r"}, ...], "seq": 7}
//
// "seq" is the tenant's seq at this replica. To continue, pass the last
// event's seq as after (a page cut by limit ends before "seq"). With wait,
// an empty answer waits (long-polls) up to wait, at most Config.MaxWatch,
// for the next event.
//
//	GET /v1/events/stream?after=SEQ[&epoch=E]   (or the Last-Event-ID header)
//
// streams events as server-sent events (text/event-stream), each with its
// epoch and seq as the event id ("EPOCH:SEQ", see epoch.go), as they are
// applied here, until the client goes
// away, the server shuts down or the stream has lived
// Config.MaxStreamLifetime (the client then resumes with Last-Event-ID).
//
// Heartbeats keep idle connections alive and tell the follower where the
// tenant's head is, so that it knows how fresh it is while the tenant is
// quiet:
//
//	event: heartbeat
//	data: {"seq": 42, "epoch": "E"}
//
// seq is the tenant's seq here when the heartbeat is sent, every event
// the feed had up to then having been sent before it: a follower that has
// applied seq was at the head when it was sent. One comes as soon as the stream has caught up,
// then one every 15 s while no event comes, or every heartbeat=DUR (a Go
// duration or whole seconds, from 100ms to 15s) when the client asks.
//
// A stream the client cannot resume answers one reset event and ends:
//
//	event: reset
//	data: {"reason": "epoch", "error": "...", "epoch": "E", "seq": 42}
//
// reason "epoch": the cursor is of another epoch of the store (see
// epoch.go); reason "pruned": the events after the cursor are no longer
// kept (retention; GET /v1/events answers 410 for it). Either way the
// client starts over from an export (GET /v1/export, whose X-Auth-Seq and
// X-Auth-Epoch say where to follow from).
//
// Streams and long-polls share one reader of the store per tenant
// (feeds.go) and are capped per server and per client (watch.go).

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
	// streamHeartbeat is the heartbeats' default interval, and the
	// longest a client may ask for; minHeartbeat the shortest.
	streamHeartbeat = 15 * time.Second
	minHeartbeat    = 100 * time.Millisecond
)

func (s *Server) registerEvents() {
	s.handle(fasthttp.MethodGet, "/v1/events", s.events)
	s.handle(fasthttp.MethodGet, "/v1/events/stream", s.eventStream)
}

func uintArg(ctx *fasthttp.RequestCtx, name string, def uint64) (uint64, bool) {
	raw := ctx.QueryArgs().Peek(name)
	if len(raw) == 0 {
		return def, true
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, name+" must be a non-negative integer")
		return 0, false
	}
	return v, true
}

func (s *Server) events(ctx *fasthttp.RequestCtx) {
	_, acc, ok := s.bearerAccess(ctx, engine.ScopeRead, false)
	if !ok {
		return
	}
	id := acc.ID
	after, ok := uintArg(ctx, "after", 0)
	if !ok {
		return
	}
	limit, ok := uintArg(ctx, "limit", defaultEventLimit)
	if !ok {
		return
	}
	if limit == 0 || limit > maxEventLimit {
		writeError(ctx, fasthttp.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(maxEventLimit))
		return
	}
	wait, ok := durationArg(ctx, "wait", s.cfg.MaxWatch)
	if !ok {
		return
	}
	if !s.sameEpoch(ctx, id, ctx.QueryArgs().Peek("epoch")) {
		return
	}
	var evs []engine.Event
	read := true // the events are to be read from the store
	if wait > 0 && s.svc.Tenant(id).Seq() <= after {
		done, ok := s.startWatch(ctx)
		if !ok {
			return
		}
		evs, read, ok = s.longPoll(ctx, id, after, int(limit), wait)
		done()
		if !ok {
			return
		}
	}
	if read {
		rctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
		defer cancel()
		var err error
		if evs, err = s.svc.Events(rctx, id, after, int(limit)); err != nil {
			s.writeServiceError(ctx, "/v1/events", err)
			return
		}
	}
	seq := s.svc.Tenant(id).Seq()
	s.setSeq(ctx, seq)
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"events": [`...)
		for i := range evs {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendEvent(b, &evs[i])
		}
		b = append(b, `], "seq": `...)
		b = strconv.AppendUint(b, seq, 10)
		return append(b, '}')
	})
}

// longPoll waits up to wait for the tenant's next events after after, as
// a watcher of its feed. It returns them (none if the wait ended empty),
// or read true if they are to be read from the store (the feed's window
// does not reach back to after); ok false if it answered (the store
// failed).
func (s *Server) longPoll(ctx *fasthttp.RequestCtx, id engine.TenantID, after uint64, limit int, wait time.Duration) (evs []engine.Event, read, ok bool) {
	f := s.feeds.join(id)
	defer s.feeds.leave(f)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		evs, covered, news, err := f.since(after, limit)
		switch {
		case err != nil:
			s.writeServiceError(ctx, "/v1/events", err)
			return nil, false, false
		case !covered:
			return nil, true, true
		case len(evs) > 0:
			return evs, false, true
		}
		select {
		case <-news:
		case <-timer.C:
			return nil, false, true
		case <-s.closing:
			return nil, false, true
		}
	}
}

func (s *Server) eventStream(ctx *fasthttp.RequestCtx) {
	key, acc, ok := s.bearerAccess(ctx, engine.ScopeRead, false)
	if !ok {
		return
	}
	id := acc.ID
	// The key's bytes die with the handler: the stream keeps a copy, in
	// memory only, to end when the key is revoked.
	key = strings.Clone(key)
	allowed := func() bool {
		a := s.svc.Access(key)
		return (a.Status == engine.KeyValid || a.Status == engine.KeyNew) && a.ID == id && a.Scope.Allows(engine.ScopeRead)
	}
	after, ok := uintArg(ctx, "after", 0)
	if !ok {
		return
	}
	heartbeat, ok := durationArg(ctx, "heartbeat", streamHeartbeat)
	if !ok {
		return
	}
	if heartbeat == 0 {
		heartbeat = streamHeartbeat
	}
	heartbeat = max(heartbeat, minHeartbeat)
	epoch := string(ctx.QueryArgs().Peek("epoch"))
	if last := ctx.Request.Header.Peek("Last-Event-ID"); len(last) > 0 {
		e, v, ok := parseEventID(last)
		if !ok {
			writeError(ctx, fasthttp.StatusBadRequest, "Last-Event-ID must be an event id (EPOCH:SEQ, or SEQ)")
			return
		}
		after = v
		if e != "" {
			epoch = e
		}
	}
	if epoch != "" && s.epoch != "" && epoch != s.epoch {
		// A cursor of another epoch: its seqs name other events here.
		s.writeReset(ctx, resetEpoch, s.svc.Tenant(id).Seq())
		return
	}
	done, ok := s.startWatch(ctx)
	if !ok {
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	// The server's write timeout bounds a whole answer; a stream lives
	// longer, so each write gets its own deadline instead.
	conn := ctx.Conn()
	ctx.Response.ImmediateHeaderFlush = true // the client learns it is subscribed
	// A stream's connection is not used again (the client resumes on a
	// new one), so that it can be read while the stream is written: a
	// client that goes away ends its stream at once, not at the next
	// heartbeat, and gives its place back.
	ctx.SetConnectionClose()
	f := s.feeds.join(id)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer done()
		defer s.feeds.leave(f)
		var gone <-chan struct{}
		if conn != nil { // nil: a handler called without a connection (tests)
			gone = clientGone(conn)
		}
		s.stream(w, conn, f, after, heartbeat, gone, allowed)
	})
}

// clientGone returns a channel closed when the client closes conn (or
// sends anything, which a stream's client does not).
func clientGone(conn net.Conn) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		var b [1]byte
		for {
			_ = conn.SetReadDeadline(time.Time{})
			if _, err := conn.Read(b[:]); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue // a deadline set elsewhere: read on
				}
			}
			return
		}
	}()
	return gone
}

// stream writes the tenant's events after after to w as they come, until
// the client goes away, the store fails, the server shuts down, the
// stream has lived Config.MaxStreamLifetime or its key may no longer read
// (allowed: revoked, say; the stream then ends with a revoked event).
func (s *Server) stream(w *bufio.Writer, conn net.Conn, f *feed, after uint64, every time.Duration, gone <-chan struct{}, allowed func() bool) {
	var buf []byte
	heartbeat := time.NewTicker(every)
	defer heartbeat.Stop()
	beat := func() error {
		buf = append(buf[:0], "event: heartbeat\ndata: {\"seq\": "...)
		buf = strconv.AppendUint(buf, s.svc.Tenant(f.id).Seq(), 10)
		buf = append(buf, `, "epoch": `...)
		buf = jsonstr.Append(buf, s.epoch)
		buf = append(buf, "}\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return err
		}
		return w.Flush()
	}
	caughtUp := false
	lifetime := time.NewTimer(s.cfg.MaxStreamLifetime)
	defer lifetime.Stop()
	deadline := func() {
		if conn != nil {
			conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		}
	}
	for {
		deadline()
		evs, covered, news, err := f.since(after, maxEventLimit)
		if err == nil && !covered {
			// Behind the feed's window: catch up from the store.
			rctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
			evs, err = s.svc.Events(rctx, f.id, after, maxEventLimit)
			cancel()
		}
		if !allowed() {
			w.WriteString("event: revoked\ndata: {\"error\": \"key revoked\"}\n\n")
			w.Flush()
			return
		}
		if errors.Is(err, persist.ErrPruned) {
			// The events after the cursor are gone: say so, plainly.
			w.Write(s.appendReset(buf[:0], resetPruned, s.svc.Tenant(f.id).Seq()))
			w.Flush()
			return
		}
		if err != nil {
			buf = append(buf[:0], "event: error\ndata: "...)
			buf = jsonstr.Append(buf, "store unavailable; reconnect with Last-Event-ID")
			buf = append(buf, "\n\n"...)
			w.Write(buf)
			w.Flush()
			return
		}
		for i := range evs {
			buf = append(buf[:0], "id: "...)
			buf = s.appendEventID(buf, evs[i].Seq)
			buf = append(buf, "\ndata: "...)
			buf = appendEvent(buf, &evs[i])
			buf = append(buf, "\n\n"...)
			if _, err := w.Write(buf); err != nil {
				return
			}
			after = evs[i].Seq
		}
		if len(evs) > 0 {
			if err := w.Flush(); err != nil {
				return
			}
			heartbeat.Reset(every)
			continue
		}
		if !caughtUp {
			// The follower learns at once that it is at the head.
			caughtUp = true
			if err := beat(); err != nil {
				return
			}
		}
		select {
		case <-news:
		case <-heartbeat.C:
			// The tenant's seq may be past the last event sent (one
			// applied just now): the follower then does not count itself
			// at the head, and the next round sends that event.
			if err := beat(); err != nil {
				return
			}
		case <-lifetime.C:
			w.WriteString(": stream lifetime reached; reconnect with Last-Event-ID\n\n")
			w.Flush()
			return
		case <-gone:
			return
		case <-s.closing:
			return
		}
	}
}

// appendEvent appends the JSON form of an event.
func appendEvent(b []byte, ev *engine.Event) []byte {
	b = append(b, `{"seq": `...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `, "time": "`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `", `...)
	if ev.By != "" {
		// The id of the key that made the event: the audit trail.
		b = append(b, `"key": `...)
		b = jsonstr.Append(b, ev.By)
		b = append(b, `, `...)
	}
	b = appendChange(b, &ev.Change)
	if ev.Op == engine.OpBatch {
		b = append(b, `, "changes": [`...)
		for i := range ev.Changes {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '{')
			b = appendChange(b, &ev.Changes[i])
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendChange(b []byte, c *engine.Change) []byte {
	b = append(b, `"op": "`...)
	b = append(b, c.Op.String()...)
	b = append(b, '"')
	for _, f := range engine.Fields() {
		if v := f.Of(c); v != "" {
			b = append(b, `, "`...)
			b = append(b, f.String()...)
			b = append(b, `": `...)
			b = jsonstr.Append(b, v)
		}
	}
	return b
}

// Reasons of a stream's reset event.
const (
	resetEpoch  = "epoch"
	resetPruned = "pruned"
)

// writeReset answers a stream request with one reset event: the client's
// cursor cannot be resumed here, and it must start over from an export.
func (s *Server) writeReset(ctx *fasthttp.RequestCtx, reason string, seq uint64) {
	s.setSeq(ctx, seq)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetConnectionClose()
	ctx.SetBody(s.appendReset(nil, reason, seq))
}

// appendReset appends a reset event.
func (s *Server) appendReset(b []byte, reason string, seq uint64) []byte {
	msg := msgOtherEpoch
	if reason == resetPruned {
		msg = msgPruned
	}
	b = append(b, "event: reset\ndata: {\"reason\": \""...)
	b = append(b, reason...)
	b = append(b, `", "error": `...)
	b = jsonstr.Append(b, msg)
	b = append(b, `, "epoch": `...)
	b = jsonstr.Append(b, s.epoch)
	b = append(b, `, "seq": `...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, "}\n\n"...)
}
