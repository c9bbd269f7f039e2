package httpapi

import "auth/engine"

func (s *Server) registerPermissions() {
	s.registerFact("/api/permission/{key}/{role}/{name}", []string{"key", "role", "name"}, engine.OpAddPermission, engine.OpDelPermission,
		func(op engine.Op, p *params) engine.Change {
			return engine.Change{Op: op, Role: p.owned(1), Permission: p.owned(2)}
		},
		func(t *engine.Tenant, p *params) bool { return t.HasPermission(p.vals[1], p.vals[2]) })
	s.registerList("/api/role_permissions/{key}/{role}", "role", "results", "name", (*engine.Tenant).RolePermissions, (*engine.Tenant).RolePermissionsPage)
	s.registerList("/api/which_roles_can/{key}/{name}", "name", "result", "role", (*engine.Tenant).WhichRolesCan, (*engine.Tenant).WhichRolesCanPage)
}
