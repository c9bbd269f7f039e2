package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

func (s *Server) registerPermissions() {
	s.registerFact("/api/permission/{key}/{role}/{name}", []string{"key", "role", "name"}, engine.OpAddPermission, engine.OpDelPermission,
		func(op engine.Op, p *params) engine.Change {
			return engine.Change{Op: op, Role: p.owned(1), Permission: p.owned(2)}
		},
		func(t *engine.Tenant, p *params) bool { return t.HasPermission(p.vals[1], p.vals[2]) })
	s.both(fasthttp.MethodGet, "/api/role_permissions/{key}/{role}",
		s.listReader([]string{"key", "role"}, "results", "name", engine.ListRolePermissions, true))
	s.both(fasthttp.MethodGet, "/api/which_roles_can/{key}/{name}",
		s.listReader([]string{"key", "name"}, "result", "role", engine.ListWhichRolesCan, false))
}
