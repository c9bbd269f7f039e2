package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Every value the store keeps (an event, a snapshot, a head, a meta entry)
// is framed:
//
//	offset 0     frameMarker
//	offset 1     frame version
//	offset 2..5  CRC-32C (Castagnoli), little endian, of the version byte,
//	             the record's key and the payload, in that order
//	offset 6..   payload (the engine's binary form; a head's 8-byte seq)
//
// The key is in the checksum so that a damaged key (a leaf page holds keys
// and values side by side) fails its value's check, instead of moving the
// value to another tenant or seq. The marker, the version's place and the
// checksum's place and coverage are fixed for every later frame version,
// so that a newer frame is told apart from a damaged one: its checksum
// holds.
//
// Stores written before frames (store format 1) held bare payloads; Open
// frames them once (see migrate).

const (
	frameMarker  = 0xa5
	frameVersion = 1
	frameHeader  = 6
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// versionCRC is the checksum of frameVersion's byte, where every
	// frame's checksum starts.
	versionCRC = crc32.Update(0, castagnoli, []byte{frameVersion})
)

// frameChecksum is the checksum of a frame with version ver over key and
// payload.
func frameChecksum(ver byte, key, payload []byte) uint32 {
	c := versionCRC
	if ver != frameVersion {
		c = crc32.Update(0, castagnoli, []byte{ver})
	}
	c = crc32.Update(c, castagnoli, key)
	return crc32.Update(c, castagnoli, payload)
}

// newFrame returns a buffer holding a frame header with room for n more
// bytes of payload; sealFrame fills the header in once the payload is
// appended.
func newFrame(n int) []byte {
	b := make([]byte, frameHeader, frameHeader+n)
	b[0], b[1] = frameMarker, frameVersion
	return b
}

// sealFrame writes the checksum of frame b, stored under key.
func sealFrame(b, key []byte) []byte {
	binary.LittleEndian.PutUint32(b[2:6], frameChecksum(b[1], key, b[frameHeader:]))
	return b
}

// frame returns payload framed under key.
func frame(key, payload []byte) []byte {
	return sealFrame(append(newFrame(len(payload)), payload...), key)
}

// frameError says why a value is not a frame this version reads. newer
// marks a frame whose checksum holds but whose version is later than this
// version knows: written by a newer auth-server, not damaged.
type frameError struct {
	msg   string
	newer bool
}

func (e *frameError) Error() string { return e.msg }

// unframe checks the frame b stored under key and returns its payload,
// which aliases b.
func unframe(key, b []byte) ([]byte, error) {
	if len(b) < frameHeader {
		return nil, &frameError{msg: fmt.Sprintf("record of %d bytes is shorter than its header", len(b))}
	}
	if b[0] != frameMarker {
		return nil, &frameError{msg: fmt.Sprintf("record does not begin with the frame marker (0x%02x)", b[0])}
	}
	want := binary.LittleEndian.Uint32(b[2:6])
	if got := frameChecksum(b[1], key, b[frameHeader:]); got != want {
		return nil, &frameError{msg: fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", want, got)}
	}
	switch {
	case b[1] == frameVersion:
		return b[frameHeader:], nil
	case b[1] > frameVersion:
		return nil, &frameError{newer: true, msg: fmt.Sprintf(
			"record of frame version %d, newer than this version reads (%d): written by a newer auth-server", b[1], frameVersion)}
	default:
		return nil, &frameError{msg: fmt.Sprintf("frame version %d", b[1])}
	}
}
