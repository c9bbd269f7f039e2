package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
)

// Fact is one line of an export or an import: a role (Role alone), a grant
// (Role and Permission) or a membership (Role and User). It encodes, with
// encoding/json, as the line the server reads and writes.
type Fact struct {
	Role       string `json:"role"`
	Permission string `json:"permission,omitempty"`
	User       string `json:"user,omitempty"`
	Includes   string `json:"includes,omitempty"` // an inclusion: Role includes this role
	// A membership's window, if it has one (RFC 3339): it counts only
	// from StartsAt and/or until ExpiresAt.
	StartsAt  string `json:"starts_at,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// Export writes the tenant's whole state to w as JSON lines, one [Fact] a
// line: the roles, then each role's grants and members, sorted. It comes
// from one consistent snapshot, whose seq Export returns. Only ctx bounds
// it.
func (c *Client) Export(ctx context.Context, w io.Writer, opts ...ReadOption) (seq uint64, err error) {
	u, err := c.endpoint("/v1/export", readQuery(opts))
	if err != nil {
		return 0, err
	}
	resp, done, err := c.send(ctx, request{method: http.MethodGet, url: u})
	if err != nil {
		return 0, err
	}
	defer done()
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return 0, fmt.Errorf("auth: export: %w", err)
	}
	return seqHeader(resp), nil
}

// Imported is the answer to an import.
type Imported struct {
	// Seq is the tenant's seq after the import, which is one event.
	Seq uint64 `json:"seq"`
	// Roles, Permissions and Memberships count the lines read, by kind.
	Roles       int `json:"roles"`
	Permissions int `json:"permissions"`
	Memberships int `json:"memberships"`
	Inclusions  int `json:"inclusions,omitempty"`
}

// Import adds the facts of r, JSON lines as [Client.Export] writes them
// (in any order; blank lines are skipped), to the tenant's state, all
// together as one event: all of them, or, on any error, none. The server
// bounds the body (160 MiB by default: [ErrTooLarge]) and each line (64
// KiB), and takes one import at a time per tenant (429 past it). Only ctx
// bounds it.
func (c *Client) Import(ctx context.Context, r io.Reader) (Imported, error) {
	return c.importFacts(ctx, r, nil)
}

// ImportReplace is [Client.Import] that makes the tenant's state exactly
// the facts of r: what r does not hold is gone. It is one event, and
// readers at every replica see the state before it or after it, never
// part of it.
func (c *Client) ImportReplace(ctx context.Context, r io.Reader) (Imported, error) {
	return c.importFacts(ctx, r, url.Values{"mode": {"replace"}})
}

func (c *Client) importFacts(ctx context.Context, r io.Reader, q url.Values) (Imported, error) {
	u, err := c.endpoint("/v1/import", q)
	if err != nil {
		return Imported{}, err
	}
	// Expect: 100-continue lets a server refuse a body over its limit
	// before it is sent.
	h := http.Header{"Expect": {"100-continue"}}
	var out Imported
	_, err = c.call(ctx, request{method: http.MethodPost, url: u, body: r, ctype: "application/x-ndjson", header: h, timeout: noTimeout, write: true}, &out)
	return out, err
}

// ReadFacts iterates over the facts of JSON lines, such as an export.
// Blank lines are skipped; a malformed line ends the iteration with an
// error naming it.
func ReadFacts(r io.Reader) iter.Seq2[Fact, error] {
	return func(yield func(Fact, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for line := 1; sc.Scan(); line++ {
			raw := sc.Bytes()
			if len(trimSpace(raw)) == 0 {
				continue
			}
			var f Fact
			if err := json.Unmarshal(raw, &f); err != nil || f.Role == "" || b2i(f.Permission != "")+b2i(f.User != "")+b2i(f.Includes != "") > 1 {
				if err == nil {
					err = fmt.Errorf("want a role, alone or with a permission, a user or a role it includes")
				}
				yield(Fact{}, fmt.Errorf("auth: line %d: %w", line, err))
				return
			}
			if !yield(f, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(Fact{}, err)
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
