package engine

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// These tests drive the engine with explicit events through Apply, as a
// replica does, and check that snapshots, restores and replays of the event
// log all reach the live engine's state.

var eventTenants = []TenantID{KeyID("tenant-a"), KeyID("tenant-b"), KeyID("tenant-c")}

// drawEvent draws the next event of one of eventTenants: usually a valid
// event at the tenant's next seq, sometimes a batch, sometimes out of order
// or malformed.
func drawEvent(t *rapid.T, live *Engine, p pools) *Event {
	id := rapid.SampledFrom(eventTenants).Draw(t, "tenant")
	ev := &Event{Tenant: id, Seq: live.Seq(id) + 1, ID: rapid.Uint64().Draw(t, "id")}
	if rapid.IntRange(0, 9).Draw(t, "zero time?") > 0 {
		// The binary form encodes the zero Time as 0 nanoseconds, so an
		// event stamped exactly at the Unix epoch would decode with no time;
		// no clock gives that stamp, so it is not drawn.
		nanos := rapid.Int64().Filter(func(n int64) bool { return n != 0 }).Draw(t, "nanos")
		ev.Time = time.Unix(0, nanos).UTC()
	}
	if rapid.IntRange(0, 5).Draw(t, "batch?") == 0 {
		ev.Op = OpBatch
		ev.Changes = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Change { return drawChange(t, p) }), 0, 6).Draw(t, "changes")
		if rapid.IntRange(0, 2).Draw(t, "bulk?") == 0 {
			// One name against every role, as in TestEngineMatchesModel.
			op := rapid.SampledFrom([]Op{OpAddRole, OpDelRole, OpAddPermission, OpAddMembership, OpDelMembership}).Draw(t, "bulk op")
			perm, user := rapid.SampledFrom(p.perms).Draw(t, "perm"), rapid.SampledFrom(p.users).Draw(t, "user")
			ev.Changes = nil
			for _, role := range p.roles {
				c := Change{Op: op, Role: role}
				switch op {
				case OpAddPermission:
					c.Permission = perm
				case OpAddMembership, OpDelMembership:
					c.User = user
				}
				ev.Changes = append(ev.Changes, c)
			}
		}
	} else {
		ev.Change = drawChange(t, p)
	}
	switch rapid.IntRange(0, 39).Draw(t, "spoil") {
	case 0:
		ev.Seq = rapid.SampledFrom([]uint64{0, ev.Seq - 1, ev.Seq + 1, ev.Seq + 1000}).Draw(t, "bad seq")
	case 1:
		ev.Op = rapid.SampledFrom([]Op{0, 8, 255}).Draw(t, "bad op")
	case 2:
		if ev.Op == OpBatch {
			ev.Role = "r"
		} else {
			ev.Changes = []Change{{Op: OpAddRole, Role: "r"}}
		}
	case 3:
		ev.Op = OpBatch
		ev.Changes = []Change{{Op: OpAddRole, Role: "x"}, {Op: OpBatch}}
	}
	return ev
}

var eventCmp = cmpopts.EquateEmpty()

// roundTrip encodes ev and decodes it back, checking that a valid event
// survives and an invalid one is refused as corrupt.
func roundTrip(t *rapid.T, ev *Event) (*Event, []byte) {
	data, err := ev.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	var dec Event
	err = dec.UnmarshalBinary(data)
	if ev.Validate() != nil {
		// The binary form cannot carry some invalid events (batch changes
		// of a non-batch op are not encoded); what decodes must be valid.
		if err == nil {
			if err := dec.Validate(); err != nil {
				t.Fatalf("decoder accepted an invalid event: %v", err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decoding an invalid event: got %v, want ErrCorrupt", err)
		}
		return nil, data
	}
	if err != nil {
		t.Fatalf("UnmarshalBinary of a valid event: %v", err)
	}
	if reflect.DeepEqual(ev, &dec) {
		return &dec, data
	}
	if diff := cmp.Diff(ev, &dec, eventCmp); diff != "" {
		t.Fatalf("event round trip (-sent +decoded):\n%s", diff)
	}
	return &dec, data
}

// follower is an engine restored from a snapshot of one tenant, which then
// gets every later event of that tenant.
type follower struct {
	e  *Engine
	id TenantID
}

type harness struct {
	live      *Engine
	m         *model
	p         pools
	log       [][]byte // the encoded events the live engine accepted
	answers   []bool   // and its answers to them
	refused   []bool   // and whether each was refused (ErrRefused)
	followers []follower
}

func newHarness(p pools) *harness { return &harness{live: New(atModelEpoch), m: newModel(), p: p} }

// step draws one event and applies it to the live engine, the model and
// the followers, checking every answer.
func (h *harness) step(t *rapid.T) {
	ev := drawEvent(t, h.live, h.p)
	dec, data := roundTrip(t, ev)
	seqBefore := h.live.Seq(ev.Tenant)
	valid := ev.Validate() == nil
	inOrder := ev.Seq == seqBefore+1
	var predicted, changes, refused bool
	if valid && inOrder {
		predicted, changes = h.live.Tenant(ev.Tenant).Answer(&ev.Change)
		refused = h.m.read(ev.Tenant).refuses(ev)
	}
	got, err := h.live.Apply(ev)
	switch {
	case !valid:
		if err == nil || got {
			t.Fatalf("invalid event %+v: (%v, %v), want an error", ev, got, err)
		}
	case !inOrder:
		if !errors.Is(err, ErrOutOfOrder) || got {
			t.Fatalf("event at seq %d on a tenant at %d: (%v, %v), want ErrOutOfOrder", ev.Seq, seqBefore, got, err)
		}
	}
	if !valid || !inOrder {
		if after := h.live.Seq(ev.Tenant); after != seqBefore {
			t.Fatalf("refused event moved seq %d -> %d", seqBefore, after)
		}
		return
	}
	if refused {
		if !errors.Is(err, ErrRefused) || got {
			t.Fatalf("Apply %+v: (%v, %v), want a refusal", ev, got, err)
		}
		if seq := h.live.Seq(ev.Tenant); seq != ev.Seq {
			t.Fatalf("a refused event left the tenant at %d, want %d", seq, ev.Seq)
		}
		predicted, changes = false, false
	} else if err != nil {
		t.Fatalf("Apply %+v: %v", ev, err)
	}
	want, changed := h.m.tenant(ev.Tenant).apply(ev)
	if got != want || predicted != want {
		t.Fatalf("%+v: engine answered %v, Answer predicted %v, model %v", ev, got, predicted, want)
	}
	if changed && !changes {
		t.Fatalf("%+v: Answer said no change, but the state changed", ev)
	}
	if ev.Op != OpBatch && changes != changed {
		t.Fatalf("%+v: Answer said changes=%v, the model says %v", ev, changes, changed)
	}
	h.log = append(h.log, data)
	h.answers = append(h.answers, got)
	h.refused = append(h.refused, refused)
	for _, f := range h.followers {
		if f.id != ev.Tenant {
			continue
		}
		fgot, err := f.e.Apply(dec)
		if (err != nil) != refused || (refused && !errors.Is(err, ErrRefused)) || fgot != got {
			t.Fatalf("follower at seq %d: (%v, %v), live answered %v", f.e.Seq(f.id), fgot, err, got)
		}
	}
}

// snapshot takes a snapshot of one tenant, round-trips it through its
// binary form, restores it into a fresh engine and checks the restored
// tenant against the live one; the fresh engine then follows the tenant.
func (h *harness) snapshot(t *rapid.T) {
	id := rapid.SampledFrom(eventTenants).Draw(t, "snapshot tenant")
	snap := h.live.Snapshot(id)
	data, err := snap.MarshalBinary()
	if err != nil {
		t.Fatalf("Snapshot.MarshalBinary: %v", err)
	}
	var dec Snapshot
	if err := dec.UnmarshalBinary(data); err != nil {
		t.Fatalf("Snapshot.UnmarshalBinary: %v", err)
	}
	if diff := cmp.Diff(snap, &dec, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("snapshot round trip (-taken +decoded):\n%s", diff)
	}
	fresh := New(atModelEpoch)
	if err := fresh.Restore(&dec); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, want := fresh.Seq(id), h.live.Seq(id); got != want {
		t.Fatalf("restored seq %d, want %d", got, want)
	}
	checkSame(t, "restored vs live", fresh.Tenant(id), h.live.Tenant(id), h.p)
	checkSame(t, "restored vs model", fresh.Tenant(id), h.m.read(id), h.p)
	h.followers = append(h.followers, follower{fresh, id})
	if len(h.followers) > 4 {
		h.followers = h.followers[1:]
	}
}

func (h *harness) checkFollowers(t *rapid.T) {
	for i, f := range h.followers {
		if got, want := f.e.Seq(f.id), h.live.Seq(f.id); got != want {
			t.Fatalf("follower %d at seq %d, live at %d", i, got, want)
		}
		checkSame(t, "follower vs live", f.e.Tenant(f.id), h.live.Tenant(f.id), h.p)
	}
}

func TestSnapshotRestoreMatchesLive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newHarness(drawPools(t))
		steps := rapid.IntRange(200, 500).Draw(t, "steps")
		for range steps {
			if rapid.IntRange(0, 24).Draw(t, "snapshot?") == 0 {
				h.snapshot(t)
			} else {
				h.step(t)
			}
			if rapid.IntRange(0, 29).Draw(t, "check followers?") == 0 {
				h.checkFollowers(t)
			}
		}
		h.checkFollowers(t)
		for _, id := range eventTenants {
			checkSame(t, "live vs model", h.live.Tenant(id), h.m.read(id), h.p)
		}
	})
}

func TestEventLogReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newHarness(drawPools(t))
		steps := rapid.IntRange(200, 500).Draw(t, "steps")
		for range steps {
			h.step(t)
		}
		replay := New(atModelEpoch)
		for i, data := range h.log {
			var ev Event
			if err := ev.UnmarshalBinary(data); err != nil {
				t.Fatalf("log entry %d: %v", i, err)
			}
			got, err := replay.Apply(&ev)
			if (err != nil) != h.refused[i] || (err != nil && !errors.Is(err, ErrRefused)) || got != h.answers[i] {
				t.Fatalf("replaying entry %d (%+v): (%v, %v), live answered %v", i, ev, got, err, h.answers[i])
			}
			// Replaying an event twice is refused and changes nothing.
			if _, err := replay.Apply(&ev); !errors.Is(err, ErrOutOfOrder) {
				t.Fatalf("re-applying entry %d: %v, want ErrOutOfOrder", i, err)
			}
		}
		for _, id := range eventTenants {
			if got, want := replay.Seq(id), h.live.Seq(id); got != want {
				t.Fatalf("replayed seq %d, live %d", got, want)
			}
			checkSame(t, "replay vs live", replay.Tenant(id), h.live.Tenant(id), h.p)
			checkSame(t, "replay vs model", replay.Tenant(id), h.m.read(id), h.p)
		}
	})
}

// modelFromSnapshot reads a snapshot the plain way: a role has the
// permissions and users its indices name. Repeated indices mean nothing.
func modelFromSnapshot(s *Snapshot) *modelTenant {
	m := newModelTenant()
	m.seq = s.Seq
	m.Now = modelEpoch
	for _, r := range s.Roles {
		m.change(Change{Op: OpAddRole, Role: r.Name})
		for _, p := range r.Permissions {
			m.change(Change{Op: OpAddPermission, Role: r.Name, Permission: s.Permissions[p]})
		}
		for _, u := range r.Members {
			m.change(Change{Op: OpAddMembership, Role: r.Name, User: s.Users[u]})
		}
	}
	// Inclusions once every role is there (the snapshot has no cycle).
	for _, r := range s.Roles {
		for _, b := range r.Includes {
			m.change(Change{Op: OpAddInclusion, Role: r.Name, Includes: s.Roles[b].Name})
		}
	}
	for _, w := range s.Windows {
		m.change(MembershipChange(s.Users[w.User], s.Roles[w.Role].Name, w.Window))
	}
	return m
}

// snapshotPools are the names a snapshot mentions.
func snapshotPools(s *Snapshot) pools {
	var p pools
	for _, r := range s.Roles {
		p.roles = append(p.roles, r.Name)
	}
	for _, n := range s.Permissions {
		if n != "" {
			p.perms = append(p.perms, n)
		}
	}
	for _, n := range s.Users {
		if n != "" {
			p.users = append(p.users, n)
		}
	}
	return p
}

// drawSnapshot draws a valid snapshot that a live tenant would not produce:
// holes in the name tables, names no role uses, roles in any index order.
func drawSnapshot(t *rapid.T, p pools) *Snapshot {
	s := &Snapshot{Tenant: eventTenants[0], Seq: rapid.Uint64Range(0, 1<<40).Draw(t, "seq")}
	table := func(pool []string, label string) []string {
		chosen := rapid.SliceOfDistinct(rapid.SampledFrom(pool), rapid.ID).Draw(t, label)
		holes := rapid.IntRange(0, 3).Draw(t, label+" holes")
		out := append(chosen, make([]string, holes)...)
		return rapid.Permutation(out).Draw(t, label+" order")
	}
	s.Users = table(p.users, "users")
	s.Permissions = table(p.perms, "perms")
	indices := func(tbl []string, label string) []uint32 {
		var used []uint32
		for i, n := range tbl {
			if n != "" {
				used = append(used, uint32(i))
			}
		}
		if len(used) == 0 {
			return nil
		}
		out := rapid.SliceOfDistinct(rapid.SampledFrom(used), rapid.ID).Draw(t, label)
		slices.Sort(out)
		return out
	}
	for _, name := range rapid.SliceOfDistinct(rapid.SampledFrom(p.roles), rapid.ID).Draw(t, "roles") {
		s.Roles = append(s.Roles, RoleSnapshot{Name: name, Permissions: indices(s.Permissions, "grants"), Members: indices(s.Users, "members")})
	}
	// Inclusions of later roles only, so that there is no cycle.
	for r := range s.Roles {
		for b := r + 1; b < len(s.Roles); b++ {
			if rapid.IntRange(0, 3).Draw(t, "includes?") == 0 {
				s.Roles[r].Includes = append(s.Roles[r].Includes, uint32(b))
			}
		}
	}
	// Windows on some memberships, open or not at modelEpoch, in the
	// snapshot's order (by user, then role).
	for u := range s.Users {
		for r := range s.Roles {
			if !slices.Contains(s.Roles[r].Members, uint32(u)) || rapid.IntRange(0, 2).Draw(t, "window?") > 0 {
				continue
			}
			var w Window
			from, until := rapid.IntRange(-3, 3).Draw(t, "from"), rapid.IntRange(-3, 4).Draw(t, "until")
			if from < until && from != 0 {
				w.StartsAt = time.Unix(modelEpoch+int64(from), 0).UTC()
			}
			if until != 4 {
				w.ExpiresAt = time.Unix(modelEpoch+int64(until), 0).UTC()
			}
			if !w.IsZero() && (w.StartsAt.IsZero() || w.ExpiresAt.IsZero() || w.StartsAt.Before(w.ExpiresAt)) {
				s.Windows = append(s.Windows, MemberWindow{User: uint32(u), Role: uint32(r), Window: w})
			}
		}
	}
	return s
}

// TestRestoreDrawnSnapshot restores snapshots with unused names and holes,
// checks them against the plain reading of the snapshot, and then keeps
// writing, so that the free lists Restore builds get reused.
func TestRestoreDrawnSnapshot(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPools(t)
		s := drawSnapshot(t, p)
		e, data := throughBinary(t, s, atModelEpoch)
		var dec Snapshot
		if err := dec.UnmarshalBinary(data); err != nil || !reflect.DeepEqual(dec.Windows, s.Windows) {
			t.Fatalf("windows %v, decoded %v (%v)", s.Windows, dec.Windows, err)
		}
		m := modelFromSnapshot(s)
		id := s.Tenant
		checkSame(t, "restored vs snapshot", e.Tenant(id), m, p)
		steps := rapid.IntRange(50, 300).Draw(t, "steps")
		for range steps {
			c := drawChange(t, p)
			if c.Validate() != nil {
				continue
			}
			ev := &Event{Tenant: id, Seq: e.Seq(id) + 1, Change: c}
			refused := m.refuses(ev)
			got, err := e.Apply(ev)
			if (err != nil) != refused || (refused && !errors.Is(err, ErrRefused)) {
				t.Fatalf("Apply: %v, model refuses: %v", err, refused)
			}
			if want, _ := m.apply(ev); got != want {
				t.Fatalf("%+v: engine %v, model %v", c, got, want)
			}
			if rapid.IntRange(0, 9).Draw(t, "check?") == 0 {
				checkSame(t, "after restore", e.Tenant(id), m, p)
			}
		}
		checkSame(t, "end", e.Tenant(id), m, p)
	})
}

// TestRestoreRefusesBadSnapshots lists snapshots that describe no valid
// state.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	ok := func() *Snapshot {
		return &Snapshot{
			Tenant: KeyID("k"), Seq: 3,
			Users: []string{"u0", "", "u2"}, Permissions: []string{"p0", ""},
			Roles: []RoleSnapshot{{Name: "r", Permissions: []uint32{0}, Members: []uint32{0, 2}}},
		}
	}
	if err := New().Restore(ok()); err != nil {
		t.Fatalf("base snapshot: %v", err)
	}
	tests := []struct {
		name  string
		spoil func(s *Snapshot)
	}{
		{"permission index past the table", func(s *Snapshot) { s.Roles[0].Permissions = []uint32{2} }},
		{"permission index of a hole", func(s *Snapshot) { s.Roles[0].Permissions = []uint32{1} }},
		{"member index past the table", func(s *Snapshot) { s.Roles[0].Members = []uint32{3} }},
		{"member index of a hole", func(s *Snapshot) { s.Roles[0].Members = []uint32{1} }},
		{"duplicate role", func(s *Snapshot) { s.Roles = append(s.Roles, RoleSnapshot{Name: "r"}) }},
		{"duplicate permission", func(s *Snapshot) { s.Permissions[1] = "p0" }},
		{"duplicate user", func(s *Snapshot) { s.Users[1] = "u0"; s.Roles[0].Members = []uint32{0, 1, 2} }},
		{"empty role name", func(s *Snapshot) { s.Roles[0].Name = "" }},
		{"invalid role name", func(s *Snapshot) { s.Roles[0].Name = "r\n" }},
		{"invalid permission name", func(s *Snapshot) { s.Permissions[0] = "\xff" }},
		{"invalid used user name", func(s *Snapshot) { s.Users[0] = "u\x00" }},
		{"invalid unused user name", func(s *Snapshot) { s.Users[1] = "u\x00" }},
		{"role includes itself", func(s *Snapshot) { s.Roles[0].Includes = []uint32{0} }},
		{"inclusion index past the roles", func(s *Snapshot) { s.Roles[0].Includes = []uint32{1} }},
		{"inclusions not ascending", func(s *Snapshot) {
			s.Roles = append(s.Roles, RoleSnapshot{Name: "x"}, RoleSnapshot{Name: "y"})
			s.Roles[0].Includes = []uint32{2, 1}
		}},
		{"inclusions make a cycle", func(s *Snapshot) {
			s.Roles = append(s.Roles, RoleSnapshot{Name: "x", Includes: []uint32{2}}, RoleSnapshot{Name: "y", Includes: []uint32{0}})
			s.Roles[0].Includes = []uint32{1}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok()
			tt.spoil(s)
			e := New()
			if err := e.Restore(s); !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore: %v, want ErrBadSnapshot", err)
			}
			if e.TenantCount() != 0 {
				t.Fatal("a refused snapshot created its tenant")
			}
		})
	}
}

// TestRestoreReplacesTenant checks that Restore over an existing tenant
// replaces its whole state.
func TestRestoreReplacesTenant(t *testing.T) {
	e := New()
	for _, c := range []Change{{Op: OpAddRole, Role: "old"}, {Op: OpAddMembership, Role: "old", User: "u"}} {
		if _, err := e.Write("k", c); err != nil {
			t.Fatal(err)
		}
	}
	snap := &Snapshot{Tenant: KeyID("k"), Seq: 10, Users: []string{"v"}, Permissions: []string{"p"},
		Roles: []RoleSnapshot{{Name: "new", Permissions: []uint32{0}, Members: []uint32{0}}}}
	if err := e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	p := pools{roles: []string{"old", "new"}, perms: []string{"p"}, users: []string{"u", "v"}}
	checkSame(t, "restored", keyReader{e, "k"}, modelFromSnapshot(snap), p)
	if n := e.TenantCount(); n != 1 {
		t.Fatalf("TenantCount %d, want 1", n)
	}
}
