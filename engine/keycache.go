package engine

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// The key cache spares a read the SHA-256 of its key. It maps a 128-bit
// fingerprint of the key (two maphash sums under seeds drawn at random per
// process, never stored or shown) to what the key may do where
// ([Access]). Neither the key nor anything a key could be recovered from
// is kept: a fingerprint is meaningless outside this process. Two keys
// would share an entry only if both 64-bit sums collided under secret
// seeds, which is as unlikely as two random 128-bit numbers being equal.
//
// Only keys of existing tenants are cached, and the cache stops growing at
// keyCacheMax entries, so that a flood of made-up keys cannot grow memory.
//
// In front of the sharded maps, a direct-mapped array of keyFrontSize
// entries answers the keys in use without a lock: one atomic load, a
// comparison and a load of the generation. Entries are immutable and made
// once per key and generation, so that refilling the front from the maps
// never allocates. A restore replaces a tenant's state, not the tenant, so
// an entry stays valid through it. Revoking a key, a restore that changes
// a tenant's keys and deleting a tenant bump the generation (after the key
// index has dropped the key), which invalidates every entry at once: the
// keys in use are looked up again, once each.

const (
	keyCacheShards = 64
	keyCacheMax    = 1 << 20
	keyFrontSize   = 1 << 16 // a power of two: 512 KiB, so that the keys of 100k tenants mostly hit
)

// keyEntry is a key's entry in the key cache. A first key's entry is the
// tenant's own (Tenant.first), made once: its fingerprint is stored when
// the key is first cached (always the same), its generation each time the
// key is resolved valid again, never a generation later than the one read
// before resolving, so that, as with an entry made anew, an entry whose
// generation is the current one holds an answer no revocation has
// overtaken. Other keys' entries are made once per key and generation.
type keyEntry struct {
	fp  [2]atomic.Uint64
	gen atomic.Uint64
	acc Access
}

// is reports whether ke is the entry of the key of fingerprint fp, valid
// in generation gen.
func (ke *keyEntry) is(fp fingerprint, gen uint64) bool {
	return ke.fp[0].Load() == fp[0] && ke.fp[1].Load() == fp[1] && ke.gen.Load() == gen
}

// set stores ke's fingerprint and generation; for an entry not yet
// published, or a tenant's first key's.
func (ke *keyEntry) set(fp fingerprint, gen uint64) {
	ke.fp[0].Store(fp[0])
	ke.fp[1].Store(fp[1])
	ke.gen.Store(gen)
}

type fingerprint [2]uint64

type keyCache struct {
	seeds  [2]maphash.Seed
	gen    atomic.Uint64
	front  [keyFrontSize]atomic.Pointer[keyEntry]
	shards [keyCacheShards]keyCacheShard
}

type keyCacheShard struct {
	mu sync.RWMutex
	m  map[fingerprint]*keyEntry
	_  [64 - 8 - 24]byte // keep shards on separate cache lines
}

func newKeyCache() *keyCache {
	c := &keyCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range c.shards {
		c.shards[i].m = make(map[fingerprint]*keyEntry)
	}
	return c
}

func (c *keyCache) fingerprint(key string) fingerprint {
	return fingerprint{maphash.String(c.seeds[0], key), maphash.String(c.seeds[1], key)}
}

func (c *keyCache) get(fp fingerprint) *keyEntry {
	s := &c.shards[fp[0]%keyCacheShards]
	s.mu.RLock()
	ke := s.m[fp]
	s.mu.RUnlock()
	return ke
}

func (c *keyCache) put(fp fingerprint, ke *keyEntry) {
	s := &c.shards[fp[0]%keyCacheShards]
	s.mu.Lock()
	if _, there := s.m[fp]; there || len(s.m) < keyCacheMax/keyCacheShards {
		s.m[fp] = ke
	}
	s.mu.Unlock()
}

// invalidate makes every entry stale; the key index must already have
// dropped what is no longer valid.
func (c *keyCache) invalidate() { c.gen.Add(1 << genShift) }

// The generation counts in gen's high bits; its low genShift bits count
// the changes that may revoke keys in progress (beginRevoke). While one
// is, no entry is used or made: every Access resolves the key from the
// state, so that no reader sees a revoking event's seq and the key it
// revoked still valid.
const (
	genShift   = 16
	genWriters = 1<<genShift - 1
)

func (c *keyCache) beginRevoke() { c.gen.Add(1<<genShift + 1) }
func (c *keyCache) endRevoke()   { c.gen.Add(1<<genShift - 1) }

// KeyStatus says what a key is to the engine.
type KeyStatus uint8

// The statuses of a key.
const (
	// KeyValid: a key of a tenant, not revoked; Access.Scope says what it
	// may do.
	KeyValid KeyStatus = iota
	// KeyNew: a key no tenant has, not of the server's form: the first key
	// of a tenant not yet written to (an empty tenant), with the admin
	// scope.
	KeyNew
	// KeyUnknown: a key of the server's form (KeyPrefix) that no tenant
	// here has; Access.ID is the tenant it names, which may have made it
	// at a replica this one has not heard from yet. It may do nothing.
	KeyUnknown
	// KeyRevoked: a tenant's first key, revoked. It may do nothing.
	KeyRevoked
)

// Access is what a key may do, in which tenant.
type Access struct {
	// Tenant is the tenant's state, nil for an empty tenant (and for a key
	// that may do nothing).
	Tenant *Tenant
	// ID is the tenant's id.
	ID TenantID
	// Key is the key's id (FirstKey for the first key), for the audit
	// trail; "" for a key that may do nothing.
	Key string
	// Scope is what the key may do: ScopeNone unless Status is KeyValid
	// or KeyNew.
	Scope  Scope
	Status KeyStatus
}

// Access returns what key may do in which tenant. It does not allocate
// once the key has been looked up (until a revocation anywhere), and it
// takes no lock when the key is in the front of the cache.
func (e *Engine) Access(key string) Access {
	c := e.keys
	fp := c.fingerprint(key)
	gen := c.gen.Load()
	if ke := c.inFront(fp, gen); ke != nil {
		return ke.acc // never during a revocation: no entry has such a gen
	}
	return e.access(key, fp, gen)
}

// slot is fp's slot in the front of the cache.
func (c *keyCache) slot(fp fingerprint) *atomic.Pointer[keyEntry] {
	return &c.front[fp[1]&(keyFrontSize-1)]
}

// inFront returns the front's entry for fp if it is valid in gen, or nil.
func (c *keyCache) inFront(fp fingerprint, gen uint64) *keyEntry {
	if ke := c.slot(fp).Load(); ke != nil && ke.is(fp, gen) {
		return ke
	}
	return nil
}

// access is Access for a key not in the front: from the maps, or resolved
// and cached.
func (e *Engine) access(key string, fp fingerprint, gen uint64) Access {
	c := e.keys
	if gen&genWriters != 0 {
		return e.resolve(key)
	}
	if ke := c.get(fp); ke != nil && ke.gen.Load() == gen {
		c.slot(fp).Store(ke)
		return ke.acc
	}
	acc := e.resolve(key)
	if acc.Status == KeyValid {
		var ke *keyEntry
		if acc.Tenant != nil && acc == acc.Tenant.first.acc {
			ke = &acc.Tenant.first
		} else {
			ke = &keyEntry{acc: acc}
		}
		ke.set(fp, gen)
		c.put(fp, ke)
		c.slot(fp).Store(ke)
	}
	return acc
}

// resolve is Access without the cache.
func (e *Engine) resolve(key string) Access {
	h := KeyID(key)
	if ref, ok := e.index.get(h); ok {
		return Access{Tenant: ref.t, ID: ref.t.id, Key: ref.id, Scope: ref.scope, Status: KeyValid}
	}
	if t := e.Tenant(h); t != nil {
		if !t.HasKey(FirstKey) {
			return Access{ID: h, Status: KeyRevoked}
		}
		return Access{Tenant: t, ID: h, Key: FirstKey, Scope: ScopeAdmin, Status: KeyValid}
	}
	if id, ok := KeyTenant(key); ok {
		return Access{ID: id, Status: KeyUnknown}
	}
	return Access{ID: h, Key: FirstKey, Scope: ScopeAdmin, Status: KeyNew}
}

// TenantByKey returns the tenant of a secret key, or nil (an empty tenant)
// if it has never been written to, or the key may do nothing (revoked, or
// of the server's form and unknown here). It is [Engine.Access]'s tenant.
func (e *Engine) TenantByKey(key string) *Tenant {
	c := e.keys
	fp := c.fingerprint(key)
	gen := c.gen.Load()
	if ke := c.inFront(fp, gen); ke != nil {
		return ke.acc.Tenant // reading no more of the entry than the tenant
	}
	return e.access(key, fp, gen).Tenant
}

// revoking makes change, a change of tenant t that may revoke keys,
// between beginRevoke and endRevoke, having dropped gone (hashes of t's
// keys it revokes) from the key index first; t.wmu is held. A reader
// that sees the change's seq thus finds its keys refused: from the state
// (the first key, whose revocation is part of the state, published with
// the seq), from the index (the others), never from the cache.
func (e *Engine) revoking(t *Tenant, gone []TenantID, change func()) {
	e.keys.beginRevoke()
	defer e.keys.endRevoke()
	if len(gone) > 0 {
		e.index.mu.Lock()
		for _, h := range gone {
			if ref, ok := e.index.m[h]; ok && ref.t == t {
				delete(e.index.m, h)
			}
		}
		e.index.mu.Unlock()
	}
	change()
}

// revokes returns whether ev may revoke keys of a tenant whose keys are
// ks, and the hashes of those it revokes but the first key.
func revokes(ev *Event, ks *keySet) (bool, []TenantID) {
	var gone []TenantID
	may := false
	one := func(c *Change) {
		switch c.Op {
		case OpDelTenant:
			may = true
			if ks != nil {
				for _, r := range ks.recs {
					gone = append(gone, r.Hash)
				}
			}
		case OpDelKey:
			may = true
			if i := ks.find(c.keyArgs().ID); i >= 0 {
				gone = append(gone, ks.recs[i].Hash)
			}
		}
	}
	if ev.Op == OpBatch {
		for i := range ev.Changes {
			one(&ev.Changes[i])
		}
	} else {
		one(&ev.Change)
	}
	return may, gone
}

// keyIndex maps the hash of every key but the first keys to its tenant.
type keyIndex struct {
	mu sync.RWMutex
	m  map[TenantID]keyRef
}

type keyRef struct {
	t     *Tenant
	id    string
	scope Scope
}

func (x *keyIndex) get(h TenantID) (keyRef, bool) {
	x.mu.RLock()
	ref, ok := x.m[h]
	x.mu.RUnlock()
	return ref, ok
}

// firstKeyRevoked reports whether a tenant's keys going from old to now
// revoke its first key.
func firstKeyRevoked(old, now *keySet) bool {
	return now != nil && now.firstRevoked && (old == nil || !old.firstRevoked)
}

// reindex brings the key index from tenant t's keys old to its keys now,
// and invalidates the key cache if a key went (or the first key was
// revoked); t.wmu is held.
func (e *Engine) reindex(t *Tenant, old, now *keySet) {
	if old == now {
		return
	}
	gone := firstKeyRevoked(old, now)
	e.index.mu.Lock()
	if e.index.m == nil {
		e.index.m = make(map[TenantID]keyRef)
	}
	if old != nil {
		for _, r := range old.recs {
			if now.find(r.ID) < 0 {
				gone = true
			}
			if ref, ok := e.index.m[r.Hash]; ok && ref.t == t {
				delete(e.index.m, r.Hash)
			}
		}
	}
	if now != nil {
		for _, r := range now.recs {
			e.index.m[r.Hash] = keyRef{t: t, id: r.ID, scope: r.Scope}
		}
	}
	e.index.mu.Unlock()
	if gone {
		e.keys.invalidate()
	}
}
