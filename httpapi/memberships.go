package httpapi

import "auth/engine"

func (s *Server) registerMemberships() {
	s.registerFact("/api/membership/{key}/{user}/{role}", []string{"key", "user", "role"}, engine.OpAddMembership, engine.OpDelMembership,
		func(op engine.Op, p *params) engine.Change {
			return engine.Change{Op: op, User: p.owned(1), Role: p.owned(2)}
		},
		func(t *engine.Tenant, p *params) bool { return t.HasMembership(p.vals[1], p.vals[2]) })
	s.registerList("/api/user_roles/{key}/{user}", "user", "result", "role", (*engine.Tenant).UserRoles, (*engine.Tenant).UserRolesPage)
	s.registerList("/api/members/{key}/{role}", "role", "result", "user", (*engine.Tenant).RoleMembers, (*engine.Tenant).RoleMembersPage)
}
