package httpapi

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"auth/engine"
	"auth/internal/jsonstr"
)

// Memberships. The original's routes write and read permanent
// memberships, as the original did. Their /v1 twins take a window:
//
//	POST /v1/membership/{user}/{role}
//	     {"expires_at": "2026-12-04T18:00:00Z", "starts_at": "..."}
//	  or {"expires_in": "72h"}
//	  (no body, or {}: a permanent membership)
//	GET  /v1/membership/{user}/{role}
//	  → {"result": <a member now>, "starts_at": ..., "expires_at": ...}
//
// Writing a membership again replaces its window; a write without one
// makes it permanent.

func (s *Server) registerMemberships() {
	const path = "/api/membership/{key}/{user}/{role}"
	names := []string{"key", "user", "role"}
	change := func(op engine.Op) func(p *params) engine.Change {
		return func(p *params) engine.Change { return engine.Change{Op: op, User: p.owned(1), Role: p.owned(2)} }
	}
	s.handle(fasthttp.MethodPost, path, s.writer(path, names, change(engine.OpAddMembership))(original))
	s.handle(fasthttp.MethodPost, v1Path(path), s.writerCtx(path, names, s.membershipChange)(v1))
	s.both(fasthttp.MethodDelete, path, s.writer(path, names, change(engine.OpDelMembership)))
	s.handle(fasthttp.MethodGet, path, s.boolReader(names, func(t *engine.Tenant, p *params) bool {
		return t.HasMembership(p.vals[1], p.vals[2])
	})(original))
	s.handle(fasthttp.MethodGet, v1Path(path), s.reader(names, func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params) {
		w, _ := t.MembershipWindow(p.vals[1], p.vals[2])
		writeWindow(ctx, t.HasMembership(p.vals[1], p.vals[2]), w)
	})(v1))
	s.both(fasthttp.MethodGet, "/api/user_roles/{key}/{user}",
		s.listReader([]string{"key", "user"}, "result", "role", engine.ListUserRoles, true))
	s.both(fasthttp.MethodGet, "/api/members/{key}/{role}",
		s.listReader([]string{"key", "role"}, "result", "user", engine.ListRoleMembers, true))
}

// membershipChange is the change of a /v1 membership write: the body's
// window, if any. On a bad body it answers 400 and returns false.
func (s *Server) membershipChange(ctx *fasthttp.RequestCtx, p *params) (engine.Change, bool) {
	body, ok := readBody(ctx, s.cfg.MaxRequestBodySize)
	if !ok {
		return engine.Change{}, false
	}
	w, msg := decodeWindowBody(body, time.Now())
	if msg != "" {
		writeError(ctx, fasthttp.StatusBadRequest, msg)
		return engine.Change{}, false
	}
	return engine.MembershipChange(p.owned(1), p.owned(2), w), true
}

// maxExpiresIn bounds expires_in: a window ends before the year 10000.
const maxExpiresIn = 100 * 365 * 24 * time.Hour

// decodeWindowBody decodes a membership write's body: empty, or a JSON
// object with starts_at and expires_at (RFC 3339, to the second) or
// expires_in (a Go duration such as 72h, from now, rounded up to the
// second) instead of expires_at. It returns what is wrong, or "".
func decodeWindowBody(body []byte, now time.Time) (engine.Window, string) {
	var w engine.Window
	if len(body) == 0 {
		return w, ""
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return w, "malformed JSON: " + err.Error()
	}
	obj, err := v.Object()
	if err != nil {
		return w, `body must be a JSON object: {"expires_at": ..., "starts_at": ...} or {"expires_in": "72h"}`
	}
	var bad string
	var in string
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if bad != "" {
			return
		}
		sb, err := v.StringBytes()
		if err != nil {
			bad = strconv.Quote(string(k)) + " must be a string"
			return
		}
		str := string(sb)
		switch string(k) {
		case "starts_at", "expires_at":
			t, err := engine.ParseWindowTime(str)
			if err != nil {
				bad = string(k) + ": " + err.Error()
				return
			}
			if string(k) == "starts_at" {
				w.StartsAt = t
			} else {
				w.ExpiresAt = t
			}
		case "expires_in":
			in = str
			if in == "" {
				bad = "expires_in must be a duration such as 72h"
			}
		default:
			bad = "unknown field " + strconv.Quote(string(k)) + `: a membership's window has "starts_at", "expires_at" or "expires_in"`
		}
	})
	if bad != "" {
		return engine.Window{}, bad
	}
	if in != "" {
		if !w.ExpiresAt.IsZero() {
			return engine.Window{}, "expires_at and expires_in: give one of them"
		}
		d, err := time.ParseDuration(in)
		if err != nil || d <= 0 || d > maxExpiresIn {
			return engine.Window{}, "expires_in must be a positive duration such as 72h, at most 100 years"
		}
		w.ExpiresAt = now.Add(d).Add(time.Second - 1).Truncate(time.Second).UTC()
	}
	if !w.StartsAt.IsZero() && !w.ExpiresAt.IsZero() && !w.StartsAt.Before(w.ExpiresAt) {
		return engine.Window{}, "starts_at must be before expires_at"
	}
	return w, ""
}

// writeWindow answers {"result": bool} with the membership's window, if it
// has one: "starts_at" and/or "expires_at".
func writeWindow(ctx *fasthttp.RequestCtx, result bool, w engine.Window) {
	ctx.SetContentType(contentJSON)
	setBody(ctx, func(b []byte) []byte {
		b = append(b, `{"result": `...)
		b = strconv.AppendBool(b, result)
		b = appendWindow(b, w)
		return append(b, '}')
	})
}

// appendWindow appends w's bounds as JSON fields, each after ", ".
func appendWindow(b []byte, w engine.Window) []byte {
	if !w.StartsAt.IsZero() {
		b = append(b, `, "starts_at": `...)
		b = jsonstr.Append(b, engine.FormatWindowTime(w.StartsAt))
	}
	if !w.ExpiresAt.IsZero() {
		b = append(b, `, "expires_at": `...)
		b = jsonstr.Append(b, engine.FormatWindowTime(w.ExpiresAt))
	}
	return b
}

// atArg reads the at query argument of a /v1 list (RFC 3339): the list is
// answered as of that time, by the windows of the state now. Absent, it
// returns the zero time. On a bad value it answers 400.
func atArg(ctx *fasthttp.RequestCtx) (time.Time, bool) {
	raw := ctx.QueryArgs().Peek("at")
	if len(raw) == 0 {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339, string(raw))
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "at must be an RFC 3339 time such as 2026-12-04T18:00:00Z")
		return time.Time{}, false
	}
	return t, true
}

// addAt adds "at": the time a list was answered as of, to its answer.
func addAt(ctx *fasthttp.RequestCtx, at time.Time) {
	body := ctx.Response.Body()
	if len(body) == 0 || body[len(body)-1] != '}' {
		return
	}
	b := append([]byte(nil), body[:len(body)-1]...)
	b = append(b, `, "at": `...)
	b = jsonstr.Append(b, at.UTC().Format(time.RFC3339))
	ctx.SetBody(append(b, '}'))
}
