package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Membership windows. A membership may count only from a time (starts_at)
// and/or until a time (expires_at), RFC 3339 to the second: outside
// [starts_at, expires_at) it counts for nothing, in checks and in lists
// alike. OpAddMembershipWindow writes one; writing the membership again
// replaces its window, and a plain OpAddMembership makes it permanent.
// OpSweepWindows removes every membership whose window ended at or before
// the time it names, so that a state does not keep its history: every
// replica removes the same ones, and applying it twice removes nothing more.
//
// Which memberships are open is decided by the applying engine's clock,
// read at most once per check (or batch of checks), and only in a tenant
// that has a window: the events carry times, never whether a window is
// open. Replicas whose clocks differ by d may answer differently a check
// made within d of a boundary.
//
// Representation: a user with a window on any of its memberships is
// flagged (winFlag in its entry's role count) and kept in userWin with
// every one of its roles and its window, sorted: what writes, lists and
// snapshots read. The check reads winUsers instead: a name table of those
// users whose slot holds their roles with their windows inline, so that
// the check of such a user reads one slot, as any check does, compares
// each role's two times with the one clock value, and probes the
// permission's roles as any check does. A tenant without windows reads
// neither the clock nor winUsers: its checks are exactly as before.

// winFlag marks, in userEntry.n, a user with a window on a membership.
const winFlag = 1 << 31

// window is a membership's window in Unix seconds: from inclusive, until
// exclusive.
type window struct{ from, until int64 }

// forever is the window of a permanent membership.
var forever = window{math.MinInt64, math.MaxInt64}

func (w window) open(now int64) bool { return w.from <= now && now < w.until }

// roleWin is one of a flagged user's roles, with its window.
type roleWin struct {
	role uint32
	window
}

// WindowArgs are the window fields of a change: RFC 3339 times to the
// second, "" for none. Changes share them: never change them in place.
type WindowArgs struct {
	StartsAt, ExpiresAt string
}

// Window is a membership's window; a zero time is no bound.
type Window struct {
	StartsAt, ExpiresAt time.Time
}

// IsZero reports whether w has no bound: a permanent membership.
func (w Window) IsZero() bool { return w.StartsAt.IsZero() && w.ExpiresAt.IsZero() }

// Open reports whether a membership with window w counts at time at.
func (w Window) Open(at time.Time) bool { return windowOf(w).open(at.Unix()) }

// Args returns w as a change's window fields (nil for no bound).
func (w Window) Args() *WindowArgs {
	if w.IsZero() {
		return nil
	}
	a := &WindowArgs{}
	if !w.StartsAt.IsZero() {
		a.StartsAt = FormatWindowTime(w.StartsAt)
	}
	if !w.ExpiresAt.IsZero() {
		a.ExpiresAt = FormatWindowTime(w.ExpiresAt)
	}
	return a
}

func windowOf(w Window) window {
	out := forever
	if !w.StartsAt.IsZero() {
		out.from = w.StartsAt.Unix()
	}
	if !w.ExpiresAt.IsZero() {
		out.until = w.ExpiresAt.Unix()
	}
	return out
}

func (w window) public() Window {
	var out Window
	if w.from != forever.from {
		out.StartsAt = time.Unix(w.from, 0).UTC()
	}
	if w.until != forever.until {
		out.ExpiresAt = time.Unix(w.until, 0).UTC()
	}
	return out
}

// FormatWindowTime formats t as a window field: RFC 3339 in UTC, to the
// second.
func FormatWindowTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// ParseWindowTime parses a window field: RFC 3339, to the second (no
// fraction), between the years 1 and 9999.
func ParseWindowTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, &inputError{fmt.Sprintf("%q is not an RFC 3339 time", s)}
	}
	if sec := t.Unix(); sec < minWindowSec || sec > maxWindowSec {
		return time.Time{}, &inputError{fmt.Sprintf("%q is not between the years 1 and 9999", s)}
	}
	if t.Nanosecond() != 0 {
		return time.Time{}, &inputError{fmt.Sprintf("%q has a fraction of a second: times are to the second", s)}
	}
	return t.UTC(), nil
}

// The range of a window's times: the years 1 to 9999, UTC.
var (
	minWindowSec = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC).Unix() // past the zero time, which is no bound
	maxWindowSec = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// checkWindowChange validates an OpAddMembershipWindow's window.
func checkWindowChange(c Change) error {
	if c.Window == nil || (c.Window.StartsAt == "" && c.Window.ExpiresAt == "") {
		return &inputError{"a membership window needs starts_at or expires_at"}
	}
	var w Window
	var err error
	if c.Window.StartsAt != "" {
		if w.StartsAt, err = ParseWindowTime(c.Window.StartsAt); err != nil {
			return err
		}
	}
	if c.Window.ExpiresAt != "" {
		if w.ExpiresAt, err = ParseWindowTime(c.Window.ExpiresAt); err != nil {
			return err
		}
	}
	if !w.StartsAt.IsZero() && !w.ExpiresAt.IsZero() && !w.StartsAt.Before(w.ExpiresAt) {
		return &inputError{"starts_at must be before expires_at"}
	}
	return nil
}

// checkSweep validates an OpSweepWindows's time.
func checkSweep(c Change) error {
	_, err := ParseWindowTime(c.Window.ExpiresAt)
	return err
}

// window returns c's window (forever without window fields); c is valid.
func (c *Change) window() window {
	w := forever
	if c.Window == nil {
		return w
	}
	if c.Window.StartsAt != "" {
		t, _ := ParseWindowTime(c.Window.StartsAt)
		w.from = t.Unix()
	}
	if c.Window.ExpiresAt != "" {
		t, _ := ParseWindowTime(c.Window.ExpiresAt)
		w.until = t.Unix()
	}
	return w
}

// MembershipChange returns the change that makes user a member of role
// within w: a plain membership for a zero w.
func MembershipChange(user, role string, w Window) Change {
	if w.IsZero() {
		return Change{Op: OpAddMembership, User: user, Role: role}
	}
	return Change{Op: OpAddMembershipWindow, User: user, Role: role, Window: w.Args()}
}

// SweepChange returns the change that removes every membership whose
// window ended at or before cutoff.
func SweepChange(cutoff time.Time) Change {
	return Change{Op: OpSweepWindows, Window: &WindowArgs{ExpiresAt: FormatWindowTime(cutoff)}}
}

// addMember puts user in role with window w (replacing the window it had);
// it answers false if the role does not exist. t.mu must be held for
// writing.
func (t *tables) addMember(user, role string, w window) bool {
	if !t.addMembership(user, role) {
		return false
	}
	e := t.users.get(user)
	if e.n&winFlag == 0 && w == forever {
		return true
	}
	t.setWindow(e, t.roles[role], w)
	return true
}

// setWindow sets the window of e's membership of r, which it has; t.mu
// must be held for writing. A flagged user's list is replaced, never
// changed in place, so that clones share it.
func (t *tables) setWindow(e *userEntry, r uint32, w window) {
	cur := t.userWin[e.idx]
	if e.n&winFlag == 0 {
		roles := t.userRoles(e)
		cur = make([]roleWin, len(roles))
		for i, x := range roles {
			cur[i] = roleWin{x, forever}
		}
	} else {
		cur = slices.Clone(cur)
	}
	for i := range cur {
		if cur[i].role == r {
			if cur[i].window != forever {
				t.windowed--
			}
			if w != forever {
				t.windowed++
			}
			cur[i].window = w
		}
	}
	t.putWin(e, cur)
}

// putWin makes ws e's roles with their windows, and flags e, or unflags it
// if none of ws has a window.
func (t *tables) putWin(e *userEntry, ws []roleWin) {
	if !slices.ContainsFunc(ws, func(x roleWin) bool { return x.window != forever }) {
		if e.n&winFlag != 0 {
			t.winUsers.del(t.userNames[e.idx])
		}
		e.n &^= winFlag
		delete(t.userWin, e.idx)
		return
	}
	if t.userWin == nil {
		t.userWin = make(map[uint32][]roleWin)
	}
	e.n |= winFlag
	t.userWin[e.idx] = ws
	v, _ := t.winUsers.put(t.userNames[e.idx])
	*v = winEntry{idx: e.idx, n: uint32(len(ws))}
	if len(ws) <= inlineRoles {
		for i, x := range ws {
			v.ws[i] = roleWin32{x.role, clamp32(x.from), clamp32(x.until)}
		}
	}
}

// rewin brings a flagged e's windows in step with its new roles rs: a role
// kept keeps its window, a new one is permanent.
func (t *tables) rewin(e *userEntry, rs []uint32) {
	old := t.userWin[e.idx]
	next := make([]roleWin, len(rs))
	j := 0
	for i, r := range rs {
		for j < len(old) && old[j].role < r {
			if old[j].window != forever {
				t.windowed--
			}
			j++
		}
		next[i] = roleWin{r, forever}
		if j < len(old) && old[j].role == r {
			next[i].window = old[j].window
			j++
		}
	}
	for ; j < len(old); j++ {
		if old[j].window != forever {
			t.windowed--
		}
	}
	t.putWin(e, next)
}

// dropWin forgets the windows of user u, being freed (its name still
// set).
func (t *tables) dropWin(u uint32) {
	ws, ok := t.userWin[u]
	if !ok {
		return
	}
	for _, x := range ws {
		if x.window != forever {
			t.windowed--
		}
	}
	delete(t.userWin, u)
	t.winUsers.del(t.userNames[u])
}

// windowOfMember returns the window of user e's membership of r (forever
// for an unflagged user); e must be a member.
func (t *tables) windowOfMember(e *userEntry, r uint32) window {
	if e.n&winFlag == 0 {
		return forever
	}
	ws := t.userWin[e.idx]
	i, found := slices.BinarySearchFunc(ws, r, func(x roleWin, r uint32) int { return cmp.Compare(x.role, r) })
	if !found {
		return forever
	}
	return ws[i].window
}

// openAt reports whether user index u's membership of r counts at now.
func (t *tables) openAt(u, r uint32, now int64) bool {
	if t.windowed == 0 {
		return true
	}
	return t.windowOfMember(t.users.get(t.userNames[u]), r).open(now)
}

// openRoles returns e's roles whose membership counts at now (e's own list
// when all do).
func (t *tables) openRoles(e *userEntry, now int64) []uint32 {
	if e.n&winFlag == 0 {
		return t.userRoles(e)
	}
	var out []uint32
	for _, x := range t.userWin[e.idx] {
		if x.open(now) {
			out = append(out, x.role)
		}
	}
	return out
}

// winEntry is a windowed user's value in the tenant's winUsers table:
// what its check reads, in the slot (88 bytes, against the 64 of a
// userEntry's), so that the check of a user with windows reads one slot as
// any check does. Times are Unix seconds clamped to 32 bits (1970 to
// 2106): a bound before 1970 is no bound, and one past 2106 is too for a
// clock before 2106. A user in more than inlineRoles roles has n past it
// and its windows in userWin only.
type winEntry struct {
	idx uint32
	n   uint32
	ws  [inlineRoles]roleWin32
}

type roleWin32 struct{ role, from, until uint32 }

// clamp32 is sec clamped to 32 bits.
func clamp32(sec int64) uint32 { return uint32(min(max(sec, 0), math.MaxUint32)) }

// windowedCheck is the check of a tenant with windows, at now.
func (t *tables) windowedCheck(user, perm string, now uint32) bool {
	pw, pp := t.winUsers.start(user), t.perms.start(perm)
	w := t.winUsers.val(t.winUsers.finish(user, pw))
	if w == nil { // a user without windows
		return t.userHasPermission(user, perm)
	}
	p := t.perms.val(t.perms.finish(perm, pp))
	if p == nil {
		return false
	}
	if w.n > inlineRoles {
		for _, x := range t.userWin[w.idx] {
			if !x.open(int64(now)) {
				continue
			}
			if p.n != permFar && p.has(x.role) || p.n == permFar && t.permRecs[p.idx].roles.has(x.role) {
				return true
			}
		}
		return false
	}
	if p.n != permFar {
		return intersectWindows(w, now, p)
	}
	rs := &t.permRecs[p.idx].roles
	for k := range w.n {
		if x := &w.ws[k]; x.from <= now && now < x.until && rs.has(x.role) {
			return true
		}
	}
	return false
}

// intersectWindows is intersectInline for a user with windows: a role
// counts if its window is open at now, tested without a branch as the
// roles are.
func intersectWindows(w *winEntry, now uint32, p *permEntry) bool {
	stash := p.words[permStash]
	var acc uint64
	for k := range uint32(inlineRoles) {
		x := &w.ws[k]
		open := b2u(k < w.n) & b2u(x.from <= now) & b2u(now < x.until) & b2u(x.role < noLane)
		b, m := uint64((x.role^noLane)&0xffff)*lowBits, -uint64(open)&highBits
		b1, b2 := bucketsOf(x.role)
		y, z, v := p.words[b1]^b, p.words[b2]^b, stash^b
		acc |= (zeroLanes(y) | zeroLanes(z) | zeroLanes(v)) & m
	}
	return acc != 0
}

// windowAnswer is the answer of an add of a membership, with or without a
// window: it changes the state unless the user is a member with the same
// window.
func (t *tables) windowAnswer(c Change) (result, changes bool) {
	r, roleOK := t.roles[c.Role]
	if !roleOK {
		return false, false
	}
	e := t.users.get(c.User)
	if e == nil || !t.roleRecs[r].members.Contains(e.idx) {
		return true, true
	}
	return true, t.windowOfMember(e, r) != c.window()
}

// expired calls fn for each membership (user index, role) whose window
// ended at or before cutoff.
func (t *tables) expired(cutoff int64, fn func(u, r uint32)) {
	for u, ws := range t.userWin {
		for _, x := range ws {
			if x.until <= cutoff {
				fn(u, x.role)
			}
		}
	}
}

// sweepable reports whether a sweep at cutoff would remove anything.
func (t *tables) sweepable(cutoff int64) bool {
	any := false
	t.expired(cutoff, func(uint32, uint32) { any = true })
	return any
}

// sweep removes every membership whose window ended at or before cutoff.
func (t *tables) sweep(cutoff int64) {
	type member struct{ u, r uint32 }
	var gone []member
	t.expired(cutoff, func(u, r uint32) { gone = append(gone, member{u, r}) })
	for _, m := range gone {
		t.delMembership(t.userNames[m.u], t.roleRecs[m.r].name)
	}
}

// MembershipWindow returns the window of user's membership of role, and
// whether user is a member at all (in its window or not).
func (t *Tenant) MembershipWindow(user, role string) (w Window, member bool) {
	if t == nil {
		return Window{}, false
	}
	s, locked := t.rlock()
	defer runlock(s, locked)
	r, ok := s.roles[role]
	e := s.users.get(user)
	if !ok || e == nil || !s.roleRecs[r].members.Contains(e.idx) {
		return Window{}, false
	}
	return s.windowOfMember(e, r).public(), true
}

// HasWindows reports whether a membership of the tenant has a window.
func (t *Tenant) HasWindows() bool {
	if t == nil {
		return false
	}
	c, s := t.view()
	if c != nil {
		return false // a compact tenant has none
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.windowed > 0
}

// clock is the time windows are judged by.
type clock struct {
	// fake, if set, is read instead of the coarse clock (tests).
	fake func() time.Time
}

func (c *clock) now() int64 {
	if c == nil || c.fake == nil {
		if s := coarseSec.Load(); s != 0 {
			return s
		}
		return coarseNow()
	}
	return c.fake().Unix()
}

// WithWindowClock sets the clock by which membership windows are judged
// (by default the system's, read from a copy refreshed every coarseTick:
// reading the system clock itself would cost a check more than the check).
func WithWindowClock(now func() time.Time) Option {
	return func(e *Engine) { e.clk = &clock{fake: now} }
}

// coarseTick is how often the coarse clock is refreshed: a window opens
// or closes at most this much late.
const coarseTick = 10 * time.Millisecond

var (
	coarseSec  atomic.Int64
	coarseOnce sync.Once
)

// coarseNow returns the system's time in Unix seconds, from a copy
// refreshed every coarseTick by a goroutine started on the first call
// (the first window a process sees).
func coarseNow() int64 {
	if s := coarseSec.Load(); s != 0 {
		return s
	}
	coarseOnce.Do(func() {
		coarseSec.Store(time.Now().Unix())
		go func() {
			for range time.Tick(coarseTick) {
				coarseSec.Store(time.Now().Unix())
			}
		}()
	})
	return coarseSec.Load()
}

// NewWindowArgs returns a change's window fields, or nil if both are empty
// (a change without a window).
func NewWindowArgs(startsAt, expiresAt string) *WindowArgs {
	if startsAt == "" && expiresAt == "" {
		return nil
	}
	return &WindowArgs{StartsAt: startsAt, ExpiresAt: expiresAt}
}
