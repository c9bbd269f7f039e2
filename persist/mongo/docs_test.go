package mongo

import (
	"bytes"
	"crypto/sha256"
	hexenc "encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/engine"
	"auth/persist"
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
		{Tenant: tn, ID: 10, Change: engine.MembershipChange("u", "r", engine.Window{ExpiresAt: time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)})},
		{Tenant: tn, ID: 11, Change: engine.SweepChange(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))},
	} {
		raw := marshal(t, newEventDoc(&ev, hex, 42, nil))
		got, c, err := decodeEvent(raw, tn, hex)
		if err != nil || c != nil {
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
		_, _, err := decodeEvent(marshal(t, d), tn, hex)
		if !errors.Is(err, engine.ErrCorrupt) || !errors.Is(err, errCorrupt) || !errors.Is(err, persist.ErrCorrupt) {
			t.Errorf("%s: %v, want a corrupt-document error", name, err)
		}
	}
	if _, _, err := decodeEvent(marshal(t, good()), tn, hex); err != nil {
		t.Fatalf("good document: %v", err)
	}
}

// Random and truncated bytes give errors, never panics.
func TestDecodeEventGarbage(t *testing.T) {
	tn := engine.KeyID("docs")
	hex := tn.String()
	ev := engine.Event{Tenant: tn, ID: 5, Time: time.Now(), Change: engine.Change{Op: engine.OpBatch},
		Changes: []engine.Change{{Op: engine.OpAddRole, Role: "a"}}}
	raw := marshal(t, newEventDoc(&ev, hex, 1, nil))
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
		if got, _, err := decodeEvent(b, tn, hex); err == nil {
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

// inlineSize is never below the size of the document it estimates.
func TestInlineSize(t *testing.T) {
	tn := engine.KeyID("docs")
	hex := tn.String()
	r := rand.New(rand.NewPCG(3, 4))
	name := func() string {
		b := make([]byte, 1+r.IntN(40))
		for i := range b {
			b[i] = 'a' + byte(r.IntN(26))
		}
		return string(b)
	}
	for _, n := range []int{0, 1, 9, 10, 11, 99, 100, 1000, 20000} {
		ev := engine.Event{Tenant: tn, ID: ^uint64(0), Time: time.Now(), Change: engine.Change{Op: engine.OpBatch}}
		for range n {
			switch r.IntN(3) {
			case 0:
				ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpDelRole, Role: name()})
			case 1:
				ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpAddPermission, Role: name(), Permission: name()})
			default:
				ev.Changes = append(ev.Changes, engine.Change{Op: engine.OpDelMembership, Role: name(), User: name()})
			}
		}
		actual := len(marshal(t, newEventDoc(&ev, hex, ^uint64(0)>>1, nil)))
		est := inlineSize(&ev, 1<<30)
		if est < actual || est > actual+512 {
			t.Fatalf("%d changes: estimate %d, document %d bytes", n, est, actual)
		}
		if limit := actual / 2; n > 0 && inlineSize(&ev, limit) <= limit {
			t.Fatalf("%d changes: estimate with limit %d is %d", n, limit, inlineSize(&ev, limit))
		}
	}
}

// A chunked event's document round-trips, and its chunks' data is checked
// against it.
func TestChunkedEventDoc(t *testing.T) {
	tn := engine.KeyID("docs")
	hex := tn.String()
	ev := engine.Event{Tenant: tn, ID: 11, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Change: engine.Change{Op: engine.OpBatch},
		Changes: []engine.Change{{Op: engine.OpAddRole, Role: "a"}, {Op: engine.OpAddMembership, Role: "a", User: "u"}, {Op: engine.OpAddMembership, Role: "a", User: "v"}}}
	s := &Store{cfg: DefaultConfig("mongodb://x/")}
	big, err := s.prepareBig(&ev)
	if err != nil {
		t.Fatal(err)
	}
	raw := marshal(t, newEventDoc(&ev, hex, 5, big))
	got, c, err := decodeEvent(raw, tn, hex)
	if err != nil || c == nil || got.Changes != nil {
		t.Fatalf("decode: %v, %+v, %v", got, c, err)
	}
	if err := attachChunked(&got, c, big.data); err != nil {
		t.Fatal(err)
	}
	ev.Seq = 5
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}

	other := ev
	other.ID = 12
	otherData, _ := chunkedForm(&other)
	fewer := ev
	fewer.Changes = ev.Changes[:2]
	fewerData, _ := chunkedForm(&fewer)
	for name, edit := range map[string]func(c *chunkedEvent) []byte{
		"flipped bit": func(*chunkedEvent) []byte { d := bytes.Clone(big.data); d[len(d)-1] ^= 1; return d },
		"truncated":   func(*chunkedEvent) []byte { return big.data[:len(big.data)-1] },
		"other event": func(c *chunkedEvent) []byte {
			c.ref.Size, c.ref.SHA256 = int64(len(otherData)), sha(otherData)
			return otherData
		},
		"fewer changes": func(c *chunkedEvent) []byte {
			c.ref.Size, c.ref.SHA256 = int64(len(fewerData)), sha(fewerData)
			return fewerData
		},
		"wrong counts": func(c *chunkedEvent) []byte { c.counts[engine.OpAddMembership] = 1; return big.data },
	} {
		_, c, _ := decodeEvent(raw, tn, hex)
		data := edit(c)
		e := got
		e.Changes = nil
		if err := attachChunked(&e, c, data); !errors.Is(err, errCorrupt) || e.Changes != nil {
			t.Errorf("%s: %v, want a corrupt-document error", name, err)
		}
	}

	good := func() bson.M {
		var m bson.M
		if err := bson.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ref := func(d bson.M) bson.D { return d["chunked"].(bson.D) }
	set := func(d bson.D, k string, v any) bson.D {
		for i := range d {
			if d[i].Key == k {
				d[i].Value = v
			}
		}
		return d
	}
	for name, edit := range map[string]func(bson.M){
		"not a batch":       func(d bson.M) { d["op"], d["role"] = "add_role", "x" },
		"changes as well":   func(d bson.M) { d["changes"] = bson.A{bson.M{"op": "add_role", "role": "x"}} },
		"counts only":       func(d bson.M) { delete(d, "chunked") },
		"bad nonce":         func(d bson.M) { d["chunked"] = set(ref(d), "nonce", "a:b") },
		"no chunks":         func(d bson.M) { d["chunked"] = set(ref(d), "chunks", int32(0)) },
		"size past chunks":  func(d bson.M) { d["chunked"] = set(ref(d), "size", int64(MaxChunkSize)+1) },
		"short sha":         func(d bson.M) { d["chunked"] = set(ref(d), "sha256", "ab") },
		"count of batch op": func(d bson.M) { d["counts"] = bson.D{{Key: "batch", Value: int64(1)}} },
		"negative count":    func(d bson.M) { d["counts"] = bson.D{{Key: "add_role", Value: int64(-1)}} },
		"count as string":   func(d bson.M) { d["counts"] = bson.D{{Key: "add_role", Value: "1"}} },
		"unknown op count":  func(d bson.M) { d["counts"] = bson.D{{Key: "grant_all", Value: int64(1)}} },
	} {
		d := good()
		edit(d)
		if _, _, err := decodeEvent(marshal(t, d), tn, hex); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: %v, want a corrupt-document error", name, err)
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hexenc.EncodeToString(s[:])
}
