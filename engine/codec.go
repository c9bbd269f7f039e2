package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The binary forms of events and snapshots, which stores and buses carry.
// Both start with a format byte so that the format can evolve; decoders check
// every length against the bytes that remain, so hostile or corrupt input
// fails with ErrCorrupt instead of allocating without bound.

const (
	eventFormat = 1
	// eventFormatKey adds the id of the key that made the event after its
	// time; events without one keep format 1.
	eventFormatKey = 2
	// snapshotFormat is the snapshot form without inclusions, which every
	// version reads; snapshotInclusions adds each role's inclusions, and
	// is written only for a tenant that has some, so that a version from
	// before inclusions still reads what it can hold. snapshotFormatKeys
	// is snapshotInclusions and the tenant's keys after the roles, written
	// only for a tenant with keys but its first.
	snapshotFormat     = 1
	snapshotInclusions = 2
	snapshotFormatKeys = 3
	// snapshotFormatWindows is snapshotFormatKeys and the memberships'
	// windows after the keys, written only for a tenant with a window.
	snapshotFormatWindows = 4
	// The flags of the keys section: the first key is revoked, the tenant
	// is deleted (a version before deletion reads the second as a bad
	// flag, and refuses the snapshot).
	snapFirstRevoked = 1 << 0
	snapDeleted      = 1 << 1
)

// ErrCorrupt is returned by the decoders for input that is not a valid
// encoding.
var ErrCorrupt = errors.New("engine: corrupt encoding")

// AppendBinary appends the binary form of ev to dst.
func (ev *Event) AppendBinary(dst []byte) ([]byte, error) {
	format := byte(eventFormat)
	if ev.By != "" {
		format = eventFormatKey
	}
	dst = appendHead(dst, format, ev.Tenant, ev.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, ev.ID)
	var nanos int64
	if !ev.Time.IsZero() {
		nanos = ev.Time.UnixNano()
	}
	dst = binary.AppendVarint(dst, nanos)
	if format == eventFormatKey {
		dst = appendString(dst, ev.By)
	}
	dst = appendChange(dst, &ev.Change)
	if ev.Op.IsBatch() {
		dst = binary.AppendUvarint(dst, uint64(len(ev.Changes)))
		for i := range ev.Changes {
			pace(i)
			dst = growBig(dst)
			dst = appendChange(dst, &ev.Changes[i])
		}
	}
	return dst, nil
}

// MarshalBinary returns the binary form of ev.
func (ev *Event) MarshalBinary() ([]byte, error) { return ev.AppendBinary(nil) }

// UnmarshalBinary decodes ev from data and validates it.
func (ev *Event) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	var out Event
	format, ok := d.head(&out.Tenant, &out.Seq, eventFormat, eventFormatKey)
	if !ok {
		return fmt.Errorf("%w: unknown event format %d", ErrCorrupt, format)
	}
	out.ID = d.uint64()
	if nanos := d.varint(); nanos != 0 {
		out.Time = time.Unix(0, nanos).UTC()
	}
	if format == eventFormatKey {
		if out.By = d.string(); out.By == "" && d.err == nil {
			d.fail("empty key id")
		}
	}
	out.Change = d.change()
	if out.Op.IsBatch() {
		n := d.count(4) // a change takes at least 4 bytes
		if d.err == nil {
			out.Changes = make([]Change, n)
			for i := range out.Changes {
				pace(i)
				out.Changes[i] = d.change()
			}
		}
	}
	if err := d.finish(); err != nil {
		return err
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	*ev = out
	return nil
}

// appendChange appends c's op and then its fields, in the order of the
// field table: those of every change (empty or not), then those c's op
// needs.
func appendChange(dst []byte, c *Change) []byte {
	dst = append(dst, byte(c.Op))
	needs := c.Op.Needs() | c.Op.May()
	for f := Field(0); f < numFields; f++ {
		if fields[f].always || needs.Has(f) {
			dst = appendString(dst, f.Of(c))
		}
	}
	return dst
}

// appendHead appends what both forms begin with: the format byte, the
// tenant and the seq.
func appendHead(dst []byte, format byte, tenant TenantID, seq uint64) []byte {
	dst = append(dst, format)
	dst = append(dst, tenant[:]...)
	return binary.AppendUvarint(dst, seq)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// MarshalBinary returns the binary form of s. Member and permission indices
// are delta-encoded, so a large tenant costs a few bytes per membership.
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	size := 64
	for _, n := range s.Users {
		size += len(n) + 2
	}
	for _, r := range s.Roles {
		size += len(r.Name) + 8 + 2*len(r.Members) + 2*len(r.Permissions)
	}
	format := byte(snapshotFormat)
	if slices.ContainsFunc(s.Roles, func(r RoleSnapshot) bool { return len(r.Includes) > 0 }) {
		format = snapshotInclusions
	}
	if len(s.Keys) > 0 || s.FirstKeyRevoked || s.Deleted {
		format = snapshotFormatKeys
	}
	if len(s.Windows) > 0 {
		format = snapshotFormatWindows
	}
	dst := make([]byte, 0, size)
	dst = appendHead(dst, format, s.Tenant, s.Seq)
	dst = appendStrings(dst, s.Users)
	dst = appendStrings(dst, s.Permissions)
	dst = binary.AppendUvarint(dst, uint64(len(s.Roles)))
	for i := range s.Roles {
		r := &s.Roles[i]
		dst = appendString(dst, r.Name)
		var err error
		if dst, err = appendAscending(dst, r.Permissions); err != nil {
			return nil, fmt.Errorf("role %q permissions: %w", r.Name, err)
		}
		if dst, err = appendAscending(dst, r.Members); err != nil {
			return nil, fmt.Errorf("role %q members: %w", r.Name, err)
		}
		if format >= snapshotInclusions {
			if dst, err = appendAscending(dst, r.Includes); err != nil {
				return nil, fmt.Errorf("role %q inclusions: %w", r.Name, err)
			}
		}
	}
	if format >= snapshotFormatKeys {
		var flags byte
		if s.FirstKeyRevoked {
			flags |= snapFirstRevoked
		}
		if s.Deleted {
			flags |= snapDeleted
		}
		dst = append(dst, flags)
		dst = binary.AppendUvarint(dst, uint64(len(s.Keys)))
		for i := range s.Keys {
			k := &s.Keys[i]
			dst = appendString(dst, k.ID)
			dst = appendString(dst, k.Name)
			dst = append(dst, byte(k.Scope))
			dst = append(dst, k.Hash[:]...)
			var nanos int64
			if !k.Created.IsZero() {
				nanos = k.Created.UnixNano()
			}
			dst = binary.AppendVarint(dst, nanos)
		}
	}
	if format == snapshotFormatWindows {
		dst = binary.AppendUvarint(dst, uint64(len(s.Windows)))
		for _, w := range s.Windows {
			dst = binary.AppendUvarint(dst, uint64(w.User))
			dst = binary.AppendUvarint(dst, uint64(w.Role))
			dst = appendBound(dst, w.Window.StartsAt)
			dst = appendBound(dst, w.Window.ExpiresAt)
		}
	}
	return dst, nil
}

// appendBound appends a window's bound: 0 for none, else 1 and its Unix
// seconds.
func appendBound(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return binary.AppendVarint(append(dst, 1), t.Unix())
}

// bound reads what appendBound writes.
func (d *decoder) bound() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint()
		if sec < minWindowSec || sec > maxWindowSec {
			d.fail("window time out of range")
			return time.Time{}
		}
		return time.Unix(sec, 0).UTC()
	}
	d.fail("bad window bound")
	return time.Time{}
}

// UnmarshalBinary decodes s from data. It checks the encoding, not the
// state: [Engine.Restore] checks that.
func (s *Snapshot) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	var out Snapshot
	format, ok := d.head(&out.Tenant, &out.Seq, snapshotFormat, snapshotInclusions, snapshotFormatKeys, snapshotFormatWindows)
	if !ok {
		return fmt.Errorf("%w: unknown snapshot format %d (this version reads %d to %d)", ErrCorrupt, format, snapshotFormat, snapshotFormatWindows)
	}
	out.Users = d.strings()
	out.Permissions = d.strings()
	if n := d.count(3); d.err == nil {
		out.Roles = make([]RoleSnapshot, n)
		for i := range out.Roles {
			out.Roles[i] = RoleSnapshot{Name: d.string(), Permissions: d.ascending(), Members: d.ascending()}
			if format >= snapshotInclusions {
				out.Roles[i].Includes = d.ascending()
			}
		}
	}
	if format >= snapshotFormatKeys {
		flags := d.byte()
		if flags&^(snapFirstRevoked|snapDeleted) != 0 {
			d.fail(fmt.Sprintf("unknown tenant flags %#x (written by a newer version?)", flags))
		}
		out.FirstKeyRevoked = flags&snapFirstRevoked != 0
		out.Deleted = flags&snapDeleted != 0
		// A key takes at least 2+1+32+1 bytes.
		if n := d.count(36); d.err == nil {
			out.Keys = make([]KeyRecord, n)
			for i := range out.Keys {
				k := &out.Keys[i]
				k.ID, k.Name, k.Scope = d.string(), d.string(), Scope(d.byte())
				copy(k.Hash[:], d.bytes(len(k.Hash)))
				if nanos := d.varint(); nanos != 0 {
					k.Created = time.Unix(0, nanos).UTC()
				}
			}
		}
	}
	if format == snapshotFormatWindows {
		// A window takes at least 1+1+1+1 bytes.
		if n := d.count(4); d.err == nil {
			out.Windows = make([]MemberWindow, n)
			for i := range out.Windows {
				w := &out.Windows[i]
				w.User, w.Role = d.uint32(), d.uint32()
				w.Window.StartsAt, w.Window.ExpiresAt = d.bound(), d.bound()
			}
		}
	}
	if err := d.finish(); err != nil {
		return err
	}
	*s = out
	return nil
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

func appendAscending(dst []byte, xs []uint32) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(xs)))
	prev := uint32(0)
	for i, x := range xs {
		if i > 0 && x <= prev {
			return nil, errors.New("indices not strictly ascending")
		}
		d := x
		if i > 0 {
			d = x - prev - 1
		}
		dst = binary.AppendUvarint(dst, uint64(d))
		prev = x
	}
	return dst, nil
}

// decoder reads a binary form; after the first error every read returns a
// zero value and err keeps the error.
type decoder struct {
	b   []byte
	err error
}

// head reads what appendHead writes, and returns the format; it reports
// false, having read only the format byte, if that is not one of formats.
func (d *decoder) head(tenant *TenantID, seq *uint64, formats ...byte) (byte, bool) {
	format := d.byte()
	if !slices.Contains(formats, format) {
		return format, false
	}
	copy(tenant[:], d.bytes(len(tenant)))
	*seq = d.uvarint()
	return format, true
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n int) []byte {
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uint64() uint64 {
	b := d.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("index out of range")
		return 0
	}
	return uint32(v)
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length whose items take at least minSize bytes each, and
// refuses one the remaining input cannot hold.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/minSize) || n > math.MaxInt32 {
		d.fail("length past end of input")
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string past end of input")
		return ""
	}
	return string(d.bytes(int(n)))
}

func (d *decoder) strings() []string {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func (d *decoder) ascending() []uint32 {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	out := make([]uint32, n)
	var prev uint64
	for i := range out {
		delta := d.uvarint()
		if delta > math.MaxUint32 {
			// Also keeps prev+delta+1 from wrapping around 64 bits.
			d.fail("index out of range")
			return nil
		}
		x := delta
		if i > 0 {
			x = prev + delta + 1
		}
		if x > math.MaxUint32 {
			d.fail("index out of range")
			return nil
		}
		out[i] = uint32(x)
		prev = x
	}
	return out
}

// change reads what appendChange writes.
func (d *decoder) change() Change {
	c := Change{Op: Op(d.byte())}
	needs := c.Op.Needs() | c.Op.May()
	for f := Field(0); f < numFields; f++ {
		if fields[f].always || needs.Has(f) {
			if s := d.string(); s != "" || !c.Op.May().Has(f) {
				*f.In(&c) = s
			}
		}
	}
	return c
}

func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	return nil
}
