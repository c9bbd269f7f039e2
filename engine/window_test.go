package engine

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeClock is a window clock tests move by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) read() time.Time { return c.now }

// newClockedEngine returns an engine whose windows are judged by clk, a
// fake clock at noon on 30 November 2026.
func newClockedEngine() (e *Engine, clk *fakeClock) {
	clk = &fakeClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	return New(WithWindowClock(clk.read)), clk
}

func TestWindowOpensAndCloses(t *testing.T) {
	e, clk := newClockedEngine()
	const key = "window-key"
	must := func(ok bool, err error) {
		t.Helper()
		if err != nil || !ok {
			t.Fatalf("(%v, %v)", ok, err)
		}
	}
	must(e.AddRole(key, "admin"))
	must(e.AddPermission(key, "admin", "sudo"))
	must(e.Write(key, MembershipChange("jack", "admin", Window{ExpiresAt: clk.now.Add(3 * time.Second)})))
	must(e.Write(key, MembershipChange("ann", "admin", Window{StartsAt: clk.now.Add(2 * time.Second)})))
	tn := e.TenantByKey(key)
	if tn.HasWindows() != true {
		t.Fatal("HasWindows false")
	}
	type want struct{ jack, ann bool }
	for _, step := range []struct {
		after time.Duration
		want
	}{{0, want{true, false}}, {time.Second, want{true, false}}, {time.Second, want{true, true}}, {time.Second, want{false, true}}, {time.Hour, want{false, true}}} {
		clk.now = clk.now.Add(step.after)
		got := want{tn.UserHasPermission("jack", "sudo"), tn.UserHasPermission("ann", "sudo")}
		if got != step.want {
			t.Fatalf("at %v: %+v, want %+v", clk.now, got, step.want)
		}
		batch := tn.CheckMany([]Check{{User: "jack", Permission: "sudo"}, {User: "ann", Permission: "sudo"}}, nil)
		if batch[0] != got.jack || batch[1] != got.ann {
			t.Fatalf("at %v: batch %v, single %+v", clk.now, batch, got)
		}
		var members []string
		if got.ann {
			members = append(members, "ann")
		}
		if got.jack {
			members = append(members, "jack")
		}
		if list := tn.RoleMembers("admin"); strings.Join(list, ",") != strings.Join(members, ",") {
			t.Fatalf("at %v: members %q, want %q", clk.now, list, members)
		}
	}
	// As of a time: the state's windows, judged then.
	if got := tn.ListAt(ListRoleMembers, "admin", false, clk.now.Add(-time.Hour-2*time.Second)); strings.Join(got, ",") != "jack" {
		t.Fatalf("members an hour and 2s ago: %v", got)
	}
	w, member := tn.MembershipWindow("jack", "admin")
	if !member || w.ExpiresAt.IsZero() || !w.StartsAt.IsZero() {
		t.Fatalf("jack's window %+v, %v", w, member)
	}
	// A plain write makes it permanent again; the user is no longer flagged.
	must(e.AddMembership(key, "jack", "admin"))
	if !tn.UserHasPermission("jack", "sudo") {
		t.Fatal("jack made permanent is not an admin")
	}
	if w, _ := tn.MembershipWindow("jack", "admin"); !w.IsZero() {
		t.Fatalf("jack's window after a plain write: %+v", w)
	}
}

func TestSweepWindows(t *testing.T) {
	e, clk := newClockedEngine()
	const key = "sweep-key"
	e.AddRole(key, "r")
	e.Write(key, MembershipChange("old", "r", Window{ExpiresAt: clk.now.Add(-48 * time.Hour)}))
	e.Write(key, MembershipChange("recent", "r", Window{ExpiresAt: clk.now.Add(-time.Hour)}))
	e.Write(key, MembershipChange("later", "r", Window{StartsAt: clk.now.Add(time.Hour)}))
	tn := e.TenantByKey(key)
	sweep := SweepChange(clk.now.Add(-24 * time.Hour))
	if _, changes := tn.Answer(&sweep); !changes {
		t.Fatal("a sweep past an expired membership changes nothing")
	}
	for i := range 2 { // twice: the second removes nothing more
		if ok, err := e.Write(key, sweep); !ok || err != nil {
			t.Fatalf("sweep %d: (%v, %v)", i, ok, err)
		}
		if st := tn.Stats(); st.Memberships != 2 || st.Users != 2 {
			t.Fatalf("after sweep %d: %+v", i, st)
		}
	}
	if _, changes := tn.Answer(&sweep); changes {
		t.Fatal("a sweep that removes nothing says it changes the state")
	}
	if _, member := tn.MembershipWindow("old", "r"); member {
		t.Fatal("the old membership survived the sweep")
	}
	if _, member := tn.MembershipWindow("recent", "r"); !member {
		t.Fatal("a membership within the grace went")
	}
}

func TestWindowChangeValidation(t *testing.T) {
	for _, w := range []*WindowArgs{
		nil, {}, {StartsAt: "tomorrow"}, {ExpiresAt: "2026-11-30T12:00:00.5Z"},
		{StartsAt: "2026-11-30T12:00:00Z", ExpiresAt: "2026-11-30T12:00:00Z"},
		{StartsAt: "2026-11-30T13:00:00Z", ExpiresAt: "2026-11-30T12:00:00Z"},
		{ExpiresAt: "0000-01-01T00:00:00Z"},
	} {
		c := Change{Op: OpAddMembershipWindow, User: "u", Role: "r", Window: w}
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", w, err)
		}
	}
	ok := Change{Op: OpAddMembershipWindow, User: "u", Role: "r", Window: &WindowArgs{ExpiresAt: "2026-11-30T12:00:00+02:00"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("an offset time: %v", err)
	}
	if c := (Change{Op: OpAddMembership, User: "u", Role: "r", Window: &WindowArgs{ExpiresAt: "2026-11-30T12:00:00Z"}}); c.Validate() == nil {
		t.Error("a plain membership carrying a window is valid")
	}
}

// TestSnapshotWindowFormat: a tenant with windows is written in format 4, one
// without in the format it had; a format past 4 is refused by name.
func TestSnapshotWindowFormat(t *testing.T) {
	e := New()
	e.AddRole("k", "r")
	e.AddMembership("k", "u", "r")
	plain, _ := e.Snapshot(KeyID("k")).MarshalBinary()
	if plain[0] != snapshotFormat {
		t.Fatalf("a tenant without windows: format %d", plain[0])
	}
	e.Write("k", MembershipChange("u", "r", Window{ExpiresAt: time.Now().Add(time.Hour)}))
	data, _ := e.Snapshot(KeyID("k")).MarshalBinary()
	if data[0] != snapshotFormatWindows {
		t.Fatalf("a tenant with windows: format %d", data[0])
	}
	var s Snapshot
	if err := s.UnmarshalBinary(data); err != nil || len(s.Windows) != 1 {
		t.Fatalf("decoded %+v, %v", s.Windows, err)
	}
	data[0] = snapshotFormatWindows + 1
	if err := s.UnmarshalBinary(data); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "unknown snapshot format 5 (this version reads 1 to 4)") {
		t.Fatalf("format 5: %v", err)
	}
}

// windowedSet is the benchmark tenant of (users, roles) restored with a
// window on every membership, open now and for a year.
func windowedSet(b *testing.B, users, roles int) *Tenant {
	d := genDataset(users, roles)
	s := d.snapshot()
	now := time.Now()
	w := Window{StartsAt: now.Add(-time.Hour), ExpiresAt: now.Add(365 * 24 * time.Hour)}
	for u, rs := range d.userRoles {
		for _, r := range rs {
			s.Windows = append(s.Windows, MemberWindow{User: uint32(u), Role: r, Window: w})
		}
	}
	sortWindows(s.Windows)
	e := New()
	if err := e.Restore(s); err != nil {
		b.Fatal(err)
	}
	return e.Tenant(KeyID(benchKey))
}

func sortWindows(ws []MemberWindow) {
	for i := 1; i < len(ws); i++ { // users ascending already; roles within a user
		for j := i; j > 0 && ws[j].User == ws[j-1].User && ws[j].Role < ws[j-1].Role; j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

// checkBefore is Tenant.UserHasPermission as it was before windows (a
// copy kept for the benchmark): without the read of whether the tenant
// has windows.
func checkBefore(t *Tenant, user, perm string) bool {
	if t == nil {
		return false
	}
	c, s := t.view()
	if c != nil {
		return c.has(user, perm)
	}
	m := s.ck.rlock()
	ok := s.userHasPermission(user, perm)
	m.RUnlock()
	return ok
}

// BenchmarkCheckWindows measures, in alternating blocks of checks as
// BenchmarkUserHasPermissionRoles does, the same random checks of a
// tenant of 1k or 100k users (1k roles, 3 roles a user) in pairs:
// windows: the tenant without windows and the same tenant restored with a
// window on every membership (all open: the answers are the same);
// unchanged: the tenant without windows checked as now and as the check
// was before windows (checkBefore). The metrics are each one's time per
// check and their ratio. Each pair runs on its own, so that each side has
// the caches as much as the other.
func BenchmarkCheckWindows(b *testing.B) {
	for _, users := range []int{1_000, 100_000} {
		const roles = 1_000
		b.Run("users="+short(users)+"/windows", func(b *testing.B) {
			plain, windowed := loadBenchSet(b, users, roles), windowedSet(b, users, roles)
			qs := plain.queries
			for i := range 1000 {
				if q := &qs[i]; windowed.UserHasPermission(q.user, q.perm) != plain.tenant.UserHasPermission(q.user, q.perm) {
					b.Fatalf("answers differ on %+v", q)
				}
			}
			b.ReportAllocs()
			ns := alternating(b, []alternate{{plain.tenant.UserHasPermission, qs, 0}, {windowed.UserHasPermission, qs, 0}})
			b.ReportMetric(ns[0], "ns/check-plain")
			b.ReportMetric(ns[1], "ns/check-windows")
			b.ReportMetric(ns[1]/ns[0], "windows/plain")
		})
		b.Run("users="+short(users)+"/unchanged", func(b *testing.B) {
			set := loadBenchSet(b, users, roles)
			pt, qs := set.tenant, set.queries
			// Each its own queries: one that ran the same ones on the same
			// tenant just before would find their slots in the caches.
			ns := alternating(b, []alternate{
				{pt.UserHasPermission, qs, 0},
				{func(user, perm string) bool { return checkBefore(pt, user, perm) }, qs, benchQueries / 2},
			})
			b.ReportMetric(ns[0], "ns/check-plain")
			b.ReportMetric(ns[1], "ns/check-before")
			b.ReportMetric(ns[0]/ns[1], "plain/before")
		})
	}
}

// BenchmarkMemoryWindows reports the heap a window adds to a membership:
// the 100k-user tenant (300k memberships) restored without windows and
// with one on every membership.
func BenchmarkMemoryWindows(b *testing.B) {
	const users, roles = 100_000, 1_000
	heapOf := func(build func() *Tenant) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t := build()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(t)
		return after.HeapAlloc - before.HeapAlloc
	}
	var plain, windowed uint64
	for b.Loop() {
		plain = heapOf(func() *Tenant {
			e := New()
			if err := e.Restore(genDataset(users, roles).snapshot()); err != nil {
				b.Fatal(err)
			}
			return e.Tenant(KeyID(benchKey))
		})
		windowed = heapOf(func() *Tenant { return windowedSet(b, users, roles) })
	}
	n := float64(users * benchRolesPerUser)
	b.ReportMetric(float64(plain)/n, "B/membership")
	b.ReportMetric(float64(windowed)/n, "B/windowed-membership")
	b.ReportMetric(float64(windowed-plain)/n, "B/window")
}

// TestWindowChecksDuringWrites: checks, batch checks and lists of users
// with windows run while windows are written, replaced and swept, in
// place and built aside (run it with -race).
func TestWindowChecksDuringWrites(t *testing.T) {
	for _, aside := range []bool{false, true} {
		if aside {
			defer func(n int) { inPlaceMax = n }(inPlaceMax)
			inPlaceMax = 0
		}
		e, clk := newClockedEngine()
		const key = "window-race-key"
		e.AddRole(key, "r")
		e.AddRole(key, "s")
		e.AddPermission(key, "r", "p")
		e.AddPermission(key, "s", "q")
		tn := e.TenantByKey(key)
		done := make(chan struct{})
		readers := make(chan int)
		for range 2 {
			go func() {
				n := 0
				checks := []Check{{User: "u1", Permission: "p"}, {User: "u2", Permission: "q"}}
				for {
					tn.UserHasPermission("u1", "p")
					tn.CheckMany(checks, nil)
					tn.RoleMembers("r")
					n++
					select {
					case <-done:
						readers <- n
						return
					default:
					}
				}
			}()
		}
		for i := range 300 {
			user := "u" + string(rune('0'+i%4))
			w := Window{ExpiresAt: clk.now.Add(time.Duration(i%5-2) * time.Second)}
			if _, err := e.AddMembershipWindow(key, user, []string{"r", "s"}[i%2], w); err != nil {
				t.Fatal(err)
			}
			if i%50 == 49 {
				e.Write(key, SweepChange(clk.now))
			}
		}
		close(done)
		if n := <-readers + <-readers; n < 2 {
			t.Fatalf("%d reads ran", n)
		}
	}
}
