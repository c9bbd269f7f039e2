package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Op is one write of the history (or one read of a whole tenant at a
// round's end), as its client saw it.
type Op struct {
	ID      int
	Client  int
	Tenant  int
	Round   int
	Replica int    // the replica it was sent to
	API     string // "api" (key in the path) or "v1" (key in a header)
	Input   Input
	Output  Output
	// Call and Return are nanoseconds since the run's start: when the
	// request was sent and when its answer (or failure) came.
	Call, Return int64
	Status       int    // HTTP status; 0 if none came
	Err          string // what went wrong, for a write that failed
	Failure      string // Err without what varies (addresses, seqs), to count failures by kind
	// Refused: the write did not happen (503, or never sent), so it is
	// left out of the history.
	Refused bool
	// NoEvent: its outcome is unknown, and the store holds no event of it
	// (see eventlog.go): it changed nothing, and is left out too.
	NoEvent bool
}

// minSeqRead is a read with min_seq of the element a client's write just
// wrote, at another replica.
type minSeqRead struct {
	Write        *Op
	Replica      int
	Elem         elem
	Call, Return int64
	Status       int
	Value        bool
	Err          string
}

// answer is a write's answer body: {"result": bool} on the original
// routes, {"result": bool, "seq": N} on /v1.
type answer struct {
	Result *bool   `json:"result"`
	Seq    *uint64 `json:"seq"`
	Error  string  `json:"error"`
}

// routePath is the path of a write (without the key on /v1).
func routePath(in *Input, api, key string) (method, path string) {
	method = http.MethodPost
	switch in.Kind {
	case DelRole, DelPerm, DelMember:
		method = http.MethodDelete
	}
	var rest string
	switch in.Kind {
	case AddRole, DelRole:
		rest = "role/" + pathSegment(roleNames[in.Role])
	case AddPerm, DelPerm:
		rest = "permission/" + pathSegment(roleNames[in.Role]) + "/" + pathSegment(permNames[in.Perm])
	case AddMember, DelMember:
		rest = "membership/" + pathSegment(userNames[in.User]) + "/" + pathSegment(roleNames[in.Role])
	}
	if api == "api" {
		// The original routes: the key is the segment after the route's
		// first word.
		word, names, _ := strings.Cut(rest, "/")
		return method, "/api/" + word + "/" + pathSegment(key) + "/" + names
	}
	return method, "/v1/" + rest
}

// importBody is an import's lines as JSON lines; bulkLines is the size of
// the big block when in.Bulk.
func importBody(in *Input, bulkLines int) []byte {
	var b bytes.Buffer
	line := func(fields ...string) {
		b.WriteByte('{')
		for i := 0; i < len(fields); i += 2 {
			if i > 0 {
				b.WriteString(", ")
			}
			k, _ := json.Marshal(fields[i])
			v, _ := json.Marshal(fields[i+1])
			b.Write(k)
			b.WriteString(": ")
			b.Write(v)
		}
		b.WriteString("}\n")
	}
	for _, l := range in.Lines {
		switch {
		case l.Perm >= 0:
			line("role", roleNames[l.Role], "permission", permNames[l.Perm])
		case l.User >= 0:
			line("role", roleNames[l.Role], "user", userNames[l.User])
		default:
			line("role", roleNames[l.Role])
		}
	}
	if in.Bulk {
		line("role", roleNames[bulkRole])
		for i := range bulkLines - 1 {
			line("role", roleNames[bulkRole], "user", bulkUser(i))
		}
	}
	return b.Bytes()
}

// notSent reports an error of a request that never reached a server: the
// connection could not be made, so nothing can have happened.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// transportFailure names a failed round trip's kind.
func transportFailure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return "connection cut"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "connection error"
}

// write sends one write and records it. It never fails: what went wrong is
// in the op.
func (r *runner) write(ctx context.Context, client, tenant, replica int, api string, in Input) *Op {
	op := &Op{Client: client, Tenant: tenant, Round: r.currentRound(), Replica: replica, API: api, Input: in}
	key := r.keys[tenant]
	var method, path string
	var body []byte
	timeout := r.cfg.WriteTimeout
	if in.Kind == Import {
		op.API = "v1"
		method, path, body = http.MethodPost, "/v1/import", importBody(&in, r.cfg.BulkLines)
		if in.Bulk {
			timeout = r.cfg.ImportTimeout
		}
	} else {
		method, path = routePath(&in, api, key)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, r.cl.replica(replica).base()+path, bytes.NewReader(body))
	if err != nil {
		panic(err) // the harness built a bad request: a bug here
	}
	if op.API == "v1" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	var resp *http.Response
	var raw []byte
	op.Call, op.Return, resp, raw, err = r.send(req)
	switch {
	case err != nil && notSent(err):
		op.Refused, op.Err, op.Failure = true, err.Error(), "not sent (no connection)"
	case err != nil:
		op.Output.Unknown, op.Err, op.Failure = true, err.Error(), transportFailure(err)
	default:
		op.Status = resp.StatusCode
		r.classify(op, resp, raw)
	}
	r.record(op)
	return op
}

// send sends req and reads its answer's body (up to 1 MiB), and returns
// the harness's times of the call and of its return beside them.
func (r *runner) send(req *http.Request) (call, ret int64, resp *http.Response, body []byte, err error) {
	call = r.now()
	resp, err = r.http.Do(req)
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	return call, r.now(), resp, body, err
}

// classify reads a write's answer: 200 is applied (with its answer and
// seq); the answer's "outcome" says the rest when it is given
// ("not_applied": nothing changed; "unknown"); without it, 503 and every
// 4xx are refusals (a 4xx other than 429, busy, is reported as an anomaly
// too: the clients send only valid writes), anything else leaves the
// outcome unknown.
func (r *runner) classify(op *Op, resp *http.Response, raw []byte) {
	var a answer
	jerr := json.Unmarshal(raw, &a)
	var said struct {
		Outcome string `json:"outcome"`
	}
	_ = json.Unmarshal(raw, &said)
	if resp.StatusCode != http.StatusOK {
		op.Err = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(raw))
		op.Failure = fmt.Sprintf("%d %.100s", resp.StatusCode, a.Error)
		if jerr != nil {
			op.Failure = fmt.Sprintf("%d (not a JSON error) %.60s", resp.StatusCode, bytes.TrimSpace(raw))
		}
	}
	switch {
	case resp.StatusCode != http.StatusOK && said.Outcome == "not_applied",
		resp.StatusCode == http.StatusServiceUnavailable && said.Outcome == "",
		resp.StatusCode == http.StatusTooManyRequests:
		op.Refused = true
		return
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		op.Refused = true
		r.anomaly("%s answered %d %s", op.Input.String(), resp.StatusCode, bytes.TrimSpace(raw))
		return
	case resp.StatusCode != http.StatusOK:
		op.Output.Unknown = true
		if resp.StatusCode < 500 {
			r.anomaly("%s answered %d %s", op.Input.String(), resp.StatusCode, bytes.TrimSpace(raw))
		}
		return
	case jerr != nil || a.Result == nil:
		op.Output.Unknown, op.Err = true, fmt.Sprintf("200 with an answer that is not {\"result\": ...}: %.200s", raw)
		r.anomaly("%s: %s", op.Input.String(), op.Err)
		return
	}
	op.Output.Result = *a.Result
	if a.Seq != nil {
		op.Output.Seq, op.Output.SeqKnown = *a.Seq, true
	} else if h := resp.Header.Get("X-Auth-Seq"); h != "" {
		if n, err := strconv.ParseUint(h, 10, 64); err == nil {
			op.Output.Seq, op.Output.SeqKnown = n, true
		}
	}
	if !op.Output.SeqKnown {
		r.anomaly("%s answered 200 without a seq", op.Input.String())
	}
	if a.Seq != nil && resp.Header.Get("X-Auth-Seq") != "" && resp.Header.Get("X-Auth-Seq") != itoa(*a.Seq) {
		r.anomaly("%s answered seq %d in the body, %s in X-Auth-Seq", op.Input.String(), *a.Seq, resp.Header.Get("X-Auth-Seq"))
	}
}

// readElem reads the element e at replica i with min_seq, for a client's
// read-your-writes check.
func (r *runner) readElem(ctx context.Context, w *Op, replica int, e elem) {
	rd := &minSeqRead{Write: w, Replica: replica, Elem: e}
	var path string
	switch e.kind {
	case elemRole:
		path = "/v1/role/" + pathSegment(roleNames[e.role])
	case elemGrant:
		path = "/v1/permission/" + pathSegment(roleNames[e.role]) + "/" + pathSegment(permNames[e.x])
	case elemMember:
		path = "/v1/membership/" + pathSegment(userNames[e.x]) + "/" + pathSegment(roleNames[e.role])
	}
	path += "?min_seq=" + itoa(w.Output.Seq)
	rctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, r.cl.replica(replica).base()+path, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.keys[w.Tenant])
	var resp *http.Response
	var raw []byte
	rd.Call, rd.Return, resp, raw, err = r.send(req)
	if err != nil {
		rd.Err = err.Error()
	} else {
		rd.Status = resp.StatusCode
		var a answer
		if jerr := json.Unmarshal(raw, &a); resp.StatusCode == http.StatusOK && (jerr != nil || a.Result == nil) {
			rd.Err = fmt.Sprintf("200 with an answer that is not {\"result\": ...}: %.200s", raw)
			r.anomaly("read %s: %s", path, rd.Err)
		} else if resp.StatusCode == http.StatusOK {
			rd.Value = *a.Result
		} else {
			rd.Err = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(raw))
		}
	}
	r.recordRead(rd)
}

// Weights of the kinds of single writes a client makes.
var writeWeights = []struct {
	kind   Kind
	weight int
}{{AddRole, 10}, {DelRole, 4}, {AddPerm, 14}, {DelPerm, 8}, {AddMember, 22}, {DelMember, 14}, {Import, 3}}

// randomWrite draws a write. Role deletions spare the bulk role (see
// bulkRole).
func randomWrite(rng *rand.Rand) Input {
	total := 0
	for _, w := range writeWeights {
		total += w.weight
	}
	n := rng.IntN(total)
	kind := Import
	for _, w := range writeWeights {
		if n < w.weight {
			kind = w.kind
			break
		}
		n -= w.weight
	}
	in := Input{Kind: kind, Role: int8(rng.IntN(len(roleNames))), Perm: -1, User: -1}
	switch kind {
	case DelRole:
		in.Role = int8(rng.IntN(len(roleNames) - 1))
		if in.Role >= bulkRole {
			in.Role++
		}
	case AddPerm, DelPerm:
		in.Perm = int8(rng.IntN(len(permNames)))
	case AddMember, DelMember:
		in.User = int8(rng.IntN(len(userNames)))
	case Import:
		in = randomImport(rng)
	}
	return in
}

// randomImport draws a small import: one or two roles, each with its role
// line and a few grants and members, the lines shuffled (roles are
// created first whatever the order).
func randomImport(rng *rand.Rand) Input {
	in := Input{Kind: Import, Role: -1, Perm: -1, User: -1}
	roles := rng.Perm(len(roleNames))[:1+rng.IntN(2)]
	for _, r := range roles {
		in.Lines = append(in.Lines, Line{Role: int8(r), Perm: -1, User: -1})
		for _, p := range rng.Perm(len(permNames))[:rng.IntN(3)] {
			in.Lines = append(in.Lines, Line{Role: int8(r), Perm: int8(p), User: -1})
		}
		for _, u := range rng.Perm(len(userNames))[:rng.IntN(4)] {
			in.Lines = append(in.Lines, Line{Role: int8(r), Perm: -1, User: int8(u)})
		}
	}
	rng.Shuffle(len(in.Lines), func(i, j int) { in.Lines[i], in.Lines[j] = in.Lines[j], in.Lines[i] })
	return in
}

// pairs are writes a client makes at one replica and then, at once, at
// another: the second is answered by a replica that may not have applied
// the first yet.
var pairs = []func(rng *rand.Rand) (Input, Input){
	func(rng *rand.Rand) (Input, Input) { // add a member, remove her
		r, u := int8(rng.IntN(len(roleNames))), int8(rng.IntN(len(userNames)))
		return Input{Kind: AddMember, Role: r, Perm: -1, User: u}, Input{Kind: DelMember, Role: r, Perm: -1, User: u}
	},
	func(rng *rand.Rand) (Input, Input) { // grant, revoke
		r, p := int8(rng.IntN(len(roleNames))), int8(rng.IntN(len(permNames)))
		return Input{Kind: AddPerm, Role: r, Perm: p, User: -1}, Input{Kind: DelPerm, Role: r, Perm: p, User: -1}
	},
	func(rng *rand.Rand) (Input, Input) { // create a role, add a member to it
		r, u := int8(rng.IntN(len(roleNames))), int8(rng.IntN(len(userNames)))
		return Input{Kind: AddRole, Role: r, Perm: -1, User: -1}, Input{Kind: AddMember, Role: r, Perm: -1, User: u}
	},
	func(rng *rand.Rand) (Input, Input) { // delete a role, add a member to it
		r, u := int8(rng.IntN(len(roleNames)-1)), int8(rng.IntN(len(userNames)))
		return Input{Kind: DelRole, Role: r, Perm: -1, User: -1}, Input{Kind: AddMember, Role: r, Perm: -1, User: u}
	},
}

// action is one step of a client: a write (and maybe a read of it
// elsewhere), or a pair of writes at two replicas.
func (r *runner) action(ctx context.Context, client int, rng *rand.Rand) {
	tenant, ok := r.pickTenant(rng)
	if !ok {
		return
	}
	a := r.pickReplica(rng, -1)
	api := "api"
	if rng.IntN(2) == 0 {
		api = "v1"
	}
	if rng.Float64() < r.cfg.PairShare {
		first, second := pairs[rng.IntN(len(pairs))](rng)
		w := r.write(ctx, client, tenant, a, api, first)
		if w.Refused || w.Output.Unknown {
			return
		}
		r.write(ctx, client, tenant, r.pickReplica(rng, a), api, second)
		return
	}
	w := r.write(ctx, client, tenant, a, api, randomWrite(rng))
	if w.Refused || w.Output.Unknown || !w.Output.SeqKnown || rng.Float64() >= r.cfg.ReadShare {
		return
	}
	r.readElem(ctx, w, r.pickReplica(rng, a), target(&w.Input, rng))
}

// pickTenant draws one of the tenants the clients may write to.
func (r *runner) pickTenant(rng *rand.Rand) (int, bool) {
	mask := r.active.Load()
	n := 0
	for t := range r.cfg.Tenants {
		if mask&(1<<uint(t)) != 0 {
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	k := rng.IntN(n)
	for t := range r.cfg.Tenants {
		if mask&(1<<uint(t)) != 0 {
			if k == 0 {
				return t, true
			}
			k--
		}
	}
	return 0, false
}

// pickReplica draws a replica the clients may use, other than not if
// there is one.
func (r *runner) pickReplica(rng *rand.Rand, not int) int {
	var up []int
	for i := range r.cl.replicaCount() {
		if !r.down[i].Load() && i != not {
			up = append(up, i)
		}
	}
	if len(up) == 0 {
		if not >= 0 && !r.down[not].Load() {
			return not
		}
		return rng.IntN(r.cl.replicaCount())
	}
	return up[rng.IntN(len(up))]
}

// decodeJSON decodes a 200 answer's JSON body.
func decodeJSON(resp *http.Response, v any) error {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, v)
}

// durationOf formats nanoseconds since the run's start.
func durationOf(ns int64) string {
	return fmt.Sprintf("%.6fs", time.Duration(ns).Seconds())
}
