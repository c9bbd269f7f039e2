package mongo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"auth/engine"
	"auth/persist"
)

// Collection names.
const (
	collEvents    = "events"
	collTenants   = "tenants"
	collSnapshots = "snapshots"
	collChunks    = "snapshot_chunks"
	// collEventChunks holds the binary form of events too large to be
	// stored inline (see eventDoc.Chunked).
	collEventChunks = "event_chunks"
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
	Time      *bson.DateTime `bson:"time,omitempty"`
	TimeNanos int32          `bson:"time_ns,omitempty"`
	Change    changeDoc      `bson:",inline"`           // op and names
	Changes   []changeDoc    `bson:"changes,omitempty"` // OpBatch only
	// By is the id of the key that made the event (engine.Event.By; never
	// a secret).
	By string `bson:"by,omitempty"`
	// A batch whose document would be larger than Config.MaxInlineEvent
	// has no changes array: Chunked names the event_chunks documents that
	// hold it, and Counts gives the number of changes of each op (in op
	// order, op name: count) for people reading the collection.
	Counts  bson.D       `bson:"counts,omitempty"`
	Chunked *eventChunks `bson:"chunked,omitempty"`
}

// eventChunks names the chunks of an event stored in chunks: their _ids
// are eventChunkKey(tenant, Nonce, 0..Chunks-1), and their data, joined,
// is Size bytes with the given SHA-256: the event's chunked form (see
// chunkedForm).
type eventChunks struct {
	Nonce  string `bson:"nonce"` // random, chosen by the append that wrote them
	Chunks int32  `bson:"chunks"`
	Size   int64  `bson:"size"`
	SHA256 string `bson:"sha256"` // hex
}

// maxEventChunks bounds the chunks of one event (chunk numbers are six
// digits in keys).
const maxEventChunks = 999_999

// eventChunkKey is the _id of chunk i of an event stored in chunks: tenant,
// nonce, chunk number. It has no seq: the chunks are written before the
// event wins its seq, and stay valid whichever seq it gets.
func eventChunkKey(tenant, nonce string, i int) string {
	return fmt.Sprintf("%s:%s:%06d", tenant, nonce, i)
}

// eventChunkDoc is one chunk of an event. Written is when it was written,
// so that chunks left behind by a process that died can be told from those
// of an append in progress (see the package doc).
type eventChunkDoc struct {
	Key     string        `bson:"_id"`
	Data    []byte        `bson:"data"`
	Written bson.DateTime `bson:"written"`
}

func (c *eventChunks) check() error {
	switch {
	case len(c.Nonce) != 16 || strings.Trim(c.Nonce, "0123456789abcdef") != "":
		return fmt.Errorf("nonce %q", c.Nonce)
	case c.Chunks < 1 || c.Chunks > maxEventChunks:
		return fmt.Errorf("%d chunks", c.Chunks)
	case c.Size < int64(c.Chunks) || c.Size > int64(c.Chunks)*MaxChunkSize:
		return fmt.Errorf("size %d in %d chunks", c.Size, c.Chunks)
	case len(c.SHA256) != 64:
		return fmt.Errorf("sha256 %q", c.SHA256)
	}
	return nil
}

// bigEvent is an event being appended in chunks.
type bigEvent struct {
	data   []byte // chunkedForm
	ref    eventChunks
	counts bson.D
}

// chunkedForm is what the chunks of an event hold: the event's binary form
// (engine.Event.MarshalBinary) without its seq and time, which the event
// document gives (so the chunks stay valid at whichever seq the event
// lands).
func chunkedForm(ev *engine.Event) ([]byte, error) {
	bare := engine.Event{Tenant: ev.Tenant, ID: ev.ID, Change: engine.Change{Op: engine.OpBatch}, Changes: ev.Changes}
	return bare.MarshalBinary()
}

// opCounts counts a batch's changes by op, for eventDoc.Counts, in op
// order.
func opCounts(changes []engine.Change) bson.D {
	var n [256]int64 // by engine.Op
	for i := range changes {
		n[changes[i].Op]++
	}
	var d bson.D
	for _, op := range engine.Ops() {
		if n[op] > 0 && !op.IsBatch() {
			d = append(d, bson.E{Key: op.String(), Value: n[op]})
		}
	}
	return d
}

// inlineSize returns the size of ev's document with its changes listed
// inline, or an upper bound of it; once that passes limit it stops counting
// and returns a number over limit.
func inlineSize(ev *engine.Event, limit int) int {
	field := func(name, v string) int {
		if v == "" {
			return 0
		}
		return 1 + len(name) + 1 + 4 + len(v) + 1 // type, name, length, value, NUL
	}
	n := 512 // everything but the changes (the _id alone is 85 bytes)
	digits, next := 1, 10
	for i := range ev.Changes {
		if i == next {
			digits, next = digits+1, next*10
		}
		c := &ev.Changes[i]
		// Array element: type, index as a C string, then the document:
		// length, fields, terminator.
		n += 1 + digits + 1 + 4 + field("op", c.Op.String()) + 1
		for _, f := range engine.Fields() {
			n += field(f.String(), f.Of(c))
		}
		if n > limit {
			break
		}
	}
	return n
}

type changeDoc struct {
	Op         string `bson:"op"` // engine.Op.String
	Role       string `bson:"role,omitempty"`
	Permission string `bson:"permission,omitempty"`
	User       string `bson:"user,omitempty"`
	Includes   string `bson:"includes,omitempty"`
	// The key ops' fields (never a secret: KeyHash is its hash).
	KeyID   string `bson:"key_id,omitempty"`
	KeyName string `bson:"key_name,omitempty"`
	Scope   string `bson:"scope,omitempty"`
	KeyHash string `bson:"key_hash,omitempty"`
	// A membership's window (add_membership_window), a sweep's cutoff.
	StartsAt  string `bson:"starts_at,omitempty"`
	ExpiresAt string `bson:"expires_at,omitempty"`
}

func toChangeDoc(c *engine.Change) changeDoc {
	k := c.KeyFields()
	return changeDoc{Op: c.Op.String(), Role: c.Role, Permission: c.Permission, User: c.User, Includes: c.Includes,
		KeyID: k.ID, KeyName: k.Name, Scope: k.Scope, KeyHash: k.Hash,
		StartsAt: engine.FieldStartsAt.Of(c), ExpiresAt: engine.FieldExpiresAt.Of(c)}
}

// newEventDoc returns the document of ev at seq; big is nil for an event
// stored inline, else it says where its chunks are.
func newEventDoc(ev *engine.Event, tenant string, seq uint64, big *bigEvent) *eventDoc {
	d := &eventDoc{
		Key:    eventKey(tenant, seq),
		Tenant: tenant,
		Seq:    int64(seq),
		ID:     fmt.Sprintf("%016x", ev.ID),
		Change: toChangeDoc(&ev.Change),
		By:     ev.By,
	}
	if !ev.Time.IsZero() {
		ms := ev.Time.UnixMilli()
		dt := bson.DateTime(ms)
		d.Time = &dt
		d.TimeNanos = int32(ev.Time.Sub(time.UnixMilli(ms)))
	}
	if big != nil {
		d.Counts, d.Chunked = big.counts, &big.ref
		return d
	}
	for i := range ev.Changes {
		d.Changes = append(d.Changes, toChangeDoc(&ev.Changes[i]))
	}
	return d
}

// errCorrupt marks stored documents that do not decode to a valid event or
// snapshot. It is persist.ErrCorrupt, so that a server tells damaged data
// from an unreachable store.
var errCorrupt error = corruptDocument{}

type corruptDocument struct{}

func (corruptDocument) Error() string { return "mongo: corrupt document" }
func (corruptDocument) Unwrap() error { return persist.ErrCorrupt }

// chunkedEvent is what an event document stored in chunks says about them.
type chunkedEvent struct {
	ref    eventChunks
	counts map[engine.Op]int64
}

// decodeEvent decodes and validates one stored event of tenant. Bad input
// gives an error wrapping engine.ErrCorrupt, never a panic. For an event
// stored in chunks it returns the event without its changes, and what its
// document says of the chunks (see attachChunked).
func decodeEvent(raw bson.Raw, tenant engine.TenantID, hexTenant string) (ev engine.Event, chunked *chunkedEvent, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, chunked = engine.Event{}, nil
			err = fmt.Errorf("%w: %w: decoding panicked: %v", errCorrupt, engine.ErrCorrupt, r)
		}
	}()
	var d eventDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return ev, nil, fmt.Errorf("%w: %w: event: %v", errCorrupt, engine.ErrCorrupt, err)
	}
	bad := func(format string, args ...any) (engine.Event, *chunkedEvent, error) {
		return engine.Event{}, nil, fmt.Errorf("%w: %w: event %q: %s", errCorrupt, engine.ErrCorrupt, d.Key, fmt.Sprintf(format, args...))
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
	ev = engine.Event{Tenant: tenant, Seq: seq, ID: id, By: d.By}
	if d.Time != nil {
		if d.TimeNanos < 0 || d.TimeNanos >= 1e6 {
			return bad("time_ns field %d", d.TimeNanos)
		}
		ev.Time = time.UnixMilli(int64(*d.Time)).Add(time.Duration(d.TimeNanos)).UTC()
	} else if d.TimeNanos != 0 {
		return bad("time_ns without time")
	}
	if ev.Change, err = fromChangeDoc(&d.Change); err != nil {
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
	if d.Chunked != nil || d.Counts != nil {
		if ev.Op != engine.OpBatch || len(d.Changes) > 0 || d.Chunked == nil {
			return bad("%s event with chunks, changes or counts", ev.Op)
		}
		if err := d.Chunked.check(); err != nil {
			return bad("chunked: %v", err)
		}
		chunked = &chunkedEvent{ref: *d.Chunked, counts: map[engine.Op]int64{}}
		for _, e := range d.Counts {
			op, err := engine.ParseOp(e.Key)
			n, ok := e.Value.(int64)
			if i, ok32 := e.Value.(int32); ok32 {
				n, ok = int64(i), true
			}
			if err != nil || op == engine.OpBatch || !ok || n <= 0 || chunked.counts[op] != 0 {
				return bad("counts: %s: %v", e.Key, e.Value)
			}
			chunked.counts[op] = n
		}
	}
	if err := ev.Validate(); err != nil {
		return bad("%v", err)
	}
	return ev, chunked, nil
}

// attachChunked gives ev, decoded from a document stored in chunks, the
// changes in data, the chunks joined, after checking them against the
// document.
func attachChunked(ev *engine.Event, c *chunkedEvent, data []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %w: event %s at seq %d: chunks %s: %s", errCorrupt, engine.ErrCorrupt,
			ev.Tenant, ev.Seq, c.ref.Nonce, fmt.Sprintf(format, args...))
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); int64(len(data)) != c.ref.Size || got != c.ref.SHA256 {
		return bad("%d bytes with sha256 %s, want %d bytes with %s", len(data), got, c.ref.Size, c.ref.SHA256)
	}
	var bare engine.Event
	if err := bare.UnmarshalBinary(data); err != nil {
		return bad("%v", err)
	}
	if bare.Tenant != ev.Tenant || bare.ID != ev.ID || bare.Seq != 0 || !bare.Time.IsZero() ||
		bare.Change != (engine.Change{Op: engine.OpBatch}) {
		return bad("they hold another event (tenant %s, id %016x)", bare.Tenant, bare.ID)
	}
	counts := map[engine.Op]int64{}
	for i := range bare.Changes {
		counts[bare.Changes[i].Op]++
	}
	if !maps.Equal(counts, c.counts) {
		return bad("change counts %v, document says %v", counts, c.counts)
	}
	ev.Changes = bare.Changes
	return nil
}

func fromChangeDoc(d *changeDoc) (engine.Change, error) {
	op, err := engine.ParseOp(d.Op)
	if err != nil {
		return engine.Change{}, err
	}
	return engine.Change{Op: op, Role: d.Role, Permission: d.Permission, User: d.User, Includes: d.Includes,
		Key: engine.NewKeyArgs(d.KeyID, d.KeyName, d.Scope, d.KeyHash), Window: engine.NewWindowArgs(d.StartsAt, d.ExpiresAt)}, nil
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
