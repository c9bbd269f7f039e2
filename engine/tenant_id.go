package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// TenantID names a tenant inside the system: the SHA-256 of its secret key.
// It is what stores, buses and logs see; the key itself never leaves the
// request that carried it.
type TenantID [32]byte

// tenantDomain separates tenant hashes from any other use of SHA-256 over
// the same secret.
const tenantDomain = "auth/tenant/v1\x00"

// KeyID returns the TenantID of a secret key. It does not allocate for any
// key of at most MaxKeyLen bytes.
func KeyID(key string) TenantID {
	// The buffer holds every valid key: the streaming path below allocates
	// its hash state, and a check must not allocate.
	var buf [len(tenantDomain) + MaxKeyLen]byte
	if len(tenantDomain)+len(key) <= len(buf) {
		n := copy(buf[:], tenantDomain)
		n += copy(buf[n:], key)
		return sha256.Sum256(buf[:n])
	}
	h := sha256.New()
	h.Write([]byte(tenantDomain))
	h.Write([]byte(key))
	var id TenantID
	h.Sum(id[:0])
	return id
}

// String returns the lower-case hex form of id.
func (id TenantID) String() string { return hex.EncodeToString(id[:]) }

// ParseTenantID parses the hex form that [TenantID.String] returns.
func ParseTenantID(s string) (TenantID, error) {
	var id TenantID
	if len(s) != 2*len(id) {
		return id, errors.New("engine: tenant id must be 64 hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, errors.New("engine: tenant id must be 64 hex digits")
	}
	return id, nil
}
