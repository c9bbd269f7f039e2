package mongo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/engine"
)

// Collection names.
const (
	collEvents    = "events"
	collTenants   = "tenants"
	collSnapshots = "snapshots"
	collChunks    = "snapshot_chunks"
)

// seqDigits is the width of a zero-padded seq in keys: enough for any
// uint64, so that keys sort as their seqs do.
const seqDigits = 20

// eventKey is the _id of a tenant's event: tenant hex, ":", padded seq.
func eventKey(tenant string, seq uint64) string {
	return tenant + ":" + padSeq(seq)
}

func padSeq(seq uint64) string {
	s := strconv.FormatUint(seq, 10)
	return strings.Repeat("0", seqDigits-len(s)) + s
}

// tenantEnd is above every key of tenant (";" follows ":").
func tenantEnd(tenant string) string { return tenant + ";" }

// seqOfKey parses the seq out of an event key of tenant.
func seqOfKey(tenant, key string) (uint64, error) {
	rest, ok := strings.CutPrefix(key, tenant+":")
	if !ok || len(rest) != seqDigits {
		return 0, fmt.Errorf("malformed event key %q", key)
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("malformed event key %q", key)
	}
	return seq, nil
}

// eventDoc is an event as stored: one document per event, every field
// readable, so that the collection is an audit trail.
type eventDoc struct {
	Key    string `bson:"_id"`    // eventKey(tenant, seq)
	Tenant string `bson:"tenant"` // engine.TenantID hex
	Seq    int64  `bson:"seq"`
	ID     string `bson:"id"` // engine.Event.ID, 16 hex digits
	// Time is the event's time to the millisecond (absent for a zero
	// time); TimeNanos adds the nanoseconds within that millisecond.
	Time       *bson.DateTime `bson:"time,omitempty"`
	TimeNanos  int32          `bson:"time_ns,omitempty"`
	Op         string         `bson:"op"` // engine.Op.String
	Role       string         `bson:"role,omitempty"`
	Permission string         `bson:"permission,omitempty"`
	User       string         `bson:"user,omitempty"`
	Changes    []changeDoc    `bson:"changes,omitempty"` // OpBatch only
}

type changeDoc struct {
	Op         string `bson:"op"` // engine.Op.String
	Role       string `bson:"role,omitempty"`
	Permission string `bson:"permission,omitempty"`
	User       string `bson:"user,omitempty"`
}

func toChangeDoc(c *engine.Change) changeDoc {
	return changeDoc{Op: c.Op.String(), Role: c.Role, Permission: c.Permission, User: c.User}
}

func newEventDoc(ev *engine.Event, tenant string, seq uint64) *eventDoc {
	d := &eventDoc{
		Key:        eventKey(tenant, seq),
		Tenant:     tenant,
		Seq:        int64(seq),
		ID:         fmt.Sprintf("%016x", ev.ID),
		Op:         ev.Op.String(),
		Role:       ev.Role,
		Permission: ev.Permission,
		User:       ev.User,
	}
	if !ev.Time.IsZero() {
		ms := ev.Time.UnixMilli()
		dt := bson.DateTime(ms)
		d.Time = &dt
		d.TimeNanos = int32(ev.Time.Sub(time.UnixMilli(ms)))
	}
	for i := range ev.Changes {
		d.Changes = append(d.Changes, toChangeDoc(&ev.Changes[i]))
	}
	return d
}

// errCorrupt marks stored documents that do not decode to a valid event or
// snapshot.
var errCorrupt = errors.New("mongo: corrupt document")

// decodeEvent decodes and validates one stored event of tenant. Bad input
// gives an error wrapping engine.ErrCorrupt, never a panic.
func decodeEvent(raw bson.Raw, tenant engine.TenantID, hexTenant string) (ev engine.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %w: decoding panicked: %v", errCorrupt, engine.ErrCorrupt, r)
		}
	}()
	var d eventDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return ev, fmt.Errorf("%w: %w: event: %v", errCorrupt, engine.ErrCorrupt, err)
	}
	bad := func(format string, args ...any) (engine.Event, error) {
		return engine.Event{}, fmt.Errorf("%w: %w: event %q: %s", errCorrupt, engine.ErrCorrupt, d.Key, fmt.Sprintf(format, args...))
	}
	seq, err := seqOfKey(hexTenant, d.Key)
	if err != nil {
		return bad("%v", err)
	}
	if d.Tenant != hexTenant {
		return bad("tenant field %q", d.Tenant)
	}
	if d.Seq <= 0 || uint64(d.Seq) != seq {
		return bad("seq field %d", d.Seq)
	}
	if len(d.ID) != 16 {
		return bad("id field %q", d.ID)
	}
	id, err := strconv.ParseUint(d.ID, 16, 64)
	if err != nil {
		return bad("id field %q", d.ID)
	}
	ev = engine.Event{Tenant: tenant, Seq: seq, ID: id}
	if d.Time != nil {
		if d.TimeNanos < 0 || d.TimeNanos >= 1e6 {
			return bad("time_ns field %d", d.TimeNanos)
		}
		ev.Time = time.UnixMilli(int64(*d.Time)).Add(time.Duration(d.TimeNanos)).UTC()
	} else if d.TimeNanos != 0 {
		return bad("time_ns without time")
	}
	if ev.Change, err = fromChangeDoc(&changeDoc{Op: d.Op, Role: d.Role, Permission: d.Permission, User: d.User}); err != nil {
		return bad("%v", err)
	}
	if len(d.Changes) > 0 {
		if ev.Op != engine.OpBatch {
			return bad("%s event with changes", ev.Op)
		}
		ev.Changes = make([]engine.Change, len(d.Changes))
		for i := range d.Changes {
			if ev.Changes[i], err = fromChangeDoc(&d.Changes[i]); err != nil {
				return bad("change %d: %v", i, err)
			}
		}
	}
	if err := ev.Validate(); err != nil {
		return bad("%v", err)
	}
	return ev, nil
}

func fromChangeDoc(d *changeDoc) (engine.Change, error) {
	op, err := engine.ParseOp(d.Op)
	if err != nil {
		return engine.Change{}, err
	}
	return engine.Change{Op: op, Role: d.Role, Permission: d.Permission, User: d.User}, nil
}

// tenantDoc lists a tenant in the tenants collection; it is inserted before
// the tenant's first event, so Load finds every tenant without scanning the
// events.
type tenantDoc struct {
	Key     string        `bson:"_id"` // tenant hex
	Created bson.DateTime `bson:"created"`
}

// snapshotDoc is a tenant's latest snapshot: it names the chunks that hold
// the binary, which are written before it and never change.
type snapshotDoc struct {
	Key    string        `bson:"_id"` // tenant hex
	Seq    int64         `bson:"seq"`
	Nonce  string        `bson:"nonce"` // distinguishes concurrent saves of one seq
	Chunks int32         `bson:"chunks"`
	Size   int64         `bson:"size"`
	SHA256 string        `bson:"sha256"` // of the whole binary, hex
	Saved  bson.DateTime `bson:"saved"`
	// For people reading the collection.
	Users       int `bson:"users"`
	Roles       int `bson:"roles"`
	Permissions int `bson:"permissions"`
}

// chunkKey is the _id of chunk i of a snapshot: tenant, padded seq, nonce,
// chunk number.
func chunkKey(tenant string, seq uint64, nonce string, i int) string {
	return fmt.Sprintf("%s:%s:%s:%06d", tenant, padSeq(seq), nonce, i)
}

type chunkDoc struct {
	Key  string `bson:"_id"`
	Data []byte `bson:"data"`
}

// check reports a snapshot document that cannot name a valid snapshot.
func (d *snapshotDoc) check(maxChunk int) error {
	switch {
	case d.Seq < 0:
		return fmt.Errorf("seq %d", d.Seq)
	case d.Nonce == "" || strings.ContainsAny(d.Nonce, ":"):
		return fmt.Errorf("nonce %q", d.Nonce)
	case d.Chunks < 1 || d.Chunks > math.MaxInt16:
		return fmt.Errorf("%d chunks", d.Chunks)
	case d.Size < 1 || d.Size > int64(d.Chunks)*int64(maxChunk):
		return fmt.Errorf("size %d in %d chunks", d.Size, d.Chunks)
	case len(d.SHA256) != 64:
		return fmt.Errorf("sha256 %q", d.SHA256)
	}
	return nil
}
