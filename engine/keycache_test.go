package engine

import (
	"fmt"
	"testing"
	"unsafe"
)

func TestTenantByKey(t *testing.T) {
	e := New()
	if got := e.TenantByKey("k"); got != nil {
		t.Fatal("a key never written to has a tenant")
	}
	if n := len(e.keys.shards[e.keys.fingerprint("k")[0]%keyCacheShards].m); n != 0 {
		t.Fatalf("an unknown key was cached (%d entries)", n)
	}
	// More keys than the front of the cache has entries, so that keys
	// share entries and take them from each other.
	const keys = keyFrontSize + 100
	for i := range keys {
		if _, err := e.AddRole(fmt.Sprint("key-", i), "r"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second round answers from the cache
		for i := range keys {
			key := fmt.Sprint("key-", i)
			if got, want := e.TenantByKey(key), e.Tenant(KeyID(key)); got != want || got == nil {
				t.Fatalf("TenantByKey(%q) = %p, want %p", key, got, want)
			}
		}
	}
	// A restore replaces the tenant's state: its key finds the new state,
	// never the old one.
	if !e.TenantByKey("key-7").HasRole("r") {
		t.Fatal("key-7 lost its role before the restore")
	}
	if err := e.Restore(&Snapshot{Tenant: KeyID("key-7"), Seq: 9}); err != nil {
		t.Fatal(err)
	}
	if got := e.TenantByKey("key-7"); got.Seq() != 9 || got.HasRole("r") {
		t.Fatal("TenantByKey answers from the state a restore replaced")
	}
	if e.TenantByKey("key-8") == e.TenantByKey("key-9") {
		t.Fatal("two keys share a tenant")
	}
}

// TestFirstKeyEntryIsTheTenants: the cache's entry for a tenant's first
// key is the tenant's own, so that a check by it reads no entry apart; a
// scoped key's is one of its own; and neither answers once revoked.
func TestFirstKeyEntryIsTheTenants(t *testing.T) {
	e := New()
	const first = "first-entry"
	id, secret, rec := tenantWithCheckKey(t, e, first)
	tn := e.Tenant(id)
	slot := func(key string) *keyEntry {
		return e.keys.slot(e.keys.fingerprint(key)).Load()
	}
	for range 2 {
		if e.TenantByKey(first) != tn || e.TenantByKey(secret) != tn {
			t.Fatal("a key does not find its tenant")
		}
	}
	if slot(first) != &tn.first {
		t.Fatal("the first key's entry is not the tenant's own")
	}
	if ke := slot(secret); ke == &tn.first || ke == nil || ke.acc.Key != rec.ID {
		t.Fatalf("the scoped key's entry: %+v", ke)
	}
	applyNext(t, e, id, FirstKey, DelKeyChange(rec.ID))
	if e.TenantByKey(secret) != nil || e.TenantByKey(first) != tn {
		t.Fatal("after the scoped key's revocation")
	}
	applyNext(t, e, id, rec.ID, DelKeyChange(FirstKey))
	if e.TenantByKey(first) != nil || e.Access(first).Status != KeyRevoked {
		t.Fatal("the first key still finds its tenant once revoked")
	}
}

// TestTenantLayout keeps what a check by key reads of a tenant in its
// first 64 bytes, and the tenant a size the allocator aligns to 64 bytes
// (a multiple of 64 in its own size class), so that those fields share one
// cache line.
func TestTenantLayout(t *testing.T) {
	var x Tenant
	if size := unsafe.Sizeof(x); size%64 != 0 {
		t.Errorf("a Tenant is %d bytes, not a multiple of 64", size)
	}
	for _, f := range []struct {
		name string
		end  uintptr
	}{
		{"small", unsafe.Offsetof(x.small) + unsafe.Sizeof(x.small)},
		{"first.fp", unsafe.Offsetof(x.first) + unsafe.Offsetof(x.first.fp) + unsafe.Sizeof(x.first.fp)},
		{"first.gen", unsafe.Offsetof(x.first) + unsafe.Offsetof(x.first.gen) + unsafe.Sizeof(x.first.gen)},
		{"first.acc.Tenant", unsafe.Offsetof(x.first) + unsafe.Offsetof(x.first.acc) + unsafe.Sizeof(x.first.acc.Tenant)},
	} {
		if f.end > 64 {
			t.Errorf("%s ends at byte %d of a Tenant, past its first 64", f.name, f.end)
		}
	}
	// Objects of 192 bytes are 64-aligned: the runtime's size class for
	// them is exactly 192 and spans are page-aligned.
	ts := make([]*Tenant, 64)
	for i := range ts {
		ts[i] = newTenant(TenantID{byte(i)}, nil)
		if p := uintptr(unsafe.Pointer(ts[i])); p%64 != 0 {
			t.Errorf("a Tenant at %#x, not 64-aligned", p)
		}
	}
}
