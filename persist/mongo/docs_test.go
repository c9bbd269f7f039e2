package mongo

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/engine"
)

func marshal(t *testing.T, v any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEventDocRoundTrip(t *testing.T) {
	tn := engine.KeyID("docs")
	hex := tn.String()
	for _, ev := range []engine.Event{
		{Tenant: tn, ID: 1, Change: engine.Change{Op: engine.OpAddRole, Role: "r"}},
		{Tenant: tn, ID: 1 << 63, Time: time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC),
			Change: engine.Change{Op: engine.OpAddPermission, Role: "r", Permission: "p ü"}},
		{Tenant: tn, ID: 7, Time: time.Date(1960, 1, 2, 3, 4, 5, 123_456_789, time.UTC),
			Change: engine.Change{Op: engine.OpDelMembership, Role: "r", User: "u"}},
		{Tenant: tn, ID: 9, Time: time.Unix(0, 1).UTC(), Change: engine.Change{Op: engine.OpBatch},
			Changes: []engine.Change{{Op: engine.OpAddRole, Role: "a"}, {Op: engine.OpDelPermission, Role: "a", Permission: "x"}}},
	} {
		raw := marshal(t, newEventDoc(&ev, hex, 42))
		got, err := decodeEvent(raw, tn, hex)
		if err != nil {
			t.Fatalf("decode %v: %v", ev, err)
		}
		ev.Seq = 42
		if diff := cmp.Diff(ev, got); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestDecodeEventRejects(t *testing.T) {
	tn := engine.KeyID("docs")
	hex := tn.String()
	good := func() bson.M {
		return bson.M{"_id": eventKey(hex, 3), "tenant": hex, "seq": int64(3), "id": "00000000000000ff",
			"op": "add_membership", "role": "r", "user": "u"}
	}
	for name, edit := range map[string]func(bson.M){
		"other tenant":        func(d bson.M) { d["tenant"] = engine.KeyID("x").String() },
		"key of other seq":    func(d bson.M) { d["_id"] = eventKey(hex, 4) },
		"key of other tenant": func(d bson.M) { d["_id"] = eventKey(engine.KeyID("x").String(), 3) },
		"short key":           func(d bson.M) { d["_id"] = hex + ":3" },
		"seq as string":       func(d bson.M) { d["seq"] = "3" },
		"seq zero":            func(d bson.M) { d["seq"] = int64(0); d["_id"] = eventKey(hex, 0) },
		"id not hex":          func(d bson.M) { d["id"] = "zz00000000000000" },
		"id short":            func(d bson.M) { d["id"] = "ff" },
		"id as number":        func(d bson.M) { d["id"] = int64(255) },
		"unknown op":          func(d bson.M) { d["op"] = "grant_all" },
		"missing op":          func(d bson.M) { delete(d, "op") },
		"missing user":        func(d bson.M) { delete(d, "user") },
		"extra permission":    func(d bson.M) { d["permission"] = "p" },
		"bad name":            func(d bson.M) { d["user"] = "a\x00b" },
		"changes on non-batch": func(d bson.M) {
			d["changes"] = bson.A{bson.M{"op": "add_role", "role": "x"}}
		},
		"batch with bad change": func(d bson.M) {
			d["op"], d["role"], d["user"] = "batch", "", ""
			d["changes"] = bson.A{bson.M{"op": "add_role"}}
		},
		"changes not array": func(d bson.M) { d["op"], d["role"], d["user"], d["changes"] = "batch", "", "", "x" },
		"time_ns out of range": func(d bson.M) {
			d["time"] = bson.NewDateTimeFromTime(time.Now())
			d["time_ns"] = int32(1_000_000)
		},
		"time_ns without time": func(d bson.M) { d["time_ns"] = int32(5) },
		"time as string":       func(d bson.M) { d["time"] = "yesterday" },
	} {
		d := good()
		edit(d)
		_, err := decodeEvent(marshal(t, d), tn, hex)
		if !errors.Is(err, engine.ErrCorrupt) || !errors.Is(err, errCorrupt) {
			t.Errorf("%s: %v, want a corrupt-document error", name, err)
		}
	}
	if _, err := decodeEvent(marshal(t, good()), tn, hex); err != nil {
		t.Fatalf("good document: %v", err)
	}
}

// Random and truncated bytes give errors, never panics.
func TestDecodeEventGarbage(t *testing.T) {
	tn := engine.KeyID("docs")
	hex := tn.String()
	ev := engine.Event{Tenant: tn, ID: 5, Time: time.Now(), Change: engine.Change{Op: engine.OpBatch},
		Changes: []engine.Change{{Op: engine.OpAddRole, Role: "a"}}}
	raw := marshal(t, newEventDoc(&ev, hex, 1))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		b := append([]byte(nil), raw...)
		switch i % 3 {
		case 0:
			b = b[:r.IntN(len(b))]
		case 1:
			for range 1 + r.IntN(4) {
				b[r.IntN(len(b))] = byte(r.Uint32())
			}
		default:
			b = make([]byte, r.IntN(64))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		}
		if got, err := decodeEvent(b, tn, hex); err == nil {
			if err := got.Validate(); err != nil {
				t.Fatalf("decoded an invalid event: %v", err)
			}
		}
	}
}

func TestKeys(t *testing.T) {
	hex := engine.KeyID("k").String()
	if a, b := eventKey(hex, 9), eventKey(hex, 10); a >= b {
		t.Fatalf("keys do not sort by seq: %s >= %s", a, b)
	}
	if k := eventKey(hex, ^uint64(0)); k >= tenantEnd(hex) || len(k) != 64+1+20 {
		t.Fatalf("max key %s", k)
	}
	for _, seq := range []uint64{1, 99, ^uint64(0)} {
		if got, err := seqOfKey(hex, eventKey(hex, seq)); err != nil || got != seq {
			t.Fatalf("seqOfKey(eventKey(%d)) = %d, %v", seq, got, err)
		}
	}
	for _, bad := range []string{hex + ":1", hex + ":0000000000000000000a", hex + ":00000000000000000000", "x:00000000000000000001"} {
		if _, err := seqOfKey(hex, bad); err == nil {
			t.Fatalf("seqOfKey(%q) accepted", bad)
		}
	}
}
