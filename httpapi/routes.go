package httpapi

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"auth/engine"
)

// register adds every route. The original's routes live under /api and
// keep its answers exactly; each has a /v1 twin that takes the key from the
// Authorization header instead of the path.
func (s *Server) register() {
	s.handle(fasthttp.MethodGet, "/ping", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType(contentJSON)
		ctx.SetBody(answerPong)
	})
	s.registerRoles()
	s.registerPermissions()
	s.registerMemberships()
	s.registerInclusions()
	s.registerChecks()
	s.registerStatus()
	s.registerBatchCheck()
	s.registerEvents()
	s.registerBulk()
	s.registerKeys()
	s.registerOpenAPI()
	s.registerMetrics()
	s.registerHealth()
	s.registerUI()
}

// registerUI serves the web console at /ui/ when one is configured (GET
// /ui, which the router cannot tell from /ui/, is redirected by the
// router's NotFound). Its files are not API routes: they are not in
// Routes() nor in the OpenAPI document.
func (s *Server) registerUI() {
	if s.cfg.UI == nil {
		return
	}
	s.router.Handle(fasthttp.MethodGet, "/ui/{file:*}", s.cfg.UI)
}

// api tells the original's routes from their /v1 twins.
type api int

const (
	original api = iota // key in the path, the original's answers
	v1                  // key in the Authorization header, seqs in answers
)

// parse decodes the route's parameters; names[0] is always "key".
func (a api) parse(ctx *fasthttp.RequestCtx, p *params, names []string) bool {
	if a == v1 {
		return p.parseV1(ctx, names...)
	}
	return p.parse(ctx, names...)
}

// v1Path turns an original path into its /v1 twin:
// /api/role/{key}/{role} becomes /v1/role/{role}.
func v1Path(path string) string {
	return strings.Replace(strings.Replace(path, "/api/", "/v1/", 1), "/{key}", "", 1)
}

// both registers the original route and its /v1 twin.
func (s *Server) both(method, path string, h func(a api) fasthttp.RequestHandler) {
	s.handle(method, path, h(original))
	s.handle(method, v1Path(path), h(v1))
}

// writer returns a handler that decodes the route's parameters, builds a
// change from them and writes it. The original's routes answer
// {"result": bool}; /v1 adds the tenant's seq after the write.
func (s *Server) writer(route string, names []string, change func(p *params) engine.Change) func(api) fasthttp.RequestHandler {
	return s.writerCtx(route, names, func(_ *fasthttp.RequestCtx, p *params) (engine.Change, bool) { return change(p), true })
}

// writerCtx is writer for a change that also reads the request (its
// body); change answers the request itself and returns false when it
// refuses it.
func (s *Server) writerCtx(route string, names []string, change func(ctx *fasthttp.RequestCtx, p *params) (engine.Change, bool)) func(api) fasthttp.RequestHandler {
	return func(a api) fasthttp.RequestHandler {
		return a.parsed(names, func(ctx *fasthttp.RequestCtx, p *params) {
			if _, ok := s.authorize(ctx, p.key(), engine.ScopeAdmin, true); !ok {
				return
			}
			c, ok := change(ctx, p)
			if !ok {
				return
			}
			wctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteDeadline)
			defer cancel()
			result, seq, err := s.svc.Write(wctx, p.key(), c)
			if err != nil {
				s.writeWriteError(ctx, route, err, seq)
				return
			}
			s.setSeq(ctx, seq)
			if a == v1 {
				writeResultSeq(ctx, result, seq)
				return
			}
			writeBool(ctx, result)
		})
	}
}

// parsed returns a handler that decodes the route's parameters, as a
// takes them, into pooled params and passes them to h; a request whose
// parameters do not decode has been answered.
func (a api) parsed(names []string, h func(ctx *fasthttp.RequestCtx, p *params)) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p := getParams()
		defer putParams(p)
		if a.parse(ctx, p, names) {
			h(ctx, p)
		}
	}
}

// reader returns a handler that decodes the route's parameters, finds the
// tenant (honouring min_seq on /v1), checks that the key has the read
// scope and lets answer write the answer.
func (s *Server) reader(names []string, answer func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params)) func(api) fasthttp.RequestHandler {
	return s.readerScoped(engine.ScopeRead, names, answer)
}

// readerScoped is reader for a route that needs scope need.
func (s *Server) readerScoped(need engine.Scope, names []string, answer func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params)) func(api) fasthttp.RequestHandler {
	return func(a api) fasthttp.RequestHandler {
		return a.parsed(names, func(ctx *fasthttp.RequestCtx, p *params) {
			if t, ok := s.readTenantScoped(ctx, a, p.key(), need); ok {
				answer(ctx, t, p)
			}
		})
	}
}

// boolReader returns a handler answering {"result": <bool>} from the
// tenant's state.
func (s *Server) boolReader(names []string, read func(t *engine.Tenant, p *params) bool) func(api) fasthttp.RequestHandler {
	return s.reader(names, func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params) { writeBool(ctx, read(t, p)) })
}

// listReader returns a handler answering {"<top>": [{"<field>": ...}]}
// with list l of the route's second parameter (of the tenant, for a route
// with the key alone). On /v1, limit, after and prefix ask for a page of
// the list (pages.go). A list that describes what was written
// (effective) also takes effective=true, for the list with role
// inclusions followed.
func (s *Server) listReader(names []string, top, field string, l engine.List, effective bool) func(api) fasthttp.RequestHandler {
	return func(a api) fasthttp.RequestHandler {
		return s.reader(names, func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params) {
			arg := ""
			if len(names) > 1 {
				arg = p.vals[1]
			}
			follow := false
			if effective {
				var ok bool
				if follow, ok = effectiveArg(ctx); !ok {
					return
				}
			}
			if a == v1 {
				q, paged, ok := pageArgs(ctx)
				if !ok {
					return
				}
				at, ok := atArg(ctx)
				if !ok {
					return
				}
				if paged {
					names, more := t.PageAt(l, arg, follow, q, at)
					writePage(ctx, top, field, names, q, more)
				} else {
					writeList(ctx, top, field, t.ListAt(l, arg, follow, at))
				}
				if !at.IsZero() {
					addAt(ctx, at)
				}
				return
			}
			writeList(ctx, top, field, t.List(l, arg, follow))
		})(a)
	}
}

// effectiveArg reads effective=true|false (absent: false); on another
// value it answers 400 and returns ok false.
func effectiveArg(ctx *fasthttp.RequestCtx) (effective, ok bool) {
	switch raw := ctx.QueryArgs().Peek("effective"); string(raw) {
	case "", "false":
		return false, true
	case "true":
		return true, true
	}
	writeError(ctx, fasthttp.StatusBadRequest, "effective must be true or false")
	return false, false
}

// readTenantScoped returns the tenant a read answers from, once the key
// is known to have scope need. For /v1 it honours min_seq first: if this
// replica is behind it, it waits up to MinSeqWait, then answers 409 with
// the seq it has; so a key revoked at that seq is refused. It also reports
// the seq the read is answered at.
func (s *Server) readTenantScoped(ctx *fasthttp.RequestCtx, a api, key string, need engine.Scope) (*engine.Tenant, bool) {
	t, ok := s.tenantScoped(ctx, a, key, need)
	if ok && a == v1 {
		s.setSeq(ctx, t.Seq())
	}
	return t, ok
}

// tenantScoped is readTenantScoped for a read that reports its seq
// itself (the export's is its snapshot's).
func (s *Server) tenantScoped(ctx *fasthttp.RequestCtx, a api, key string, need engine.Scope) (*engine.Tenant, bool) {
	acc, ok := s.awaitAccess(ctx, a, key, need)
	if !ok {
		return nil, false
	}
	if acc, ok = s.authorizeAccess(ctx, key, acc, need, false); !ok {
		return nil, false
	}
	return acc.Tenant, true
}

// awaitAccess looks key up after honouring, on /v1, the epoch and min_seq
// of the tenant it names; on failure it has answered. A key that may not
// do what needs scope need as things stand here is refused before any
// wait: the wait, and the seq a 409 tells, are for the tenant's keys only.
// (The caller authorizes again after: the wait may have brought a
// revocation.)
func (s *Server) awaitAccess(ctx *fasthttp.RequestCtx, a api, key string, need engine.Scope) (engine.Access, bool) {
	acc := s.svc.Access(key)
	if a == original || len(ctx.URI().QueryString()) == 0 {
		return acc, true
	}
	return s.awaitQuery(ctx, key, acc, need)
}

// awaitQuery is awaitAccess for a /v1 request with a query, acc the key's
// access before.
func (s *Server) awaitQuery(ctx *fasthttp.RequestCtx, key string, acc engine.Access, need engine.Scope) (engine.Access, bool) {
	if q := ctx.QueryArgs(); len(q.Peek("min_seq")) > 0 || len(q.Peek("epoch")) > 0 {
		var ok bool
		if acc, ok = s.authorizeAccess(ctx, key, acc, need, false); !ok {
			return acc, false
		}
		if !s.awaitMinSeq(ctx, acc.ID) {
			return acc, false
		}
		acc = s.svc.Access(key)
	}
	return acc, true
}

// awaitMinSeq honours the epoch and min_seq query arguments; on failure it
// has answered.
func (s *Server) awaitMinSeq(ctx *fasthttp.RequestCtx, id engine.TenantID) bool {
	if !s.sameEpoch(ctx, id, ctx.QueryArgs().Peek("epoch")) {
		return false
	}
	raw := ctx.QueryArgs().Peek("min_seq")
	if len(raw) == 0 {
		return true
	}
	min, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "min_seq must be a non-negative integer")
		return false
	}
	t := s.svc.Tenant(id)
	if t.Seq() >= min {
		return true
	}
	// A tenant unknown here is asked of the store at most once per
	// unknownTTL (watch.go): made-up keys must not each cost a store read.
	now := time.Now()
	if t == nil && s.unknown.fresh(id, now) {
		writeBehind(ctx, 0)
		return false
	}
	wctx, cancel := context.WithTimeout(context.Background(), s.cfg.MinSeqWait)
	defer cancel()
	if err := s.svc.WaitSeq(wctx, id, min); err != nil {
		t = s.svc.Tenant(id)
		if t == nil {
			s.unknown.add(id, now)
		}
		writeBehind(ctx, t.Seq())
		return false
	}
	return true
}

// setSeq sets X-Auth-Seq, and X-Auth-Epoch when the store has an epoch:
// a seq means something only within its epoch (see epoch.go).
func (s *Server) setSeq(ctx *fasthttp.RequestCtx, seq uint64) {
	var buf [20]byte
	ctx.Response.Header.SetCanonical(seqHeader, strconv.AppendUint(buf[:0], seq, 10))
	if s.epochValue != nil {
		ctx.Response.Header.SetCanonical(epochHeader, s.epochValue)
	}
}

// seqHeader is X-Auth-Seq in canonical form, so that setting it skips the
// name's normalization on every answer (the /v1 check sets it).
var seqHeader = []byte("X-Auth-Seq")

// durationArg reads a duration query argument (Go syntax, or seconds),
// bounded by max.
func durationArg(ctx *fasthttp.RequestCtx, name string, max time.Duration) (time.Duration, bool) {
	raw := string(ctx.QueryArgs().Peek(name))
	if raw == "" {
		return 0, true
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		secs, err2 := strconv.ParseUint(raw, 10, 32)
		if err2 != nil {
			writeError(ctx, fasthttp.StatusBadRequest, name+" must be a duration such as 30s")
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 {
		writeError(ctx, fasthttp.StatusBadRequest, name+" must not be negative")
		return 0, false
	}
	return min(d, max), true
}
