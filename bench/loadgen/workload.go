// Package loadgen is the HTTP load generator: a workload of checks, list
// queries and writes drawn from a dataset with known answers, run closed
// loop (N workers back to back) or open loop (a fixed arrival rate, latency
// measured from each request's intended send time), over keep-alive
// connections of a fasthttp.HostClient.
package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"auth/bench/dataset"
)

// The server's answers, byte for byte.
var (
	answerTrue  = []byte(`{"result": true}`)
	answerFalse = []byte(`{"result": false}`)
)

// Kind is the kind of a request.
type Kind uint8

// The kinds of request.
const (
	KindCheck Kind = iota // GET has_permission
	KindList              // GET user_roles
	KindWrite             // POST or DELETE membership
)

// Op is one request with its expected answer.
type Op struct {
	Kind   Kind
	Method string
	Path   []byte
	Body   []byte // the request's body (JSON), nil for none
	Want   []byte // the exact expected body, or with Contains a part of it
	Tenant int    // the dataset's tenant number (writes)
	// Contains makes Want a part the answer must contain, for a server
	// whose answers carry more than the result (a revision token).
	Contains bool
}

// Matches reports whether body is the answer op expects.
func (op *Op) Matches(body []byte) bool {
	if op.Contains {
		return bytes.Contains(body, op.Want)
	}
	return bytes.Equal(body, op.Want)
}

// Protocol is how another authorization server is asked a check: the
// request for a dataset check with the part of the answer that tells
// true from false, and the headers every request carries. The zero
// Protocol is auth-server's own API.
type Protocol struct {
	Check   func(dataset.Check) Op
	Headers [][2]string
}

func (p Protocol) check(c dataset.Check) Op {
	if p.Check == nil {
		return CheckOp(c)
	}
	return p.Check(c)
}

// Mix is the share of each kind of request.
type Mix struct {
	// TrueShare is the share of checks that answer true.
	TrueShare float64 `json:"true_share"`
	// WriteShare and ListShare are shares of all requests; the rest are
	// checks.
	WriteShare float64 `json:"write_share"`
	ListShare  float64 `json:"list_share"`
}

// Validate reports a mix that does not add up.
func (m Mix) Validate() error {
	if m.TrueShare < 0 || m.TrueShare > 1 || m.WriteShare < 0 || m.ListShare < 0 || m.WriteShare+m.ListShare > 1 {
		return fmt.Errorf("loadgen: bad mix %+v: shares must be in [0, 1] and writes + lists ≤ 1", m)
	}
	return nil
}

// poolSize is how many distinct reads a workload cycles through.
const poolSize = 1 << 16

// Workload is a dataset and a mix, with the pools of reads drawn from them.
type Workload struct {
	Cfg    dataset.Config
	Mix    Mix
	Proto  Protocol
	checks []Op
	lists  []Op
	runID  string
}

// NewWorkload draws the pools of reads for cfg and mix.
func NewWorkload(cfg dataset.Config, mix Mix, seed uint64) (*Workload, error) {
	return NewWorkloadProto(cfg, mix, seed, Protocol{})
}

// NewWorkloadProto is NewWorkload for a server asked through proto. Only
// checks can be asked another server: mix must have no lists or writes.
func NewWorkloadProto(cfg dataset.Config, mix Mix, seed uint64, proto Protocol) (*Workload, error) {
	if proto.Check != nil && (mix.ListShare > 0 || mix.WriteShare > 0) {
		return nil, errors.New("loadgen: another server's protocol has checks only")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := mix.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x10ad))
	w := &Workload{Cfg: cfg, Mix: mix, Proto: proto, runID: strconv.FormatUint(rng.Uint64()>>20, 36)}
	for _, c := range cfg.Checks(rng, poolSize, mix.TrueShare) {
		w.checks = append(w.checks, proto.check(c))
	}
	if mix.ListShare > 0 {
		w.lists = make([]Op, poolSize/16)
		for i := range w.lists {
			t, u := rng.IntN(cfg.Tenants), rng.IntN(cfg.Users)
			w.lists[i] = UserRolesOp(cfg, t, u)
		}
	}
	return w, nil
}

// CheckOp is the has_permission request for c.
func CheckOp(c dataset.Check) Op {
	want := answerFalse
	if c.Want {
		want = answerTrue
	}
	path := "/api/has_permission/" + dataset.Key(c.Tenant) + "/" + dataset.User(c.User) + "/" + dataset.Perm(c.Perm)
	return Op{Kind: KindCheck, Method: "GET", Path: []byte(path), Want: want}
}

// UserRolesOp is the user_roles request for user u of tenant t.
func UserRolesOp(cfg dataset.Config, t, u int) Op {
	var names []string
	for _, r := range cfg.UserRoles(nil, t, u) {
		names = append(names, dataset.Role(r))
	}
	slices.Sort(names) // the server sorts names as strings
	var b strings.Builder
	b.WriteString(`{"result": [`)
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"role": "` + n + `"}`)
	}
	b.WriteString("]}")
	return Op{Kind: KindList, Method: "GET", Path: []byte("/api/user_roles/" + dataset.Key(t) + "/" + dataset.User(u)), Want: []byte(b.String())}
}

// Checks returns the pool of check requests.
func (w *Workload) Checks() []Op { return w.checks }

// Lists returns the pool of list requests.
func (w *Workload) Lists() []Op { return w.lists }

// stream is one worker's sequence of requests. Writes put a user of the
// worker's own into a role and take it out again, alternately, so that
// every write changes state (an event is appended) and its answer is known
// (true), and the dataset the reads check stays as it is.
type stream struct {
	w      *Workload
	rng    *rand.Rand
	worker int
	writes int
	ci, li int
}

func (w *Workload) stream(worker int) *stream {
	return &stream{w: w, rng: rand.New(rand.NewPCG(uint64(worker), 0x57ea)), worker: worker,
		ci: worker * 7919, li: worker * 131}
}

func (s *stream) next(scratch *Op) *Op {
	m := s.w.Mix
	x := s.rng.Float64()
	switch {
	case x < m.WriteShare:
		return s.write(scratch)
	case x < m.WriteShare+m.ListShare && len(s.w.lists) > 0:
		s.li++
		return &s.w.lists[s.li%len(s.w.lists)]
	}
	s.ci++
	return &s.w.checks[s.ci%len(s.w.checks)]
}

func (s *stream) write(op *Op) *Op {
	n := s.writes
	s.writes++
	cfg := s.w.Cfg
	t := (s.worker + n/2) % cfg.Tenants
	role := dataset.Role(int(splitmix(uint64(s.worker)<<32|uint64(n/2)) % uint64(cfg.Roles)))
	user := "w" + s.w.runID + "-" + strconv.Itoa(s.worker) + "-" + strconv.Itoa(n/2)
	op.Kind, op.Want, op.Tenant = KindWrite, answerTrue, t
	op.Method = "POST"
	if n%2 == 1 {
		op.Method = "DELETE"
	}
	op.Path = append(op.Path[:0], "/api/membership/"+dataset.Key(t)+"/"+user+"/"+role...)
	return op
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
