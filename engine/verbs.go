package engine

import "math/rand/v2"

// The in-process API: the original library's verbs, one to one, on a tenant
// named by its secret key. Writes here change memory only; a server makes
// them durable by appending the event to a store first and then calling
// [Engine.Apply], which is what these verbs call too.

// Write applies c to the tenant of key as its next event and returns the
// original API's answer. Invalid names are refused with an error.
func (e *Engine) Write(key string, c Change) (bool, error) {
	if err := ValidKey(key); err != nil {
		return false, err
	}
	ev := Event{Tenant: KeyID(key), ID: rand.Uint64(), Change: c}
	if err := ev.Validate(); err != nil {
		return false, err
	}
	ev.Time = e.now().UTC()
	t := e.tenantOrCreate(ev.Tenant)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.Refusal(&ev); err != nil {
		return false, err
	}
	ev.Seq = t.seq() + 1
	return e.apply(t, &ev)
}

// AddRole creates role; it answers false if the role already existed.
func (e *Engine) AddRole(key, role string) (bool, error) {
	return e.Write(key, Change{Op: OpAddRole, Role: role})
}

// DelRole deletes role with its grants and memberships; it answers false
// if there was no such role.
func (e *Engine) DelRole(key, role string) (bool, error) {
	return e.Write(key, Change{Op: OpDelRole, Role: role})
}

// AddPermission grants perm to role; it answers false if the role does not
// exist.
func (e *Engine) AddPermission(key, role, perm string) (bool, error) {
	return e.Write(key, Change{Op: OpAddPermission, Role: role, Permission: perm})
}

// DelPermission revokes perm from role; it answers true.
func (e *Engine) DelPermission(key, role, perm string) (bool, error) {
	return e.Write(key, Change{Op: OpDelPermission, Role: role, Permission: perm})
}

// AddMembership puts user in role; it answers false if the role does not
// exist.
func (e *Engine) AddMembership(key, user, role string) (bool, error) {
	return e.Write(key, Change{Op: OpAddMembership, User: user, Role: role})
}

// AddMembershipWindow puts user in role within window w (see window.go),
// replacing the window the membership had; a zero w makes it permanent.
// It answers false if the role does not exist.
func (e *Engine) AddMembershipWindow(key, user, role string, w Window) (bool, error) {
	return e.Write(key, MembershipChange(user, role, w))
}

// DelMembership takes user out of role; it answers true.
func (e *Engine) DelMembership(key, user, role string) (bool, error) {
	return e.Write(key, Change{Op: OpDelMembership, User: user, Role: role})
}

// AddInclusion makes role include included: role's members get every
// permission of included. It answers false if either role does not exist,
// and refuses an inclusion that would make a cycle with ErrCycle.
func (e *Engine) AddInclusion(key, role, included string) (bool, error) {
	return e.Write(key, Change{Op: OpAddInclusion, Role: role, Includes: included})
}

// DelInclusion removes role's inclusion of included; it answers true.
func (e *Engine) DelInclusion(key, role, included string) (bool, error) {
	return e.Write(key, Change{Op: OpDelInclusion, Role: role, Includes: included})
}

// DelUser takes user out of every role; it answers true.
func (e *Engine) DelUser(key, user string) (bool, error) {
	return e.Write(key, Change{Op: OpDelUser, User: user})
}

// HasInclusion reports whether role includes included directly.
func (e *Engine) HasInclusion(key, role, included string) bool {
	return e.TenantByKey(key).HasInclusion(role, included)
}

// UserHasPermission reports whether user has perm through any role. It does
// not allocate.
func (e *Engine) UserHasPermission(key, user, perm string) bool {
	return e.TenantByKey(key).UserHasPermission(user, perm)
}

// HasRole reports whether role exists.
func (e *Engine) HasRole(key, role string) bool { return e.TenantByKey(key).HasRole(role) }

// HasPermission reports whether role is granted perm.
func (e *Engine) HasPermission(key, role, perm string) bool {
	return e.TenantByKey(key).HasPermission(role, perm)
}

// HasMembership reports whether user is a member of role.
func (e *Engine) HasMembership(key, user, role string) bool {
	return e.TenantByKey(key).HasMembership(user, role)
}

// Roles lists every role, sorted.
func (e *Engine) Roles(key string) []string { return e.TenantByKey(key).Roles() }

// RolePermissions lists the permissions granted to role, sorted.
func (e *Engine) RolePermissions(key, role string) []string {
	return e.TenantByKey(key).RolePermissions(role)
}

// UserPermissions lists every permission user has, sorted, each once.
func (e *Engine) UserPermissions(key, user string) []string {
	return e.TenantByKey(key).UserPermissions(user)
}

// UserRoles lists the roles of user, sorted.
func (e *Engine) UserRoles(key, user string) []string { return e.TenantByKey(key).UserRoles(user) }

// RoleMembers lists the members of role, sorted.
func (e *Engine) RoleMembers(key, role string) []string {
	return e.TenantByKey(key).RoleMembers(role)
}

// WhichRolesCan lists the roles granted perm, sorted.
func (e *Engine) WhichRolesCan(key, perm string) []string {
	return e.TenantByKey(key).WhichRolesCan(perm)
}

// WhichUsersCan lists the users that have perm, sorted, each once.
func (e *Engine) WhichUsersCan(key, perm string) []string {
	return e.TenantByKey(key).WhichUsersCan(perm)
}
