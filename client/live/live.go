package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"auth/client"
	"auth/engine"
)

// Errors of the reads.
var (
	// ErrStale: the replica has not known itself at the server's head for
	// longer than Options.MaxStaleness, and Options.ServeStale is false
	// (the default): reads fail closed rather than answer from an old
	// state.
	ErrStale = errors.New("live: the local replica is staler than its bound")
	// ErrClosed: the replica was closed.
	ErrClosed = errors.New("live: replica closed")
	// ErrRevoked: the server refused the replica's key: it was revoked,
	// or its tenant deleted. Reads fail from then on, whatever
	// Options.ServeStale says, and the replica stops following: open
	// another with a valid key.
	ErrRevoked = errors.New("live: the replica's key is revoked, or its tenant deleted")
)

// Options configure a Replica; the zero value is the defaults.
type Options struct {
	// HTTPClient sends the replica's requests (the export and the event
	// stream): for TLS, a proxy, a transport of your own. Its Timeout must
	// be 0 (the stream lives long); nil uses a client of its own.
	HTTPClient *http.Client
	// MaxStaleness bounds how long the replica may go without knowing it
	// was at the server's head: past it, reads return ErrStale, or keep
	// answering if ServeStale. Default 10 s.
	MaxStaleness time.Duration
	// ServeStale keeps reads answering from the last state past
	// MaxStaleness (fail open); the default fails closed. A key the
	// server refuses (revoked, or its tenant deleted) fails closed
	// whatever this says (ErrRevoked).
	ServeStale bool
	// Heartbeat is the interval the replica asks the server's heartbeats
	// to come at: each tells it the tenant's head. Default MaxStaleness/4,
	// at most the server's 15 s and at least 100 ms.
	Heartbeat time.Duration
	// Logger hears of reconnections and rebuilds; nil logs nothing.
	Logger *slog.Logger
}

// Replica is a live replica of one tenant in this process: its reads
// answer from memory, at the engine's speed, without a network hop. It is
// safe for concurrent use.
type Replica struct {
	base, key string
	id        engine.TenantID
	hc        *http.Client
	opts      Options
	c         *client.Client

	// cur is the state reads answer from. The follower applies events to
	// it in place (the engine's tenant locks itself); a rebuild builds a
	// new one aside and swaps it in whole.
	cur atomic.Pointer[state]
	// refuse is set by the staleness ticker when reads must fail closed:
	// a read loads a flag, it never reads the clock.
	refuse atomic.Bool
	// revoked is set, with refuse, when the server refuses the key.
	revoked atomic.Bool
	// fresh is when the replica last knew it was at the server's head
	// (Unix ns).
	fresh atomic.Int64

	mu     sync.Mutex
	moved  chan struct{} // closed (and replaced) when the seq moves
	closed bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	rebuilds, reconnects atomic.Int64
}

// state is one tenant state, of one epoch of the server's store.
type state struct {
	eng   *engine.Engine
	t     *engine.Tenant
	epoch string
}

// Open loads the tenant of key from the server at baseURL (GET
// /v1/export) and starts following its events (GET /v1/events/stream)
// from the export's seq. It returns once the state is loaded, or ctx ends
// first. Close it when done.
func Open(ctx context.Context, baseURL, key string, opts Options) (*Replica, error) {
	if opts.MaxStaleness <= 0 {
		opts.MaxStaleness = 10 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = opts.MaxStaleness / 4
	}
	opts.Heartbeat = min(max(opts.Heartbeat, 100*time.Millisecond), 15*time.Second)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: client.NewTransport()}
	}
	if err := engine.ValidKey(key); err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	r := &Replica{base: baseURL, key: key, id: engine.KeyID(key), hc: hc, opts: opts,
		c: client.New(baseURL, key, client.WithHTTPClient(hc)), moved: make(chan struct{}), done: make(chan struct{})}
	st, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	r.cur.Store(st)
	r.fresh.Store(time.Now().UnixNano())
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// Client is a client of the same server and tenant, for writes: pass a
// write's seq to Wait to read it here.
func (r *Replica) Client() *client.Client { return r.c }

// Close stops following the server; reads answer ErrClosed after it.
func (r *Replica) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.moved)
	r.mu.Unlock()
	r.cancel()
	<-r.done
	r.refuse.Store(true)
	return nil
}

// Seq is the seq the replica has applied the tenant up to.
func (r *Replica) Seq() uint64 { return r.cur.Load().t.Seq() }

// Epoch is the epoch of the server's store the replica's state is of.
func (r *Replica) Epoch() string { return r.cur.Load().epoch }

// Staleness is how long ago the replica last knew it was at the server's
// head (from a heartbeat, or a load).
func (r *Replica) Staleness() time.Duration {
	return time.Duration(time.Now().UnixNano() - r.fresh.Load())
}

// Stats counts the replica's rebuilds (loads from an export after the
// first) and reconnections of its stream.
func (r *Replica) Stats() (rebuilds, reconnects int64) {
	return r.rebuilds.Load(), r.reconnects.Load()
}

// Wait waits until the replica has applied the tenant up to seq (the seq
// a write answered), or ctx ends (its error), or the replica is closed
// (ErrClosed).
func (r *Replica) Wait(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		moved, closed := r.moved, r.closed
		r.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if r.revoked.Load() {
			return ErrRevoked
		}
		if r.Seq() >= seq {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes the waiters: the seq moved.
func (r *Replica) notify() {
	r.mu.Lock()
	if !r.closed {
		close(r.moved)
		r.moved = make(chan struct{})
	}
	r.mu.Unlock()
}

// tenant returns the state to read, or an error if reads must not answer.
func (r *Replica) tenant() (*engine.Tenant, error) {
	if r.refuse.Load() {
		if r.isClosed() {
			return nil, ErrClosed
		}
		if r.revoked.Load() {
			return nil, ErrRevoked
		}
		return nil, ErrStale
	}
	return r.cur.Load().t, nil
}

func (r *Replica) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// The reads. Each answers as the server's route of the same name does for
// valid names (names are not checked here: an invalid name answers false
// or an empty list, where the server answers 400). Lists are sorted, as
// the server's are.

// Check reports whether user has permission perm (any of the user's roles
// is granted it): GET /v1/has_permission/{user}/{perm}. It does not
// allocate.
func (r *Replica) Check(user, perm string) (bool, error) {
	if r.refuse.Load() {
		_, err := r.tenant()
		return false, err
	}
	return r.cur.Load().t.UserHasPermission(user, perm), nil
}

// HasRole reports whether role exists.
func (r *Replica) HasRole(role string) (bool, error) {
	t, err := r.tenant()
	return err == nil && t.HasRole(role), err
}

// HasPermission reports whether role is granted perm.
func (r *Replica) HasPermission(role, perm string) (bool, error) {
	t, err := r.tenant()
	return err == nil && t.HasPermission(role, perm), err
}

// HasMembership reports whether user is a member of role.
func (r *Replica) HasMembership(user, role string) (bool, error) {
	t, err := r.tenant()
	return err == nil && t.HasMembership(user, role), err
}

// Roles lists every role.
func (r *Replica) Roles() ([]string, error) {
	return r.List(engine.ListRoles, "", false)
}

// RolePermissions lists the permissions role is granted.
func (r *Replica) RolePermissions(role string) ([]string, error) {
	return r.List(engine.ListRolePermissions, role, false)
}

// RoleMembers lists the members of role.
func (r *Replica) RoleMembers(role string) ([]string, error) {
	return r.List(engine.ListRoleMembers, role, false)
}

// UserRoles lists the roles user is a member of.
func (r *Replica) UserRoles(user string) ([]string, error) {
	return r.List(engine.ListUserRoles, user, false)
}

// UserPermissions lists the permissions of user's roles, each once.
func (r *Replica) UserPermissions(user string) ([]string, error) {
	return r.List(engine.ListUserPermissions, user, false)
}

// WhichRolesCan lists the roles granted perm.
func (r *Replica) WhichRolesCan(perm string) ([]string, error) {
	return r.List(engine.ListWhichRolesCan, perm, false)
}

// WhichUsersCan lists the users with perm, each once.
func (r *Replica) WhichUsersCan(perm string) ([]string, error) {
	return r.List(engine.ListWhichUsersCan, perm, false)
}

// HasInclusion reports whether role includes included directly.
func (r *Replica) HasInclusion(role, included string) (bool, error) {
	t, err := r.tenant()
	return err == nil && t.HasInclusion(role, included), err
}

// List reads any of the tenant's lists (see engine.List), with role
// inclusions followed where the server's effective=true follows them.
func (r *Replica) List(l engine.List, arg string, effective bool) ([]string, error) {
	t, err := r.tenant()
	if err != nil {
		return nil, err
	}
	names := t.List(l, arg, effective)
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// Why returns the ways user has perm, as GET /v1/why/{user}/{perm}: each
// role granted perm that one of user's roles is or includes, with the
// shortest path of inclusions to it.
func (r *Replica) Why(user, perm string) ([]engine.Via, error) {
	t, err := r.tenant()
	if err != nil {
		return nil, err
	}
	return t.Why(user, perm), nil
}

// load reads the tenant's export into a new state: GET /v1/export, whose
// X-Auth-Seq and X-Auth-Epoch say its seq and epoch.
func (r *Replica) load(ctx context.Context) (*state, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v1/export", nil)
	if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("live: export: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("live: export: %s", resp.Status)
	}
	seq, err := strconv.ParseUint(resp.Header.Get("X-Auth-Seq"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("live: export: X-Auth-Seq %q", resp.Header.Get("X-Auth-Seq"))
	}
	snap := &engine.Snapshot{Tenant: r.id, Seq: seq}
	users, perms, roles := map[string]uint32{}, map[string]uint32{}, map[string]int{}
	index := func(m map[string]uint32, names *[]string, name string) uint32 {
		i, ok := m[name]
		if !ok {
			i = uint32(len(*names))
			m[name] = i
			*names = append(*names, name)
		}
		return i
	}
	role := func(name string) *engine.RoleSnapshot {
		i, ok := roles[name]
		if !ok {
			i = len(snap.Roles)
			roles[name] = i
			snap.Roles = append(snap.Roles, engine.RoleSnapshot{Name: name})
		}
		return &snap.Roles[i]
	}
	for f, err := range client.ReadFacts(resp.Body) {
		if err != nil {
			return nil, fmt.Errorf("live: export: %w", err)
		}
		included := -1
		if f.Includes != "" {
			role(f.Includes)
			included = roles[f.Includes]
		}
		rs := role(f.Role)
		switch {
		case f.Permission != "":
			rs.Permissions = append(rs.Permissions, index(perms, &snap.Permissions, f.Permission))
		case f.User != "":
			u := index(users, &snap.Users, f.User)
			rs.Members = append(rs.Members, u)
			if f.StartsAt != "" || f.ExpiresAt != "" {
				w, err := windowOf(f)
				if err != nil {
					return nil, fmt.Errorf("live: export: %w", err)
				}
				snap.Windows = append(snap.Windows, engine.MemberWindow{User: u, Role: uint32(roles[f.Role]), Window: w})
			}
		case included >= 0:
			rs.Includes = append(rs.Includes, uint32(included))
		}
	}
	for i := range snap.Roles {
		slices.Sort(snap.Roles[i].Includes)
		snap.Roles[i].Includes = slices.Compact(snap.Roles[i].Includes)
		slices.Sort(snap.Roles[i].Permissions)
		snap.Roles[i].Permissions = slices.Compact(snap.Roles[i].Permissions)
		slices.Sort(snap.Roles[i].Members)
		snap.Roles[i].Members = slices.Compact(snap.Roles[i].Members)
	}
	slices.SortFunc(snap.Windows, func(a, b engine.MemberWindow) int {
		if a.User != b.User {
			return cmp.Compare(a.User, b.User)
		}
		return cmp.Compare(a.Role, b.Role)
	})
	eng := engine.New()
	if err := eng.Restore(snap); err != nil {
		return nil, fmt.Errorf("live: export: %w", err)
	}
	return &state{eng: eng, t: eng.Tenant(r.id), epoch: resp.Header.Get("X-Auth-Epoch")}, nil
}

// windowOf is the window of an export's membership line.
func windowOf(f client.Fact) (engine.Window, error) {
	var w engine.Window
	var err error
	if f.StartsAt != "" {
		if w.StartsAt, err = engine.ParseWindowTime(f.StartsAt); err != nil {
			return w, err
		}
	}
	if f.ExpiresAt != "" {
		w.ExpiresAt, err = engine.ParseWindowTime(f.ExpiresAt)
	}
	return w, err
}
