package engine

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"auth/internal/refmodel"
)

// The reference model is internal/refmodel: the original library's
// semantics written as plainly as possible, with maps of sets and no
// indices, free lists or caches. The engine must give the same answer as
// the model to every verb. modelTenant gives it the engine's types.

type modelTenant struct {
	*refmodel.Tenant
	seq uint64
}

func newModelTenant() *modelTenant { return &modelTenant{Tenant: refmodel.New()} }

type model struct {
	tenants map[TenantID]*modelTenant
	// now is the time windows are judged at (Unix seconds): the engine's
	// window clock reads it too.
	now int64
}

func newModel() *model { return &model{tenants: map[TenantID]*modelTenant{}, now: modelEpoch} }

// modelEpoch is the time windows are judged at in the model tests where
// time does not pass, and where it begins in those where it does.
const modelEpoch = 1700000000

// atModelEpoch is the window clock of an engine compared with a model in
// which time does not pass.
var atModelEpoch = WithWindowClock(func() time.Time { return time.Unix(modelEpoch, 0) })

// tenant returns id's tenant, creating it: the engine creates a tenant on
// its first valid write, even a no-op one.
func (m *model) tenant(id TenantID) *modelTenant {
	t, ok := m.tenants[id]
	if !ok {
		t = newModelTenant()
		m.tenants[id] = t
	}
	t.Now = m.now
	return t
}

// read returns id's tenant for reading; an unknown tenant reads as empty.
func (m *model) read(id TenantID) *modelTenant {
	if t, ok := m.tenants[id]; ok {
		t.Now = m.now
		return t
	}
	t := newModelTenant()
	t.Now = m.now
	return t
}

// refChange is c as the reference model takes it.
func refChange(c Change) refmodel.Change {
	k := c.KeyFields()
	return refmodel.Change{Op: c.Op.String(), Role: c.Role, Permission: c.Permission, User: c.User, Includes: c.Includes,
		KeyID: k.ID, KeyName: k.Name, Scope: k.Scope,
		StartsAt: FieldStartsAt.Of(&c), ExpiresAt: FieldExpiresAt.Of(&c)}
}

// modelKeyIDs are the key ids the model test makes and revokes.
var modelKeyIDs = []string{"k_0000000000000001", "k_0000000000000002", "k_00000000000000ff"}

// drawKeyChange draws a key op: a key made (sometimes with a bad scope,
// or the first key's id, which are refused) or revoked.
func drawKeyChange(t *rapid.T) Change {
	id := rapid.SampledFrom(modelKeyIDs).Draw(t, "key id")
	if rapid.Bool().Draw(t, "revoke?") {
		return DelKeyChange(id)
	}
	if rapid.IntRange(0, 9).Draw(t, "first id?") == 0 {
		id = FirstKey
	}
	scope := rapid.SampledFrom([]string{"check", "read", "admin", "admin", "write"}).Draw(t, "scope")
	name := rapid.SampledFrom([]string{"billing", "ops", "ключ"}).Draw(t, "key name")
	return Change{Op: OpAddKey, Key: &KeyArgs{ID: id, Name: name, Scope: scope, Hash: KeyID(id).String()}}
}

// keysOf lists t's keys as the model does.
func keysOf(t *Tenant) []refmodel.Key {
	var out []refmodel.Key
	for _, k := range t.Keys() {
		out = append(out, refmodel.Key{ID: k.ID, Name: k.Name, Scope: k.Scope.String()})
	}
	return out
}

// change applies c and returns the original API's answer and whether the
// state changed.
func (t *modelTenant) change(c Change) (result, changed bool) {
	return t.Change(refChange(c))
}

// refuses reports whether the model refuses a valid event's change(s).
func (t *modelTenant) refuses(ev *Event) bool {
	if ev.Op.IsBatch() {
		return t.BatchRefused(refChanges(ev.Changes))
	}
	return t.Refuses(refChange(ev.Change))
}

// apply applies a valid event in order and returns its answer; a refused
// event changes nothing but the seq.
func (t *modelTenant) apply(ev *Event) (result, changed bool) {
	t.seq = ev.Seq
	if t.refuses(ev) {
		return false, false
	}
	if !ev.Op.IsBatch() {
		return t.change(ev.Change)
	}
	return t.Batch(refChanges(ev.Changes))
}

// refChanges is changes as the reference model takes them.
func refChanges(changes []Change) []refmodel.Change {
	out := make([]refmodel.Change, len(changes))
	for i, c := range changes {
		out[i] = refChange(c)
	}
	return out
}

// modelList is a list of the model: plain, and with role inclusions
// followed (nil: the plain one serves both).
type modelList struct {
	plain, effective func(t *refmodel.Tenant, arg string) []string
}

// modelLists are the model's lists by [List].
var modelLists = map[List]modelList{
	ListRoles:           {plain: func(t *refmodel.Tenant, _ string) []string { return t.Roles() }},
	ListInclusions:      {plain: (*refmodel.Tenant).Inclusions},
	ListUserPermissions: {plain: (*refmodel.Tenant).UserPermissions},
	ListWhichRolesCan:   {plain: (*refmodel.Tenant).WhichRolesCan},
	ListWhichUsersCan:   {plain: (*refmodel.Tenant).WhichUsersCan},
	ListRolePermissions: {(*refmodel.Tenant).RolePermissions, (*refmodel.Tenant).RolePermissionsEffective},
	ListRoleMembers:     {(*refmodel.Tenant).RoleMembers, (*refmodel.Tenant).RoleMembersEffective},
	ListUserRoles:       {(*refmodel.Tenant).UserRoles, (*refmodel.Tenant).UserRolesEffective},
}

// List is [Tenant.List] of the model.
func (t *modelTenant) List(l List, arg string, effective bool) []string {
	ml, ok := modelLists[l]
	if !ok {
		panic("model: list")
	}
	if effective && ml.effective != nil {
		return ml.effective(t.Tenant, arg)
	}
	return ml.plain(t.Tenant, arg)
}

// Why is [Tenant.Why] of the model.
func (t *modelTenant) Why(user, perm string) []Via {
	out := []Via{}
	for _, v := range t.Tenant.Why(user, perm) {
		out = append(out, Via{Role: v.Role, Path: v.Path})
	}
	return out
}

func (t *modelTenant) Stats() Stats {
	n := t.Counts()
	return Stats{Seq: t.seq, Users: n.Users, Roles: n.Roles, Permissions: n.Permissions, Memberships: n.Memberships}
}

// reader is every read of a tenant; *Tenant (nil included), the model and
// the engine's key-based verbs all provide it.
type reader interface {
	HasRole(role string) bool
	HasPermission(role, perm string) bool
	HasMembership(user, role string) bool
	UserHasPermission(user, perm string) bool
	Roles() []string
	RolePermissions(role string) []string
	RoleMembers(role string) []string
	UserRoles(user string) []string
	UserPermissions(user string) []string
	WhichRolesCan(perm string) []string
	WhichUsersCan(perm string) []string
	HasInclusion(role, included string) bool
	List(l List, arg string, effective bool) []string
	Why(user, perm string) []Via
	Stats() Stats
}

var (
	_ reader = (*Tenant)(nil)
	_ reader = (*modelTenant)(nil)
	_ reader = keyReader{}
)

// keyReader reads a tenant through the Engine's key-based verbs.
type keyReader struct {
	e   *Engine
	key string
}

func (k keyReader) HasRole(role string) bool { return k.e.HasRole(k.key, role) }
func (k keyReader) HasPermission(role, perm string) bool {
	return k.e.HasPermission(k.key, role, perm)
}
func (k keyReader) HasMembership(user, role string) bool {
	return k.e.HasMembership(k.key, user, role)
}
func (k keyReader) UserHasPermission(user, perm string) bool {
	return k.e.UserHasPermission(k.key, user, perm)
}
func (k keyReader) Roles() []string { return k.e.Roles(k.key) }
func (k keyReader) RolePermissions(role string) []string {
	return k.e.RolePermissions(k.key, role)
}
func (k keyReader) RoleMembers(role string) []string { return k.e.RoleMembers(k.key, role) }
func (k keyReader) UserRoles(user string) []string   { return k.e.UserRoles(k.key, user) }
func (k keyReader) UserPermissions(user string) []string {
	return k.e.UserPermissions(k.key, user)
}
func (k keyReader) WhichRolesCan(perm string) []string { return k.e.WhichRolesCan(k.key, perm) }
func (k keyReader) WhichUsersCan(perm string) []string { return k.e.WhichUsersCan(k.key, perm) }
func (k keyReader) HasInclusion(role, included string) bool {
	return k.e.HasInclusion(k.key, role, included)
}
func (k keyReader) List(l List, arg string, effective bool) []string {
	return k.e.TenantByKey(k.key).List(l, arg, effective)
}
func (k keyReader) Why(user, perm string) []Via { return k.e.TenantByKey(k.key).Why(user, perm) }
func (k keyReader) Stats() Stats {
	st := k.e.Tenant(KeyID(k.key)).Stats()
	if st.Seq != k.e.Seq(KeyID(k.key)) {
		panic("Engine.Seq disagrees with Tenant.Stats")
	}
	return st
}

// pools are the names a test draws from and queries.
type pools struct {
	roles, perms, users []string
	// grow makes deletions rare, so that state builds up: a permission
	// granted to many roles, users in many roles.
	grow bool
	// now, if set, is the time windows are drawn around.
	now *int64
}

// queried returns the names to query: the pool and a name that is never
// written (an unknown or invalid name must read as absent).
func queried(names []string) []string {
	return append(slices.Clone(names), "never-written", "bad\x00name", "")
}

// state is every read answer of a tenant over the names of p.
type state struct {
	Stats             Stats
	Roles             []string
	HasRole           map[string]bool
	HasPermission     map[[2]string]bool
	HasMembership     map[[2]string]bool
	UserHasPermission map[[2]string]bool
	RolePermissions   map[string][]string
	RoleMembers       map[string][]string
	UserRoles         map[string][]string
	UserPermissions   map[string][]string
	WhichRolesCan     map[string][]string
	WhichUsersCan     map[string][]string
	HasInclusion      map[[2]string]bool
	Effective         map[string][]string // by list and arg
	Why               map[[2]string][]Via
}

func readState(r reader, p pools) state {
	s := state{
		Stats:             r.Stats(),
		Roles:             r.Roles(),
		HasRole:           map[string]bool{},
		HasPermission:     map[[2]string]bool{},
		HasMembership:     map[[2]string]bool{},
		UserHasPermission: map[[2]string]bool{},
		RolePermissions:   map[string][]string{},
		RoleMembers:       map[string][]string{},
		UserRoles:         map[string][]string{},
		UserPermissions:   map[string][]string{},
		WhichRolesCan:     map[string][]string{},
		WhichUsersCan:     map[string][]string{},
		HasInclusion:      map[[2]string]bool{},
		Effective:         map[string][]string{},
		Why:               map[[2]string][]Via{},
	}
	roles, perms, users := queried(p.roles), queried(p.perms), queried(p.users)
	inclusions := false
	for _, role := range roles {
		for _, inc := range roles {
			s.HasInclusion[[2]string{role, inc}] = r.HasInclusion(role, inc)
			inclusions = inclusions || s.HasInclusion[[2]string{role, inc}]
		}
	}
	// The reads that follow inclusions, where there are some to follow
	// (without, they are the direct reads above and below, which readOp
	// compares one at a time).
	if inclusions {
		for _, role := range roles {
			for _, l := range []List{ListRolePermissions, ListRoleMembers, ListInclusions} {
				s.Effective[fmt.Sprint(l, " ", role)] = r.List(l, role, true)
			}
		}
		for _, user := range users {
			s.Effective[fmt.Sprint(ListUserRoles, " ", user)] = r.List(ListUserRoles, user, true)
			for _, perm := range perms {
				s.Why[[2]string{user, perm}] = r.Why(user, perm)
			}
		}
	}
	for _, role := range roles {
		s.HasRole[role] = r.HasRole(role)
		s.RolePermissions[role] = r.RolePermissions(role)
		s.RoleMembers[role] = r.RoleMembers(role)
		for _, perm := range perms {
			s.HasPermission[[2]string{role, perm}] = r.HasPermission(role, perm)
		}
		for _, user := range users {
			s.HasMembership[[2]string{user, role}] = r.HasMembership(user, role)
		}
	}
	for _, user := range users {
		s.UserRoles[user] = r.UserRoles(user)
		s.UserPermissions[user] = r.UserPermissions(user)
		for _, perm := range perms {
			s.UserHasPermission[[2]string{user, perm}] = r.UserHasPermission(user, perm)
		}
	}
	for _, perm := range perms {
		s.WhichRolesCan[perm] = r.WhichRolesCan(perm)
		s.WhichUsersCan[perm] = r.WhichUsersCan(perm)
	}
	return s
}

// fataler is what *testing.T and *rapid.T have in common.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkSame fails unless got and want answer every read over p alike. cmp
// tells an empty list from a nil one, so this also checks that lists are
// never nil.
func checkSame(t fataler, what string, got, want reader, p pools) {
	t.Helper()
	w, g := readState(want, p), readState(got, p)
	if reflect.DeepEqual(w, g) { // fast path; cmp explains a difference
		return
	}
	t.Fatalf("%s: state differs (-want +got):\n%s", what, cmp.Diff(w, g))
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// drawPools draws small name pools, so that names collide often. Roles,
// permissions and users share names on purpose: the kinds are separate
// namespaces. The 40-role pool lets a permission be granted to more than
// smallRoleSet roles and a user join more than inlineRoles roles. The long
// prefix makes names of inlineKey bytes and longer ones that share their
// first inlineKey bytes, which the name tables keep apart by the whole name.
func drawPools(t *rapid.T) pools {
	prefix := rapid.SampledFrom([]string{"n", strings.Repeat("n", inlineKey-1)}).Draw(t, "prefix")
	return pools{
		roles: names(prefix, rapid.SampledFrom([]int{1, 3, 6, 40}).Draw(t, "roles")),
		perms: names(prefix, rapid.SampledFrom([]int{1, 2, 5, 12}).Draw(t, "perms")),
		users: names(prefix, rapid.SampledFrom([]int{1, 3, 8, 12}).Draw(t, "users")),
		grow:  rapid.Bool().Draw(t, "grow"),
	}
}

// badNames are names every write must refuse.
var badNames = []string{"", "tab\tname", "del\x7f", "c1\u0085", "\xff\xfe", string(make([]byte, MaxNameLen+1))}

// drawName draws from pool, and rarely an invalid name.
func drawName(t *rapid.T, pool []string, label string) string {
	if rapid.IntRange(0, 39).Draw(t, label+"-bad?") == 0 {
		return rapid.SampledFrom(badNames).Draw(t, label)
	}
	return rapid.SampledFrom(pool).Draw(t, label)
}

// drawWindow draws a membership window near now: each bound absent or a
// few seconds from now, and sometimes not a window at all (no bound, or
// a start not before the end), which writes refuse.
func drawWindow(t *rapid.T, now int64) *WindowArgs {
	bound := func(label string) string {
		d := rapid.IntRange(-5, 8).Draw(t, label)
		if d == 8 {
			return ""
		}
		return FormatWindowTime(time.Unix(now+int64(d), 0))
	}
	return &WindowArgs{StartsAt: bound("starts"), ExpiresAt: bound("expires")}
}

// drawChange draws a change of a single op over p.
func drawChange(t *rapid.T, p pools) Change {
	// Weights: adds are likelier than deletes so that state builds up, but
	// role deletion (with its grants and members) stays frequent.
	ops := []Op{
		OpAddRole, OpAddRole, OpDelRole,
		OpAddPermission, OpAddPermission, OpAddPermission, OpDelPermission,
		OpAddMembership, OpAddMembership, OpAddMembership, OpDelMembership,
		OpAddInclusion, OpAddInclusion, OpDelInclusion, OpDelUser,
		OpAddMembershipWindow, OpAddMembershipWindow, OpAddMembershipWindow, OpAddMembershipWindow, OpSweepWindows,
	}
	if p.grow && rapid.IntRange(0, 29).Draw(t, "delete?") != 0 {
		ops = []Op{OpAddRole, OpAddPermission, OpAddPermission, OpAddMembership, OpAddMembership, OpAddInclusion, OpAddMembershipWindow}
	}
	op := rapid.SampledFrom(ops).Draw(t, "op")
	c := Change{Op: op}
	now := int64(modelEpoch)
	if p.now != nil {
		now = *p.now
	}
	if op == OpSweepWindows {
		return SweepChange(time.Unix(now+int64(rapid.IntRange(-6, 2).Draw(t, "cutoff")), 0))
	}
	if op == OpAddMembershipWindow {
		c.Window = drawWindow(t, now)
	}
	if op != OpDelUser {
		c.Role = drawName(t, p.roles, "role")
	}
	switch op {
	case OpAddPermission, OpDelPermission:
		c.Permission = drawName(t, p.perms, "perm")
	case OpAddMembership, OpDelMembership, OpDelUser, OpAddMembershipWindow:
		c.User = drawName(t, p.users, "user")
	case OpAddInclusion, OpDelInclusion:
		c.Includes = drawName(t, p.roles, "includes")
	}
	return c
}

// write calls the engine verb for c.
func write(e *Engine, key string, c Change) (bool, error) {
	switch c.Op {
	case OpAddRole:
		return e.AddRole(key, c.Role)
	case OpDelRole:
		return e.DelRole(key, c.Role)
	case OpAddPermission:
		return e.AddPermission(key, c.Role, c.Permission)
	case OpDelPermission:
		return e.DelPermission(key, c.Role, c.Permission)
	case OpAddMembership:
		return e.AddMembership(key, c.User, c.Role)
	case OpDelMembership:
		return e.DelMembership(key, c.User, c.Role)
	case OpAddKey, OpDelKey, OpDelTenant, OpAddMembershipWindow, OpSweepWindows:
		return e.Write(key, c)
	case OpAddInclusion:
		return e.AddInclusion(key, c.Role, c.Includes)
	case OpDelInclusion:
		return e.DelInclusion(key, c.Role, c.Includes)
	case OpDelUser:
		return e.DelUser(key, c.User)
	}
	panic("write: op")
}

// modelKeys are the tenants of the model test; they differ in length and
// alphabet, and one is never written to so that reads of an unknown tenant
// are exercised too (it is used for reads only).
var modelKeys = []string{"pleaSeDoN0tKillMyC_at", "k", "ключ/+ spaced key"}

func TestEngineMatchesModel(t *testing.T) { rapid.Check(t, engineMatchesModel) }

// TestEngineMatchesModelBuiltAside is TestEngineMatchesModel with every
// change built in a version of its own and published, as large ones are.
func TestEngineMatchesModelBuiltAside(t *testing.T) {
	defer func(n int) { inPlaceMax = n }(inPlaceMax)
	inPlaceMax = 0
	rapid.Check(t, engineMatchesModel)
}

func engineMatchesModel(t *rapid.T) {
	clock := time.Unix(1700000000, 0)
	m := newModel()
	e := New(WithClock(func() time.Time { clock = clock.Add(time.Millisecond); return clock }),
		WithWindowClock(func() time.Time { return time.Unix(m.now, 0) }))
	p := drawPools(t)
	p.now = &m.now
	keys := append(slices.Clone(modelKeys), "unwritten")
	writable := modelKeys
	readOp := func(t *rapid.T, key string) {
		r, mt := keyReader{e, key}, m.read(KeyID(key))
		role, perm, user := drawName(t, p.roles, "role"), drawName(t, p.perms, "perm"), drawName(t, p.users, "user")
		var got, want any
		kind := rapid.IntRange(0, 20).Draw(t, "read")
		switch kind {
		case 0:
			got, want = r.HasRole(role), mt.HasRole(role)
		case 1:
			got, want = r.HasPermission(role, perm), mt.HasPermission(role, perm)
		case 2:
			got, want = r.HasMembership(user, role), mt.HasMembership(user, role)
		case 3:
			got, want = r.UserHasPermission(user, perm), mt.UserHasPermission(user, perm)
		case 4:
			got, want = r.Roles(), mt.Roles()
		case 5:
			got, want = r.RolePermissions(role), mt.RolePermissions(role)
		case 6:
			got, want = r.RoleMembers(role), mt.RoleMembers(role)
		case 7:
			got, want = r.UserRoles(user), mt.UserRoles(user)
		case 8:
			got, want = r.UserPermissions(user), mt.UserPermissions(user)
		case 9:
			got, want = r.WhichRolesCan(perm), mt.WhichRolesCan(perm)
		case 10:
			got, want = r.WhichUsersCan(perm), mt.WhichUsersCan(perm)
		case 11:
			got, want = r.Stats(), mt.Stats()
		case 12:
			got, want = r.HasInclusion(role, perm), mt.HasInclusion(role, perm)
		case 13:
			l := rapid.SampledFrom([]List{ListRolePermissions, ListRoleMembers, ListInclusions}).Draw(t, "list")
			got, want = r.List(l, role, true), mt.List(l, role, true)
		case 14:
			got, want = r.Why(user, perm), mt.Why(user, perm)
		case 15:
			got, want = keysOf(e.Tenant(KeyID(key))), mt.Keys()
		case 16, 17, 18, 19:
			// A list as of another time: the state's windows, judged then.
			at := m.now + int64(rapid.IntRange(-6, 6).Draw(t, "at"))
			l := rapid.SampledFrom([]List{ListRoleMembers, ListUserRoles, ListUserPermissions, ListWhichUsersCan}).Draw(t, "list")
			arg := map[List]string{ListRoleMembers: role, ListUserRoles: user, ListUserPermissions: user, ListWhichUsersCan: perm}[l]
			effective := rapid.Bool().Draw(t, "effective")
			got = e.TenantByKey(key).ListAt(l, arg, effective, time.Unix(at, 0))
			mt.Now = at
			want = mt.List(l, arg, effective)
			mt.Now = m.now
		case 20:
			// The batch check, from one state and one reading of the clock.
			var checks []Check
			var answers []bool
			for range rapid.IntRange(0, 4).Draw(t, "checks") {
				c := Check{User: drawName(t, p.users, "user"), Permission: drawName(t, p.perms, "perm")}
				checks = append(checks, c)
				answers = append(answers, mt.UserHasPermission(c.User, c.Permission))
			}
			got, want = e.TenantByKey(key).CheckMany(checks, []bool{}), append([]bool{}, answers...)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("read %d (role %q perm %q user %q) on %q: (-model +engine):\n%s", kind, role, perm, user, key, diff)
		}
	}
	writeOp := func(t *rapid.T, key string, c Change) {
		id := KeyID(key)
		before := e.Tenant(id).Seq()
		valid := c.Validate() == nil && ValidKey(key) == nil
		var predicted, changes bool
		if valid {
			predicted, changes = e.Tenant(id).Answer(&c)
		}
		refused := valid && m.read(id).Refuses(refChange(c))
		if refusal := e.Tenant(id).Refusal(&Event{Change: c}); valid && (refusal != nil) != refused {
			t.Fatalf("%+v on %q: Refusal says %v, the model refuses: %v", c, key, refusal, refused)
		}
		got, err := write(e, key, c)
		if refused {
			want := ErrCycle
			if m.read(id).Deleted() {
				want = ErrTenantDeleted
			}
			if !errors.Is(err, ErrRefused) || !errors.Is(err, want) || got {
				t.Fatalf("%+v on %q: got (%v, %v), want %v", c, key, got, err, want)
			}
			if after := e.Tenant(id).Seq(); after != before {
				t.Fatalf("refused %+v moved seq %d -> %d", c, before, after)
			}
			return
		}
		if !valid {
			if !errors.Is(err, ErrInvalid) || got {
				t.Fatalf("%+v on %q: got (%v, %v), want an ErrInvalid error", c, key, got, err)
			}
			if after := e.Tenant(id).Seq(); after != before {
				t.Fatalf("refused %+v moved seq %d -> %d", c, before, after)
			}
			return
		}
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		mt := m.tenant(id)
		mt.seq++
		want, changed := mt.change(c)
		if got != want {
			t.Fatalf("%+v on %q: engine answered %v, model %v", c, key, got, want)
		}
		if predicted != want || changes != changed {
			t.Fatalf("%+v on %q: Answer predicted (%v, changes %v), model (%v, changes %v)", c, key, predicted, changes, want, changed)
		}
		if seq := e.Tenant(id).Seq(); seq != mt.seq {
			t.Fatalf("seq %d, want %d", seq, mt.seq)
		}
	}

	steps := rapid.IntRange(200, 600).Draw(t, "steps")
	for step := range steps {
		key := rapid.SampledFrom(writable).Draw(t, "key")
		switch rapid.IntRange(0, 49).Draw(t, "action") {
		case 5:
			// The tenant deleted, late in the run (a deleted tenant
			// refuses every later write, which the steps after check):
			// nothing of it answers any more.
			if step < steps*3/4 {
				writeOp(t, key, drawChange(t, p))
				break
			}
			writeOp(t, key, Change{Op: OpDelTenant})
		case 0, 1:
			// Bulk: one name against every role of the pool, so that a
			// permission gets granted to many roles (past smallRoleSet),
			// a user joins many roles (past inlineRoles), or many roles
			// come or go at once.
			op := rapid.SampledFrom([]Op{OpAddRole, OpDelRole, OpAddPermission, OpDelPermission, OpAddMembership, OpDelMembership, OpAddInclusion, OpDelInclusion, OpAddMembershipWindow}).Draw(t, "bulk op")
			window := drawWindow(t, m.now)
			perm, user := rapid.SampledFrom(p.perms).Draw(t, "perm"), rapid.SampledFrom(p.users).Draw(t, "user")
			inc := rapid.SampledFrom(p.roles).Draw(t, "includes")
			for _, role := range p.roles {
				c := Change{Op: op, Role: role}
				switch op {
				case OpAddPermission, OpDelPermission:
					c.Permission = perm
				case OpAddMembership, OpDelMembership:
					c.User = user
				case OpAddMembershipWindow:
					c.User, c.Window = user, window
				case OpAddInclusion, OpDelInclusion:
					// Every role includes one (a role many include), or one
					// includes every role, or a chain.
					switch rapid.IntRange(0, 2).Draw(t, "shape") {
					case 0:
						c.Includes = inc
					case 1:
						c.Role, c.Includes = inc, role
					default:
						c.Includes = p.roles[(slices.Index(p.roles, role)+1)%len(p.roles)]
					}
				}
				writeOp(t, key, c)
			}
		case 2:
			// A refused write: a bad key.
			key = rapid.SampledFrom([]string{"", "key\n", string(make([]byte, MaxKeyLen+1))}).Draw(t, "bad key")
			writeOp(t, key, drawChange(t, p))
		case 6, 7:
			// Time passes: windows open and close between operations.
			m.now += int64(rapid.IntRange(1, 4).Draw(t, "seconds"))
		case 3, 4:
			// The tenant's keys: made, refused, revoked, between the
			// changes of its facts (compact and in tables, built aside
			// or in place).
			writeOp(t, key, drawKeyChange(t))
		default:
			if rapid.IntRange(0, 2).Draw(t, "read?") == 0 {
				readOp(t, rapid.SampledFrom(keys).Draw(t, "key"))
			} else {
				writeOp(t, key, drawChange(t, p))
			}
		}
		if rapid.IntRange(0, 19).Draw(t, "full check?") == 0 {
			key := rapid.SampledFrom(keys).Draw(t, "key")
			checkSame(t, "key "+key, keyReader{e, key}, m.read(KeyID(key)), p)
		}
	}
	for _, key := range keys {
		checkSame(t, "end, key "+key, keyReader{e, key}, m.read(KeyID(key)), p)
		checkSame(t, "end, tenant of "+key, e.Tenant(KeyID(key)), m.read(KeyID(key)), p)
	}
	if got, want := e.TenantCount(), len(m.tenants); got != want {
		t.Fatalf("TenantCount %d, want %d", got, want)
	}
}

// TestAnswerOfNilTenant checks Answer's predictions for a tenant that does
// not exist yet against what applying the change to a new tenant answers.
func TestAnswerOfNilTenant(t *testing.T) {
	changes := []Change{
		{Op: OpAddRole, Role: "r"},
		{Op: OpDelRole, Role: "r"},
		{Op: OpAddPermission, Role: "r", Permission: "p"},
		{Op: OpDelPermission, Role: "r", Permission: "p"},
		{Op: OpAddMembership, Role: "r", User: "u"},
		{Op: OpDelMembership, Role: "r", User: "u"},
	}
	batches := []Event{
		{Change: Change{Op: OpBatch}},
		{Change: Change{Op: OpBatch}, Changes: changes[:1]},
		{Change: Change{Op: OpBatch}, Changes: changes[1:2]},
		{Change: Change{Op: OpBatch}, Changes: changes},
	}
	var evs []Event
	for _, c := range changes {
		evs = append(evs, Event{Change: c})
	}
	evs = append(evs, batches...)
	for _, ev := range evs {
		var nilTenant *Tenant
		result, changes := nilTenant.Answer(&ev.Change)
		e := New()
		ev.Tenant, ev.Seq = KeyID("k"), 1
		got, err := e.Apply(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if result != got {
			t.Errorf("%v: nil tenant's Answer predicts %v, applying answers %v", ev.Op, result, got)
		}
		changed := e.Tenant(ev.Tenant).Stats().Roles > 0
		if changed && !changes {
			t.Errorf("%v (%d changes): nil tenant's Answer says no change, but applying changed the state", ev.Op, len(ev.Changes))
		}
		// An existing but empty tenant must predict the same.
		r2, c2 := newTenant(ev.Tenant, nil).Answer(&ev.Change)
		if r2 != result || c2 != changes {
			t.Errorf("%v: empty tenant answers (%v, %v), nil tenant (%v, %v)", ev.Op, r2, c2, result, changes)
		}
	}
}

// TestWriteRefusesInvalid checks that the verbs refuse bad keys and names
// without creating the tenant.
func TestWriteRefusesInvalid(t *testing.T) {
	e := New()
	for _, key := range []string{"", "k\x00", string(make([]byte, MaxKeyLen+1))} {
		if ok, err := e.AddRole(key, "r"); ok || err == nil {
			t.Errorf("AddRole with key %q: (%v, %v), want an error", key, ok, err)
		}
	}
	for _, name := range badNames {
		for _, c := range []Change{
			{Op: OpAddRole, Role: name},
			{Op: OpAddPermission, Role: "r", Permission: name},
			{Op: OpAddMembership, Role: "r", User: name},
			{Op: OpDelMembership, Role: name, User: "u"},
		} {
			if ok, err := e.Write("k", c); ok || err == nil {
				t.Errorf("%+v: (%v, %v), want an error", c, ok, err)
			}
		}
	}
	if ok, err := e.Write("k", Change{Op: OpAddRole, Role: "r", User: "u"}); ok || err == nil {
		t.Errorf("AddRole carrying a user: (%v, %v), want an error", ok, err)
	}
	if ok, err := e.Write("k", Change{Op: 0, Role: "r"}); !errors.Is(err, ErrBadOp) || ok {
		t.Errorf("op 0: (%v, %v), want ErrBadOp", ok, err)
	}
	if n := e.TenantCount(); n != 0 {
		t.Errorf("refused writes created %d tenants", n)
	}
}
