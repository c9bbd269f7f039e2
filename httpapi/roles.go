package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

func (s *Server) registerRoles() {
	const role = "/api/role/{key}/{role}"
	names := []string{"key", "role"}
	s.both(fasthttp.MethodPost, role, s.writer(role, names, func(p *params) engine.Change {
		return engine.Change{Op: engine.OpAddRole, Role: p.owned(1)}
	}))
	s.both(fasthttp.MethodDelete, role, s.writer(role, names, func(p *params) engine.Change {
		return engine.Change{Op: engine.OpDelRole, Role: p.owned(1)}
	}))
	s.both(fasthttp.MethodGet, role, s.boolReader(names, func(t *engine.Tenant, p *params) bool {
		return t.HasRole(p.vals[1])
	}))
	s.both(fasthttp.MethodGet, "/api/roles/{key}", s.rolesReader(s.listReader([]string{"key"}, "result", "role", engine.ListRoles, false)))
	s.registerConsoleReads()
}
