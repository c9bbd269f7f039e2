package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Key scopes: what a key may do. Each includes the ones before it.
const (
	// ScopeCheck: has_permission and the batch check.
	ScopeCheck = "check"
	// ScopeRead: every read, the export and the event feed.
	ScopeRead = "read"
	// ScopeAdmin: everything, keys included.
	ScopeAdmin = "admin"
)

// FirstKey is the id of a tenant's first key, the one it is named by.
const FirstKey = "first"

// Key describes one of the tenant's keys, never its secret.
type Key struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Scope string `json:"scope"`
	// Created is when the key was made (zero for the first key).
	Created time.Time `json:"created"`
}

// NewKey is a key just made: its secret is shown this once.
type NewKey struct {
	ID    string `json:"id"`
	Key   string `json:"key"` // the secret
	Name  string `json:"name"`
	Scope string `json:"scope"`
	// Revoked is, for a rotation, the id of the key it revoked.
	Revoked string `json:"revoked,omitempty"`
	// Seq is the tenant's seq after the change.
	Seq uint64 `json:"seq"`
}

// String never shows the secret.
func (k NewKey) String() string { return "key " + k.ID + " (" + k.Name + ", " + k.Scope + ")" }

// GoString never shows the secret.
func (k NewKey) GoString() string { return k.String() }

func (c *Client) keyCall(ctx context.Context, route, name, scope string) (NewKey, error) {
	u, err := c.endpoint(route, nil)
	if err != nil {
		return NewKey{}, err
	}
	body, err := json.Marshal(map[string]string{"name": name, "scope": scope})
	if err != nil {
		return NewKey{}, err
	}
	var k NewKey
	_, err = c.call(ctx, request{method: http.MethodPost, url: u, body: bytes.NewReader(body), ctype: "application/json", write: true}, &k)
	return k, err
}

// AddKey makes a key for the tenant with a name and a scope (ScopeCheck,
// ScopeRead or ScopeAdmin); the client's key needs the admin scope. The
// secret is in the answer only.
func (c *Client) AddKey(ctx context.Context, name, scope string) (NewKey, error) {
	if name == "" {
		return NewKey{}, emptyName("key name")
	}
	return c.keyCall(ctx, "/v1/keys", name, scope)
}

// RotateKey makes a new admin key, named name ("rotated" if empty), and
// revokes the client's key in the same change: every role, grant and
// membership stays. From then on this Client's key is refused; use the
// new key's secret.
func (c *Client) RotateKey(ctx context.Context, name string) (NewKey, error) {
	return c.keyCall(ctx, "/v1/keys/rotate", name, ScopeAdmin)
}

// Keys lists the tenant's keys that are not revoked, never their secrets.
func (c *Client) Keys(ctx context.Context, opts ...ReadOption) ([]Key, error) {
	u, err := c.endpoint("/v1/keys", readQuery(opts))
	if err != nil {
		return nil, err
	}
	var out struct {
		Keys []Key `json:"keys"`
	}
	_, err = c.call(ctx, request{method: http.MethodGet, url: u}, &out)
	return out.Keys, err
}

// Deletion is the answer of [Client.DeleteTenant].
type Deletion struct {
	Write
	// GoneEverywhereBy is when every replica has applied the deletion
	// (the cluster's convergence bound after it); a read with [MinSeq]
	// of Seq sees it at once anywhere.
	GoneEverywhereBy time.Time `json:"gone_everywhere_by"`
}

// DeleteTenant deletes the client's tenant (an admin key): its roles,
// grants, memberships and keys, at every replica and in the store. Every
// key of it, this client's included, gets [ErrUnauthorized] afterwards;
// its first key never names a fresh tenant again.
func (c *Client) DeleteTenant(ctx context.Context) (Deletion, error) {
	u, err := c.endpoint("/v1/tenant", nil)
	if err != nil {
		return Deletion{}, err
	}
	var d Deletion
	_, err = c.call(ctx, request{method: http.MethodDelete, url: u, write: true}, &d)
	return d, err
}

// RevokeKey revokes the key with id; it reports [ErrNotFound] for no such
// key (a Write's Seq is the tenant's seq after the change).
func (c *Client) RevokeKey(ctx context.Context, id string) (Write, error) {
	if id == "" {
		return Write{}, emptyName("key id")
	}
	u, err := c.endpoint("/v1/keys", nil, id)
	if err != nil {
		return Write{}, err
	}
	var w Write
	_, err = c.call(ctx, request{method: http.MethodDelete, url: u, write: true}, &w)
	return w, err
}
