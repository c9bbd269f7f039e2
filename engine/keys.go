package engine

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Keys. A tenant is named by its first key: its id is the SHA-256 of that
// key ([KeyID]), as it always was. Further keys are records of the tenant's
// state, made and revoked by events like any change (OpAddKey, OpDelKey):
// a short id that is not secret, a name, a scope, the time it was made and
// the hash of its secret ([KeyID] of the secret, which a lookup computes
// anyway), never the secret itself. The first key has the id [FirstKey]
// and the admin scope; it has no record, and a OpDelKey of it marks the
// tenant's first key revoked.
//
// Keys the server makes ([NewKey]) are "ak_" and the base64url (no
// padding) of the tenant's id and 32 random bytes, so that a replica that
// has not heard of one yet knows which tenant to catch up before it
// answers (the tenant's id is not a secret: stores, buses and logs show
// it). Nothing but the record's hash makes such a key valid.

// Scope is what a key may do. Each scope includes those below it.
type Scope uint8

// The scopes.
const (
	ScopeNone  Scope = iota // nothing: a revoked or unknown key
	ScopeCheck              // has_permission and the batch check
	ScopeRead               // every read, the export and the event feed
	ScopeAdmin              // everything, keys included
)

var scopeNames = [...]string{ScopeNone: "none", ScopeCheck: "check", ScopeRead: "read", ScopeAdmin: "admin"}

// String returns the scope's name: check, read or admin.
func (s Scope) String() string {
	if int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// ParseScope is the inverse of [Scope.String], for the scopes a key can
// have (not none).
func ParseScope(s string) (Scope, error) {
	for i, name := range scopeNames {
		if i > 0 && name == s {
			return Scope(i), nil
		}
	}
	return 0, &inputError{fmt.Sprintf("scope %q is not check, read or admin", s)}
}

// Allows reports whether a key of scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool { return s != ScopeNone && s >= need }

// FirstKey is the id of a tenant's first key, the one its id is the hash
// of.
const FirstKey = "first"

// KeyPrefix begins every key the server makes.
const KeyPrefix = "ak_"

const (
	keySecretBytes = 32
	keyIDHex       = 16 // hex digits of a key's id after "k_"
	keyLen         = len(KeyPrefix) + (len(TenantID{})+keySecretBytes)*4/3 + 1
)

// NewKey makes a key for tenant id: its secret (shown once, never kept)
// and the record that describes it.
func NewKey(id TenantID, name string, scope Scope) (secret string, rec KeyRecord, err error) {
	var raw [len(TenantID{}) + keySecretBytes]byte
	copy(raw[:], id[:])
	if _, err := rand.Read(raw[len(id):]); err != nil {
		return "", KeyRecord{}, err
	}
	var kid [keyIDHex / 2]byte
	if _, err := rand.Read(kid[:]); err != nil {
		return "", KeyRecord{}, err
	}
	secret = KeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, KeyRecord{ID: "k_" + hex.EncodeToString(kid[:]), Name: name, Scope: scope, Hash: KeyID(secret)}, nil
}

// KeyTenant returns the tenant a key made by [NewKey] names, and whether
// key has that form at all. It says nothing of the key's validity.
func KeyTenant(key string) (TenantID, bool) {
	var id TenantID
	if len(key) != keyLen || !strings.HasPrefix(key, KeyPrefix) {
		return id, false
	}
	var raw [len(TenantID{}) + keySecretBytes]byte
	n, err := base64.RawURLEncoding.Decode(raw[:], []byte(key[len(KeyPrefix):]))
	if err != nil || n != len(raw) {
		return id, false
	}
	copy(id[:], raw[:len(id)])
	return id, true
}

// validKeyID checks a key id: the first key's, or "k_" and 16 hex digits.
func validKeyID(id string) bool {
	if id == FirstKey {
		return true
	}
	return len(id) == 2+keyIDHex && strings.HasPrefix(id, "k_") && lowerHex(id[2:])
}

// lowerHex reports whether s is lower-case hex digits (without allocating).
func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// KeyRecord describes one key of a tenant, never its secret.
type KeyRecord struct {
	ID      string
	Name    string
	Scope   Scope
	Hash    TenantID // KeyID of the secret
	Created time.Time
}

// keySet is a tenant's keys: immutable, replaced by a change.
type keySet struct {
	firstRevoked bool
	// deleted marks a deleted tenant (OpDelTenant): it has no keys, and
	// refuses every later event.
	deleted bool
	recs    []KeyRecord // in the order they were made
}

func (k *keySet) find(id string) int {
	if k == nil {
		return -1
	}
	for i := range k.recs {
		if k.recs[i].ID == id {
			return i
		}
	}
	return -1
}

// has reports whether key id is there and not revoked.
func (k *keySet) has(id string) bool {
	if id == FirstKey {
		return k == nil || !k.firstRevoked
	}
	return k.find(id) >= 0
}

func (k *keySet) copy() *keySet {
	if k == nil {
		return &keySet{}
	}
	return &keySet{firstRevoked: k.firstRevoked, deleted: k.deleted, recs: slices.Clone(k.recs)}
}

// addKey adds a key's record; t.mu must be held for writing.
func (t *tables) addKey(c Change) bool {
	k := c.keyArgs()
	if t.keys.find(k.ID) >= 0 || k.ID == FirstKey {
		return false
	}
	scope, _ := ParseScope(k.Scope)
	hash, _ := ParseTenantID(k.Hash)
	n := t.keys.copy()
	n.recs = append(n.recs, KeyRecord{ID: k.ID, Name: k.Name, Scope: scope, Hash: hash, Created: t.now})
	t.keys = n
	return true
}

// delKey revokes a key; t.mu must be held for writing.
func (t *tables) delKey(c Change) bool {
	id := c.keyArgs().ID
	if !t.keys.has(id) {
		return false
	}
	n := t.keys.copy()
	if id == FirstKey {
		n.firstRevoked = true
	} else {
		i := n.find(id)
		n.recs = slices.Delete(n.recs, i, i+1)
	}
	t.keys = n
	return true
}

// checkAddKey validates what the field checks cannot of an add_key change.
func checkAddKey(c Change) error {
	k := c.keyArgs()
	if !validKeyID(k.ID) || k.ID == FirstKey {
		return &inputError{fmt.Sprintf("key id %q is not k_ and 16 hex digits", k.ID)}
	}
	if _, err := ParseScope(k.Scope); err != nil {
		return err
	}
	if len(k.Hash) != 2*len(TenantID{}) || !lowerHex(k.Hash) {
		return &inputError{"key hash must be 64 lower-case hex digits"}
	}
	return nil
}

func checkDelKey(c Change) error {
	if id := c.keyArgs().ID; !validKeyID(id) {
		return &inputError{fmt.Sprintf("key id %q is not %q nor k_ and 16 hex digits", id, FirstKey)}
	}
	return nil
}

// keyArgs returns c's key fields, empty for a change without them.
func (c *Change) keyArgs() KeyArgs {
	if c.Key == nil {
		return KeyArgs{}
	}
	return *c.Key
}

// DelKeyChange returns the change that revokes key id.
func DelKeyChange(id string) Change { return Change{Op: OpDelKey, Key: &KeyArgs{ID: id}} }

// AddKeyChange returns the change that adds rec to a tenant.
func AddKeyChange(rec KeyRecord) Change {
	return Change{Op: OpAddKey, Key: &KeyArgs{ID: rec.ID, Name: rec.Name, Scope: rec.Scope.String(), Hash: rec.Hash.String()}}
}

// KeyInfo is a key as a tenant lists it.
type KeyInfo struct {
	ID      string
	Name    string
	Scope   Scope
	Created time.Time // zero for the first key
}

// Keys lists the tenant's keys that are not revoked: the first key, then
// the others in the order they were made.
func (t *Tenant) Keys() []KeyInfo {
	var ks *keySet
	if t != nil {
		ks = t.keySet()
	}
	var out []KeyInfo
	if ks == nil || !ks.firstRevoked {
		out = append(out, KeyInfo{ID: FirstKey, Name: FirstKey, Scope: ScopeAdmin})
	}
	if ks != nil {
		for _, r := range ks.recs {
			out = append(out, KeyInfo{ID: r.ID, Name: r.Name, Scope: r.Scope, Created: r.Created})
		}
	}
	return out
}

// HasKey reports whether the tenant has key id, not revoked.
func (t *Tenant) HasKey(id string) bool {
	if t == nil {
		return id == FirstKey
	}
	return t.keySet().has(id)
}

// Deleted reports whether the tenant is deleted (OpDelTenant): it keeps its
// id and seq only, no key reaches it, and it refuses every later event, so
// that nothing written by a replica that had not heard of the deletion
// brings any of it back.
func (t *Tenant) Deleted() bool {
	if t == nil {
		return false
	}
	ks := t.keySet()
	return ks != nil && ks.deleted
}

// keySet returns the published state's keys.
func (t *Tenant) keySet() *keySet {
	c, s := t.view()
	if c != nil {
		return c.keys
	}
	s.mu.RLock()
	k := s.keys
	s.mu.RUnlock()
	return k
}

// Errors of writes under a key that may not make them.
var (
	// ErrUnauthorized: the key is revoked, or of the server's form and
	// unknown: it may do nothing.
	ErrUnauthorized = errors.New("engine: key revoked or unknown")
	// ErrForbidden: the key's scope does not allow the change.
	ErrForbidden = errors.New("engine: the key's scope does not allow this")
)

// Writer returns the tenant and the key id a write under key is made as,
// or an error matching ErrUnauthorized or ErrForbidden: every write needs
// the admin scope.
func (a Access) Writer() (TenantID, string, error) {
	switch {
	case a.Status != KeyValid && a.Status != KeyNew:
		return TenantID{}, "", ErrUnauthorized
	case !a.Scope.Allows(ScopeAdmin):
		return TenantID{}, "", ErrForbidden
	}
	return a.ID, a.Key, nil
}

// KeyFields returns c's key fields, empty for a change without them.
func (c *Change) KeyFields() KeyArgs { return c.keyArgs() }

// NewKeyArgs returns key fields for a change, nil if all are empty (the
// change of an op that is not a key op).
func NewKeyArgs(id, name, scope, hash string) *KeyArgs {
	if id == "" && name == "" && scope == "" && hash == "" {
		return nil
	}
	return &KeyArgs{ID: id, Name: name, Scope: scope, Hash: hash}
}
