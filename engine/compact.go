package engine

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
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
//	header  compactHeader bytes: users' table size (log2), permissions'
//	        table size (log2), number of users, of permissions, of roles,
//	        offsets of the permissions' table, of the entries and of the
//	        names
//	tables  for users, then permissions, open addressing over uint32
//	        slots: 0 is empty, else the high 24 bits of the name's hash and
//	        the index of its entry plus one in the low 8 bits; at most half
//	        full
//	entries for users, then permissions, then roles: 8 bytes each, the
//	        name's offset and length in the names (uint16 each), then the
//	        roles as a bitmask (uint32; roles have no mask)
//	names   the names' bytes
//
// A user's mask holds its roles, a permission's the roles granted it; a
// check is one lookup of each and an AND of the masks.
type compact struct {
	seq  uint64
	b    []byte
	keys *keySet // the tenant's keys (keys.go), beside the block
	// The header's fields a check needs, copied beside the block's
	// pointer: with them the check finds both table slots as soon as it
	// has read the struct, rather than after a read of the block's first
	// bytes, one wait on memory fewer when many tenants are checked.
	ulog, plog   uint8
	permsOff     uint16
	entries      uint16 // the users' entries; the permissions' follow
	permsEntries uint16
	names        uint16
}

// Limits of a compact tenant; a tenant past any of them is kept in full
// tables.
const (
	compactMaxRoles = 32  // a mask's bits
	compactMaxNames = 255 // users, and permissions: an entry's index in 8 bits
	compactMaxFacts = 512 // memberships and grants: what a change's expansion costs
	compactMaxBytes = 1 << 16
	compactHeader   = 16
	compactEntry    = 8
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
	um := compactLookup(b, compactHeader, c.ulog, int(c.entries), int(c.names), user)
	if um == 0 {
		return false
	}
	pm := compactLookup(b, int(c.permsOff), c.plog, int(c.permsEntries), int(c.names), perm)
	return um&pm != 0
}

// compactLookup finds name in the table at off (1<<log slots) whose
// entries begin at entries, and returns its mask, or 0.
func compactLookup(b []byte, off int, log uint8, entries, names int, name string) uint32 {
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
		if s>>8 == h>>8 {
			e := b[entries+compactEntry*int(s&0xff-1):]
			no, nl := names+int(le.Uint16(e)), int(le.Uint16(e[2:]))
			if string(b[no:no+nl]) == name {
				return le.Uint32(e[4:])
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
	entriesOff := permsOff + size(plog)
	namesOff := entriesOff + compactEntry*(len(users)+len(perms)+len(roleNames))
	n := namesOff
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
	b := make([]byte, n)
	b[0], b[1], b[2], b[3] = ulog, plog, uint8(len(users)), uint8(len(perms))
	b[4] = uint8(len(roleNames))
	le.PutUint16(b[8:], uint16(permsOff))
	le.PutUint16(b[12:], uint16(entriesOff))
	le.PutUint16(b[14:], uint16(namesOff))
	entry, name := entriesOff, namesOff
	put := func(table int, log uint8, index int, s string, mask uint32) {
		le.PutUint16(b[entry:], uint16(name-namesOff))
		le.PutUint16(b[entry+2:], uint16(len(s)))
		le.PutUint32(b[entry+4:], mask)
		entry += compactEntry
		name += copy(b[name:], s)
		if table < 0 {
			return
		}
		h := compactHash(s)
		m := uint32(1)<<log - 1
		i := h & m
		for le.Uint32(b[table+4*int(i):]) != 0 {
			i = (i + 1) & m
		}
		le.PutUint32(b[table+4*int(i):], h&^0xff|uint32(index+1))
	}
	for i, u := range users {
		put(compactHeader, ulog, i, u.name, u.mask)
	}
	for i, p := range perms {
		put(permsOff, plog, i, p.name, p.mask)
	}
	for _, r := range roleNames {
		put(-1, 0, 0, r, 0)
	}
	return &compact{seq: t.seq, b: b, keys: t.keys, ulog: ulog, plog: plog, permsOff: uint16(permsOff),
		entries: uint16(entriesOff), permsEntries: uint16(entriesOff + compactEntry*len(users)), names: uint16(namesOff)}
}

// expand returns the tables of c's state, for tenant id, owned by the
// caller.
func (c *compact) expand(id TenantID) *tables {
	t := newTables(id)
	t.seq = c.seq
	t.keys = c.keys
	b := c.b
	nu, np, nr := int(b[2]), int(b[3]), int(b[4])
	entries, names := int(le.Uint16(b[12:])), int(le.Uint16(b[14:]))
	entry := func(i int) (string, uint32) {
		e := b[entries+compactEntry*i:]
		no := names + int(le.Uint16(e))
		return string(b[no : no+int(le.Uint16(e[2:]))]), le.Uint32(e[4:])
	}
	roles := make([]string, nr)
	for r := range nr {
		roles[r], _ = entry(nu + np + r)
		t.addRole(roles[r])
	}
	for p := range np {
		name, m := entry(nu + p)
		for ; m != 0; m &= m - 1 {
			t.addPermission(roles[bits.TrailingZeros32(m)], name)
		}
	}
	for u := range nu {
		name, m := entry(u)
		for ; m != 0; m &= m - 1 {
			t.addMembership(name, roles[bits.TrailingZeros32(m)])
		}
	}
	return t
}
