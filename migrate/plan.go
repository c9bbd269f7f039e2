package migrate

import (
	"bytes"
	"cmp"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/client"
	"auth/engine"
)

// Options choose what a plan does with what the original's data holds
// beyond what it answered.
type Options struct {
	// SkipInvalid drops the facts that hold a name the server refuses,
	// rather than the whole tenant.
	SkipInvalid bool
	// RestoreHiddenGrants imports the grants the original's bug hid, to
	// the group's creator.
	RestoreHiddenGrants bool
}

// Tenant is one creator's share of the source: what is imported as its
// tenant, and what was found on the way.
type Tenant struct {
	// Key is the tenant's key; it prints as its fingerprint.
	Key Key `json:"-"`
	// Name is the key's fingerprint, unique within the migration: 8 hex
	// digits, more where two keys share them.
	Name string `json:"tenant"`

	// Roles, Grants and Memberships count what is imported.
	Roles       int `json:"roles"`
	Grants      int `json:"grants"`
	Memberships int `json:"memberships"`

	Problems

	// Refused says why nothing of the tenant is imported (its key, or
	// names the server refuses without SkipInvalid); "" if it is.
	Refused string `json:"refused,omitempty"`

	// facts is what is imported, in the order an export lists them.
	facts []client.Fact
	// creator is the key's index in the Source.
	creator int32
}

// Problems is what the original's data holds that is not imported as it
// is. None of it changes an answer the original gave, except hidden grants
// restored on request and facts holding invalid names.
type Problems struct {
	// DanglingRefs counts references to groups that no longer exist (the
	// original's role delete does not cascade), or that are no reference:
	// skipped.
	DanglingRefs int `json:"dangling_refs,omitempty"`
	// DuplicateRefs counts references listed twice in one document:
	// collapsed.
	DuplicateRefs int `json:"duplicate_refs,omitempty"`
	// ForeignRefs counts a user's references to another key's group,
	// which the original's add_membership never writes: skipped.
	ForeignRefs int `json:"foreign_refs,omitempty"`
	// DuplicateDocs counts second documents of one role or one user of a
	// key, which the original's unique indexes forbid: the original reads
	// the first (lowest _id) only, and so does the migration, except that
	// memberships in a second document of a role count, as the original's
	// has_membership matched roles by name.
	DuplicateDocs int `json:"duplicate_docs,omitempty"`
	// Malformed counts documents skipped because the original could not
	// have written them (a field missing or of another type).
	Malformed int `json:"malformed,omitempty"`
	// HiddenGrants are the grants of the tenant's roles that sit in a
	// permission document another key last wrote: the original answered
	// false for them. Imported only with RestoreHiddenGrants.
	HiddenGrants []Grant `json:"hidden_grants,omitempty"`
	// Restored says the hidden grants are imported.
	Restored bool `json:"restored,omitempty"`
	// Invalid are the names the server refuses, each once.
	Invalid []InvalidName `json:"invalid,omitempty"`
}

// Grant is a permission granted to a role.
type Grant struct {
	Role       string `json:"role"`
	Permission string `json:"permission"`
}

// InvalidName is a name the server refuses, and why.
type InvalidName struct {
	Kind   string `json:"kind"` // "role", "user" or "permission"
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Facts returns what is imported, in the order an export lists them.
func (t *Tenant) Facts() []client.Fact { return t.facts }

// builder gathers one tenant's facts.
type builder struct {
	t       *Tenant
	roles   map[string]bool
	grants  map[Grant]bool
	members map[[2]string]bool // role, user
	hidden  map[Grant]bool
	invalid map[[2]string]string
}

// Plan works out, from the original's data, what each tenant holds: the
// facts the original answered, with the package documentation's rules.
// Tenants come sorted by name.
func Plan(src *Source, opts Options) []*Tenant {
	bs := make([]*builder, len(src.Keys))
	for i, k := range src.Keys {
		bs[i] = &builder{
			t:     &Tenant{Key: k, creator: int32(i)},
			roles: map[string]bool{}, grants: map[Grant]bool{}, members: map[[2]string]bool{},
			hidden: map[Grant]bool{}, invalid: map[[2]string]string{},
		}
		bs[i].t.Malformed = src.malformedBy[int32(i)]
	}

	// Groups: the original reads a key's role by name with first(), and
	// its unique index allows one document per (creator, role); should
	// there be more, the first (lowest _id, the order MongoDB returns
	// them in without a sort) is the role's.
	groups := make(map[bson.ObjectID]*Group, len(src.Groups))
	first := map[roleOf]*Group{}
	for i := range src.Groups {
		g := &src.Groups[i]
		groups[g.ID] = g
		k := roleOf{g.Creator, g.Role}
		if f, ok := first[k]; !ok || idLess(g.ID, f.ID) {
			if ok {
				bs[g.Creator].t.DuplicateDocs++
			}
			first[k] = g
		} else {
			bs[g.Creator].t.DuplicateDocs++
		}
		bs[g.Creator].roles[g.Role] = true
	}

	// Memberships: one document per (creator, user), the first if more.
	firstM := map[roleOf]*Membership{}
	for i := range src.Memberships {
		m := &src.Memberships[i]
		k := roleOf{m.Creator, m.User}
		if f, ok := firstM[k]; !ok || idLess(m.ID, f.ID) {
			firstM[k] = m
		}
	}
	for i := range src.Memberships {
		m := &src.Memberships[i]
		b := bs[m.Creator]
		if firstM[roleOf{m.Creator, m.User}] != m {
			b.t.DuplicateDocs++
			continue
		}
		b.refs(groups, m.Groups, m.BadRefs, func(g *Group) {
			if g.Creator != m.Creator {
				b.t.ForeignRefs++
			} else {
				b.members[[2]string{g.Role, m.User}] = true
			}
		})
	}

	// Permissions: a grant counts where the original answered it: the
	// document's creator is the group's. The others are hidden grants of
	// the group's creator.
	type hiddenGrant struct {
		to int32
		g  Grant
	}
	var hidden []hiddenGrant
	for i := range src.Permissions {
		p := &src.Permissions[i]
		b := bs[p.Creator]
		b.refs(groups, p.Groups, p.BadRefs, func(g *Group) {
			switch {
			case first[roleOf{g.Creator, g.Role}] != g:
				// A grant to a second document of a role: the original
				// checked the first only. Counted with the document.
			case g.Creator == p.Creator:
				b.grants[Grant{g.Role, p.Name}] = true
			default:
				hidden = append(hidden, hiddenGrant{g.Creator, Grant{g.Role, p.Name}})
			}
		})
	}
	// A grant hidden in one document but answered through another is not
	// hidden.
	for _, h := range hidden {
		if b := bs[h.to]; !b.grants[h.g] {
			b.hidden[h.g] = true
		}
	}

	tenants := make([]*Tenant, len(bs))
	for i, b := range bs {
		b.finish(opts)
		tenants[i] = b.t
	}
	nameTenants(tenants)
	slices.SortFunc(tenants, func(a, b *Tenant) int { return cmp.Compare(a.Name, b.Name) })
	return tenants
}

// roleOf is a name of one creator: a role, or a user.
type roleOf struct {
	creator int32
	name    string
}

func idLess(a, b bson.ObjectID) bool { return bytes.Compare(a[:], b[:]) < 0 }

// finish validates the names and writes the facts.
// refs calls fn with each group a document's refs name, once each;
// bad (refs that did not decode), repeated refs and refs to no group are
// counted in b's tenant instead.
func (b *builder) refs(groups map[bson.ObjectID]*Group, refs []bson.ObjectID, bad int, fn func(g *Group)) {
	b.t.DanglingRefs += bad
	seen := make(map[bson.ObjectID]bool, len(refs))
	for _, ref := range refs {
		if seen[ref] {
			b.t.DuplicateRefs++
			continue
		}
		seen[ref] = true
		if g := groups[ref]; g != nil {
			fn(g)
		} else {
			b.t.DanglingRefs++
		}
	}
}

func (b *builder) finish(opts Options) {
	t := b.t
	for g := range b.hidden {
		t.HiddenGrants = append(t.HiddenGrants, g)
	}
	slices.SortFunc(t.HiddenGrants, compareGrants)
	if opts.RestoreHiddenGrants && len(t.HiddenGrants) > 0 {
		t.Restored = true
		for g := range b.hidden {
			b.grants[g] = true
		}
	}
	if why := t.Key.problem(); why != "" {
		t.Refused = why
		return
	}
	valid := func(kind, name string) bool {
		err := engine.ValidName(name)
		if err != nil {
			b.invalid[[2]string{kind, name}] = err.Error()
		}
		return err == nil
	}
	var roles []string
	for r := range b.roles {
		if valid("role", r) {
			roles = append(roles, r)
		}
	}
	perms := map[string][]string{}
	for g := range b.grants {
		if b.roles[g.Role] && valid("role", g.Role) && valid("permission", g.Permission) {
			perms[g.Role] = append(perms[g.Role], g.Permission)
		}
	}
	users := map[string][]string{}
	for m := range b.members {
		if valid("role", m[0]) && valid("user", m[1]) {
			users[m[0]] = append(users[m[0]], m[1])
		}
	}
	for k, reason := range b.invalid {
		t.Invalid = append(t.Invalid, InvalidName{Kind: k[0], Name: k[1], Reason: reason})
	}
	slices.SortFunc(t.Invalid, func(a, b InvalidName) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	if len(t.Invalid) > 0 && !opts.SkipInvalid {
		t.Refused = "names the server refuses"
		return
	}
	slices.Sort(roles)
	for _, r := range roles {
		t.facts = append(t.facts, client.Fact{Role: r})
	}
	for _, r := range roles {
		slices.Sort(perms[r])
		for _, p := range perms[r] {
			t.facts = append(t.facts, client.Fact{Role: r, Permission: p})
		}
		slices.Sort(users[r])
		for _, u := range users[r] {
			t.facts = append(t.facts, client.Fact{Role: r, User: u})
		}
		t.Grants += len(perms[r])
		t.Memberships += len(users[r])
	}
	t.Roles = len(roles)
}

func compareGrants(a, b Grant) int {
	return cmp.Or(cmp.Compare(a.Role, b.Role), cmp.Compare(a.Permission, b.Permission))
}

// nameTenants names each tenant by the shortest prefix of its id, from 8
// hex digits, that no other tenant of the migration shares.
func nameTenants(ts []*Tenant) {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.Key.id()
	}
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ids[a], ids[b]) })
	for j, i := range order {
		n := fingerprintLen
		for _, k := range []int{j - 1, j + 1} {
			if k >= 0 && k < len(order) {
				n = max(n, commonPrefix(ids[i], ids[order[k]])+1)
			}
		}
		ts[i].Name = ids[i][:min(n, len(ids[i]))]
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
