// Package dataset generates the benchmark's authorization data
// deterministically from a few sizes and a seed, and knows its ground truth:
// which checks must answer true. Nothing is stored per user: a user's roles
// and a role's grants are recomputed from a hash, so a million-user dataset
// costs no memory until it is materialized (as API writes, batch events or
// an engine snapshot).
package dataset

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"auth/engine"
)

// Config sizes a dataset. Users, Roles and Perms are per tenant; every
// tenant has the same shape but its own random memberships and grants.
type Config struct {
	Tenants       int    `json:"tenants"`
	Users         int    `json:"users"`
	Roles         int    `json:"roles"`
	Perms         int    `json:"perms"`
	RolesPerUser  int    `json:"roles_per_user"`
	GrantsPerRole int    `json:"grants_per_role"`
	Seed          uint64 `json:"seed"`
}

// Validate reports sizes that cannot make a dataset.
func (c Config) Validate() error {
	switch {
	case c.Tenants < 1 || c.Users < 1 || c.Roles < 1 || c.Perms < 1:
		return errors.New("dataset: tenants, users, roles and perms must be at least 1")
	case c.RolesPerUser < 1 || c.RolesPerUser > c.Roles:
		return fmt.Errorf("dataset: roles per user must be in 1..%d", c.Roles)
	case c.GrantsPerRole < 1 || c.GrantsPerRole > c.Perms:
		return fmt.Errorf("dataset: grants per role must be in 1..%d", c.Perms)
	}
	return nil
}

// Memberships is the number of memberships in the whole dataset.
func (c Config) Memberships() int { return c.Tenants * c.Users * c.RolesPerUser }

// Grants is the number of grants in the whole dataset.
func (c Config) Grants() int { return c.Tenants * c.Roles * c.GrantsPerRole }

// Writes is the number of API writes that load the dataset: every role,
// grant and membership.
func (c Config) Writes() int { return c.Tenants*c.Roles + c.Grants() + c.Memberships() }

func (c Config) String() string {
	return fmt.Sprintf("%d tenant(s) × {%d users, %d roles, %d perms, %d roles/user, %d grants/role}",
		c.Tenants, c.Users, c.Roles, c.Perms, c.RolesPerUser, c.GrantsPerRole)
}

// Names. Keys, users, roles and permissions are plain ASCII, so they need no
// percent-encoding in a path.

// Key returns the secret key of tenant t.
func Key(t int) string { return "benchkey-" + strconv.Itoa(t) }

// User returns the name of user u.
func User(u int) string { return "u" + strconv.Itoa(u) }

// Role returns the name of role r.
func Role(r int) string { return "r" + strconv.Itoa(r) }

// Perm returns the name of permission p.
func Perm(p int) string { return "p" + strconv.Itoa(p) }

// splitmix64 is the hash everything is drawn from.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (c Config) draw(kind, t, i, k uint64) uint64 {
	return splitmix64(c.Seed ^ splitmix64(kind<<56^t<<32^i) ^ splitmix64(k+0x51))
}

// pick appends n distinct values below limit drawn from (kind, t, i), sorted.
func (c Config) pick(dst []int, n, limit int, kind, t, i uint64) []int {
	start := len(dst)
	for k := uint64(0); len(dst)-start < n; k++ {
		v := int(c.draw(kind, t, i, k) % uint64(limit))
		if !slices.Contains(dst[start:], v) {
			dst = append(dst, v)
		}
	}
	slices.Sort(dst[start:])
	return dst
}

// UserRoles appends the roles of user u of tenant t, ascending.
func (c Config) UserRoles(dst []int, t, u int) []int {
	return c.pick(dst, c.RolesPerUser, c.Roles, 1, uint64(t), uint64(u))
}

// RoleGrants appends the permissions granted to role r of tenant t,
// ascending.
func (c Config) RoleGrants(dst []int, t, r int) []int {
	return c.pick(dst, c.GrantsPerRole, c.Perms, 2, uint64(t), uint64(r))
}

// HasPermission is the ground truth of a check: whether user u of tenant t
// has permission p. u may be past Users (an unknown user: false).
func (c Config) HasPermission(t, u, p int) bool {
	if u < 0 || u >= c.Users || p < 0 || p >= c.Perms || t < 0 || t >= c.Tenants {
		return false
	}
	var rb [16]int
	var gb [64]int
	for _, r := range c.UserRoles(rb[:0], t, u) {
		if slices.Contains(c.RoleGrants(gb[:0], t, r), p) {
			return true
		}
	}
	return false
}

// Check is one has_permission question with its answer.
type Check struct {
	Tenant, User, Perm int
	Want               bool
}

// Checks returns n checks drawn with rng, a share trueShare of which answer
// true. A false check names an existing user and a permission in the
// dataset's range that none of the user's roles grants (when the user has
// every permission, which only tiny datasets allow, it names one past the
// range, which the server does not know).
func (c Config) Checks(rng *rand.Rand, n int, trueShare float64) []Check {
	out := make([]Check, n)
	var rb, gb []int
	for i := range out {
		t, u := rng.IntN(c.Tenants), rng.IntN(c.Users)
		ch := Check{Tenant: t, User: u}
		if rng.Float64() < trueShare {
			rb = c.UserRoles(rb[:0], t, u)
			gb = c.RoleGrants(gb[:0], t, rb[rng.IntN(len(rb))])
			ch.Perm, ch.Want = gb[rng.IntN(len(gb))], true
		} else {
			ch.Perm = c.Perms // fallback: unknown permission
			for try := 0; try < 64; try++ {
				if p := rng.IntN(c.Perms); !c.HasPermission(t, u, p) {
					ch.Perm = p
					break
				}
			}
		}
		out[i] = ch
	}
	return out
}

// Changes calls fn with every change that builds tenant t, in an order the
// API accepts: roles, then grants, then memberships.
func (c Config) Changes(t int, fn func(engine.Change) error) error {
	for r := 0; r < c.Roles; r++ {
		if err := fn(engine.Change{Op: engine.OpAddRole, Role: Role(r)}); err != nil {
			return err
		}
	}
	var buf []int
	for r := 0; r < c.Roles; r++ {
		buf = c.RoleGrants(buf[:0], t, r)
		for _, p := range buf {
			if err := fn(engine.Change{Op: engine.OpAddPermission, Role: Role(r), Permission: Perm(p)}); err != nil {
				return err
			}
		}
	}
	for u := 0; u < c.Users; u++ {
		buf = c.UserRoles(buf[:0], t, u)
		for _, r := range buf {
			if err := fn(engine.Change{Op: engine.OpAddMembership, User: User(u), Role: Role(r)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Snapshot returns tenant t's whole state as an engine snapshot at seq, for
// [engine.Engine.Restore] or a store.
func (c Config) Snapshot(t int, seq uint64) *engine.Snapshot {
	s := &engine.Snapshot{
		Tenant:      engine.KeyID(Key(t)),
		Seq:         seq,
		Users:       make([]string, c.Users),
		Permissions: make([]string, c.Perms),
		Roles:       make([]engine.RoleSnapshot, c.Roles),
	}
	for p := range s.Permissions {
		s.Permissions[p] = Perm(p)
	}
	var buf []int
	for r := range s.Roles {
		buf = c.RoleGrants(buf[:0], t, r)
		rs := engine.RoleSnapshot{Name: Role(r), Permissions: make([]uint32, len(buf))}
		for i, p := range buf {
			rs.Permissions[i] = uint32(p)
		}
		rs.Members = make([]uint32, 0, c.Users*c.RolesPerUser/c.Roles+8)
		s.Roles[r] = rs
	}
	for u := range s.Users {
		s.Users[u] = User(u)
		buf = c.UserRoles(buf[:0], t, u)
		for _, r := range buf {
			s.Roles[r].Members = append(s.Roles[r].Members, uint32(u))
		}
	}
	return s
}

// Engine builds an engine holding the whole dataset, through snapshots.
func (c Config) Engine() (*engine.Engine, error) {
	e := engine.New()
	for t := 0; t < c.Tenants; t++ {
		if err := e.Restore(c.Snapshot(t, 1)); err != nil {
			return nil, err
		}
	}
	return e, nil
}
