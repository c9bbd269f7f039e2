package engine

import (
	"fmt"
	"testing"
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
