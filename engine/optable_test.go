package engine

import (
	"errors"
	"reflect"
	"testing"
)

// TestOpTable checks the op table against what derives from it: names,
// fields, validation, facts and the binary form, for every op, so that a
// new row is checked as the others are.
func TestOpTable(t *testing.T) {
	seen := map[string]bool{}
	for _, op := range Ops() {
		name := op.String()
		if seen[name] {
			t.Errorf("two ops named %q", name)
		}
		seen[name] = true
		if back, err := ParseOp(name); err != nil || back != op {
			t.Errorf("ParseOp(%q) = %v, %v; want %v", name, back, err, op)
		}
		if op.IsBatch() {
			if op.Needs() != 0 || op.IsFact() {
				t.Errorf("%v: the batch op needs fields or states a fact", op)
			}
			c := Change{Op: op}
			if err := c.Validate(); !errors.Is(err, ErrBadOp) {
				t.Errorf("%v as a change of a batch: %v, want ErrBadOp", op, err)
			}
			continue
		}
		if op.spec().first {
			// A change that only begins a batch (clear): no fields, a
			// round trip as a batch's first change, refused alone and
			// anywhere else in a batch.
			if op.Needs() != 0 || op.IsFact() {
				t.Errorf("%v: a batch's first change needs fields or states a fact", op)
			}
			ev := Event{Seq: 1, Change: Change{Op: OpBatch}, Changes: []Change{{Op: op}, {Op: OpAddRole, Role: "r"}}}
			b, err := ev.MarshalBinary()
			var back Event
			if err == nil {
				err = back.UnmarshalBinary(b)
			}
			if err != nil || len(back.Changes) != 2 || !reflect.DeepEqual(back.Changes[0], ev.Changes[0]) {
				t.Errorf("%v: binary round trip of a batch it begins gives %+v, %v", op, back.Changes, err)
			}
			alone := Event{Seq: 1, Change: Change{Op: op}}
			second := Event{Seq: 1, Change: Change{Op: OpBatch}, Changes: []Change{{Op: OpAddRole, Role: "r"}, {Op: op}}}
			if alone.Validate() == nil || second.Validate() == nil {
				t.Errorf("%v: valid alone or as a batch's second change", op)
			}
			continue
		}
		if op.spec().alone {
			// An event of its own (del_tenant): no fields, a round trip
			// alone, refused anywhere in a batch.
			ev := Event{Seq: 1, Change: Change{Op: op}}
			b, err := ev.MarshalBinary()
			var back Event
			if err == nil {
				err = back.UnmarshalBinary(b)
			}
			if err != nil || back.Op != op || ev.Validate() != nil {
				t.Errorf("%v: binary round trip alone gives %+v, %v", op, back, err)
			}
			for _, changes := range [][]Change{{{Op: op}}, {{Op: OpAddRole, Role: "r"}, {Op: op}}} {
				batch := Event{Seq: 1, Change: Change{Op: OpBatch}, Changes: changes}
				if err := batch.Validate(); !errors.Is(err, ErrInvalid) {
					t.Errorf("%v in a batch %+v: %v, want ErrInvalid", op, changes, err)
				}
			}
			continue
		}
		if op.Needs() == 0 {
			t.Errorf("%v needs no field", op)
		}
		full := sampleChange(op)
		if err := full.Validate(); err != nil {
			t.Errorf("%v with its fields: %v", op, err)
		}
		ev := Event{Seq: 1, Change: full}
		b, err := ev.MarshalBinary()
		var back Event
		if err == nil {
			err = back.UnmarshalBinary(b)
		}
		if err != nil || !reflect.DeepEqual(back.Change, full) {
			t.Errorf("%v: binary round trip gives %+v, %v; want %+v", op, back.Change, err, full)
		}
		if op.IsFact() {
			if got, ok := FactOp(op.Needs() | op.May()); !ok || got != op {
				t.Errorf("FactOp(%v) = %v, %v; want %v", (op.Needs() | op.May()).Fields(), got, ok, op)
			}
		}
		for _, f := range Fields() {
			c := full
			if c.Key != nil { // the key fields are shared: c gets its own
				k := *c.Key
				c.Key = &k
			}
			if c.Window != nil {
				w := *c.Window
				c.Window = &w
			}
			if op.Needs().Has(f) {
				*f.In(&c) = ""
				if err := c.Validate(); !errors.Is(err, ErrInvalid) {
					t.Errorf("%v without %v: %v, want ErrInvalid", op, f, err)
				}
				continue
			}
			*f.In(&c) = "extra"
			if err := c.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("%v carrying %v: %v, want ErrInvalid", op, f, err)
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no ops")
	}
	for _, bad := range []Op{0, OpBatch + 100} {
		if bad.spec() != nil || bad.Needs() != 0 || bad.IsBatch() || bad.IsFact() {
			t.Errorf("op %d is in the table", bad)
		}
	}
}

// sampleChange returns a valid change of op (not the batch op): each field
// "x-" and its name, but for the ops whose check asks more of them.
func sampleChange(op Op) Change {
	switch op {
	case OpAddKey:
		return AddKeyChange(KeyRecord{ID: "k_0123456789abcdef", Name: "x-key_name", Scope: ScopeCheck, Hash: KeyID("x")})
	case OpDelKey:
		return DelKeyChange("k_0123456789abcdef")
	case OpAddMembershipWindow:
		return Change{Op: op, User: "x-user", Role: "x-role", Window: &WindowArgs{StartsAt: "2026-01-01T00:00:00Z", ExpiresAt: "2026-01-02T00:00:00Z"}}
	case OpSweepWindows:
		return Change{Op: op, Window: &WindowArgs{ExpiresAt: "2026-01-01T00:00:00Z"}}
	}
	c := Change{Op: op}
	for _, f := range op.Needs().Fields() {
		*f.In(&c) = "x-" + f.String()
	}
	return c
}

// TestFieldTable checks that every field has its own name and its own
// place in a Change.
func TestFieldTable(t *testing.T) {
	var c Change
	places := map[*string]Field{}
	for _, f := range Fields() {
		if got, ok := FieldNamed([]byte(f.String())); !ok || got != f {
			t.Errorf("FieldNamed(%q) = %v, %v", f, got, ok)
		}
		p := f.In(&c)
		if g, dup := places[p]; dup {
			t.Errorf("fields %v and %v share a place", f, g)
		}
		places[p] = f
	}
	if _, ok := FieldNamed([]byte("op")); ok {
		t.Error(`FieldNamed("op") found a field`)
	}
}
