package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

func (s *Server) registerRoles() {
	s.registerFact("/api/role/{key}/{role}", []string{"key", "role"}, engine.OpAddRole, engine.OpDelRole,
		func(op engine.Op, p *params) engine.Change { return engine.Change{Op: op, Role: p.owned(1)} },
		func(t *engine.Tenant, p *params) bool { return t.HasRole(p.vals[1]) })
	s.both(fasthttp.MethodGet, "/api/roles/{key}", s.rolesReader(s.listReader([]string{"key"}, "result", "role", engine.ListRoles, false)))
	s.registerConsoleReads()
}
