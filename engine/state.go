package engine

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Tenant is one tenant. Its methods are safe for concurrent use. A nil
// *Tenant is an empty tenant: every read answers false or an empty list.
//
// A small tenant's state is a compact block (compact.go), immutable,
// published through an atomic pointer: every change builds a new block.
// A larger tenant's state is a version of the full tables ([tables])
// published through another. Writers are serialized by wmu. A small change is made in the
// published version, in place, under its locks, for the few table updates
// it needs; a large one (a batch of more than inPlaceMax changes, a role
// deletion with that many members and grants, a clearing batch, a restore)
// is built in a version of its own, off to the side, while readers go on
// reading the published one, and is then published by one pointer swap.
// Readers thus see the state before a change or after it, never part of
// it, and never wait for a large change.
type Tenant struct {
	// The fields a check by key reads come first, in the first 64 bytes
	// (the struct is 192 bytes, a size the allocator aligns to 64): the
	// key cache's front finds the first key's entry, first, in the tenant
	// itself, and the check then reads small beside it, one wait on memory
	// rather than three (entry, tenant, state) when many tenants are
	// checked. TestTenantLayout keeps this so.
	//
	// Exactly one of small and cur is the state, the other nil. A writer
	// switching from one to the other stores the new one first, so that a
	// reader finds one of them, old or new, but for a moment where it
	// finds small nil then cur nil while a full tenant becomes compact:
	// view tries again then.
	small atomic.Pointer[compact]
	// first is the key cache's entry for the tenant's first key
	// (keycache.go): its Access is set here once, its fingerprint and
	// generation by the cache.
	first keyEntry
	cur   atomic.Pointer[tables]
	id    TenantID
	wmu   sync.Mutex // serializes writers
	// clk judges membership windows (window.go).
	clk *clock
	_   [40]byte // to 192 bytes
}

// inPlaceMax is the largest change, in table updates (see cost), made in
// the published version: at most about half a millisecond of the check's
// stripes held (bench/RESULTS.md). Larger ones are built aside. Tests
// lower it to build every change aside.
var inPlaceMax = 1024

// builtAside, when set (by tests), is called with a version built aside
// just before it is published.
var builtAside func()

func newTenant(id TenantID, clk *clock) *Tenant {
	t := &Tenant{id: id, clk: clk}
	t.first.acc = Access{Tenant: t, ID: id, Key: FirstKey, Scope: ScopeAdmin, Status: KeyValid}
	t.small.Store(emptyCompact)
	return t
}

// view returns the tenant's published state: a compact block, or else the
// full tables.
func (t *Tenant) view() (*compact, *tables) {
	for {
		if c := t.small.Load(); c != nil {
			return c, nil
		}
		if s := t.cur.Load(); s != nil {
			return nil, s
		}
	}
}

// seq returns the tenant's seq for a writer, which holds t.wmu.
func (t *Tenant) seq() uint64 {
	if c, s := t.view(); c != nil {
		return c.seq
	} else {
		return s.seq
	}
}

// lockStripes is the number of read locks a version's check path spreads
// its readers over (a power of two).
const lockStripes = 8

// stripes is a reader-writer lock whose read side is spread over
// lockStripes locks on their own cache lines, so that checks on different
// cores do not write the same line (a sync.RWMutex's reader count, on
// every RLock, stops scaling past a few cores). A reader takes one stripe
// chosen at random; a writer takes all of them, in order.
type stripes [lockStripes]struct {
	sync.RWMutex
	_ [64 - 24]byte
}

func (l *stripes) rlock() *sync.RWMutex {
	m := &l[rand.Uint32()&(lockStripes-1)].RWMutex
	m.RLock()
	return m
}

func (l *stripes) lock() {
	for i := range l {
		l[i].Lock()
	}
}

func (l *stripes) unlock() {
	for i := range l {
		l[i].Unlock()
	}
}

// apply applies ev, whose seq must be the next; t.wmu must be held.
func (t *Tenant) apply(ev *Event) (bool, error) {
	c, s := t.view()
	switch {
	case ev.Op == OpBatch && len(ev.Changes) > 0 && ev.Changes[0].Op == OpClear:
		// The state replaced is the facts; the keys stay.
		n := newTables(t.id)
		n.seq = t.seq()
		n.keys = t.keySet()
		return t.publish(n, ev)
	case ev.Op == OpDelTenant && !t.Deleted():
		n := newTables(t.id)
		n.seq = t.seq()
		n.keys = t.keySet() // until the event is applied: it is refused if they are
		return t.publish(n, ev)
	case c != nil:
		return t.publish(c.expand(t.id), ev)
	case s.refusal(ev) == nil && s.cost(ev) > inPlaceMax:
		return t.publish(s.clone(), ev)
	}
	s.mu.Lock()
	s.ck.lock()
	result, err := s.apply(ev)
	s.ck.unlock()
	s.mu.Unlock()
	return result, err
}

// publish applies ev to n, a version no reader has seen, and publishes it.
func (t *Tenant) publish(n *tables, ev *Event) (bool, error) {
	n.aside = true
	result, err := n.apply(ev)
	n.aside = false
	if err != nil && !errors.Is(err, ErrRefused) {
		return false, err
	}
	t.replace(n)
	return result, err
}

// replace publishes n, built aside, as the tenant's state, compact if it is
// small enough; t.wmu must be held.
func (t *Tenant) replace(n *tables) {
	c := compactOf(n)
	if c == nil {
		n.users.fit()
		n.perms.fit()
	}
	if builtAside != nil {
		builtAside()
	}
	if c != nil {
		t.small.Store(c)
		t.cur.Store(nil)
		return
	}
	t.cur.Store(n)
	t.small.Store(nil)
}

// cost estimates the table updates ev makes: one per change, and one per
// member and grant of a role it deletes.
func (t *tables) cost(ev *Event) int {
	if ev.Op != OpBatch {
		return t.changeCost(&ev.Change)
	}
	if len(ev.Changes) > inPlaceMax {
		return len(ev.Changes)
	}
	n := 0
	for i := range ev.Changes {
		n += t.changeCost(&ev.Changes[i])
	}
	return n
}

func (t *tables) changeCost(c *Change) int {
	switch c.Op {
	case OpDelRole:
		if r, ok := t.roles[c.Role]; ok {
			rec := &t.roleRecs[r]
			n := 1 + int(rec.members.GetCardinality()+rec.perms.GetCardinality())
			if rec.includes != nil || rec.includedBy != nil {
				n += t.inclusionCost(r, r)
			}
			return n
		}
	case OpAddInclusion, OpDelInclusion:
		a, okA := t.roles[c.Role]
		b, okB := t.roles[c.Includes]
		if okA && okB {
			return 1 + t.inclusionCost(a, b)
		}
	case OpAddPermission, OpDelPermission:
		if r, ok := t.roles[c.Role]; ok && t.roleRecs[r].includedBy != nil {
			return len(t.reach([]uint32{r}, up))
		}
	case OpSweepWindows:
		return 1 + t.windowed // at most every membership with a window goes
	}
	return 1
}

// clone returns a copy of t that shares nothing t's writers change in
// place (user role lists past the inline ones are replaced, never
// changed, so they are shared). The caller must keep t's writers out: it
// holds the tenant's wmu.
func (t *tables) clone() *tables {
	c := &tables{
		id:          t.id,
		seq:         t.seq,
		userExt:     maps.Clone(t.userExt),
		userNames:   cloneBig(t.userNames),
		freeUsers:   cloneBig(t.freeUsers),
		roles:       maps.Clone(t.roles),
		roleRecs:    make([]roleRec, len(t.roleRecs)),
		freeRoles:   cloneBig(t.freeRoles),
		permRecs:    make([]permRec, len(t.permRecs)),
		freePerms:   cloneBig(t.freePerms),
		memberships: t.memberships,
		keys:        t.keys,
		inclusions:  t.inclusions,
		userWin:     maps.Clone(t.userWin),
		windowed:    t.windowed,
	}
	c.users = t.users.clone(func(e *userEntry) string { return c.userNames[e.idx] })
	c.perms = t.perms.clone(func(e *permEntry) string { return c.permRecs[e.idx].name })
	c.winUsers = t.winUsers.clone(func(e *winEntry) string { return c.userNames[e.idx] })
	for i := range t.roleRecs {
		pace(i)
		if rec := &t.roleRecs[i]; rec.name != "" {
			c.roleRecs[i] = roleRec{name: rec.name, perms: rec.perms.Clone(), members: rec.members.Clone(),
				includes: slices.Clone(rec.includes), includedBy: slices.Clone(rec.includedBy)}
		}
	}
	for i := range t.permRecs {
		pace(i)
		c.permRecs[i] = permRec{name: t.permRecs[i].name, roles: t.permRecs[i].roles.clone()}
		if d := t.permRecs[i].direct; d != nil {
			dc := d.clone()
			c.permRecs[i].direct = &dc
		}
	}
	return c
}

// ID returns the tenant's id.
func (t *Tenant) ID() TenantID { return t.id }

// Seq returns the seq of the last event applied to the tenant (0 for none).
func (t *Tenant) Seq() uint64 {
	if t == nil {
		return 0
	}
	c, s := t.view()
	if c != nil {
		return c.seq
	}
	m := s.ck.rlock()
	seq := s.seq
	m.RUnlock()
	return seq
}

// Stats counts what a tenant holds.
type Stats struct {
	Seq         uint64
	Users       int
	Roles       int
	Permissions int
	Memberships int
}

// Stats returns the tenant's counts.
func (t *Tenant) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	s, locked := t.rlock()
	st := s.stats()
	runlock(s, locked)
	return st
}

// rlock returns the tables to read the published state from: the
// published version with its mu held for reading (locked), or a compact
// block's expansion, which is the caller's own.
func (t *Tenant) rlock() (s *tables, locked bool) {
	c, s := t.view()
	if c != nil {
		return c.expand(t.id), false
	}
	s.mu.RLock()
	return s, true
}

func runlock(s *tables, locked bool) {
	if locked {
		s.mu.RUnlock()
	}
}

// UserHasPermission reports whether any role of user is granted perm. It
// does not allocate, and waits for no change but a small one's table
// updates.
func (t *Tenant) UserHasPermission(user, perm string) bool {
	if t == nil {
		return false
	}
	c, s := t.view()
	if c != nil {
		return c.has(user, perm)
	}
	m := s.ck.rlock()
	var ok bool
	if s.windowed == 0 {
		ok = s.userHasPermission(user, perm)
	} else {
		ok = s.windowedCheck(user, perm, clamp32(t.clk.now()))
	}
	m.RUnlock()
	return ok
}

// UserHasPermissionAt is UserHasPermission, also returning the seq of the
// state it answered from, read in the same look at the state (0 for a nil
// tenant). Like UserHasPermission it does not allocate.
func (t *Tenant) UserHasPermissionAt(user, perm string) (ok bool, seq uint64) {
	if t == nil {
		return false, 0
	}
	c, s := t.view()
	if c != nil {
		return c.has(user, perm), c.seq
	}
	m := s.ck.rlock()
	if s.windowed == 0 {
		ok = s.userHasPermission(user, perm)
	} else {
		ok = s.windowedCheck(user, perm, clamp32(t.clk.now()))
	}
	seq = s.seq
	m.RUnlock()
	return ok, seq
}

// CheckMany answers every check from one state of the tenant, appending
// the answers to out in order. It allocates only if out has too little
// room.
func (t *Tenant) CheckMany(checks []Check, out []bool) []bool {
	if t == nil {
		for range checks {
			out = append(out, false)
		}
		return out
	}
	c, s := t.view()
	if c != nil {
		for i := range checks {
			out = append(out, c.has(checks[i].User, checks[i].Permission))
		}
		return out
	}
	m := s.ck.rlock()
	if s.windowed == 0 {
		for i := range checks {
			out = append(out, s.userHasPermission(checks[i].User, checks[i].Permission))
		}
	} else {
		now := clamp32(t.clk.now()) // once for the batch
		for i := range checks {
			out = append(out, s.windowedCheck(checks[i].User, checks[i].Permission, now))
		}
	}
	m.RUnlock()
	return out
}

// HasRole reports whether role exists.
func (t *Tenant) HasRole(role string) bool {
	return t.ask(func(s *tables) bool { return s.hasRole(role) })
}

// HasPermission reports whether role is granted perm.
func (t *Tenant) HasPermission(role, perm string) bool {
	return t.ask(func(s *tables) bool { return s.hasPermission(role, perm) })
}

// ask answers a question of the tenant's state, read locked: false for a
// nil tenant.
func (t *Tenant) ask(q func(s *tables) bool) bool {
	if t == nil {
		return false
	}
	s, locked := t.rlock()
	ok := q(s)
	runlock(s, locked)
	return ok
}

// HasInclusion reports whether role includes included directly.
func (t *Tenant) HasInclusion(role, included string) bool {
	if t == nil {
		return false
	}
	c, s := t.view()
	if c != nil {
		return false // a compact tenant has no inclusions
	}
	s.mu.RLock()
	_, there := s.included(Change{Role: role, Includes: included})
	s.mu.RUnlock()
	return there
}

// Refusal returns the error (matching ErrRefused) with which the tenant's
// state as it is now would refuse ev's change, or nil: an inclusion that
// would make a cycle, or a batch with one. A writer uses it to refuse such
// a change without writing an event; the event's application decides.
// A deleted tenant refuses every event (ErrTenantDeleted).
func (t *Tenant) Refusal(ev *Event) error {
	if !refusable(ev) && !t.Deleted() {
		return nil // before a compact tenant is expanded to read it
	}
	if t == nil {
		return newTables(TenantID{}).refusal(ev)
	}
	s, locked := t.rlock()
	err := s.refusal(ev)
	runlock(s, locked)
	return err
}

// HasMembership reports whether user is a member of role, in its window
// if it has one.
func (t *Tenant) HasMembership(user, role string) bool {
	return t.ask(func(s *tables) bool {
		var now int64
		if s.windowed > 0 {
			now = t.clk.now()
		}
		return s.hasMembership(user, role, now)
	})
}

// Answer returns what c would answer if it were applied now, and whether
// applying it would change anything. A writer uses it to answer no-op
// requests without writing an event. It does not modify t.
func (t *Tenant) Answer(c *Change) (result, changes bool) {
	result, changes, _ = t.AnswerAt(c)
	return result, changes
}

// AnswerAt is Answer, also returning the seq of the state it answered
// from, read under the same lock.
func (t *Tenant) AnswerAt(c *Change) (result, changes bool, seq uint64) {
	if t == nil {
		if s := c.Op.spec(); s != nil {
			if s.absentOf != nil {
				result, changes = s.absentOf(*c)
				return result, changes, 0
			}
			return s.absent.result, s.absent.changes, 0
		}
		return false, false, 0
	}
	s, locked := t.rlock()
	result, changes = s.answer(c)
	seq = s.seq
	runlock(s, locked)
	return result, changes, seq
}

// Snapshot captures the tenant's state. It holds the read lock only while
// it copies the names and clones the reverse bitmaps; the snapshot is
// assembled after the lock is released.
func (t *Tenant) Snapshot() *Snapshot {
	s, locked := t.rlock()
	snap, roles := s.snapshot()
	runlock(s, locked)
	return finishSnapshot(snap, roles)
}
