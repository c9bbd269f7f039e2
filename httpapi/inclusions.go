package httpapi

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"auth/engine"
	"auth/internal/jsonstr"
)

// registerInclusions adds the routes of role inclusion, of why a user has
// a permission, and of deleting a user, each with its twin (/api with the
// key in the path, /v1 with the key in the Authorization header):
//
//	POST   /api/inclusion/{key}/{role}/{included}  {"result": true} made or there; false: a role is missing; 422: a cycle
//	DELETE /api/inclusion/{key}/{role}/{included}  {"result": true}
//	GET    /api/inclusion/{key}/{role}/{included}  {"result": <role includes included directly>}
//	GET    /api/inclusions/{key}/{role}            {"result": [{"role": "editor"}, ...]}, sorted
//	GET    /api/why/{key}/{user}/{name}            {"result": bool, "via": [{"role": "viewer", "path": ["admin", "editor", "viewer"]}]}
//	DELETE /api/user/{key}/{user}                  {"result": true}: the user is out of every role
func (s *Server) registerInclusions() {
	s.registerFact("/api/inclusion/{key}/{role}/{included}", []string{"key", "role", "included"}, engine.OpAddInclusion, engine.OpDelInclusion,
		func(op engine.Op, p *params) engine.Change {
			return engine.Change{Op: op, Role: p.owned(1), Includes: p.owned(2)}
		},
		func(t *engine.Tenant, p *params) bool { return t.HasInclusion(p.vals[1], p.vals[2]) })
	s.both(fasthttp.MethodGet, "/api/inclusions/{key}/{role}",
		s.listReader([]string{"key", "role"}, "result", "role", engine.ListInclusions, false))

	const user = "/api/user/{key}/{user}"
	s.both(fasthttp.MethodDelete, user, s.writer(user, []string{"key", "user"}, func(p *params) engine.Change {
		return engine.Change{Op: engine.OpDelUser, User: p.owned(1)}
	}))

	// The check, and the ways the user has the permission: each role
	// granted it that one of the user's roles is or includes, sorted, with
	// the shortest path of inclusions to it when there is one (an object
	// per way, so that it can say more later); none when "result" is false.
	s.both(fasthttp.MethodGet, "/api/why/{key}/{user}/{name}", s.reader([]string{"key", "user", "name"},
		func(ctx *fasthttp.RequestCtx, t *engine.Tenant, p *params) {
			via := t.Why(p.vals[1], p.vals[2])
			ctx.SetContentType(contentJSON)
			setBody(ctx, func(b []byte) []byte { return appendWhy(b, via) })
		}))
}

// appendWhy appends the answer of a why route. A role the user is in
// itself has no "path", as before inclusions existed.
func appendWhy(b []byte, via []engine.Via) []byte {
	b = append(b, `{"result": `...)
	b = strconv.AppendBool(b, len(via) > 0)
	b = append(b, `, "via": [`...)
	for i, v := range via {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"role": `...)
		b = jsonstr.Append(b, v.Role)
		if len(v.Path) > 1 {
			b = append(b, `, "path": [`...)
			for j, r := range v.Path {
				if j > 0 {
					b = append(b, ", "...)
				}
				b = jsonstr.Append(b, r)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
