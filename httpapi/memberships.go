package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

func (s *Server) registerMemberships() {
	s.registerFact("/api/membership/{key}/{user}/{role}", []string{"key", "user", "role"}, engine.OpAddMembership, engine.OpDelMembership,
		func(op engine.Op, p *params) engine.Change {
			return engine.Change{Op: op, User: p.owned(1), Role: p.owned(2)}
		},
		func(t *engine.Tenant, p *params) bool { return t.HasMembership(p.vals[1], p.vals[2]) })
	s.both(fasthttp.MethodGet, "/api/user_roles/{key}/{user}",
		s.listReader([]string{"key", "user"}, "result", "role", engine.ListUserRoles, true))
	s.both(fasthttp.MethodGet, "/api/members/{key}/{role}",
		s.listReader([]string{"key", "role"}, "result", "user", engine.ListRoleMembers, true))
}
