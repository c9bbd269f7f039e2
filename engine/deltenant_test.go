package engine

import (
	"errors"
	"testing"
	"time"
)

// TestDeletedTenant deletes a tenant with facts, inclusions and keys, and
// checks that nothing of it answers, that no key reaches it, that every
// later event (one a replica that had not heard of the deletion would
// write) is refused while moving the seq, and that its snapshot, through
// the binary form, restores a tenant just as deleted.
func TestDeletedTenant(t *testing.T) {
	for _, aside := range []bool{false, true} {
		e := New()
		if aside {
			defer func(n int) { inPlaceMax = n }(inPlaceMax)
			inPlaceMax = 0
		}
		const first = "a-tenant-to-delete"
		id := KeyID(first)
		secret, rec, err := NewKey(id, "ops", ScopeAdmin)
		if err != nil {
			t.Fatal(err)
		}
		applyNext(t, e, id, FirstKey,
			Change{Op: OpAddRole, Role: "admin"}, Change{Op: OpAddRole, Role: "editor"},
			Change{Op: OpAddPermission, Role: "editor", Permission: "edit"},
			Change{Op: OpAddInclusion, Role: "admin", Includes: "editor"},
			Change{Op: OpAddMembership, Role: "admin", User: "jack"})
		applyNext(t, e, id, FirstKey, AddKeyChange(rec))
		if !e.Tenant(id).UserHasPermission("jack", "edit") || e.Access(secret).Status != KeyValid {
			t.Fatal("the tenant is not as written")
		}
		if ok := applyNext(t, e, id, rec.ID, Change{Op: OpDelTenant}); !ok {
			t.Fatal("del_tenant answered false")
		}
		tn := e.Tenant(id)
		if !tn.Deleted() || tn.Seq() != 3 {
			t.Fatalf("deleted %v at seq %d", tn.Deleted(), tn.Seq())
		}
		if tn.UserHasPermission("jack", "edit") || len(tn.Roles()) != 0 || len(tn.Keys()) != 0 || tn.Stats() != (Stats{Seq: 3}) {
			t.Fatalf("aside %v: the deleted tenant still answers: roles %v keys %v stats %+v", aside, tn.Roles(), tn.Keys(), tn.Stats())
		}
		if a := e.Access(first); a.Status != KeyRevoked || a.Scope.Allows(ScopeCheck) {
			t.Fatalf("first key after deletion: %+v", a)
		}
		if a := e.Access(secret); a.Status != KeyUnknown || a.Scope.Allows(ScopeCheck) {
			t.Fatalf("made key after deletion: %+v", a)
		}
		// Every later event is refused, and moves the seq only: a batch
		// that clears and refills, a key, a role.
		for _, ev := range []Event{
			{Change: Change{Op: OpBatch}, Changes: []Change{{Op: OpClear}, {Op: OpAddRole, Role: "admin"}}},
			{Change: AddKeyChange(rec)},
			{Change: Change{Op: OpAddRole, Role: "admin"}},
			{Change: Change{Op: OpDelTenant}},
		} {
			if err := tn.Refusal(&ev); !errors.Is(err, ErrTenantDeleted) {
				t.Fatalf("Refusal of %v: %v", ev.Op, err)
			}
			ev.Tenant, ev.Seq, ev.Time = id, e.Seq(id)+1, time.Unix(1700000000, 0)
			if ok, err := e.Apply(&ev); ok || !errors.Is(err, ErrTenantDeleted) || !errors.Is(err, ErrRefused) {
				t.Fatalf("%v after deletion: %v, %v", ev.Op, ok, err)
			}
		}
		if tn := e.Tenant(id); !tn.Deleted() || len(tn.Roles()) != 0 || len(tn.Keys()) != 0 || e.Access(secret).Status == KeyValid || tn.Seq() != 7 {
			t.Fatalf("a refused event changed the deleted tenant: seq %d roles %v", tn.Seq(), tn.Roles())
		}
		// The snapshot, through its binary form.
		snap := e.Snapshot(id)
		if !snap.Deleted || !snap.FirstKeyRevoked || snap.Seq != 7 {
			t.Fatalf("snapshot %+v", snap)
		}
		e2, _ := throughBinary(t, snap)
		if tn := e2.Tenant(id); !tn.Deleted() || tn.Seq() != 7 || e2.Access(first).Status != KeyRevoked {
			t.Fatalf("restored: deleted %v seq %d", tn.Deleted(), tn.Seq())
		}
		ev := Event{Tenant: id, Seq: 8, Change: Change{Op: OpAddRole, Role: "admin"}}
		if _, err := e2.Apply(&ev); !errors.Is(err, ErrTenantDeleted) {
			t.Fatalf("the restored tenant takes an event: %v", err)
		}
	}
}

// TestDeletedSnapshotChecked: a deleted tenant's snapshot holds its seq
// only, and a flag this version does not know is refused.
func TestDeletedSnapshotChecked(t *testing.T) {
	bad := []*Snapshot{
		{Seq: 3, Deleted: true}, // the first key not revoked
		{Seq: 3, Deleted: true, FirstKeyRevoked: true, Users: []string{"jack"}},
		{Seq: 3, Deleted: true, FirstKeyRevoked: true, Roles: []RoleSnapshot{{Name: "r"}}},
		{Seq: 3, Deleted: true, FirstKeyRevoked: true, Keys: []KeyRecord{{ID: "k_0123456789abcdef", Name: "n", Scope: ScopeCheck}}},
	}
	for _, s := range bad {
		if err := New().Restore(s); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("Restore(%+v) = %v, want ErrBadSnapshot", s, err)
		}
	}
	b, err := (&Snapshot{Seq: 1, FirstKeyRevoked: true, Deleted: true}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	flags := len(b) - 2 // the flags, then a count of no keys
	if b[flags] != snapFirstRevoked|snapDeleted || b[len(b)-1] != 0 {
		t.Fatalf("the keys section is not where the test expects it: % x", b)
	}
	b[flags] |= 1 << 5
	var s Snapshot
	if err := s.UnmarshalBinary(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("an unknown flag: %v, want ErrCorrupt", err)
	}
}

// throughBinary restores snap, through its binary form, in a new engine,
// and returns the engine and the form.
func throughBinary(t interface {
	Helper()
	Fatal(...any)
}, snap *Snapshot, opts ...Option) (*Engine, []byte) {
	t.Helper()
	b, err := snap.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	e := New(opts...)
	if err := e.Restore(&back); err != nil {
		t.Fatal(err)
	}
	return e, b
}
