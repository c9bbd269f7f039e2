package engine

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// applyNext applies c (or a batch of cs) to tenant id as its next event,
// made by key id by.
func applyNext(t *testing.T, e *Engine, id TenantID, by string, cs ...Change) bool {
	t.Helper()
	ev := Event{Tenant: id, Seq: e.Seq(id) + 1, Time: time.Unix(1700000000, 0).UTC(), By: by}
	if len(cs) == 1 {
		ev.Change = cs[0]
	} else {
		ev.Change = Change{Op: OpBatch}
		ev.Changes = cs
	}
	ok, err := e.Apply(&ev)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestKeysScopesAndRevocation(t *testing.T) {
	e := New()
	const first = "the-first-key"
	id := KeyID(first)
	if a := e.Access(first); a.Status != KeyNew || a.Scope != ScopeAdmin || a.ID != id || a.Tenant != nil {
		t.Fatalf("unknown key: %+v", a)
	}
	applyNext(t, e, id, FirstKey, Change{Op: OpAddRole, Role: "r"})
	secret, rec, err := NewKey(id, "billing", ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, KeyPrefix) || strings.Contains(rec.Hash.String(), secret) || rec.Hash != KeyID(secret) {
		t.Fatalf("key %q, record %+v", secret, rec)
	}
	if got, ok := KeyTenant(secret); !ok || got != id {
		t.Fatalf("KeyTenant = %v, %v", got, ok)
	}
	// Unheard of: the tenant it names, nothing allowed.
	if a := e.Access(secret); a.Status != KeyUnknown || a.ID != id || a.Scope != ScopeNone || a.Tenant != nil {
		t.Fatalf("key not yet added: %+v", a)
	}
	if !applyNext(t, e, id, FirstKey, AddKeyChange(rec)) {
		t.Fatal("add_key answered false")
	}
	for range 2 { // the second from the cache
		a := e.Access(secret)
		if a.Status != KeyValid || a.Scope != ScopeCheck || a.Key != rec.ID || a.Tenant != e.Tenant(id) {
			t.Fatalf("scoped key: %+v", a)
		}
		if f := e.Access(first); f.Status != KeyValid || f.Scope != ScopeAdmin || f.Key != FirstKey {
			t.Fatalf("first key: %+v", f)
		}
	}
	keys := e.Tenant(id).Keys()
	if len(keys) != 2 || keys[0].ID != FirstKey || keys[1].ID != rec.ID || keys[1].Name != "billing" ||
		keys[1].Scope != ScopeCheck || !keys[1].Created.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("Keys() = %+v", keys)
	}
	// The tenant is compact, and stays so with its keys.
	if c, _ := e.Tenant(id).view(); c == nil {
		t.Fatal("a small tenant with keys is not compact")
	}
	// Rotation of the first key: a new admin key and the first revoked,
	// in one event.
	admin, arec, _ := NewKey(id, "rotated", ScopeAdmin)
	applyNext(t, e, id, FirstKey, AddKeyChange(arec), DelKeyChange(FirstKey))
	if a := e.Access(first); a.Status != KeyRevoked || a.Scope != ScopeNone || a.Tenant != nil {
		t.Fatalf("revoked first key: %+v", a)
	}
	if a := e.Access(admin); a.Status != KeyValid || a.Scope != ScopeAdmin || !a.Tenant.HasRole("r") {
		t.Fatalf("rotated key: %+v", a)
	}
	// Revoking a key takes it out of the cache.
	if !applyNext(t, e, id, arec.ID, DelKeyChange(rec.ID)) {
		t.Fatal("del_key answered false")
	}
	if a := e.Access(secret); a.Status != KeyUnknown || a.Scope != ScopeNone {
		t.Fatalf("revoked scoped key: %+v", a)
	}
	if del := DelKeyChange(rec.ID); func() bool { res, changes := e.Tenant(id).Answer(&del); return res || changes }() {
		t.Fatal("revoking a revoked key changes something")
	}
	// A clearing batch (an import in replace mode) keeps the keys.
	applyNext(t, e, id, arec.ID, Change{Op: OpClear}, Change{Op: OpAddRole, Role: "s"})
	if a := e.Access(admin); a.Status != KeyValid || a.Tenant.HasRole("r") || !a.Tenant.HasRole("s") {
		t.Fatalf("after a clearing batch: %+v", a)
	}
	if a := e.Access(first); a.Status != KeyRevoked {
		t.Fatalf("a clearing batch brought the first key back: %+v", a)
	}
	// A snapshot keeps the keys, through its binary form, and a restore
	// in another engine knows them.
	e2, b := throughBinary(t, e.Snapshot(id))
	if strings.Contains(string(b), admin) || strings.Contains(string(b), secret) {
		t.Fatal("a snapshot holds a secret")
	}
	if a := e2.Access(admin); a.Status != KeyValid || a.Scope != ScopeAdmin || !a.Tenant.HasRole("s") {
		t.Fatalf("restored: %+v", a)
	}
	if a := e2.Access(first); a.Status != KeyRevoked {
		t.Fatalf("restored first key: %+v", a)
	}
	if got := e2.Tenant(id).Keys(); len(got) != 1 || got[0].ID != arec.ID || !got[0].Created.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("restored keys: %+v", got)
	}
	// A restore to a state without the key revokes it, cache and all.
	if err := e2.Restore(&Snapshot{Tenant: id, Seq: 99}); err != nil {
		t.Fatal(err)
	}
	if a := e2.Access(admin); a.Status != KeyUnknown {
		t.Fatalf("after a restore without it: %+v", a)
	}
}

func TestEventKeyBinary(t *testing.T) {
	ev := Event{Tenant: KeyID("k"), Seq: 3, By: "k_0123456789abcdef", Change: Change{Op: OpAddRole, Role: "r"}}
	b, err := ev.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != eventFormatKey {
		t.Fatalf("format %d", b[0])
	}
	var back Event
	if err := back.UnmarshalBinary(b); err != nil || back.By != ev.By || back.Change != ev.Change {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	// Without a key, the old form.
	ev.By = ""
	if b, _ := ev.MarshalBinary(); b[0] != eventFormat {
		t.Fatalf("format %d without a key", b[0])
	}
	// A key id that is not one is refused.
	ev.By = "secret-ish"
	b, _ = ev.MarshalBinary()
	if err := back.UnmarshalBinary(b); err == nil {
		t.Fatal("a bad key id decoded")
	}
	// A format newer than known is refused, saying so.
	b[0] = 9
	if err := back.UnmarshalBinary(b); err == nil || !strings.Contains(err.Error(), "unknown event format 9") {
		t.Fatalf("format 9: %v", err)
	}
}

func TestAddKeyValidation(t *testing.T) {
	_, rec, _ := NewKey(KeyID("k"), "n", ScopeRead)
	good := AddKeyChange(rec)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Change{
		"scope":     {Op: OpAddKey, Key: &KeyArgs{ID: rec.ID, Name: "n", Scope: "write", Hash: rec.Hash.String()}},
		"first id":  {Op: OpAddKey, Key: &KeyArgs{ID: FirstKey, Name: "n", Scope: "read", Hash: rec.Hash.String()}},
		"bad id":    {Op: OpAddKey, Key: &KeyArgs{ID: "k_XYZ", Name: "n", Scope: "read", Hash: rec.Hash.String()}},
		"bad hash":  {Op: OpAddKey, Key: &KeyArgs{ID: rec.ID, Name: "n", Scope: "read", Hash: "abc"}},
		"del bad":   {Op: OpDelKey, Key: &KeyArgs{ID: "nope"}},
		"no name":   {Op: OpAddKey, Key: &KeyArgs{ID: rec.ID, Scope: "read", Hash: rec.Hash.String()}},
		"no args":   {Op: OpAddKey},
		"role too":  {Op: OpDelKey, Key: &KeyArgs{ID: FirstKey}, Role: "r"},
		"name too":  {Op: OpDelKey, Key: &KeyArgs{ID: FirstKey, Name: "n"}},
		"upper hex": {Op: OpAddKey, Key: &KeyArgs{ID: rec.ID, Name: "n", Scope: "read", Hash: strings.ToUpper(rec.Hash.String())}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}

// TestRevocationIsNeverCachedAway: readers look keys up while keys are
// made and revoked; once a revocation has returned, no lookup finds the
// key, whatever the readers cached meanwhile.
func TestRevocationIsNeverCachedAway(t *testing.T) {
	e := New()
	const first = "concurrent-first"
	id := KeyID(first)
	applyNext(t, e, id, FirstKey, Change{Op: OpAddRole, Role: "r"})
	stop := make(chan struct{})
	var current atomic.Pointer[string] // the secret the readers look up
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s := current.Load(); s != nil {
					e.Access(*s)
				}
				e.Access(first)
			}
		}()
	}
	for range 200 {
		secret, rec, _ := NewKey(id, "k", ScopeRead)
		applyNext(t, e, id, FirstKey, AddKeyChange(rec))
		current.Store(&secret)
		for range 10 {
			if a := e.Access(secret); a.Status != KeyValid {
				t.Fatalf("a key just made: %+v", a)
			}
		}
		applyNext(t, e, id, FirstKey, DelKeyChange(rec.ID))
		if a := e.Access(secret); a.Status == KeyValid {
			t.Fatalf("a revoked key is still valid: %+v", a)
		}
	}
	close(stop)
	wg.Wait()
}

// TestSnapshotWithInclusionsAndKeys: a snapshot of a tenant with
// inclusions and keys keeps both through its binary form (format 3).
func TestSnapshotWithInclusionsAndKeys(t *testing.T) {
	e := New()
	const first = "incl-and-keys"
	id := KeyID(first)
	for _, c := range []Change{{Op: OpAddRole, Role: "a"}, {Op: OpAddRole, Role: "b"}, {Op: OpAddPermission, Role: "b", Permission: "p"},
		{Op: OpAddMembership, Role: "a", User: "u"}, {Op: OpAddInclusion, Role: "a", Includes: "b"}} {
		applyNext(t, e, id, FirstKey, c)
	}
	secret, rec, _ := NewKey(id, "k", ScopeCheck)
	applyNext(t, e, id, FirstKey, AddKeyChange(rec))
	e2, b := throughBinary(t, e.Snapshot(id))
	if b[0] != snapshotFormatKeys {
		t.Fatalf("format %d, want %d", b[0], snapshotFormatKeys)
	}
	a := e2.Access(secret)
	if a.Status != KeyValid || a.Scope != ScopeCheck || !a.Tenant.UserHasPermission("u", "p") {
		t.Fatalf("restored: %+v, u may p: %v", a, a.Tenant != nil && a.Tenant.UserHasPermission("u", "p"))
	}
}

// TestRevocationSeenWithItsSeq: a reader that has seen a revoking event's
// seq never finds the key it revoked valid, whatever the key cache held:
// a read with min_seq at another replica relies on it. Keys are made and
// revoked (made keys one by one, first keys by rotation, tenants deleted)
// while readers hammer Access with the seq they saw first.
func TestRevocationSeenWithItsSeq(t *testing.T) {
	e := New()
	type target struct {
		id  TenantID
		key string
		at  uint64 // the seq of the event that revokes key
	}
	var cur atomic.Pointer[target]
	var stop atomic.Bool
	var bad atomic.Pointer[string]
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tg := cur.Load()
				if tg == nil {
					continue
				}
				seen := e.Seq(tg.id)
				if a := e.Access(tg.key); seen >= tg.at && a.Status == KeyValid {
					msg := fmt.Sprintf("seq %d seen, yet the key revoked at %d is valid: %+v", seen, tg.at, a)
					bad.Store(&msg)
				}
				if tn := e.TenantByKey(tg.key); seen >= tg.at && tn != nil {
					msg := fmt.Sprintf("seq %d seen, yet the key revoked at %d finds its tenant", seen, tg.at)
					bad.Store(&msg)
				}
			}
		}()
	}
	for i := range 90 {
		first := fmt.Sprintf("revoked-first-%d", i)
		id, secret, rec := tenantWithCheckKey(t, e, first)
		for range 50 {
			e.Access(secret) // cached
			e.Access(first)
		}
		key, revoke := secret, DelKeyChange(rec.ID)
		switch i % 3 {
		case 1:
			key, revoke = first, DelKeyChange(FirstKey)
		case 2:
			revoke = Change{Op: OpDelTenant}
		}
		cur.Store(&target{id: id, key: key, at: e.Seq(id) + 1})
		time.Sleep(50 * time.Microsecond)
		applyNext(t, e, id, FirstKey, revoke)
		time.Sleep(50 * time.Microsecond)
	}
	stop.Store(true)
	wg.Wait()
	if msg := bad.Load(); msg != nil {
		t.Fatal(*msg)
	}
}

// tenantWithCheckKey makes the tenant of first key first, with a role r
// and a check key, whose secret and record it returns.
func tenantWithCheckKey(t *testing.T, e *Engine, first string) (TenantID, string, KeyRecord) {
	t.Helper()
	id := KeyID(first)
	applyNext(t, e, id, FirstKey, Change{Op: OpAddRole, Role: "r"})
	secret, rec, err := NewKey(id, "k", ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	applyNext(t, e, id, FirstKey, AddKeyChange(rec))
	return id, secret, rec
}
