package bus_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"auth/engine"
	"auth/internal/refmodel"
	"auth/persist"
)

// The test universe: few names, so that concurrent writes collide often.
var (
	uRoles = []string{"r0", "r1", "r2", "r3"}
	uPerms = []string{"p0", "p1", "p2", "p3"}
	uUsers = []string{"u0", "u1", "u2", "u3", "u4"}
)

// model is the naive reference model (internal/refmodel) of one tenant.
type model = refmodel.Tenant

func newModel() *model { return refmodel.New() }

// refChange is c as the reference model takes it.
func refChange(c engine.Change) refmodel.Change {
	return refmodel.Change{Op: c.Op.String(), Role: c.Role, Permission: c.Permission, User: c.User, Includes: c.Includes}
}

func refChanges(cs []engine.Change) []refmodel.Change {
	out := make([]refmodel.Change, len(cs))
	for i, c := range cs {
		out[i] = refChange(c)
	}
	return out
}

// refuses reports whether m refuses ev (an inclusion that would make a
// cycle, or a batch with one): applied, it changes nothing.
func refuses(m *model, ev *engine.Event) bool {
	if ev.Op == engine.OpBatch {
		return m.BatchRefused(refChanges(ev.Changes))
	}
	return m.Refuses(refChange(ev.Change))
}

// applyEvent applies ev to m and returns its answer, and whether it was
// refused.
func applyEvent(m *model, ev *engine.Event) (result, refused bool) {
	if refuses(m, ev) {
		return false, true
	}
	if ev.Op == engine.OpBatch {
		result, _ := m.Batch(refChanges(ev.Changes))
		return result, false
	}
	result, _ = m.Change(refChange(ev.Change))
	return result, false
}

// noop answers c on m without an event, as a writer does for a change that
// would change nothing: ok is false when c would change something.
func noop(m *model, c engine.Change) (result, ok bool) {
	result, changed := m.Clone().Change(refChange(c))
	return result, !changed
}

// compareTenant compares a replica's tenant with the model by every check,
// membership and list query of the API; "" means equal.
func compareTenant(t *engine.Tenant, m *model, wantSeq uint64) string {
	var b strings.Builder
	q := func(name string, got, want any) {
		if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
			fmt.Fprintf(&b, "%s = %s, want %s; ", name, g, w)
		}
	}
	q("seq", t.Seq(), wantSeq)
	q("roles", t.Roles(), m.Roles())
	for _, r := range uRoles {
		q("inclusions "+r, t.Inclusions(r), m.Inclusions(r))
		q("role_permissions effective "+r, t.List(engine.ListRolePermissions, r, true), m.RolePermissionsEffective(r))
		q("role_members effective "+r, t.List(engine.ListRoleMembers, r, true), m.RoleMembersEffective(r))
		for _, i := range uRoles {
			q("has_inclusion "+r+" "+i, t.HasInclusion(r, i), m.HasInclusion(r, i))
		}
		q("has_role "+r, t.HasRole(r), m.HasRole(r))
		q("role_permissions "+r, t.RolePermissions(r), m.RolePermissions(r))
		q("role_members "+r, t.RoleMembers(r), m.RoleMembers(r))
		for _, p := range uPerms {
			q("has_permission "+r+" "+p, t.HasPermission(r, p), m.HasPermission(r, p))
		}
		for _, u := range uUsers {
			q("has_membership "+u+" "+r, t.HasMembership(u, r), m.HasMembership(u, r))
		}
	}
	for _, u := range uUsers {
		q("user_roles "+u, t.UserRoles(u), m.UserRoles(u))
		q("user_permissions "+u, t.UserPermissions(u), m.UserPermissions(u))
		q("user_roles effective "+u, t.List(engine.ListUserRoles, u, true), m.UserRolesEffective(u))
		for _, p := range uPerms {
			q("user_has_permission "+u+" "+p, t.UserHasPermission(u, p), m.UserHasPermission(u, p))
			q("why "+u+" "+p, t.Why(u, p), m.Why(u, p))
		}
	}
	for _, p := range uPerms {
		q("which_roles_can "+p, t.WhichRolesCan(p), m.WhichRolesCan(p))
		q("which_users_can "+p, t.WhichUsersCan(p), m.WhichUsersCan(p))
	}
	return b.String()
}

// changeOdds are the ops randomChange draws and their odds, out of 25.
var changeOdds = []struct {
	op   engine.Op
	odds int
}{
	{engine.OpAddRole, 4}, {engine.OpDelRole, 2},
	{engine.OpAddPermission, 4}, {engine.OpDelPermission, 2},
	{engine.OpAddMembership, 5}, {engine.OpDelMembership, 2},
	{engine.OpAddInclusion, 3}, {engine.OpDelInclusion, 2},
	{engine.OpDelUser, 1},
}

// randomChange returns a change of any kind over the test universe.
func randomChange(rng *rand.Rand) engine.Change {
	names := map[engine.Field]string{
		engine.FieldRole:       uRoles[rng.IntN(len(uRoles))],
		engine.FieldPermission: uPerms[rng.IntN(len(uPerms))],
		engine.FieldUser:       uUsers[rng.IntN(len(uUsers))],
		engine.FieldIncludes:   uRoles[rng.IntN(len(uRoles))],
	}
	n := rng.IntN(25)
	for _, o := range changeOdds {
		if n >= o.odds {
			n -= o.odds
			continue
		}
		c := engine.Change{Op: o.op}
		for _, f := range o.op.Needs().Fields() {
			*f.In(&c) = names[f]
		}
		return c
	}
	panic("changeOdds do not add up to 25")
}

// ack is one acknowledged write: what was asked, what it answered and the
// seq it returned.
type ack struct {
	key    string
	batch  []engine.Change // for a batch write; else change
	change engine.Change
	result bool
	seq    uint64
	// refused: the write was refused (engine.ErrRefused) at seq: its
	// event there changed nothing, or none was written.
	refused bool
}

// ackLog collects acknowledged writes from many goroutines.
type ackLog struct {
	mu   sync.Mutex
	acks []ack
}

func (l *ackLog) add(a ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
}

func (l *ackLog) all() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks)
}

// noopWindow is how far below its returned seq the state that answered a
// no-op write may be: the writer reads the answer and then the seq, and
// events may be applied in between.
const noopWindow = 64

// buildModels reads every tenant's log from the store, folds it into the
// reference model in seq order, and checks every acknowledged write
// against it: a write that made an event is the event at its seq, with the
// answer the model gives there; a write that made none is answered as the
// state at (or just below) its seq answers it. It returns each key's final
// model and head.
func buildModels(t *testing.T, store persist.Store, keys []string, acks []ack) (map[string]*model, map[string]uint64) {
	t.Helper()
	models := map[string]*model{}
	heads := map[string]uint64{}
	byKey := map[string][]ack{}
	for _, a := range acks {
		byKey[a.key] = append(byKey[a.key], a)
	}
	for _, key := range keys {
		id := engine.KeyID(key)
		evs, err := store.Events(context.Background(), id, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		states := []*model{newModel()}
		answers, refusedAt := []bool{false}, []bool{false}
		for i := range evs {
			if evs[i].Seq != uint64(i+1) {
				t.Fatalf("tenant %s: event %d has seq %d", id, i+1, evs[i].Seq)
			}
			m := states[i].Clone()
			result, refused := applyEvent(m, &evs[i])
			answers = append(answers, result)
			refusedAt = append(refusedAt, refused)
			states = append(states, m)
		}
		head := uint64(len(evs))
		bad := 0
		for _, a := range byKey[key] {
			if a.seq > head {
				t.Errorf("tenant %s: acknowledged write at seq %d, store head is %d", id, a.seq, head)
				continue
			}
			var own bool // the event at the write's seq is the write's
			if a.seq > 0 {
				if ev := &evs[a.seq-1]; a.batch != nil {
					own = ev.Op == engine.OpBatch && slices.Equal(ev.Changes, a.batch)
				} else {
					own = ev.Op != engine.OpBatch && ev.Change == a.change
				}
			}
			if a.refused {
				// Refused where its event is, or by a state at (or just
				// below) its seq, where none was written.
				ev := engine.Event{Change: a.change, Changes: a.batch}
				if a.batch != nil {
					ev.Op = engine.OpBatch
				}
				ok := own && refusedAt[a.seq]
				for s := int(a.seq); s >= 0 && s >= int(a.seq)-noopWindow && !ok; s-- {
					ok = refuses(states[s], &ev)
				}
				if !ok {
					t.Errorf("tenant %s: %v %v refused at seq %d, which does not refuse it", id, a.change, a.batch, a.seq)
				}
				continue
			}
			if a.batch != nil {
				if !own || !a.result || refusedAt[a.seq] {
					t.Errorf("tenant %s: acknowledged batch at seq %d is not in the log", id, a.seq)
				}
				continue
			}
			if own && answers[a.seq] == a.result && !refusedAt[a.seq] {
				continue // the write's own event
			}
			ok := false
			for s := int(a.seq); s >= 0 && s >= int(a.seq)-noopWindow && !ok; s-- {
				r, isNoop := noop(states[s], a.change)
				ok = isNoop && r == a.result && !states[s].Refuses(refChange(a.change))
			}
			if !ok {
				bad++
				if bad <= 5 {
					t.Errorf("tenant %s: acknowledged %v (answer %v, seq %d) matches neither the event at its seq nor a no-op there", id, a.change, a.result, a.seq)
				}
			}
		}
		models[key] = states[len(states)-1]
		heads[key] = head
	}
	return models, heads
}
