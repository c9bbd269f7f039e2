package migrate

import (
	"fmt"
	"io"
	"strings"

	"auth/engine"
)

// Key is a tenant's secret key as the source holds it (the creator field of
// the original's documents). It is a secret, and it prints as its
// fingerprint whatever the verb, to fmt, to encoding/json and as text, so
// that no report, error or log line can carry it by mistake. Only the
// client that writes the tenant reads the key itself.
type Key struct{ s string }

// fingerprintLen is the number of hex digits that name a tenant; more
// where two tenants of one migration share them (see Plan).
const fingerprintLen = 8

// Fingerprint is the first hex digits of the tenant's id inside the
// server (engine.KeyID: SHA-256 of the key), the name the server's logs
// give the tenant too.
func (k Key) Fingerprint() string { return k.id()[:fingerprintLen] }

// id is the tenant's whole id in hex.
func (k Key) id() string { return engine.KeyID(k.s).String() }

// String is the fingerprint.
func (k Key) String() string { return k.Fingerprint() }

// GoString is the fingerprint, so that %#v prints no key either.
func (k Key) GoString() string { return "migrate.Key(" + k.Fingerprint() + ")" }

// Format prints the fingerprint for every verb.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, k.GoString())
		return
	}
	io.WriteString(f, k.Fingerprint())
}

// MarshalText is the fingerprint: encoding/json and friends print no key.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.Fingerprint()), nil }

// problem says why the key cannot name a tenant of the new server, or "".
// The server reads keys from "Authorization: Bearer <key>" and trims the
// spaces before it, so a key with spaces at either end would land in
// another tenant than its own.
func (k Key) problem() string {
	if err := engine.ValidKey(k.s); err != nil {
		return "the key is refused by the server: " + err.Error()
	}
	if strings.TrimSpace(k.s) != k.s {
		return "the key begins or ends with a space, which an Authorization header cannot carry"
	}
	return ""
}
