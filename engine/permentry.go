package engine

import (
	"math"
	"slices"
)

// A permission's roles sit in its table entry, so that a check reads them
// from the slot it finds the name in. They are 16-bit lanes of permWords
// words, laid out as a small cuckoo hash table: role r sits in one of its
// two buckets (words, see bucketsOf), or in the stash, the last word. A
// check thus compares each of the user's roles with three words, whatever
// the number of the permission's roles: its cost does not grow with them,
// it takes no branch that depends on them, and the word it always reads
// (the stash) is one whose address does not wait for the user's roles, so
// that the slot's second cache line is read while the user's slot is.
const (
	permWords       = 9 // the slot of a permEntry is then two cache lines
	permBuckets     = 8 // words 0..7; 8 is the stash
	permStash       = permBuckets
	inlinePermRoles = 4 * permWords
)

// permFar is permEntry.n for a permission whose roles are not inline: more
// than fit its words, or one with an index past 16 bits. A check then
// probes permRecs[idx].roles.
const permFar = math.MaxUint16

// A lane holds role r as r^noLane, so that a free lane is 0 and the zero
// permEntry holds no roles. noLane itself is not a role index that is ever
// inline (those are below it).
const noLane = 0xffff

// Lane masks: the low and the high bit of each 16-bit lane of a word.
const (
	lowBits  = 0x0001_0001_0001_0001
	highBits = 0x8000_8000_8000_8000
)

// permKicks bounds the evictions place makes for one role. Sets that need
// more are rare (see TestPermEntryFill) and are kept far.
const permKicks = 64

// permEntry is a permission's value in the tenant's permission table: its
// index and, in most cases, its roles, as described above. The entry
// mirrors permRecs[idx].roles, the source of truth (see syncPerm).
//
// n and the first word come first: in a slot they share the first cache
// line with the name.
type permEntry struct {
	idx   uint32
	n     uint16 // number of inline roles, or permFar
	words [permWords]uint64
}

// bucketsOf returns the two buckets role r may sit in. Role indices are
// dense, so they are mixed (Fibonacci hashing) before their bits choose.
// The two may be equal.
func bucketsOf(r uint32) (b1, b2 uint32) {
	x := r * 0x9e3779b1
	return x >> 29, (x >> 26) & (permBuckets - 1)
}

// place lays roles (distinct) out in e's words and sets e.n, or reports
// false, leaving e's words undefined, if they do not fit or one of them is
// too large for a lane.
// The layout depends only on the set of roles and their order.
func (e *permEntry) place(roles []uint32) bool {
	if len(roles) > inlinePermRoles {
		return false
	}
	e.words = [permWords]uint64{}
	for _, r := range roles {
		if r >= noLane || !e.insert(r) {
			return false
		}
	}
	e.n = uint16(len(roles))
	return true
}

// insert adds r to e's words: in a free lane of one of its buckets, or by
// moving the roles in its way to their other buckets (cuckoo hashing), or
// as a last resort in the stash.
func (e *permEntry) insert(r uint32) bool {
	b1, b2 := bucketsOf(r)
	if e.putFree(b1, r) || e.putFree(b2, r) {
		return true
	}
	b := b1
	for kick := range permKicks {
		// Evict a lane of b (a different one each time round, so that the
		// walk does not cycle between two roles), and move its role to
		// its other bucket.
		shift := 16 * uint(kick%4)
		victim := uint32(uint16(e.words[b]>>shift)) ^ noLane
		e.words[b] = e.words[b]&^(noLane<<shift) | uint64(r^noLane)<<shift
		r = victim
		from := b
		v1, v2 := bucketsOf(r)
		b = v1
		if v1 == from {
			b = v2
		}
		if e.putFree(b, r) {
			return true
		}
	}
	return e.putFree(permStash, r)
}

// putFree puts r in a free lane of word w, if it has one.
func (e *permEntry) putFree(w, r uint32) bool {
	for shift := uint(0); shift < 64; shift += 16 {
		if uint16(e.words[w]>>shift) == 0 {
			e.words[w] |= uint64(r^noLane) << shift
			return true
		}
	}
	return false
}

// has reports whether r is one of e's inline roles; e.n must not be
// permFar.
func (e *permEntry) has(r uint32) bool {
	return intersectInline(&userEntry{n: 1, inl: [inlineRoles]uint32{r}}, e)
}

// meets reports whether one of roles (sorted) is one of e's inline roles;
// e.n must not be permFar.
func (e *permEntry) meets(roles []uint32) bool {
	if len(roles) <= inlinePermRoles {
		for _, r := range roles {
			if e.has(r) {
				return true
			}
		}
		return false
	}
	for _, w := range e.words { // fewer lanes than roles
		for shift := uint(0); shift < 64; shift += 16 {
			if lane := uint32(uint16(w >> shift)); lane != 0 {
				if _, found := slices.BinarySearch(roles, lane^noLane); found {
					return true
				}
			}
		}
	}
	return false
}

// intersectInline reports whether the inline roles of u and p meet; p.n
// must not be permFar. Each of the user's roles is compared with the
// four lanes of each of its buckets and of the stash at once (SWAR), and
// without branching on the outcome: the answer of a check is as
// unpredictable as the queries, and a mispredicted branch costs more than
// the comparisons it would skip.
func intersectInline(u *userEntry, p *permEntry) bool {
	stash := p.words[permStash]
	var acc uint64
	for k := range uint32(inlineRoles) {
		r := u.inl[k]
		b, m := lanesOf(r, k < u.n)
		b1, b2 := bucketsOf(r)
		x, y, z := p.words[b1]^b, p.words[b2]^b, stash^b
		acc |= (zeroLanes(x) | zeroLanes(y) | zeroLanes(z)) & m
	}
	return acc != 0
}

// zeroLanes is nonzero in the high bits of lanes exactly when some 16-bit
// lane of x is zero (it may flag a lane above a zero one too, which the
// callers, asking whether any is, do not mind).
func zeroLanes(x uint64) uint64 { return (x - lowBits) &^ x & highBits }

// lanesOf returns r as a lane holds it, in each 16-bit lane, and a mask
// of the lanes' high bits that keeps the comparison when present is true
// and r fits a lane below noLane.
func lanesOf(r uint32, present bool) (lanes, mask uint64) {
	ok := b2u(present) & b2u(r < noLane)
	return uint64((r^noLane)&0xffff) * lowBits, -uint64(ok) & highBits
}

// b2u is 1 for true and 0 for false, without a branch.
func b2u(b bool) uint32 {
	var x uint32
	if b {
		x = 1
	}
	return x
}
