package httpapi

import (
	"github.com/valyala/fasthttp"

	"auth/engine"
)

func (s *Server) registerMemberships() {
	const member = "/api/membership/{key}/{user}/{role}"
	names := []string{"key", "user", "role"}
	s.both(fasthttp.MethodPost, member, s.writer(member, names, func(p *params) engine.Change {
		return engine.Change{Op: engine.OpAddMembership, User: p.owned(1), Role: p.owned(2)}
	}))
	s.both(fasthttp.MethodDelete, member, s.writer(member, names, func(p *params) engine.Change {
		return engine.Change{Op: engine.OpDelMembership, User: p.owned(1), Role: p.owned(2)}
	}))
	s.both(fasthttp.MethodGet, member, s.boolReader(names, func(t *engine.Tenant, p *params) bool {
		return t.HasMembership(p.vals[1], p.vals[2])
	}))
	s.both(fasthttp.MethodGet, "/api/user_roles/{key}/{user}",
		s.listReader([]string{"key", "user"}, "result", "role", engine.ListUserRoles, true))
	s.both(fasthttp.MethodGet, "/api/members/{key}/{role}",
		s.listReader([]string{"key", "role"}, "result", "user", engine.ListRoleMembers, true))
}
