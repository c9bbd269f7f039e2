package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

// hasPermissionParams are the check route's parameters; a package variable
// so the hot path builds no slice.
var hasPermissionParams = []string{"key", "user", "name"}

func (s *Server) registerChecks() {
	s.handle(fasthttp.MethodGet, "/api/has_permission/{key}/{user}/{name}", s.hasPermission)
	s.handle(fasthttp.MethodGet, "/api/user_permissions/{key}/{user}",
		s.listReader([]string{"key", "user"}, "results", "name",
			func(t *engine.Tenant, p *params) []string { return t.UserPermissions(p.vals[1]) }))
	s.handle(fasthttp.MethodGet, "/api/which_users_can/{key}/{name}",
		s.listReader([]string{"key", "name"}, "result", "user",
			func(t *engine.Tenant, p *params) []string { return t.WhichUsersCan(p.vals[1]) }))
}

// hasPermission is the check every service calls on every request: decode,
// hash the key, two map lookups and a few bit tests, a constant answer.
func (s *Server) hasPermission(ctx *fasthttp.RequestCtx) {
	p := getParams()
	if p.parse(ctx, hasPermissionParams...) {
		writeBool(ctx, s.svc.Tenant(engine.KeyID(p.key())).UserHasPermission(p.vals[1], p.vals[2]))
	}
	putParams(p)
}
