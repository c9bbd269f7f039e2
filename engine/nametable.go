package engine

import (
	"hash/maphash"
)

// A nameTable maps names to values of type V, for the two lookups every
// check makes (the user and the permission). It is an open-addressing hash
// table with linear probing. A slot holds the value, a 32-bit hash and the
// name's first inlineKey bytes, so that a name that fits (user ids, e-mail
// addresses and UUIDs do) is compared without following a pointer: with
// userEntry a slot is exactly one 64-byte cache line. A separate array of
// one control byte per slot (0 for empty, else 7 bits of the hash) is what
// a probe walks; it is a sixty-fourth of the slots' size, so it stays in
// the CPU caches, and a lookup of a present name reads one slot line from
// memory where a Go map reads a control word, a slot and the key's bytes.
//
// A longer name keeps its first inlineKey bytes in the slot and the whole
// name where the tenant keeps it anyway; full returns it from the value.
//
// Deletion shifts the slots that follow back (no tombstones), so probes
// stay short under any mix of writes. The table grows past a load of 7/8
// and shrinks below 1/8. Slots hold no pointers, so the garbage collector
// does not scan them. Not safe for concurrent use: the tenant's lock guards
// it, as it guarded the maps.
type nameTable[V any] struct {
	ctrl  []uint8   // by slot: 0 if empty, else tagOf(hash)
	slots []slot[V] // a power of two of them, or none
	n     int
	seed  maphash.Seed
	full  func(*V) string // the whole name of a slot whose name is long
}

// inlineKey is how many bytes of a name a slot holds.
const inlineKey = 39

// longKey is slot.klen for a name longer than inlineKey.
const longKey = inlineKey + 1

type slot[V any] struct {
	hash uint32 // the low 32 bits of the name's hash; the slot's home is hash & mask
	klen uint8  // the name's length, or longKey
	key  [inlineKey]byte
	val  V
}

// tagOf is the control byte of a hash: its top 7 bits, and the high bit
// set so that it is never 0. The home slot comes from the low bits.
func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

func newNameTable[V any](full func(*V) string) nameTable[V] {
	return nameTable[V]{seed: maphash.MakeSeed(), full: full}
}

func (t *nameTable[V]) len() int { return t.n }

func (t *nameTable[V]) match(s *slot[V], name string) bool {
	if len(name) <= inlineKey {
		return int(s.klen) == len(name) && string(s.key[:len(name)]) == name
	}
	return s.klen == longKey && string(s.key[:]) == name[:inlineKey] && t.full(&s.val) == name
}

// A probe is a lookup begun by start: the name's hash, its home slot and
// what start read there. Beginning two lookups before finishing either
// lets their reads from memory overlap, which is what a check does with
// its user and its permission.
type probe struct {
	h    uint64
	i    uint32 // the home slot
	c    uint8  // its control byte, 0 if the table is empty
	hash uint32 // its slot's hash
}

// start begins the lookup of name: it hashes name and reads its home
// slot's control byte and hash, and nothing that depends on them.
func (t *nameTable[V]) start(name string) probe {
	if t.n == 0 {
		return probe{}
	}
	h := maphash.String(t.seed, name)
	i := uint32(h) & uint32(len(t.ctrl)-1)
	return probe{h: h, i: i, c: t.ctrl[i], hash: t.slots[i].hash}
}

// finish ends the lookup of name begun by start and returns the index of
// name's slot, or -1.
func (t *nameTable[V]) finish(name string, p probe) int {
	if p.c == 0 {
		return -1
	}
	tag, h32 := tagOf(p.h), uint32(p.h)
	if p.c == tag && p.hash == h32 && t.match(&t.slots[p.i], name) {
		return int(p.i)
	}
	ctrl := t.ctrl
	mask := uint32(len(ctrl) - 1)
	for i := (p.i + 1) & mask; ; i = (i + 1) & mask {
		c := ctrl[i]
		if c == 0 {
			return -1
		}
		if c == tag {
			if s := &t.slots[i]; s.hash == h32 && t.match(s, name) {
				return int(i)
			}
		}
	}
}

// find returns the index of name's slot, or -1.
func (t *nameTable[V]) find(name string) int { return t.finish(name, t.start(name)) }

// get returns name's value, or nil. The pointer is valid until the next
// put or del.
func (t *nameTable[V]) get(name string) *V { return t.val(t.find(name)) }

// val returns the value of slot i, found by finish, or nil if i < 0.
func (t *nameTable[V]) val(i int) *V {
	if i < 0 {
		return nil
	}
	return &t.slots[i].val
}

// put returns name's value, adding a zero one (fresh) if name is absent.
// The pointer is valid until the next put or del. The caller of a fresh
// long name must make full return it before the next call.
func (t *nameTable[V]) put(name string) (v *V, fresh bool) {
	if (t.n+1)*8 > len(t.slots)*7 {
		t.resize(max(8, 2*len(t.slots)))
	}
	h := maphash.String(t.seed, name)
	tag, h32 := tagOf(h), uint32(h)
	mask := uint32(len(t.ctrl) - 1)
	for i := h32 & mask; ; i = (i + 1) & mask {
		c := t.ctrl[i]
		s := &t.slots[i]
		if c == 0 {
			t.ctrl[i] = tag
			s.hash = h32
			s.klen = longKey
			if len(name) <= inlineKey {
				s.klen = uint8(len(name))
			}
			copy(s.key[:], name)
			t.n++
			return &s.val, true
		}
		if c == tag && s.hash == h32 && t.match(s, name) {
			return &s.val, false
		}
	}
}

// del removes name and reports whether it was present.
func (t *nameTable[V]) del(name string) bool {
	i := t.find(name)
	if i < 0 {
		return false
	}
	t.n--
	mask := len(t.slots) - 1
	// Move back every slot of the run after i that may live at i (its home
	// is not cyclically within (i, j]), until an empty slot ends the run.
	for j := i; ; {
		j = (j + 1) & mask
		if t.ctrl[j] == 0 {
			break
		}
		if s := &t.slots[j]; (j-int(s.hash))&mask >= (j-i)&mask {
			t.slots[i], t.ctrl[i] = *s, t.ctrl[j]
			i = j
		}
	}
	t.slots[i], t.ctrl[i] = slot[V]{}, 0
	if len(t.slots) > 8 && t.n*8 < len(t.slots) {
		t.resize(tableSize(2 * t.n))
	}
	return true
}

// reserve makes room for n names in all without growing again.
func (t *nameTable[V]) reserve(n int) {
	if size := tableSize(n); size > len(t.slots) {
		t.resize(size)
	}
}

// fit shrinks the table to the size its names need, after reserve made
// room for more than came.
func (t *nameTable[V]) fit() {
	if size := tableSize(t.n); size < len(t.slots) {
		t.resize(size)
	}
}

// tableSize is the number of slots that holds n names at a load of at most
// 7/8: a power of two, at least 8.
func tableSize(n int) int {
	size := 8
	for n*8 > size*7 {
		size *= 2
	}
	return size
}

func (t *nameTable[V]) resize(size int) {
	oldCtrl, oldSlots := t.ctrl, t.slots
	t.ctrl, t.slots = make([]uint8, size), make([]slot[V], size)
	mask := uint32(size - 1)
	for k, c := range oldCtrl {
		if c == 0 {
			continue
		}
		s := &oldSlots[k]
		i := s.hash & mask
		for t.ctrl[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i], t.ctrl[i] = *s, c
	}
}

// clone returns a copy of t whose full reads names through full.
func (t *nameTable[V]) clone(full func(*V) string) nameTable[V] {
	return nameTable[V]{ctrl: cloneBig(t.ctrl), slots: cloneBig(t.slots), n: t.n, seed: t.seed, full: full}
}
