package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"

	"auth/engine"
)

// The records of the three data buckets, framed (frame.go). Decoding
// checks the frame, the payload's own encoding, and that the payload
// belongs under its key (an event's tenant and seq).

// legacyPayloadFormat is the first byte of the engine's binary forms of
// format 1, which stores of format 1 held bare.
const legacyPayloadFormat = 1

func eventKey(tenant engine.TenantID, seq uint64) []byte {
	k := make([]byte, 40)
	copy(k, tenant[:])
	binary.BigEndian.PutUint64(k[32:], seq)
	return k
}

func seqBytes(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func eventWhere(tenant engine.TenantID, seq uint64) string {
	return fmt.Sprintf("tenant %s event %d", tenant, seq)
}

// encodeEvent returns ev's record, stored under key.
func encodeEvent(key []byte, ev *engine.Event) ([]byte, error) {
	b, err := ev.AppendBinary(newFrame(64 + len(ev.Role) + len(ev.Permission) + len(ev.User)))
	if err != nil {
		return nil, err
	}
	return sealFrame(b, key), nil
}

// payload unframes v, stored under key, or with legacy true takes a bare
// payload of format 1 as it is (isLegacy tells one; bare says it was).
func payload(where string, key, v []byte, legacy bool, isLegacy func([]byte) bool) (p []byte, bare bool, err error) {
	if legacy && isLegacy(v) {
		return v, true, nil
	}
	p, err = unframe(key, v)
	if err != nil {
		var fe *frameError
		if errors.As(err, &fe) && fe.newer {
			return nil, false, fmt.Errorf("%w: %s: %s", ErrNewerFormat, where, fe.msg)
		}
		return nil, false, corruptf(where, "%v", err)
	}
	return p, false, nil
}

// undecodable describes a payload that does not decode.
func undecodable(where string, bare bool, err error) *CorruptError {
	if bare {
		return corruptf(where, "does not decode (%v)", err)
	}
	return corruptf(where, "its checksum holds but it does not decode (%v): written by a newer auth-server, or damaged before it was checksummed", err)
}

func legacyForm(v []byte) bool { return len(v) > 0 && v[0] == legacyPayloadFormat }
func legacyHead(v []byte) bool { return len(v) == 8 }

// decodeEvent decodes the event record v stored under key k (tenant, seq).
func decodeEvent(k, v []byte, legacy bool) (engine.Event, error) {
	if len(k) != 40 {
		return engine.Event{}, corruptf("events bucket", "key of %d bytes", len(k))
	}
	tenant, seq := engine.TenantID(k[:32]), binary.BigEndian.Uint64(k[32:])
	where := eventWhere(tenant, seq)
	p, bare, err := payload(where, k, v, legacy, legacyForm)
	if err != nil {
		return engine.Event{}, err
	}
	var ev engine.Event
	if err := ev.UnmarshalBinary(p); err != nil {
		return engine.Event{}, undecodable(where, bare, err)
	}
	if ev.Seq != seq || ev.Tenant != tenant {
		return engine.Event{}, corruptf(where, "the record holds tenant %s seq %d", ev.Tenant, ev.Seq)
	}
	return ev, nil
}

// encodeSnapshot returns snap's record, stored under its tenant.
func encodeSnapshot(snap *engine.Snapshot) ([]byte, error) {
	data, err := snap.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return frame(snap.Tenant[:], data), nil
}

// decodeSnapshot decodes the snapshot record v stored under tenant.
func decodeSnapshot(tenant engine.TenantID, v []byte, legacy bool) (*engine.Snapshot, error) {
	where := fmt.Sprintf("tenant %s snapshot", tenant)
	p, bare, err := payload(where, tenant[:], v, legacy, legacyForm)
	if err != nil {
		return nil, err
	}
	snap := new(engine.Snapshot)
	if err := snap.UnmarshalBinary(p); err != nil {
		return nil, undecodable(where, bare, err)
	}
	if snap.Tenant != tenant {
		return nil, corruptf(where, "the record holds tenant %s", snap.Tenant)
	}
	return snap, nil
}

func encodeHead(tenant engine.TenantID, seq uint64) []byte {
	return frame(tenant[:], seqBytes(seq))
}

// decodeHead decodes the head record v of tenant k; a missing record (nil)
// is head 0.
func decodeHead(k, v []byte, legacy bool) (uint64, error) {
	if len(k) != 32 {
		return 0, corruptf("heads bucket", "key of %d bytes", len(k))
	}
	if v == nil {
		return 0, nil
	}
	where := fmt.Sprintf("tenant %s head", engine.TenantID(k))
	p, _, err := payload(where, k, v, legacy, legacyHead)
	if err != nil {
		return 0, err
	}
	if len(p) != 8 {
		return 0, corruptf(where, "payload of %d bytes", len(p))
	}
	return binary.BigEndian.Uint64(p), nil
}
