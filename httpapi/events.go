package httpapi

import (
	"bufio"
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"auth/engine"
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
//	GET /v1/events/stream?after=SEQ   (or the Last-Event-ID header)
//
// streams events as server-sent events (text/event-stream), each with its
// seq as the event id, as they are applied here, until the client goes
// away or the server shuts down. A comment line every 15 s keeps idle
// connections alive.

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
	streamHeartbeat   = 15 * time.Second
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
	key, ok := bearerKey(ctx)
	if !ok {
		return
	}
	id := engine.KeyID(key)
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
	if wait > 0 && s.svc.Tenant(id).Seq() <= after {
		timer := time.NewTimer(wait)
		select {
		case <-s.svc.Changed(id, after):
		case <-timer.C:
		case <-s.closing:
		}
		timer.Stop()
	}
	rctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
	defer cancel()
	evs, err := s.svc.Events(rctx, id, after, int(limit))
	if err != nil {
		s.writeServiceError(ctx, "/v1/events", err)
		return
	}
	seq := s.svc.Tenant(id).Seq()
	setSeq(ctx, seq)
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

func (s *Server) eventStream(ctx *fasthttp.RequestCtx) {
	key, ok := bearerKey(ctx)
	if !ok {
		return
	}
	id := engine.KeyID(key) // the key's bytes die with the handler; the id does not
	after, ok := uintArg(ctx, "after", 0)
	if !ok {
		return
	}
	if last := ctx.Request.Header.Peek("Last-Event-ID"); len(last) > 0 {
		v, err := strconv.ParseUint(string(last), 10, 64)
		if err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, "Last-Event-ID must be a seq")
			return
		}
		after = v
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	// The server's write timeout bounds a whole answer; a stream lives
	// longer, so each write gets its own deadline instead.
	conn := ctx.Conn()
	ctx.Response.ImmediateHeaderFlush = true // the client learns it is subscribed
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		var buf []byte
		heartbeat := time.NewTicker(streamHeartbeat)
		defer heartbeat.Stop()
		deadline := func() { conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)) }
		for {
			deadline()
			changed := s.svc.Changed(id, after)
			rctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
			evs, err := s.svc.Events(rctx, id, after, maxEventLimit)
			cancel()
			if err != nil {
				buf = append(buf[:0], "event: error\ndata: "...)
				buf = appendString(buf, "store unavailable; reconnect with Last-Event-ID")
				buf = append(buf, "\n\n"...)
				w.Write(buf)
				w.Flush()
				return
			}
			for i := range evs {
				buf = append(buf[:0], "id: "...)
				buf = strconv.AppendUint(buf, evs[i].Seq, 10)
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
				continue
			}
			select {
			case <-changed:
			case <-heartbeat.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
			case <-s.closing:
				return
			}
		}
	})
}

// appendEvent appends the JSON form of an event.
func appendEvent(b []byte, ev *engine.Event) []byte {
	b = append(b, `{"seq": `...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `, "time": "`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `", `...)
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
	for _, f := range [...]struct{ name, v string }{{"role", c.Role}, {"permission", c.Permission}, {"user", c.User}} {
		if f.v != "" {
			b = append(b, `, "`...)
			b = append(b, f.name...)
			b = append(b, `": `...)
			b = appendString(b, f.v)
		}
	}
	return b
}
