package engine

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"unsafe"
)

// A small tenant is kept compact: its whole state in one immutable block of
// bytes, without pointers, that a check reads directly, and that a change
// replaces (see Tenant.apply). The full tables (tables) cost about 20 KB
// for a tenant of ten users, mostly in their fixed-size slots, which are
// laid out for the big tenants' sake; a block holds the same tenant in
// about 2 KB. Every other read of a compact tenant expands the block into
// tables of its own, which costs microseconds: reads other than the check
// are not what small tenants do at a high rate.
//
// Layout of a block (integers little-endian):
//
//	header   compactHeader bytes: users' table size (log2), permissions'
//	         table size (log2), number of users, of permissions, of
//	         roles, offsets of the permissions' table and of the records
//	tables   for users, then permissions, open addressing over uint32
//	         slots: 0 is empty, else the high 16 bits of the name's hash
//	         and, in the low 16 bits, the offset of its record in the
//	         block; at most half full
//	records  for users, then permissions, then roles, one after the
//	         other: the roles as a bitmask (uint32; 0 for a role), the
//	         name's length (uint16), then the name's bytes
//
// A user's mask holds its roles, a permission's the roles granted it; a
// check is one lookup of each and an AND of the masks. A lookup reads its
// table's slot, then the record it points to, which holds the mask and the
// name to compare together: two waits on memory when the block is not in
// the cache, the two lookups' waits overlapping.
type compact struct {
	seq  uint64
	b    []byte
	keys *keySet // the tenant's keys (keys.go), beside the block
	// The header's fields a check needs, copied beside the block's
	// pointer: with them the check finds both table slots as soon as it
	// has read the struct, rather than after a read of the block's first
	// bytes, one wait on memory fewer when many tenants are checked.
	ulog, plog uint8
	permsOff   uint16
}

// Limits of a compact tenant; a tenant past any of them is kept in full
// tables.
const (
	compactMaxRoles = 32  // a mask's bits
	compactMaxNames = 255 // users, and permissions: counts kept in a byte
	compactMaxFacts = 512 // memberships and grants: what a change's expansion costs
	compactMaxBytes = 1 << 16
	compactHeader   = 16
	compactRecord   = 6 // a record's bytes before its name
)

// compactSeed hashes the names of every compact tenant of the process.
var compactSeed = maphash.MakeSeed()

var le = binary.LittleEndian

// emptyCompact is the state of a tenant with no events.
var emptyCompact = compactOf(newTables(TenantID{}))

func compactHash(name string) uint32 { return uint32(maphash.String(compactSeed, name)) }

// has is the check of a compact tenant.
func (c *compact) has(user, perm string) bool {
	b := c.b
	um := compactLookup(b, compactHeader, c.ulog, user)
	if um == 0 {
		return false
	}
	return um&compactLookup(b, int(c.permsOff), c.plog, perm) != 0
}

// compactLookup finds name in the table at off (1<<log slots) and returns
// its mask, or 0.
func compactLookup(b []byte, off int, log uint8, name string) uint32 {
	if log == 0 {
		return 0
	}
	h := compactHash(name)
	mask := uint32(1)<<log - 1
	for i := h & mask; ; i = (i + 1) & mask {
		s := le.Uint32(b[off+4*int(i):])
		if s == 0 {
			return 0
		}
		if s>>16 == h>>16 {
			r := b[s&0xffff:]
			if n := int(le.Uint16(r[4:])); n == len(name) && string(r[compactRecord:compactRecord+n]) == name {
				return le.Uint32(r)
			}
		}
	}
}

// compactOf returns t as a compact block, or nil if t is past the limits
// or holds what a block does not (inclusions, membership windows).
func compactOf(t *tables) *compact {
	if t.inclusions > 0 || t.windowed > 0 || len(t.roles) > compactMaxRoles || t.users.len() > compactMaxNames || t.perms.len() > compactMaxNames {
		return nil
	}
	facts := t.memberships
	for r := range t.roleRecs {
		if rec := &t.roleRecs[r]; rec.name != "" {
			facts += int(rec.perms.GetCardinality())
		}
	}
	if facts > compactMaxFacts {
		return nil
	}
	// Roles get dense indices, in the order of the tables' own.
	dense := make(map[uint32]uint32, len(t.roles))
	var roleNames []string
	for r := range t.roleRecs {
		if name := t.roleRecs[r].name; name != "" {
			dense[uint32(r)] = uint32(len(roleNames))
			roleNames = append(roleNames, name)
		}
	}
	type named struct {
		name string
		mask uint32
	}
	var users, perms []named
	for _, name := range t.userNames {
		if name == "" {
			continue
		}
		var m uint32
		for _, r := range t.userRoles(t.users.get(name)) {
			m |= 1 << dense[r]
		}
		users = append(users, named{name, m})
	}
	for p := range t.permRecs {
		rec := &t.permRecs[p]
		if rec.name == "" {
			continue
		}
		var m uint32
		rec.roles.each(func(r uint32) { m |= 1 << dense[r] })
		perms = append(perms, named{rec.name, m})
	}
	logOf := func(n int) uint8 {
		if n == 0 {
			return 0
		}
		return uint8(bits.Len(uint(2*n - 1)))
	}
	ulog, plog := logOf(len(users)), logOf(len(perms))
	size := func(log uint8) int {
		if log == 0 {
			return 0
		}
		return 4 << log
	}
	permsOff := compactHeader + size(ulog)
	recordsOff := permsOff + size(plog)
	n := recordsOff + compactRecord*(len(users)+len(perms)+len(roleNames))
	for _, u := range users {
		n += len(u.name)
	}
	for _, p := range perms {
		n += len(p.name)
	}
	for _, r := range roleNames {
		n += len(r)
	}
	if n >= compactMaxBytes {
		return nil
	}
	c := newCompact(n)
	b := c.b
	b[0], b[1], b[2], b[3] = ulog, plog, uint8(len(users)), uint8(len(perms))
	b[4] = uint8(len(roleNames))
	le.PutUint16(b[8:], uint16(permsOff))
	le.PutUint16(b[12:], uint16(recordsOff))
	rec := recordsOff
	put := func(table int, log uint8, s string, mask uint32) {
		at := rec
		le.PutUint32(b[rec:], mask)
		le.PutUint16(b[rec+4:], uint16(len(s)))
		rec += compactRecord + copy(b[rec+compactRecord:], s)
		if table < 0 {
			return
		}
		h := compactHash(s)
		m := uint32(1)<<log - 1
		i := h & m
		for le.Uint32(b[table+4*int(i):]) != 0 {
			i = (i + 1) & m
		}
		le.PutUint32(b[table+4*int(i):], h&^0xffff|uint32(at))
	}
	for _, u := range users {
		put(compactHeader, ulog, u.name, u.mask)
	}
	for _, p := range perms {
		put(permsOff, plog, p.name, p.mask)
	}
	for _, r := range roleNames {
		put(-1, 0, r, 0)
	}
	c.seq, c.keys, c.ulog, c.plog, c.permsOff = t.seq, t.keys, ulog, plog, uint16(permsOff)
	return c
}

// newCompact returns a compact with a block of n zero bytes allocated in
// the same object, right after the struct, for blocks of up to 4 KB: the
// check reads the struct's fields and then the block's slots, and these
// then lie in the same page, usually in neighbouring cache lines, rather
// than in two allocations anywhere in the heap. The sizes are the
// runtime's size classes less the struct, so that nothing is rounded up
// but by the allocator itself.
func newCompact(n int) *compact {
	for _, a := range compactAllocs {
		if n <= a.n {
			return a.alloc(n)
		}
	}
	return &compact{b: make([]byte, n)}
}

type compactAlloc struct {
	n     int
	alloc func(n int) *compact
}

// withBlock allocates a compact and its block of up to len(B) bytes as one
// object.
func withBlock[B any]() compactAlloc {
	var b B
	return compactAlloc{int(unsafe.Sizeof(b)), func(n int) *compact {
		x := new(struct {
			c compact
			b B
		})
		x.c.b = unsafe.Slice((*byte)(unsafe.Pointer(&x.b)), n)
		return &x.c
	}}
}

const compactSize = int(unsafe.Sizeof(compact{}))

var compactAllocs = [...]compactAlloc{
	withBlock[[128 - compactSize]byte](),
	withBlock[[256 - compactSize]byte](),
	withBlock[[384 - compactSize]byte](),
	withBlock[[512 - compactSize]byte](),
	withBlock[[640 - compactSize]byte](),
	withBlock[[768 - compactSize]byte](),
	withBlock[[896 - compactSize]byte](),
	withBlock[[1024 - compactSize]byte](),
	withBlock[[1152 - compactSize]byte](),
	withBlock[[1280 - compactSize]byte](),
	withBlock[[1408 - compactSize]byte](),
	withBlock[[1536 - compactSize]byte](),
	withBlock[[1792 - compactSize]byte](),
	withBlock[[2048 - compactSize]byte](),
	withBlock[[2304 - compactSize]byte](),
	withBlock[[2688 - compactSize]byte](),
	withBlock[[3072 - compactSize]byte](),
	withBlock[[3456 - compactSize]byte](),
	withBlock[[4096 - compactSize]byte](),
}

// expand returns the tables of c's state, for tenant id, owned by the
// caller.
func (c *compact) expand(id TenantID) *tables {
	t := newTables(id)
	t.seq = c.seq
	t.keys = c.keys
	b := c.b
	nu, np, nr := int(b[2]), int(b[3]), int(b[4])
	// The records in order: users, permissions, roles.
	type record struct {
		name string
		mask uint32
	}
	recs := make([]record, 0, nu+np+nr)
	for at := int(le.Uint16(b[12:])); at < len(b); {
		n := int(le.Uint16(b[at+4:]))
		recs = append(recs, record{string(b[at+compactRecord : at+compactRecord+n]), le.Uint32(b[at:])})
		at += compactRecord + n
	}
	roles := make([]string, nr)
	for r := range nr {
		roles[r] = recs[nu+np+r].name
		t.addRole(roles[r])
	}
	for _, p := range recs[nu : nu+np] {
		for m := p.mask; m != 0; m &= m - 1 {
			t.addPermission(roles[bits.TrailingZeros32(m)], p.name)
		}
	}
	for _, u := range recs[:nu] {
		for m := u.mask; m != 0; m &= m - 1 {
			t.addMembership(u.name, roles[bits.TrailingZeros32(m)])
		}
	}
	return t
}
