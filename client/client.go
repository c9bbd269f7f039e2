package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"auth/internal/jsonstr"
)

// Client talks to one auth-server (or a load balancer in front of
// replicas) as one tenant. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	baseErr   error
	key       string
	hc        *http.Client
	timeout   time.Duration
	userAgent string
	tls       *tls.Config // WithTLS
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc instead of
// its own. Start from [NewTransport] to keep connections alive. hc's
// Timeout, if set, also bounds [Client.Watch] and [Client.Export] streams:
// prefer WithTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds each call (default 30 s; 0: only the context bounds
// it). Streams ([Client.Watch], [Client.Export], [Client.Import]) are
// bounded by their context only; a long-polling [Client.Events] gets its
// wait on top.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// DefaultTimeout is the default bound of one call.
const DefaultTimeout = 30 * time.Second

// NewTransport returns the transport a Client uses by default: keep-alive
// connections, up to 64 of them idle per host (net/http's default of 2
// would close and reopen connections under any concurrency), dropped after
// 90 s idle, before the server's own idle timeout (2 min) closes them
// under a request. There is no response header timeout, since long polls
// and event streams legitimately wait; contexts and [WithTimeout] bound
// calls instead.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// New returns a client of the server at baseURL (such as
// "http://localhost:4000", "https://auth.internal:4000", or with a path
// prefix behind a proxy; see [WithTLS] for a private CA) acting as
// the tenant of key. An invalid baseURL is reported by every call.
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{key: key, timeout: DefaultTimeout, userAgent: "auth-client-go/1"}
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("auth: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		c.baseErr = fmt.Errorf("auth: base URL %q: want http:// or https://", baseURL)
	case u.Host == "":
		c.baseErr = fmt.Errorf("auth: base URL %q has no host", baseURL)
	default:
		u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
		c.base = u
	}
	for _, o := range opts {
		o(c)
	}
	if c.tls != nil {
		c.applyTLS()
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport()}
	}
	return c
}

// String describes the client without its key.
func (c *Client) String() string {
	if c.base == nil {
		return "client.Client(invalid URL)"
	}
	return "client.Client(" + c.base.Redacted() + ")"
}

// GoString is String, so that %#v does not print the key either.
func (c *Client) GoString() string { return c.String() }

// CloseIdleConnections closes the connections kept alive and idle.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// ReadOption modifies a read.
type ReadOption func(*readOptions)

type readOptions struct {
	minSeq    uint64
	hasMinSeq bool
	epoch     string
	effective bool
}

// Effective asks a list that says what was written (RolePermissions,
// RoleMembers, UserRoles) for its closure under role inclusion: a role's
// permissions and those of the roles it includes, directly or not; a
// role's members and those of the roles that include it; a user's roles
// and the roles they include. The lists of what a user can do follow
// inclusions always.
func Effective() ReadOption {
	return func(o *readOptions) { o.effective = true }
}

// InEpoch names the epoch of the store a [MinSeq] was given in (the
// X-Auth-Epoch header of the answer that gave it, or [Status].Epoch): a
// server whose store is of another epoch (restored from a
// backup since) answers 412, an error matching [ErrOtherEpoch], rather
// than compare seqs of two histories.
func InEpoch(epoch string) ReadOption {
	return func(o *readOptions) { o.epoch = epoch }
}

// MinSeq asks for an answer from a state at least as recent as seq (the
// seq of an earlier write or read). A replica that has not reached it
// waits for it a short while, then answers 409: an error matching
// [ErrBehind].
func MinSeq(seq uint64) ReadOption {
	return func(o *readOptions) { o.minSeq, o.hasMinSeq = seq, true }
}

func readQuery(opts []ReadOption) url.Values {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	var q url.Values
	if o.hasMinSeq {
		q = url.Values{"min_seq": {strconv.FormatUint(o.minSeq, 10)}}
	}
	if o.epoch != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("epoch", o.epoch)
	}
	if o.effective {
		if q == nil {
			q = url.Values{}
		}
		q.Set("effective", "true")
	}
	return q
}

// escapeSegment percent-encodes a name as one path segment: '/' becomes
// %2F, and the segments "." and ".." are encoded too, so that nothing on
// the way treats them as path steps.
func escapeSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// endpoint returns the URL of route (a fixed path such as "/v1/role")
// followed by names, each one escaped segment.
func (c *Client) endpoint(route string, query url.Values, names ...string) (*url.URL, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	basePath := strings.TrimSuffix(c.base.Path, "/")
	rawBase := strings.TrimSuffix(c.base.EscapedPath(), "/")
	var path, raw strings.Builder
	path.WriteString(basePath)
	path.WriteString(route)
	raw.WriteString(rawBase)
	raw.WriteString(route)
	for _, n := range names {
		path.WriteByte('/')
		path.WriteString(n)
		raw.WriteByte('/')
		raw.WriteString(escapeSegment(n))
	}
	u := *c.base
	u.Path, u.RawPath = path.String(), raw.String()
	u.RawQuery = query.Encode()
	return &u, nil
}

// request is one call.
type request struct {
	method string
	url    *url.URL
	body   io.Reader
	ctype  string
	header http.Header
	// timeout bounds the call; 0: the Client's timeout; noTimeout: the
	// context only.
	timeout time.Duration
	// write marks a request that changes the tenant: its errors carry an
	// Outcome.
	write bool
}

const noTimeout = -1

// send sends r and returns the response, whose body the caller closes,
// and a cancel to call once done with it. An answer other than 2xx is
// returned as an *Error, its body read and closed.
func (c *Client) send(ctx context.Context, r request) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if r.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url.String(), r.body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.URL = r.url // keep the escapes exactly as built
	for k, v := range r.header {
		req.Header[k] = v
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		cancel()
		if r.write {
			return nil, nil, &TransportError{Method: r.method, Path: r.url.EscapedPath(), Outcome: transportOutcome(err), Err: err}
		}
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		return nil, nil, readError(r, resp)
	}
	return resp, cancel, nil
}

// maxAnswer bounds an answer read into memory.
const maxAnswer = 256 << 20

// readError turns a non-2xx answer into an *Error.
func readError(r request, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{StatusCode: resp.StatusCode, Method: r.method, Path: r.url.EscapedPath()}
	var answer struct {
		Error   *string `json:"error"`
		Seq     uint64  `json:"seq"`
		Epoch   string  `json:"epoch"`
		Outcome string  `json:"outcome"`
	}
	ok := json.Unmarshal(body, &answer) == nil && answer.Error != nil
	if r.write {
		e.Outcome = writeOutcome(resp.StatusCode, answer.Outcome)
	}
	if ok {
		e.Message, e.Seq, e.Epoch = *answer.Error, answer.Seq, answer.Epoch
	} else {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg == "" {
			msg = "(no message)"
		}
		e.Message = msg
	}
	return e
}

// call sends r and decodes its JSON answer into out; it returns the
// X-Auth-Seq header.
func (c *Client) call(ctx context.Context, r request, out any) (uint64, error) {
	body, seq, err := c.callRaw(ctx, r)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return 0, malformed(r, err)
	}
	return seq, nil
}

func malformed(r request, err error) error {
	return fmt.Errorf("auth: %s %s: malformed answer: %w", r.method, r.url.EscapedPath(), err)
}

// callRaw sends r and returns its answer's body and X-Auth-Seq header.
func (c *Client) callRaw(ctx context.Context, r request) ([]byte, uint64, error) {
	if r.timeout == 0 {
		r.timeout = c.timeout
	}
	resp, cancel, err := c.send(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	defer cancel()
	defer resp.Body.Close()
	var body []byte
	if n := resp.ContentLength; n >= 0 && n <= maxAnswer {
		body = make([]byte, n)
		_, err = io.ReadFull(resp.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	}
	if err != nil {
		return nil, 0, err
	}
	if len(body) > maxAnswer {
		return nil, 0, fmt.Errorf("auth: %s %s: answer longer than %d bytes", r.method, r.url.EscapedPath(), maxAnswer)
	}
	return body, seqHeader(resp), nil
}

func seqHeader(resp *http.Response) uint64 {
	seq, _ := strconv.ParseUint(resp.Header.Get("X-Auth-Seq"), 10, 64)
	return seq
}

// Write is the answer to a write.
type Write struct {
	// Result is the original API's answer: for AddRole, whether the role
	// was created (false: it existed); for DelRole, whether it was deleted
	// (false: it did not exist); for AddPermission and AddMembership,
	// false if the role does not exist, else true; for DelPermission and
	// DelMembership, always true.
	Result bool `json:"result"`
	// Seq is the tenant's seq after the write: pass it to reads with
	// [MinSeq] to read your own write from any replica.
	Seq uint64 `json:"seq"`
}

// Answer is the answer to a yes-or-no read.
type Answer struct {
	Result bool `json:"result"`
	// Seq is the seq of the state the answer comes from.
	Seq uint64 `json:"seq"`
}

// List is the answer to a list read: names sorted, each once.
type List struct {
	Names []string `json:"names"`
	// Seq is the seq of the state the answer comes from.
	Seq uint64 `json:"seq"`
}

func (c *Client) write(ctx context.Context, method, route string, names ...string) (Write, error) {
	u, err := c.endpoint(route, nil, names...)
	if err != nil {
		return Write{}, err
	}
	var w Write
	_, err = c.call(ctx, request{method: method, url: u, write: true}, &w)
	return w, err
}

func (c *Client) readBool(ctx context.Context, route string, opts []ReadOption, names ...string) (Answer, error) {
	u, err := c.endpoint(route, readQuery(opts), names...)
	if err != nil {
		return Answer{}, err
	}
	var a Answer
	a.Seq, err = c.call(ctx, request{method: http.MethodGet, url: u}, &a)
	return a, err
}

// readList reads {"<top>": [{"<field>": name}, ...]}.
func (c *Client) readList(ctx context.Context, route, top, field string, opts []ReadOption, names ...string) (List, error) {
	u, err := c.endpoint(route, readQuery(opts), names...)
	if err != nil {
		return List{}, err
	}
	var answer map[string][]map[string]string
	seq, err := c.call(ctx, request{method: http.MethodGet, url: u}, &answer)
	if err != nil {
		return List{}, err
	}
	items, ok := answer[top]
	if !ok {
		return List{}, fmt.Errorf("auth: GET %s: answer has no %q", u.EscapedPath(), top)
	}
	l := List{Names: make([]string, 0, len(items)), Seq: seq}
	for _, it := range items {
		l.Names = append(l.Names, it[field])
	}
	return l, nil
}

// Ping asks the server whether it serves.
func (c *Client) Ping(ctx context.Context) error {
	u, err := c.endpoint("/ping", nil)
	if err != nil {
		return err
	}
	var answer struct {
		Message string `json:"message"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, url: u}, &answer); err != nil {
		return err
	}
	if answer.Message != "PONG" {
		return fmt.Errorf("auth: GET /ping answered %q, want PONG", answer.Message)
	}
	return nil
}

// Status describes the replica that answered.
type Status struct {
	// Store describes the store (kind, and where if that is no secret).
	Store string `json:"store"`
	// Epoch is the epoch of the store ("" if it has none): a restored
	// backup takes a new one, and seqs of one epoch mean nothing in
	// another.
	Epoch string `json:"epoch,omitempty"`
	// Bus is "connected" or "disconnected" for the link between replicas,
	// "none" without one.
	Bus string `json:"bus"`
	// Tenants is the number of tenants the replica holds in memory.
	Tenants int `json:"tenants"`
	// Seq is the seq the client's tenant is applied up to on this replica
	// (0 if never written); nil if the client has no key.
	Seq *uint64 `json:"seq,omitempty"`
}

// Status describes the replica that answers.
func (c *Client) Status(ctx context.Context) (Status, error) {
	u, err := c.endpoint("/status", nil)
	if err != nil {
		return Status{}, err
	}
	var s Status
	_, err = c.call(ctx, request{method: http.MethodGet, url: u}, &s)
	return s, err
}

// Check is one question of a batch: may User do Permission?
type Check struct {
	User       string `json:"user"`
	Permission string `json:"permission"`
}

// Checks is the answer to a batch of checks.
type Checks struct {
	// Results answers the checks, in their order.
	Results []bool `json:"results"`
	// Seq is the seq of the one state every answer comes from.
	Seq uint64 `json:"seq"`
}

// MaxChecks is the server's default limit of checks in one batch.
const MaxChecks = 1000

// Check answers many checks in one round trip, all from one state. A
// server takes at most [MaxChecks] checks per batch by default; a bad name
// anywhere refuses the whole batch ([ErrBadRequest], naming the check's
// index).
func (c *Client) Check(ctx context.Context, checks []Check, opts ...ReadOption) (Checks, error) {
	u, err := c.endpoint("/v1/check", readQuery(opts))
	if err != nil {
		return Checks{}, err
	}
	body := make([]byte, 0, 16+len(checks)*48)
	body = append(body, `{"checks":[`...)
	for i, ch := range checks {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"user":`...)
		body = jsonstr.Append(body, ch.User)
		body = append(body, `,"permission":`...)
		body = jsonstr.Append(body, ch.Permission)
		body = append(body, '}')
	}
	body = append(body, "]}"...)
	// A batch of checks is a read: marking it idempotent (the header is
	// not sent when nil) lets the transport retry it on a kept-alive
	// connection the server closed meanwhile, as it does GETs.
	h := http.Header{"Idempotency-Key": nil}
	r := request{method: http.MethodPost, url: u, body: bytes.NewReader(body), ctype: "application/json", header: h}
	answer, seq, err := c.callRaw(ctx, r)
	if err != nil {
		return Checks{}, err
	}
	out := Checks{Seq: seq}
	var ok bool
	if out.Results, ok = parseResults(answer, len(checks)); !ok {
		if err := json.Unmarshal(answer, &out); err != nil {
			return Checks{}, malformed(r, err)
		}
	}
	if len(out.Results) != len(checks) {
		return Checks{}, fmt.Errorf("auth: POST /v1/check: %d answers to %d checks", len(out.Results), len(checks))
	}
	return out, nil
}

// parseResults reads {"results": [true, false, ...]} as the server writes
// it, an order of magnitude faster than encoding/json; anything else is
// not ok, for encoding/json to read.
func parseResults(b []byte, n int) (_ []bool, ok bool) {
	const head, tail = `{"results": [`, `]}`
	if !bytes.HasPrefix(b, []byte(head)) || !bytes.HasSuffix(b, []byte(tail)) {
		return nil, false
	}
	b = b[len(head) : len(b)-len(tail)]
	out := make([]bool, 0, n)
	for len(b) > 0 {
		if len(out) > 0 {
			if !bytes.HasPrefix(b, []byte(", ")) {
				return nil, false
			}
			b = b[2:]
		}
		switch {
		case bytes.HasPrefix(b, []byte("true")):
			out, b = append(out, true), b[4:]
		case bytes.HasPrefix(b, []byte("false")):
			out, b = append(out, false), b[5:]
		default:
			return nil, false
		}
	}
	return out, true
}

// isPermanent reports whether err will not go away by retrying: a 4xx
// other than 409 and 408, or a bad base URL.
func isPermanent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusConflict && e.StatusCode != http.StatusRequestTimeout && e.StatusCode != http.StatusTooManyRequests
	}
	return false
}
