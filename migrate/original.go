package migrate

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/engine"
)

// original answers the original's reads from its documents, written after
// its code (auth/CAS/authorization.py) rather than after Plan, so that the
// verification compares the server with an independent account of what
// the original answered:
//
//	has_permission(role, name):  group = AuthGroup(role, creator=key).first();
//	                             AuthPermission(groups=group, name, creator=key) exists
//	user_has_permission(user, name): AuthMembership(creator=key, user).first();
//	                             any of its groups: has_permission(group.role, name)
//	get_permissions(role):       AuthPermission(groups=group, creator=key): names
//	get_role_members(role):      AuthMembership(groups in AuthGroup(creator=key, role)): users
//	roles:                       AuthGroup(creator=key): roles
//
// With the migration's rules on top: a reference to a missing group, or
// to another key's, reaches nothing; names the server refuses are absent
// (with SkipInvalid; otherwise the tenant is not imported); and with
// RestoreHiddenGrants, has_permission and get_permissions drop the
// creator=key condition on the permission document.
type original struct {
	restore bool
	groups  map[bson.ObjectID]*Group
	// first is AuthGroup.objects(role=, creator=).first(): the lowest _id.
	first map[roleOf]bson.ObjectID
	// byRole is every group document of a (creator, role).
	byRole map[roleOf][]bson.ObjectID
	// firstM is AuthMembership.objects(creator=, user=).first().
	firstM map[roleOf]*Membership
	// usersOf is the users whose first document lists a group.
	usersOf map[bson.ObjectID][]string
	// permsOf is the permission documents listing a group.
	permsOf map[bson.ObjectID][]*Permission
	// roleNames is AuthGroup.objects(creator=): each role once, sorted.
	roleNames map[int32][]string
	// users and perms are the names a creator's checks are drawn from.
	users map[int32][]string
	perms map[int32][]string
}

func valid(name string) bool { return engine.ValidName(name) == nil }

func newOriginal(src *Source, restore bool) *original {
	o := &original{
		restore: restore,
		groups:  map[bson.ObjectID]*Group{},
		first:   map[roleOf]bson.ObjectID{},
		byRole:  map[roleOf][]bson.ObjectID{},
		firstM:  map[roleOf]*Membership{},
		usersOf: map[bson.ObjectID][]string{},
		permsOf: map[bson.ObjectID][]*Permission{},
		users:   map[int32][]string{},
		perms:   map[int32][]string{},

		roleNames: map[int32][]string{},
	}
	for i := range src.Groups {
		g := &src.Groups[i]
		if !valid(g.Role) {
			continue
		}
		o.groups[g.ID] = g
		k := roleOf{g.Creator, g.Role}
		if len(o.byRole[k]) == 0 {
			o.roleNames[g.Creator] = append(o.roleNames[g.Creator], g.Role)
		}
		o.byRole[k] = append(o.byRole[k], g.ID)
		if f, ok := o.first[k]; !ok || idLess(g.ID, f) {
			o.first[k] = g.ID
		}
	}
	for i := range src.Memberships {
		m := &src.Memberships[i]
		if !valid(m.User) {
			continue
		}
		k := roleOf{m.Creator, m.User}
		if f := o.firstM[k]; f == nil || idLess(m.ID, f.ID) {
			o.firstM[k] = m
		}
	}
	for k, m := range o.firstM {
		o.users[k.creator] = append(o.users[k.creator], k.name)
		for _, ref := range m.Groups {
			if g := o.groups[ref]; g != nil && g.Creator == m.Creator {
				o.usersOf[ref] = append(o.usersOf[ref], m.User)
			}
		}
	}
	seen := map[roleOf]bool{}
	for i := range src.Permissions {
		p := &src.Permissions[i]
		if !valid(p.Name) {
			continue
		}
		for _, ref := range p.Groups {
			g := o.groups[ref]
			if g == nil {
				continue
			}
			o.permsOf[ref] = append(o.permsOf[ref], p)
			for _, c := range []int32{p.Creator, g.Creator} {
				if k := (roleOf{c, p.Name}); !seen[k] {
					seen[k] = true
					o.perms[c] = append(o.perms[c], p.Name)
				}
			}
		}
	}
	for _, l := range o.roleNames {
		slices.Sort(l)
	}
	for _, l := range o.users {
		slices.Sort(l)
	}
	for _, l := range o.perms {
		slices.Sort(l)
	}
	return o
}

// counts reports whether p's grant of a group counts for key c.
func (o *original) counts(c int32, p *Permission) bool { return o.restore || p.Creator == c }

func (o *original) hasPermission(c int32, role, name string) bool {
	g, ok := o.first[roleOf{c, role}]
	if !ok {
		return false
	}
	for _, p := range o.permsOf[g] {
		if p.Name == name && o.counts(c, p) {
			return true
		}
	}
	return false
}

func (o *original) userHasPermission(c int32, user, name string) bool {
	m := o.firstM[roleOf{c, user}]
	if m == nil {
		return false
	}
	for _, ref := range m.Groups {
		if g := o.groups[ref]; g != nil && g.Creator == c && o.hasPermission(c, g.Role, name) {
			return true
		}
	}
	return false
}

func (o *original) roles(c int32) []string { return o.roleNames[c] }

func (o *original) rolePermissions(c int32, role string) []string {
	var out []string
	if g, ok := o.first[roleOf{c, role}]; ok {
		for _, p := range o.permsOf[g] {
			if o.counts(c, p) {
				out = append(out, p.Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (o *original) roleMembers(c int32, role string) []string {
	var out []string
	for _, g := range o.byRole[roleOf{c, role}] {
		out = append(out, o.usersOf[g]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
