package engine

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// The key cache spares a read the SHA-256 of its key. It maps a 128-bit
// fingerprint of the key (two maphash sums under seeds drawn at random per
// process, never stored or shown) to the tenant id. Neither the key nor
// anything a key could be recovered from is kept: a fingerprint is
// meaningless outside this process. Two keys would share an entry only if
// both 64-bit sums collided under secret seeds, which is as unlikely as two
// random 128-bit numbers being equal.
//
// Only keys of existing tenants are cached, and the cache stops growing at
// keyCacheMax entries, so that a flood of made-up keys cannot grow memory.
//
// In front of the sharded maps, a direct-mapped array of keyFrontSize
// entries answers the keys in use without a lock: one atomic load and a
// comparison. Its entries are the tenants' own (Tenant.keyEntry, made once),
// so that refilling it never allocates; a restore replaces a tenant's
// state, not the tenant, so an entry stays valid.

const (
	keyCacheShards = 64
	keyCacheMax    = 1 << 20
	keyFrontSize   = 1 << 16 // a power of two: 512 KiB, so that the keys of 100k tenants mostly hit
)

// keyEntry is a tenant's entry in the front of the key cache.
type keyEntry struct {
	fp fingerprint
	t  *Tenant
}

type fingerprint [2]uint64

type keyCache struct {
	seeds  [2]maphash.Seed
	front  [keyFrontSize]atomic.Pointer[keyEntry]
	shards [keyCacheShards]keyCacheShard
}

type keyCacheShard struct {
	mu sync.RWMutex
	m  map[fingerprint]TenantID
	_  [64 - 8 - 24]byte // keep shards on separate cache lines
}

func newKeyCache() *keyCache {
	c := &keyCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range c.shards {
		c.shards[i].m = make(map[fingerprint]TenantID)
	}
	return c
}

func (c *keyCache) fingerprint(key string) fingerprint {
	return fingerprint{maphash.String(c.seeds[0], key), maphash.String(c.seeds[1], key)}
}

func (c *keyCache) get(fp fingerprint) (TenantID, bool) {
	s := &c.shards[fp[0]%keyCacheShards]
	s.mu.RLock()
	id, ok := s.m[fp]
	s.mu.RUnlock()
	return id, ok
}

func (c *keyCache) put(fp fingerprint, id TenantID) {
	s := &c.shards[fp[0]%keyCacheShards]
	s.mu.Lock()
	if len(s.m) < keyCacheMax/keyCacheShards {
		s.m[fp] = id
	}
	s.mu.Unlock()
}

// TenantByKey returns the tenant of a secret key, or nil (an empty tenant)
// if it has never been written to. It is [Engine.Tenant] of [KeyID], with
// the key's hash cached for keys of existing tenants. It does not allocate
// once a tenant has been looked up by its key.
func (e *Engine) TenantByKey(key string) *Tenant {
	c := e.keys
	fp := c.fingerprint(key)
	slot := &c.front[fp[1]&(keyFrontSize-1)]
	if ke := slot.Load(); ke != nil && ke.fp == fp {
		return ke.t
	}
	id, ok := c.get(fp)
	if !ok {
		id = KeyID(key)
	}
	t := e.Tenant(id)
	if t == nil {
		return nil
	}
	if !ok {
		c.put(fp, id)
	}
	ke := t.keyEntry.Load()
	if ke == nil {
		t.keyEntry.CompareAndSwap(nil, &keyEntry{fp: fp, t: t})
		ke = t.keyEntry.Load()
	}
	slot.Store(ke)
	return t
}
