package httpapi

import (
	"strings"

	"github.com/valyala/fasthttp"

	"auth/engine"
)

// hasPermissionParams are the check route's parameters; a package variable
// so the hot path builds no slice.
var hasPermissionParams = []string{"key", "user", "name"}

func (s *Server) registerChecks() {
	s.handle(fasthttp.MethodGet, "/api/has_permission/{key}/{user}/{name}", s.hasPermission)
	s.handle(fasthttp.MethodGet, v1Path("/api/has_permission/{key}/{user}/{name}"),
		s.readerScoped(engine.ScopeCheck, hasPermissionParams, func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params) {
			writeBool(ctx, t.UserHasPermission(p.vals[1], p.vals[2]))
		})(v1))
	s.both(fasthttp.MethodGet, "/api/user_permissions/{key}/{user}",
		s.listReader([]string{"key", "user"}, "results", "name", engine.ListUserPermissions, false))
	s.both(fasthttp.MethodGet, "/api/which_users_can/{key}/{name}",
		s.listReader([]string{"key", "name"}, "result", "user", engine.ListWhichUsersCan, false))
}

// hasPermission is the check route's handler as the router calls it.
func (s *Server) hasPermission(ctx *fasthttp.RequestCtx) {
	p := getParams()
	if p.parse(ctx, hasPermissionParams...) {
		s.check(ctx, p)
	}
	putParams(p)
}

// check answers the check: hash the key, two map lookups and a few bit
// tests, a constant answer.
func (s *Server) check(ctx *fasthttp.RequestCtx, p *params) {
	if t, ok := s.checker(ctx, p.key(), s.svc.Access(p.key())); ok {
		writeBool(ctx, t.UserHasPermission(p.vals[1], p.vals[2]))
	}
}

// checker returns the tenant a check under key, whose access is a,
// answers from. Every scope allows the check, so a key that may do
// anything at all is checked no further; any other is refused
// (authorizeAccess).
func (s *Server) checker(ctx *fasthttp.RequestCtx, key string, a engine.Access) (*engine.Tenant, bool) {
	if a.Status != engine.KeyValid && a.Status != engine.KeyNew {
		var ok bool
		if a, ok = s.authorizeAccess(ctx, key, a, engine.ScopeCheck, false); !ok {
			return nil, false
		}
	}
	return a.Tenant, true
}

// checkV1 answers GET /v1/has_permission/{user}/{name}, min_seq and epoch
// included, as its router route would (the key from the Authorization
// header, the tenant's seq in X-Auth-Seq), for the fast path: the tenant
// comes from the key cache, the answer and the seq of the state it is
// from are read in one look at the tenant, and nothing is allocated. The
// parameters of a path without escapes are its own bytes: plain ones
// (split2) need no checking, others are validated where they stand; only
// escapes take a pooled buffer to decode into.
func (s *Server) checkV1(ctx *fasthttp.RequestCtx, raws [2]string, plain bool) {
	key, ok := bearerKey(ctx)
	if !ok {
		return
	}
	if plain {
		s.answerCheckV1(ctx, key, raws[0], raws[1])
		return
	}
	if strings.IndexByte(raws[0], '%') < 0 && strings.IndexByte(raws[1], '%') < 0 {
		if plainParam(ctx, v1CheckParams[0], raws[0]) && plainParam(ctx, v1CheckParams[1], raws[1]) {
			s.answerCheckV1(ctx, key, raws[0], raws[1])
		}
		return
	}
	p := getParams()
	if p.parseRaw(ctx, v1CheckParams, raws[:]) {
		s.answerCheckV1(ctx, key, p.vals[0], p.vals[1])
	}
	putParams(p)
}

// answerCheckV1 answers checkV1's check, its parameters decoded.
func (s *Server) answerCheckV1(ctx *fasthttp.RequestCtx, key, user, name string) {
	a := s.svc.Access(key)
	if len(ctx.URI().QueryString()) > 0 {
		var ok bool
		if a, ok = s.awaitQuery(ctx, key, a, engine.ScopeCheck); !ok {
			return
		}
	}
	if t, ok := s.checker(ctx, key, a); ok {
		ok, seq := t.UserHasPermissionAt(user, name)
		s.setSeq(ctx, seq)
		writeBool(ctx, ok)
	}
}

// v1CheckParams are the /v1 check route's path parameters.
var v1CheckParams = []string{"user", "name"}

// split3 splits "a/b/c" into three non-empty segments.
func split3(s string) (out [3]string, ok bool) {
	i := strings.IndexByte(s, '/')
	if i <= 0 {
		return out, false
	}
	j := strings.IndexByte(s[i+1:], '/')
	if j <= 0 {
		return out, false
	}
	j += i + 1
	if j == len(s)-1 || strings.IndexByte(s[j+1:], '/') >= 0 {
		return out, false
	}
	return [3]string{s[:i], s[i+1 : j], s[j+1:]}, true
}

// split2 splits "a/b" into two non-empty segments, in one pass that also
// tells whether both are plain: names as they stand, of printable ASCII
// without escapes and short enough, which need neither decoding nor
// validating (engine.ValidName takes them all).
func split2(s string) (out [2]string, plain, ok bool) {
	slash, plain := -1, true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/':
			if slash >= 0 {
				return out, false, false
			}
			slash = i
		case c < 0x20 || c >= 0x7f || c == '%':
			plain = false
		}
	}
	if slash <= 0 || slash == len(s)-1 {
		return out, false, false
	}
	plain = plain && slash <= engine.MaxNameLen && len(s)-slash-1 <= engine.MaxNameLen
	return [2]string{s[:slash], s[slash+1:]}, plain, true
}
