package bolt

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// The meta bucket describes the store itself. Its values are framed like
// every record.
var (
	bucketMeta = []byte("meta")

	// metaFormat is the store's format (uint32, big endian); a store
	// without a meta bucket is of format 1.
	metaFormat = []byte("format")
	// metaEpoch is the store's epoch: random, chosen when the store is
	// created and again when a backup of it is restored (see Epoch).
	metaEpoch = []byte("epoch")
	// metaOpen is present while a process has the store open (it holds
	// the time of the open): found at open, it says the last process did
	// not close the store, and the file's consistency is checked.
	metaOpen = []byte("open")
	// metaRestore is present only in backups (see OpenBackup): the store
	// a backup is opened as takes a new epoch, and deletes it.
	metaRestore = []byte("restore")
)

// Store formats.
const (
	formatBare   = 1 // records without frames, before checksums
	formatFramed = 2 // every record framed and checksummed
	// formatPurged: a tenant's events at or below its snapshot's seq may
	// be gone (Purge). A store takes it at its first purge, so that a
	// version before purges refuses it rather than finding events
	// missing; new stores are of formatFramed.
	formatPurged = 3
	storeFormat  = formatPurged
)

// storeMeta is what the meta bucket says.
type storeMeta struct {
	format  uint32
	epoch   string // hex; empty if none yet
	open    bool   // the last process did not close the store
	restore bool   // the file is a backup, not yet opened as a store
	empty   bool   // a new file: no buckets at all
}

func readMeta(tx *bbolt.Tx) (storeMeta, error) {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		empty := true
		for _, name := range [][]byte{bucketEvents, bucketHeads, bucketSnapshots} {
			empty = empty && tx.Bucket(name) == nil
		}
		return storeMeta{format: formatBare, empty: empty}, nil
	}
	var m storeMeta
	get := func(key []byte) ([]byte, error) {
		v := b.Get(key)
		if v == nil {
			return nil, nil
		}
		return payloadOf("meta "+string(key), key, v)
	}
	v, err := get(metaFormat)
	if err != nil {
		return m, err
	}
	if len(v) != 4 {
		return m, corruptf("meta format", "%d bytes", len(v))
	}
	m.format = binary.BigEndian.Uint32(v)
	if v, err = get(metaEpoch); err != nil {
		return m, err
	}
	m.epoch = hex.EncodeToString(v)
	if v, err = get(metaOpen); err != nil {
		return m, err
	}
	m.open = v != nil
	if v, err = get(metaRestore); err != nil {
		return m, err
	}
	m.restore = v != nil
	return m, nil
}

// payloadOf unframes a value that is always framed.
func payloadOf(where string, key, v []byte) ([]byte, error) {
	p, _, err := payload(where, key, v, false, nil)
	return p, err
}

func putMeta(tx *bbolt.Tx, key, payload []byte) error {
	b, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	return b.Put(key, frame(key, payload))
}

func newEpoch() []byte {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return b
}

func nowBytes() []byte { return binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())) }

// migrateBatch bounds the records one transaction of migrate frames.
const migrateBatch = 10_000

// migrate frames every bare record of a store of format 1, in
// transactions of migrateBatch records, and sets the format last. A
// migration cut short is taken up again at the next open: records already
// framed are left as they are. Every bare record is decoded first, so that
// nothing damaged is given a checksum. It returns how many records it
// framed.
func migrate(db *bbolt.DB) (int, error) {
	framed := 0
	for _, name := range [][]byte{bucketHeads, bucketSnapshots, bucketEvents} {
		var from []byte
		for done := false; !done; {
			err := db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket(name)
				type kv struct{ k, v []byte }
				var todo []kv
				c := b.Cursor()
				k, v := c.First()
				if from != nil {
					k, v = c.Seek(from)
				}
				for n := 0; k != nil && n < migrateBatch; k, v = c.Next() {
					nv, err := reframe(name, k, v)
					if err != nil {
						return err
					}
					if nv != nil {
						todo = append(todo, kv{bytes.Clone(k), nv})
					}
					n++
				}
				from, done = bytes.Clone(k), k == nil
				for _, r := range todo {
					if err := b.Put(r.k, r.v); err != nil {
						return err
					}
				}
				framed += len(todo)
				return nil
			})
			if err != nil {
				return framed, err
			}
		}
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		return putMeta(tx, metaFormat, binary.BigEndian.AppendUint32(nil, formatFramed))
	})
	return framed, err
}

// reframe returns the framed form of the record v of bucket name under
// key k, or nil if it is framed already; either way it checks it.
func reframe(name, k, v []byte) ([]byte, error) {
	var bare bool
	var err error
	switch {
	case bytes.Equal(name, bucketHeads):
		bare = legacyHead(v)
		_, err = decodeHead(k, v, true)
	case bytes.Equal(name, bucketSnapshots):
		if len(k) != 32 {
			return nil, corruptf("snapshots bucket", "key of %d bytes", len(k))
		}
		bare = legacyForm(v)
		_, err = decodeSnapshot([32]byte(k), v, true)
	default:
		bare = legacyForm(v)
		_, err = decodeEvent(k, v, true)
	}
	if err != nil {
		return nil, fmt.Errorf("framing the records of a store written before checksums: %w", err)
	}
	if !bare {
		return nil, nil
	}
	return frame(k, v), nil
}
