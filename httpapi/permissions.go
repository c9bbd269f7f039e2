package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

func (s *Server) registerPermissions() {
	const perm = "/api/permission/{key}/{role}/{name}"
	names := []string{"key", "role", "name"}
	s.both(fasthttp.MethodPost, perm, s.writer(perm, names, func(p *params) engine.Change {
		return engine.Change{Op: engine.OpAddPermission, Role: p.owned(1), Permission: p.owned(2)}
	}))
	s.both(fasthttp.MethodDelete, perm, s.writer(perm, names, func(p *params) engine.Change {
		return engine.Change{Op: engine.OpDelPermission, Role: p.owned(1), Permission: p.owned(2)}
	}))
	s.both(fasthttp.MethodGet, perm, s.boolReader(names, func(t *engine.Tenant, p *params) bool {
		return t.HasPermission(p.vals[1], p.vals[2])
	}))
	s.both(fasthttp.MethodGet, "/api/role_permissions/{key}/{role}",
		s.listReader([]string{"key", "role"}, "results", "name", engine.ListRolePermissions, true))
	s.both(fasthttp.MethodGet, "/api/which_roles_can/{key}/{name}",
		s.listReader([]string{"key", "name"}, "result", "role", engine.ListWhichRolesCan, false))
}
