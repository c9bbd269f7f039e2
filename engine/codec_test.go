package engine

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// seedEvents are valid events of every shape.
func seedEvents() []*Event {
	id := KeyID("pleaSeDoN0tKillMyC_at")
	at := time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.UTC)
	long := strings.Repeat("é", MaxNameLen/2)
	return []*Event{
		{Tenant: id, Seq: 1, ID: 42, Time: at, Change: Change{Op: OpAddRole, Role: "cookers"}},
		{Tenant: id, Seq: 7, Time: at, Change: MembershipChange("jack", "cookers", Window{StartsAt: at.Truncate(time.Second), ExpiresAt: at.Add(time.Hour)})},
		{Tenant: id, Seq: 8, Change: SweepChange(at)},
		{Tenant: id, Seq: 2, ID: 1 << 63, Change: Change{Op: OpDelRole, Role: "cookers"}},
		{Tenant: id, Seq: 300, Time: at, Change: Change{Op: OpAddPermission, Role: "cookers", Permission: "cook"}},
		{Tenant: id, Seq: 1 << 40, Change: Change{Op: OpDelPermission, Role: "r", Permission: long}},
		{Tenant: id, Seq: 5, Time: time.Unix(0, -1).UTC(), Change: Change{Op: OpAddMembership, Role: "laughers", User: "sara"}},
		{Tenant: id, Seq: 1<<64 - 1, Change: Change{Op: OpDelMembership, Role: "ساره", User: "日本 語/+"}},
		{Tenant: id, Seq: 7, Change: Change{Op: OpBatch}},
		{Tenant: KeyID("other"), Seq: 8, Time: at, Change: Change{Op: OpBatch}, Changes: []Change{
			{Op: OpAddRole, Role: "a"},
			{Op: OpAddPermission, Role: "a", Permission: "p"},
			{Op: OpAddMembership, Role: "a", User: "u"},
			{Op: OpDelRole, Role: "a"},
		}},
	}
}

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range seedEvents() {
		data, err := ev.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Event
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("%v: %v", ev.Op, err)
		}
		if diff := cmp.Diff(ev, &got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%v (-sent +decoded):\n%s", ev.Op, diff)
		}
		// Every truncation and every trailing byte is refused.
		for n := range len(data) {
			if err := new(Event).UnmarshalBinary(data[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v truncated to %d of %d bytes: %v, want ErrCorrupt", ev.Op, n, len(data), err)
			}
		}
		if err := new(Event).UnmarshalBinary(append(data, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v with a trailing byte: %v, want ErrCorrupt", ev.Op, err)
		}
		// AppendBinary appends.
		prefixed, _ := ev.AppendBinary([]byte("xy"))
		if !bytes.Equal(prefixed[2:], data) || string(prefixed[:2]) != "xy" {
			t.Fatalf("AppendBinary does not append the binary form")
		}
	}
}

func TestEventDecodeRefusesInvalid(t *testing.T) {
	valid, _ := seedEvents()[2].MarshalBinary()
	tests := map[string]*Event{
		"unknown op":           {Seq: 1, Change: Change{Op: 9, Role: "r"}},
		"zero op":              {Seq: 1},
		"empty role":           {Seq: 1, Change: Change{Op: OpAddRole}},
		"control char in name": {Seq: 1, Change: Change{Op: OpAddRole, Role: "a\nb"}},
		"role op with a user":  {Seq: 1, Change: Change{Op: OpAddRole, Role: "r", User: "u"}},
		"batch with a name":    {Seq: 1, Change: Change{Op: OpBatch, Role: "r"}},
		"nested batch":         {Seq: 1, Change: Change{Op: OpBatch}, Changes: []Change{{Op: OpBatch}}},
		"bad change in batch":  {Seq: 1, Change: Change{Op: OpBatch}, Changes: []Change{{Op: OpAddRole, Role: "ok"}, {Op: OpAddRole}}},
		"long name":            {Seq: 1, Change: Change{Op: OpAddRole, Role: strings.Repeat("x", MaxNameLen+1)}},
	}
	for name, ev := range tests {
		data, _ := ev.MarshalBinary()
		if err := new(Event).UnmarshalBinary(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	bad := map[string][]byte{
		"empty":                  nil,
		"unknown format":         append([]byte{2}, valid[1:]...),
		"overlong varint":        append(append([]byte{eventFormat}, make([]byte, 32)...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"batch count past input": batchWithCount(1 << 40),
	}
	for name, data := range bad {
		if err := new(Event).UnmarshalBinary(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// batchWithCount encodes an empty batch event whose change count says n.
func batchWithCount(n uint64) []byte {
	ev := &Event{Seq: 1, Change: Change{Op: OpBatch}}
	data, _ := ev.MarshalBinary()
	data = data[:len(data)-1] // the count 0
	for ; n >= 0x80; n >>= 7 {
		data = append(data, byte(n)|0x80)
	}
	return append(data, byte(n))
}

// seedSnapshots are snapshots of live tenants: holes in the tables, a
// permission granted to many roles, a user in many roles.
func seedSnapshots(t testing.TB) []*Snapshot {
	e := New()
	w := func(key string, c Change) {
		if _, err := e.Write(key, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{"cookers", "dancers", "laughers"} {
		w("a", Change{Op: OpAddRole, Role: r})
		w("a", Change{Op: OpAddPermission, Role: r, Permission: r[:len(r)-3]})
	}
	w("a", Change{Op: OpAddMembership, Role: "cookers", User: "sara"})
	w("a", Change{Op: OpAddMembership, Role: "laughers", User: "sara"})
	w("a", Change{Op: OpAddMembership, Role: "dancers", User: "jack"})
	w("a", Change{Op: OpAddMembership, Role: "laughers", User: "jack"})
	w("a", Change{Op: OpAddMembership, Role: "dancers", User: "gone"})
	w("a", Change{Op: OpDelRole, Role: "dancers"}) // leaves holes
	for i := range 40 {
		r := string(rune('A' + i))
		w("b", Change{Op: OpAddRole, Role: r})
		w("b", Change{Op: OpAddPermission, Role: r, Permission: "shared"})
		w("b", Change{Op: OpAddMembership, Role: r, User: "everywhere"})
		w("b", Change{Op: OpAddMembership, Role: r, User: "u" + r})
	}
	// Inclusions, and a role deleted from the middle of a chain.
	for i := range 5 {
		w("c", Change{Op: OpAddRole, Role: string(rune('a' + i))})
		w("c", Change{Op: OpAddPermission, Role: string(rune('a' + i)), Permission: "p" + string(rune('a'+i))})
	}
	w("c", Change{Op: OpAddMembership, Role: "a", User: "top"})
	for _, pair := range []string{"ab", "bc", "cd", "ae", "de"} {
		w("c", Change{Op: OpAddInclusion, Role: pair[:1], Includes: pair[1:]})
	}
	w("c", Change{Op: OpDelRole, Role: "b"})
	// Windows: a start, an end, both, and one made permanent again.
	at := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	w("d", Change{Op: OpAddRole, Role: "admin"})
	w("d", Change{Op: OpAddRole, Role: "ops"})
	w("d", MembershipChange("jack", "admin", Window{ExpiresAt: at}))
	w("d", MembershipChange("jack", "ops", Window{StartsAt: at}))
	w("d", MembershipChange("ann", "ops", Window{StartsAt: at.Add(-time.Hour), ExpiresAt: at}))
	w("d", MembershipChange("sara", "ops", Window{ExpiresAt: at}))
	w("d", Change{Op: OpAddMembership, Role: "ops", User: "sara"})
	return []*Snapshot{
		e.Snapshot(KeyID("d")),
		e.Snapshot(KeyID("c")),
		e.Snapshot(KeyID("a")),
		e.Snapshot(KeyID("b")),
		e.Snapshot(KeyID("never")),
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	for i, s := range seedSnapshots(t) {
		data, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Snapshot
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if diff := cmp.Diff(s, &got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("snapshot %d (-taken +decoded):\n%s", i, diff)
		}
		for n := range len(data) {
			if err := new(Snapshot).UnmarshalBinary(data[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("snapshot %d truncated to %d of %d bytes: %v, want ErrCorrupt", i, n, len(data), err)
			}
		}
		if err := new(Snapshot).UnmarshalBinary(append(data, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("snapshot %d with a trailing byte: %v, want ErrCorrupt", i, err)
		}
	}
}

func TestSnapshotMarshalRefusesUnsorted(t *testing.T) {
	for _, r := range []RoleSnapshot{
		{Name: "r", Members: []uint32{2, 1}},
		{Name: "r", Members: []uint32{1, 1}},
		{Name: "r", Permissions: []uint32{0, 0}},
	} {
		s := &Snapshot{Users: []string{"a", "b", "c"}, Permissions: []string{"p"}, Roles: []RoleSnapshot{r}}
		if _, err := s.MarshalBinary(); err == nil {
			t.Errorf("%+v: marshalled indices that are not strictly ascending", r)
		}
	}
}

// TestSnapshotDecodeRefusesNonAscending feeds index lists that are not
// strictly ascending, including a delta that wraps around 64 bits back to
// the previous index.
func TestSnapshotDecodeRefusesNonAscending(t *testing.T) {
	for name, deltas := range map[string][]uint64{
		"wraps to the previous index": {5, 1<<64 - 1},
		"wraps below the previous":    {5, 1<<64 - 2},
		"past uint32":                 {1<<32 - 1, 0},
		"first past uint32":           {1 << 32},
	} {
		data := []byte{snapshotFormat}
		data = append(data, make([]byte, 32)...)
		data = append(data, 0)       // seq
		data = append(data, 0, 0, 1) // no users, no permissions, one role
		data = append(data, 1, 'r')  // its name
		data = append(data, 0)       // no permissions
		data = appendUvarint(data, uint64(len(deltas)))
		for _, d := range deltas {
			data = appendUvarint(data, d)
		}
		var s Snapshot
		err := s.UnmarshalBinary(data)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decoded members %v (err %v), want ErrCorrupt", name, s.Roles, err)
		}
	}
}

func appendUvarint(b []byte, x uint64) []byte {
	for ; x >= 0x80; x >>= 7 {
		b = append(b, byte(x)|0x80)
	}
	return append(b, byte(x))
}

func TestOpNames(t *testing.T) {
	for op := Op(0); op < 20; op++ {
		s := op.String()
		back, err := ParseOp(s)
		valid := op >= OpAddRole && op <= OpDelTenant || op == OpAddMembershipWindow || op == OpSweepWindows
		if valid && (err != nil || back != op) {
			t.Errorf("ParseOp(%q) = %v, %v; want %v", s, back, err, op)
		}
		if !valid && err == nil {
			t.Errorf("ParseOp(%q) = %v, want an error", s, back)
		}
	}
}

func TestTenantIDText(t *testing.T) {
	id := KeyID("pleaSeDoN0tKillMyC_at")
	back, err := ParseTenantID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseTenantID(String()) = %v, %v", back, err)
	}
	for _, s := range []string{"", "00", strings.Repeat("g", 64), strings.Repeat("0", 63)} {
		if _, err := ParseTenantID(s); err == nil {
			t.Errorf("ParseTenantID(%q) succeeded", s)
		}
	}
	// Ids are stored: KeyID must stay SHA-256 over the domain and the key,
	// whether the key fits its stack buffer or takes the streaming path.
	for _, n := range []int{0, 1, 21, 240, 241, 242, 256, MaxKeyLen - 1, MaxKeyLen, MaxKeyLen + 1, 5000} {
		k := strings.Repeat("k", n)
		if got, want := KeyID(k), TenantID(sha256.Sum256([]byte(tenantDomain+k))); got != want {
			t.Errorf("KeyID of a %d-byte key = %v, want %v", n, got, want)
		}
	}
	// A golden id: changing the domain would orphan every stored tenant.
	if got, want := KeyID("pleaSeDoN0tKillMyC_at").String(), "ad017fda7928884f4536bea94077e41b91f59b2c498fa1823c517df23d0664e4"; got != want {
		t.Errorf("KeyID(README key) = %s, want %s", got, want)
	}
}

// binaryForm is what an event and a snapshot are to their decoders'
// fuzz targets.
type binaryForm[T any] interface {
	*T
	MarshalBinary() ([]byte, error)
	UnmarshalBinary(data []byte) error
}

// decodeAgain decodes data into v (a what). Data refused must be refused
// as ErrCorrupt, and then ok is false; what is accepted must re-encode to
// enc, which decodes to again, the same as v.
func decodeAgain[T any, P binaryForm[T]](t *testing.T, what string, data []byte, v P) (enc []byte, again P, ok bool) {
	t.Helper()
	if err := v.UnmarshalBinary(data); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not match ErrCorrupt", err)
		}
		return nil, nil, false
	}
	enc, err := v.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary of an accepted %s: %v", what, err)
	}
	again = new(T)
	if err := again.UnmarshalBinary(enc); err != nil {
		t.Fatalf("decoding the re-encoded %s: %v", what, err)
	}
	if diff := cmp.Diff(v, again, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("re-encoded %s differs (-first +second):\n%s", what, diff)
	}
	return enc, again, true
}

func FuzzEventDecode(f *testing.F) {
	for _, ev := range seedEvents() {
		data, _ := ev.MarshalBinary()
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{eventFormat})
	f.Add(batchWithCount(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		enc, again, ok := decodeAgain(t, "event", data, &ev)
		if !ok {
			return
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable")
		}
		// An accepted event applies to a fresh tenant at seq 1.
		ev.Seq = 1
		if _, err := New().Apply(&ev); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("Apply of an accepted event: %v", err)
		}
	})
}

func FuzzSnapshotDecode(f *testing.F) {
	for _, s := range seedSnapshots(f) {
		data, _ := s.MarshalBinary()
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{snapshotFormat})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Snapshot
		if _, _, ok := decodeAgain(t, "snapshot", data, &s); !ok {
			return
		}
		e := New()
		if err := e.Restore(&s); err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore: %v, want ErrBadSnapshot", err)
			}
			return
		}
		// A restored snapshot reads as its plain meaning, and survives a
		// snapshot of its own.
		p := snapshotPools(&s)
		checkSame(t, "restored vs snapshot", e.Tenant(s.Tenant), modelFromSnapshot(&s), p)
		e2 := New()
		if err := e2.Restore(e.Snapshot(s.Tenant)); err != nil {
			t.Fatalf("restoring the snapshot of a restored tenant: %v", err)
		}
		checkSame(t, "second restore", e2.Tenant(s.Tenant), e.Tenant(s.Tenant), p)
	})
}
