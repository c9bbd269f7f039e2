package engine

import (
	"math/bits"
	"slices"
)

// smallRoleSet is the largest roleSet kept as a sorted array; past it the
// set becomes a dense bitset over role indices.
const smallRoleSet = 32

// roleSet is the set of roles granted one permission: the structure a check
// probes. Small sets are a sorted array scanned linearly (one or two cache
// lines); large ones are a dense bitset, so a probe is a single load either
// way.
type roleSet struct {
	small []uint32 // sorted; used while bits == nil
	bits  []uint64 // dense; once non-nil, small is nil
	n     int
}

func (s *roleSet) has(r uint32) bool {
	if s.bits != nil {
		w := r >> 6
		return w < uint32(len(s.bits)) && s.bits[w]&(1<<(r&63)) != 0
	}
	for _, x := range s.small {
		if x >= r {
			return x == r
		}
	}
	return false
}

// add inserts r and reports whether it was absent.
func (s *roleSet) add(r uint32) bool {
	if s.bits != nil {
		w := int(r >> 6)
		if w >= len(s.bits) {
			s.bits = append(s.bits, make([]uint64, w+1-len(s.bits))...)
		}
		m := uint64(1) << (r & 63)
		if s.bits[w]&m != 0 {
			return false
		}
		s.bits[w] |= m
		s.n++
		return true
	}
	i := 0
	for i < len(s.small) && s.small[i] < r {
		i++
	}
	if i < len(s.small) && s.small[i] == r {
		return false
	}
	s.n++
	if len(s.small) < smallRoleSet {
		s.small = append(s.small, 0)
		copy(s.small[i+1:], s.small[i:])
		s.small[i] = r
		return true
	}
	maxRole := max(r, s.small[len(s.small)-1])
	s.bits = make([]uint64, maxRole/64+1)
	for _, x := range s.small {
		s.bits[x>>6] |= 1 << (x & 63)
	}
	s.bits[r>>6] |= 1 << (r & 63)
	s.small = nil
	return true
}

// remove deletes r and reports whether it was present.
func (s *roleSet) remove(r uint32) bool {
	if s.bits != nil {
		w := r >> 6
		m := uint64(1) << (r & 63)
		if w >= uint32(len(s.bits)) || s.bits[w]&m == 0 {
			return false
		}
		s.bits[w] &^= m
		s.n--
		return true
	}
	for i, x := range s.small {
		if x == r {
			s.small = append(s.small[:i], s.small[i+1:]...)
			s.n--
			return true
		}
		if x > r {
			break
		}
	}
	return false
}

// each calls fn for every role in ascending order.
func (s *roleSet) each(fn func(r uint32)) {
	if s.bits == nil {
		for _, x := range s.small {
			fn(x)
		}
		return
	}
	for w, word := range s.bits {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			fn(uint32(w*64 + b))
			word &= word - 1
		}
	}
}

// clone returns a copy of s that shares no array with it.
func (s *roleSet) clone() roleSet {
	return roleSet{small: slices.Clone(s.small), bits: slices.Clone(s.bits), n: s.n}
}
