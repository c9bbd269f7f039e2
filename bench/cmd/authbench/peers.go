package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"auth/bench/dataset"
	"auth/bench/loadgen"
)

// The peers: the authorization servers a user would pick instead of
// auth-server, at pinned versions, installed with `go install` into a
// cache folder on first use and reused after.
var (
	spiceDBPeer = peerBinary{Name: "spicedb", Pkg: "github.com/authzed/spicedb/cmd/spicedb", Version: "v1.56.2"}
	openFGAPeer = peerBinary{Name: "openfga", Pkg: "github.com/openfga/openfga/cmd/openfga", Version: "v1.22.1"}
)

// peerTargets are the peers' target ids; "spicedb" and "openfga" in
// -targets stand for both of their datastores.
var peerTargets = map[string][]string{
	"spicedb": {"spicedb-postgres", "spicedb-memory"},
	"openfga": {"openfga-sqlite", "openfga-postgres"},
}

func isPeer(id string) bool {
	return strings.HasPrefix(id, "spicedb-") || strings.HasPrefix(id, "openfga-")
}

// peerBinary is a peer's command at a pinned version.
type peerBinary struct{ Name, Pkg, Version string }

// install returns the path of the peer's binary in cache, building it
// with `go install pkg@version` if it is not there yet.
func (b peerBinary) install(ctx context.Context, cache string) (string, error) {
	dir := filepath.Join(cache, b.Name+"-"+b.Version)
	bin := filepath.Join(dir, b.Name)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		logf("%s %s: reusing %s", b.Name, b.Version, bin)
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, b.Name+"-install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	logf("%s %s: go install %s@%s (takes minutes the first time)", b.Name, b.Version, b.Pkg, b.Version)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", b.Pkg+"@"+b.Version)
	cmd.Dir = tmp // outside any module: the peer's own go.mod decides
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w", b.Pkg, b.Version, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, b.Name), bin); err != nil {
		return "", err
	}
	logf("%s %s: installed in %.0fs", b.Name, b.Version, time.Since(start).Seconds())
	return bin, nil
}

// peerCacheDir is where the peers' binaries are kept: -peers-cache, or
// authbench/ in the user's cache folder.
func peerCacheDir(flagged string) (string, error) {
	if flagged != "" {
		return filepath.Abs(flagged)
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the peers' binaries (%v); pass -peers-cache", err)
	}
	return filepath.Join(c, "authbench"), nil
}

// peerState is what a peer target keeps from round to round.
type peerState struct {
	bin     string
	pg      *pgCluster // the PostgreSQL datastore's cluster, if any
	sqlite  string     // the SQLite datastore's file, if any
	loaded  bool       // the datastore holds the dataset (a persistent one, after round 1)
	storeID string     // OpenFGA's store and model
	modelID string
	key     string // SpiceDB's preshared key
}

// peerName is the dataset object id of name in tenant t: tenants beyond
// the first get a prefix (peers have no tenants).
func (o *compareOpts) peerName(t int, name string) string {
	if o.cfg.Tenants == 1 {
		return name
	}
	return "t" + strconv.Itoa(t) + "_" + name
}

// ---- SpiceDB ----

// spiceDBSchema is the dataset in SpiceDB's schema language: a role has
// member users, a perm (a permission; "permission" is a keyword there) is
// granted to the members of roles.
const spiceDBSchema = `definition user {}

definition role {
	relation member: user
}

definition perm {
	relation granted: role#member
	permission allowed = granted
}
`

type spiceRef struct {
	ObjectType string `json:"objectType"`
	ObjectID   string `json:"objectId"`
}

type spiceSubject struct {
	Object           spiceRef `json:"object"`
	OptionalRelation string   `json:"optionalRelation,omitempty"`
}

type spiceRel struct {
	Resource spiceRef     `json:"resource"`
	Relation string       `json:"relation"`
	Subject  spiceSubject `json:"subject"`
}

// spiceDBProto asks SpiceDB's HTTP gateway (POST /v1/permissions/check),
// at its default consistency (minimize_latency, which may answer from a
// cache up to the quantization window old).
func (o *compareOpts) spiceDBProto(key string) loadgen.Protocol {
	return loadgen.Protocol{
		Headers: [][2]string{{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}},
		Check: func(c dataset.Check) loadgen.Op {
			body, _ := json.Marshal(map[string]any{
				"consistency": map[string]any{"minimizeLatency": true},
				"resource":    spiceRef{"perm", o.peerName(c.Tenant, dataset.Perm(c.Perm))},
				"permission":  "allowed",
				"subject":     spiceSubject{Object: spiceRef{"user", o.peerName(c.Tenant, dataset.User(c.User))}},
			})
			want := `"PERMISSIONSHIP_NO_PERMISSION"`
			if c.Want {
				want = `"PERMISSIONSHIP_HAS_PERMISSION"`
			}
			return loadgen.Op{Kind: loadgen.KindCheck, Method: "POST", Path: []byte("/v1/permissions/check"), Body: body, Want: []byte(want), Contains: true}
		},
	}
}

func runSpiceDBPostgres(ctx context.Context, o *compareOpts, rep *CompareReport, tr *TargetResult) error {
	return o.runSpiceDB(ctx, rep, tr, "postgres")
}

func runSpiceDBMemory(ctx context.Context, o *compareOpts, rep *CompareReport, tr *TargetResult) error {
	return o.runSpiceDB(ctx, rep, tr, "memory")
}

func (o *compareOpts) runSpiceDB(ctx context.Context, rep *CompareReport, tr *TargetResult, engine string) error {
	st := o.peer(tr.ID)
	if o.round == 1 {
		if err := o.installPeer(ctx, tr, st, spiceDBPeer, "SpiceDB", map[string]string{"postgres": "PostgreSQL", "memory": "memory"}[engine]); err != nil {
			return err
		}
		st.key = rand.Text()
		tr.Note = "checks over the HTTP gateway, consistency minimize_latency (the default); loaded with ImportBulkRelationships through the gateway"
		if engine == "memory" {
			tr.Note += "; the memory datastore is reloaded every round"
		}
	}
	var procs peerProcs
	defer procs.stop()
	args := []string{"serve", "--grpc-preshared-key", st.key, "--http-enabled", "--log-level", "warn",
		"--telemetry-endpoint", "", "--metrics-enabled=false", "--datastore-engine", engine}
	if engine == "postgres" {
		pg, uri, err := o.startPeerPG(ctx, st, "spicedb")
		if err != nil {
			return err
		}
		procs = append(procs, pg)
		if o.round == 1 {
			logf("%s: migrating the datastore", tr.ID)
			if out, err := exec.CommandContext(ctx, st.bin, "datastore", "migrate", "head", "--datastore-engine", "postgres", "--datastore-conn-uri", uri).CombinedOutput(); err != nil {
				return fmt.Errorf("spicedb datastore migrate: %v: %s", err, tail(out))
			}
		}
		args = append(args, "--datastore-conn-uri", uri)
	}
	p, err := o.startPeer(&procs, tr, st, spiceDBPeer, func(grpcAddr, httpAddr string) []string {
		return append(args, "--grpc-addr", grpcAddr, "--http-addr", httpAddr)
	})
	if err != nil {
		return err
	}
	proto := o.spiceDBProto(st.key)
	// Ready when the gateway answers a schema read (404 before a schema).
	up, err := waitHTTP(ctx, p, "POST", "/v1/schema/read", []byte("{}"), proto.Headers, 2*time.Minute, func(code int) bool { return code == 200 || code == 404 })
	if err != nil {
		return err
	}
	o.peerStarted(tr, up)
	if engine == "memory" {
		st.loaded = false
	}
	if !st.loaded {
		if err := o.spiceDBLoad(ctx, tr, p, proto); err != nil {
			return err
		}
		st.loaded = true
	}
	return o.measurePeer(ctx, rep, tr, p, procs.db(), proto)
}

// spiceDBLoad writes the schema and the dataset: ImportBulkRelationships,
// SpiceDB's path for loading many relationships, streamed through the
// gateway in messages of 1,000 relationships, 10,000 to a call.
func (o *compareOpts) spiceDBLoad(ctx context.Context, tr *TargetResult, p *proc, proto loadgen.Protocol) error {
	body, _ := json.Marshal(map[string]string{"schema": spiceDBSchema})
	if _, err := peerPost(p.addr, "/v1/schema/write", body, proto.Headers); err != nil {
		return fmt.Errorf("writing the schema: %w", err)
	}
	const perMsg, perCall = 1000, 10_000
	var call bytes.Buffer
	var msg []spiceRel
	inCall, total := 0, 0
	start := time.Now()
	flushMsg := func() {
		if len(msg) == 0 {
			return
		}
		b, _ := json.Marshal(map[string]any{"relationships": msg})
		call.Write(b)
		call.WriteByte('\n')
		msg = msg[:0]
	}
	flushCall := func() error {
		flushMsg()
		if inCall == 0 {
			return nil
		}
		out, err := peerPost(p.addr, "/v1/relationships/importbulk", call.Bytes(), proto.Headers)
		if err != nil {
			return fmt.Errorf("importbulk: %w", err)
		}
		var r struct {
			NumLoaded string `json:"numLoaded"`
		}
		if err := json.Unmarshal(out, &r); err != nil || r.NumLoaded != strconv.Itoa(inCall) {
			return fmt.Errorf("importbulk: loaded %q of %d: %s", r.NumLoaded, inCall, out)
		}
		total += inCall
		call.Reset()
		inCall = 0
		return nil
	}
	add := func(r spiceRel) error {
		msg = append(msg, r)
		inCall++
		if len(msg) == perMsg {
			flushMsg()
		}
		if inCall == perCall {
			return flushCall()
		}
		return nil
	}
	logf("%s: loading %s through ImportBulkRelationships", tr.ID, o.cfg)
	err := o.forEachTuple(func(t int, role, perm, user string) error {
		if user == "" {
			return add(spiceRel{Resource: spiceRef{"perm", o.peerName(t, perm)}, Relation: "granted",
				Subject: spiceSubject{Object: spiceRef{"role", o.peerName(t, role)}, OptionalRelation: "member"}})
		}
		return add(spiceRel{Resource: spiceRef{"role", o.peerName(t, role)}, Relation: "member",
			Subject: spiceSubject{Object: spiceRef{"user", o.peerName(t, user)}}})
	})
	if err == nil {
		err = flushCall()
	}
	if err != nil {
		return err
	}
	return o.peerLoaded(ctx, tr, p, proto, total, time.Since(start))
}

// forEachTuple calls fn with every grant (user "") and then every
// membership of the dataset, tenant by tenant.
func (o *compareOpts) forEachTuple(fn func(t int, role, perm, user string) error) error {
	var buf []int
	for t := 0; t < o.cfg.Tenants; t++ {
		for r := 0; r < o.cfg.Roles; r++ {
			buf = o.cfg.RoleGrants(buf[:0], t, r)
			for _, p := range buf {
				if err := fn(t, dataset.Role(r), dataset.Perm(p), ""); err != nil {
					return err
				}
			}
		}
		for u := 0; u < o.cfg.Users; u++ {
			buf = o.cfg.UserRoles(buf[:0], t, u)
			for _, r := range buf {
				if err := fn(t, dataset.Role(r), "", dataset.User(u)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ---- OpenFGA ----

// openFGAModel is the dataset as an OpenFGA authorization model (schema
// 1.1, JSON): a role has member users, a permission is granted to the
// members of roles.
const openFGAModel = `{"schema_version":"1.1","type_definitions":[
{"type":"user"},
{"type":"role","relations":{"member":{"this":{}}},"metadata":{"relations":{"member":{"directly_related_user_types":[{"type":"user"}]}}}},
{"type":"perm","relations":{"granted":{"this":{}}},"metadata":{"relations":{"granted":{"directly_related_user_types":[{"type":"role","relation":"member"}]}}}}
]}`

type fgaTuple struct {
	User     string `json:"user"`
	Relation string `json:"relation"`
	Object   string `json:"object"`
}

// openFGAProto asks OpenFGA's HTTP API (POST /stores/{id}/check) at its
// default consistency.
func (o *compareOpts) openFGAProto(st *peerState) loadgen.Protocol {
	path := []byte("/stores/" + st.storeID + "/check")
	return loadgen.Protocol{
		Headers: [][2]string{{"Content-Type", "application/json"}},
		Check: func(c dataset.Check) loadgen.Op {
			body, _ := json.Marshal(map[string]any{
				"tuple_key": fgaTuple{User: "user:" + o.peerName(c.Tenant, dataset.User(c.User)), Relation: "granted",
					Object: "perm:" + o.peerName(c.Tenant, dataset.Perm(c.Perm))},
				"authorization_model_id": st.modelID,
			})
			want := `"allowed":false`
			if c.Want {
				want = `"allowed":true`
			}
			return loadgen.Op{Kind: loadgen.KindCheck, Method: "POST", Path: path, Body: body, Want: []byte(want), Contains: true}
		},
	}
}

func runOpenFGASQLite(ctx context.Context, o *compareOpts, rep *CompareReport, tr *TargetResult) error {
	return o.runOpenFGA(ctx, rep, tr, "sqlite")
}

func runOpenFGAPostgres(ctx context.Context, o *compareOpts, rep *CompareReport, tr *TargetResult) error {
	return o.runOpenFGA(ctx, rep, tr, "postgres")
}

func (o *compareOpts) runOpenFGA(ctx context.Context, rep *CompareReport, tr *TargetResult, engine string) error {
	st := o.peer(tr.ID)
	if o.round == 1 {
		if err := o.installPeer(ctx, tr, st, openFGAPeer, "OpenFGA", map[string]string{"postgres": "PostgreSQL", "sqlite": "SQLite"}[engine]); err != nil {
			return err
		}
		tr.Note = fmt.Sprintf("checks over the HTTP API, default consistency; loaded with Write calls of %d tuples (its default maximum per write), %d at a time", o.fgaBatch, fgaLoadConc(o, engine))
	}
	var procs peerProcs
	defer procs.stop()
	var uri string
	if engine == "postgres" {
		pg, u, err := o.startPeerPG(ctx, st, "openfga")
		if err != nil {
			return err
		}
		procs = append(procs, pg)
		uri = u
	} else {
		if st.sqlite == "" {
			st.sqlite = filepath.Join(o.work, tr.ID+".sqlite")
		}
		uri = "file:" + st.sqlite
	}
	if o.round == 1 {
		logf("%s: migrating the datastore", tr.ID)
		if out, err := exec.CommandContext(ctx, st.bin, "migrate", "--datastore-engine", engine, "--datastore-uri", uri).CombinedOutput(); err != nil {
			return fmt.Errorf("openfga migrate: %v: %s", err, tail(out))
		}
	}
	p, err := o.startPeer(&procs, tr, st, openFGAPeer, func(grpcAddr, httpAddr string) []string {
		return []string{"run", "--datastore-engine", engine, "--datastore-uri", uri, "--grpc-addr", grpcAddr, "--http-addr", httpAddr,
			"--playground-enabled=false", "--metrics-enabled=false", "--log-level", "warn", "--max-tuples-per-write", strconv.Itoa(o.fgaBatch)}
	})
	if err != nil {
		return err
	}
	up, err := waitHTTP(ctx, p, "GET", "/healthz", nil, nil, 2*time.Minute, func(code int) bool { return code == 200 })
	if err != nil {
		return err
	}
	o.peerStarted(tr, up)
	if !st.loaded {
		if err := o.openFGALoad(ctx, tr, p, st, fgaLoadConc(o, engine)); err != nil {
			return err
		}
		st.loaded = true
	}
	return o.measurePeer(ctx, rep, tr, p, procs.db(), o.openFGAProto(st))
}

// openFGALoad creates a store, writes the model and the dataset: Write
// calls of -fga-batch tuples (OpenFGA's default maximum per call, 100),
// conc at a time.
func (o *compareOpts) openFGALoad(ctx context.Context, tr *TargetResult, p *proc, st *peerState, conc int) error {
	h := [][2]string{{"Content-Type", "application/json"}}
	out, err := peerPost(p.addr, "/stores", []byte(`{"name":"authbench"}`), h)
	if err != nil {
		return fmt.Errorf("creating the store: %w", err)
	}
	var s struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &s); err != nil || s.ID == "" {
		return fmt.Errorf("creating the store: %s", out)
	}
	st.storeID = s.ID
	out, err = peerPost(p.addr, "/stores/"+st.storeID+"/authorization-models", []byte(openFGAModel), h)
	if err != nil {
		return fmt.Errorf("writing the model: %w", err)
	}
	var m struct {
		ID string `json:"authorization_model_id"`
	}
	if err := json.Unmarshal(out, &m); err != nil || m.ID == "" {
		return fmt.Errorf("writing the model: %s", out)
	}
	st.modelID = m.ID
	logf("%s: loading %s through Write, %d tuples a call, %d calls at a time", tr.ID, o.cfg, o.fgaBatch, conc)
	start := time.Now()
	path := "/stores/" + st.storeID + "/write"
	bodies := make(chan []byte, conc)
	errc := make(chan error, conc)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range conc {
		go func() {
			var first error
			for b := range bodies {
				if first != nil {
					continue
				}
				if _, err := peerPost(p.addr, path, b, h); err != nil {
					first = fmt.Errorf("write: %w", err)
					cancel()
				}
			}
			errc <- first
		}()
	}
	var batch []fgaTuple
	total := 0
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		b, _ := json.Marshal(map[string]any{"writes": map[string]any{"tuple_keys": batch}, "authorization_model_id": st.modelID})
		total += len(batch)
		batch = batch[:0]
		select {
		case bodies <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ferr := o.forEachTuple(func(t int, role, perm, user string) error {
		if user == "" {
			batch = append(batch, fgaTuple{User: "role:" + o.peerName(t, role) + "#member", Relation: "granted", Object: "perm:" + o.peerName(t, perm)})
		} else {
			batch = append(batch, fgaTuple{User: "user:" + o.peerName(t, user), Relation: "member", Object: "role:" + o.peerName(t, role)})
		}
		if len(batch) == o.fgaBatch {
			return send()
		}
		return nil
	})
	if ferr == nil {
		ferr = send()
	}
	close(bodies)
	var errs []error
	for range conc {
		errs = append(errs, <-errc)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	return o.peerLoaded(ctx, tr, p, o.openFGAProto(st), total, time.Since(start))
}

// fgaLoadConc is how many Write calls load OpenFGA at a time: one on
// SQLite, which has a single writer (concurrent writes fail with
// SQLITE_BUSY), -peer-load-c otherwise.
func fgaLoadConc(o *compareOpts, engine string) int {
	if engine == "sqlite" {
		return 1
	}
	return o.peerLoadConc
}

// ---- shared ----

func (o *compareOpts) peer(id string) *peerState {
	if o.peers == nil {
		o.peers = map[string]*peerState{}
	}
	if o.peers[id] == nil {
		o.peers[id] = &peerState{}
	}
	return o.peers[id]
}

// installPeer is a peer target's first round: it names the target (the
// peer, its version, its datastore) and installs the peer's binary.
func (o *compareOpts) installPeer(ctx context.Context, tr *TargetResult, st *peerState, pb peerBinary, name, datastore string) error {
	tr.Name = name + " " + pb.Version + ", " + datastore + " datastore"
	tr.Replicas = 1
	var err error
	if st.bin, err = pb.install(ctx, o.peersCache); err != nil {
		return err
	}
	tr.Available = true
	return nil
}

// peerProcs are the processes of a peer target's round: its datastore's,
// if any, then the peer's own, stopped in the reverse order.
type peerProcs []*proc

func (ps peerProcs) stop() {
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop()
	}
}

// db is the datastore's processes: all but the peer's, the last.
func (ps peerProcs) db() []*proc { return ps[:len(ps)-1] }

// startPeer starts the peer's server on two free loopback ports, with the
// arguments args makes of them, logging to the round's file, and adds it
// to procs.
func (o *compareOpts) startPeer(procs *peerProcs, tr *TargetResult, st *peerState, pb peerBinary, args func(grpcAddr, httpAddr string) []string) (*proc, error) {
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProc(pb.Name, st.bin, args(grpcAddr, httpAddr), httpAddr, o.cpusServer, filepath.Join(o.work, fmt.Sprintf("%s-%d.log", tr.ID, o.round)))
	if err != nil {
		return nil, err
	}
	*procs = append(*procs, p)
	return p, nil
}

func (o *compareOpts) peerStarted(tr *TargetResult, up time.Duration) {
	if o.round == 1 {
		tr.StartSecs = up.Seconds()
	} else {
		tr.RestartSecs = append(tr.RestartSecs, up.Seconds())
	}
}

// peerLoaded records a load of n tuples that took d, then waits until the
// last membership written answers true: the time until loaded data is
// visible to checks.
func (o *compareOpts) peerLoaded(ctx context.Context, tr *TargetResult, p *proc, proto loadgen.Protocol, n int, d time.Duration) error {
	if tr.Load == nil {
		tr.Load = &loadgen.LoadStats{Writes: n, Seconds: d.Seconds(), PerSec: float64(n) / d.Seconds()}
	} else {
		tr.ReloadSecs = append(tr.ReloadSecs, d.Seconds())
	}
	logf("%s: loaded %d tuples in %.1fs (%.0f/s)", tr.ID, n, d.Seconds(), float64(n)/d.Seconds())
	vis, err := loadgen.WaitVisible(ctx, p.addr, proto.Check(o.lastMembershipCheck()), proto.Headers, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("after the load: %w", err)
	}
	if o.round == 1 {
		tr.VisibleSecs = vis.Seconds()
	}
	logf("%s: the last membership loaded answered true %.3fs after the load", tr.ID, vis.Seconds())
	return nil
}

// lastMembershipCheck is a check that answers true only through the
// dataset's last membership written: the last user's last role.
func (o *compareOpts) lastMembershipCheck() dataset.Check {
	t, u := o.cfg.Tenants-1, o.cfg.Users-1
	roles := o.cfg.UserRoles(nil, t, u)
	last := roles[len(roles)-1]
	var others []int
	for _, r := range roles[:len(roles)-1] {
		others = o.cfg.RoleGrants(others, t, r)
	}
	grants := o.cfg.RoleGrants(nil, t, last)
	p := grants[0]
	for _, g := range grants {
		if !containsInt(others, g) {
			p = g
			break
		}
	}
	return dataset.Check{Tenant: t, User: u, Perm: p, Want: true}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// measurePeer verifies a peer's answers against the ground truth, then
// runs the closed-loop checks and, in round 1, the open loop at
// -open-fraction of the peer's own best closed-loop rate (the ceiling's
// would swamp it), and records the memory of the peer and its database.
func (o *compareOpts) measurePeer(ctx context.Context, rep *CompareReport, tr *TargetResult, p *proc, db []*proc, proto loadgen.Protocol) error {
	if err := loadgen.VerifyProto(ctx, p.addr, o.cfg, o.verifyN, 99+uint64(o.round), proto); err != nil {
		return err
	}
	tr.Verified += o.verifyN
	logf("%s: verified %d checks against the ground truth", tr.ID, o.verifyN)
	o.sysProcs = db
	defer func() { o.sysProcs = nil }()
	w, err := loadgen.NewWorkloadProto(o.cfg, loadgen.Mix{TrueShare: o.mix.TrueShare}, 1, proto)
	if err != nil {
		return err
	}
	best := 0.0
	for _, c := range o.concs {
		if err := o.run(ctx, tr, []*proc{p}, w, "check", c, 0, true); err != nil {
			return err
		}
		best = max(best, tr.Runs[len(tr.Runs)-1].RPS)
	}
	if o.round == 1 && o.openFraction > 0 {
		if rate := float64(int(best*o.openFraction/10)) * 10; rate > 0 {
			if err := o.run(ctx, tr, []*proc{p}, w, "check", maxInt(o.concs), rate, true); err != nil {
				return err
			}
		}
	}
	o.recordMemory(tr, append([]*proc{p}, db...))
	return nil
}

// recordMemory records the memory of a target's processes (and their
// descendants) after its runs, the largest over rounds.
func (o *compareOpts) recordMemory(tr *TargetResult, ps []*proc) {
	var sum uint64
	for _, p := range ps {
		n, err := loadgen.TreeMemory(p.pid())
		if err != nil {
			logf("%s: memory of %s: %v", tr.ID, p.name, err)
			return
		}
		sum += n
	}
	tr.MemMiB = max(tr.MemMiB, float64(sum)/(1<<20))
}

// waitHTTP polls method path on p until ok(status) and returns the time
// since p started.
func waitHTTP(ctx context.Context, p *proc, method, path string, body []byte, headers [][2]string, timeout time.Duration, ok func(int) bool) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for {
		req.Reset()
		req.SetRequestURI("http://" + p.addr + path)
		req.Header.SetMethod(method)
		for _, h := range headers {
			req.Header.Set(h[0], h[1])
		}
		if body != nil {
			req.SetBody(body)
		}
		err := fasthttp.DoTimeout(req, resp, 2*time.Second)
		if err == nil && ok(resp.StatusCode()) {
			return time.Since(p.started), nil
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before answering %s (%v): %s", p.name, path, p.waitErr, p.logTail())
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not answer %s within %s: %s", p.name, path, timeout, p.logTail())
		}
	}
}

// peerPost POSTs body to addr's path and returns the answer, an error if
// it is not 200.
func peerPost(addr, path string, body []byte, headers [][2]string) ([]byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + path)
	req.Header.SetMethod("POST")
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	req.SetBody(body)
	if err := fasthttp.DoTimeout(req, resp, 10*time.Minute); err != nil {
		return nil, err
	}
	if c := resp.StatusCode(); c != 200 && c != 201 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode(), tail(resp.Body()))
	}
	return bytes.Clone(resp.Body()), nil
}

func tail(b []byte) string {
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// ---- PostgreSQL ----

// pgCluster is a private PostgreSQL cluster on loopback, from Debian's
// postgresql package, initialized in the work folder on first use and
// started and stopped with its target.
type pgCluster struct {
	bin  string // the folder of initdb and postgres
	dir  string
	user string // run as this user (PostgreSQL refuses to run as root)
	db   string
}

// pgBinDir finds the newest /usr/lib/postgresql/N/bin with initdb,
// installing the postgresql package with apt-get if there is none.
func pgBinDir(ctx context.Context) (string, error) {
	find := func() string {
		ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		sort.Slice(ms, func(i, j int) bool {
			vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(ms[i]))))
			vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(ms[j]))))
			return vi > vj
		})
		if len(ms) == 0 {
			return ""
		}
		return filepath.Dir(ms[0])
	}
	if d := find(); d != "" {
		return d, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return "", errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and cannot be installed here: install Debian's postgresql package")
	}
	logf("installing Debian's postgresql package with apt-get")
	for _, args := range [][]string{{"install", "-y", "--no-install-recommends", "postgresql"}, {"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err == nil && args[0] == "install" {
			break
		}
	}
	if d := find(); d != "" {
		return d, nil
	}
	return "", errors.New("apt-get install postgresql did not provide /usr/lib/postgresql/*/bin/initdb")
}

// startPeerPG starts st's cluster (initializing it and creating database
// db the first time) and returns its postmaster and connection URI.
func (o *compareOpts) startPeerPG(ctx context.Context, st *peerState, db string) (*proc, string, error) {
	if st.pg == nil {
		bin, err := pgBinDir(ctx)
		if err != nil {
			return nil, "", err
		}
		parent, err := os.MkdirTemp("", "authbench-pg-")
		if err != nil {
			return nil, "", err
		}
		o.cleanups = append(o.cleanups, func() { os.RemoveAll(parent) })
		c := &pgCluster{bin: bin, dir: filepath.Join(parent, "data"), db: db}
		if os.Geteuid() == 0 {
			c.user = "postgres"
		}
		if err := os.Chmod(parent, 0o755); err != nil {
			return nil, "", err
		}
		if err := os.Mkdir(c.dir, 0o700); err != nil {
			return nil, "", err
		}
		if c.user != "" {
			if out, err := exec.CommandContext(ctx, "chown", c.user+":", c.dir).CombinedOutput(); err != nil {
				return nil, "", fmt.Errorf("chown %s: %v: %s", c.user, err, out)
			}
		}
		logf("initializing a PostgreSQL cluster (%s)", bin)
		if out, err := c.command(ctx, "initdb", "-D", c.dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("initdb: %v: %s", err, tail(out))
		}
		st.pg = c
	}
	c := st.pg
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	_, port, _ := strings.Cut(addr, ":")
	argv := []string{"-D", c.dir, "-h", "127.0.0.1", "-p", port, "-k", c.dir, "-c", "track_commit_timestamp=on"}
	bin, args := filepath.Join(c.bin, "postgres"), argv
	if c.user != "" {
		bin, args = "setpriv", append([]string{"--reuid", c.user, "--regid", c.user, "--clear-groups", "--", filepath.Join(c.bin, "postgres")}, argv...)
	}
	p, err := startProc("postgres", bin, args, addr, o.cpusServer, filepath.Join(o.work, fmt.Sprintf("postgres-%s-%d.log", db, o.round)))
	if err != nil {
		return nil, "", err
	}
	if err := p.waitTCP(ctx, time.Minute); err != nil {
		p.stop()
		return nil, "", err
	}
	uri := "postgres://postgres@" + addr + "/" + db + "?sslmode=disable"
	// The first start creates the database; pg_isready-like retries cover
	// the moment between listening and accepting logins.
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := exec.CommandContext(ctx, "psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-tAc",
			"SELECT count(*) FROM pg_database WHERE datname = '"+db+"'").CombinedOutput()
		if err == nil {
			if strings.TrimSpace(string(out)) == "0" {
				if out, err := exec.CommandContext(ctx, "psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-c", "CREATE DATABASE "+db).CombinedOutput(); err != nil {
					p.stop()
					return nil, "", fmt.Errorf("creating database %s: %v: %s", db, err, out)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", fmt.Errorf("psql: %v: %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p, uri, nil
}

// command runs one of the cluster's programs, as its user.
func (c *pgCluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.user == "" {
		return exec.CommandContext(ctx, path, args...)
	}
	return exec.CommandContext(ctx, "setpriv", append([]string{"--reuid", c.user, "--regid", c.user, "--clear-groups", "--", path}, args...)...)
}

// peerRatios returns, per round in which both ran, the value of target
// id's closed-loop run at c over auth-server's (the embedded target's).
func (rep *CompareReport) peerRatios(id string, c int, val func(*loadgen.Result) float64) []float64 {
	base := rep.target("embedded")
	var out []float64
	for _, r := range rep.target(id).runsOf("check", "closed", c) {
		if b := base.findRun("check", "closed", c, r.Round); b != nil && val(b) > 0 && val(r) > 0 {
			out = append(out, val(r)/val(b))
		}
	}
	return out
}

func hasPeers(rep *CompareReport) bool {
	for _, t := range rep.Targets {
		if isPeer(t.ID) && t.Available {
			return true
		}
	}
	return false
}

// peersMarkdown is the side-by-side table of auth-server and the peers.
func peersMarkdown(rep *CompareReport) string {
	if !hasPeers(rep) {
		return ""
	}
	var b strings.Builder
	b.WriteString("### Side by side: auth-server, SpiceDB, OpenFGA\n\n")
	fmt.Fprintf(&b, "Closed-loop checks over HTTP, median over %d round(s); × is the median of the per-round ratio to auth-server (embedded store) measured in the same round. Server CPU and memory include the database's processes (PostgreSQL's backends); memory is the PSS of all of them after the check runs. Every target's answers were verified against the ground truth before its runs (and every answer during them).\n\n", max(rep.Rounds, 1))
	b.WriteString("| target | c | checks/s | × auth-server | p50 µs | p99 µs | p99.9 µs | server CPU µs/check | × auth-server | memory MiB | × auth-server |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	base := rep.target("embedded")
	for _, t := range rep.Targets {
		if !t.Available || !(t.ID == "embedded" || isPeer(t.ID)) {
			continue
		}
		for _, c := range t.checkConcurrencies() {
			var rs, p50, p99, p999, cpu []float64
			for _, x := range t.runsOf("check", "closed", c) {
				rs, p50, p99, p999, cpu = append(rs, x.RPS), append(p50, x.Latency.P50), append(p99, x.Latency.P99), append(p999, x.Latency.P999), append(cpu, x.ServerCPUPerReq)
			}
			rr, cr, mr := "1", "1", "1"
			if t.ID != "embedded" {
				rr, cr, mr = "–", "–", "–"
				if x := rep.peerRatios(t.ID, c, rps); len(x) > 0 {
					rr = fmt.Sprintf("%.3g×", median(x))
				}
				if x := rep.peerRatios(t.ID, c, cpuReq); len(x) > 0 {
					cr = fmt.Sprintf("%.3g×", median(x))
				}
				if base != nil {
					mr = ratio(t.MemMiB, base.MemMiB)
				}
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.Name, c, median(rs), rr,
				fnum(median(p50)), fnum(median(p99)), fnum(median(p999)), fnum(median(cpu)), cr, fnum(t.MemMiB), mr)
		}
	}
	b.WriteString("\nOpen loop (round 1): auth-server at its run's rate; each peer at half its own best closed-loop rate of round 1 (the rate the others take would swamp it).\n\n")
	b.WriteString("| target | target rate/s | achieved/s | p50 µs | p90 µs | p99 µs | p99.9 µs | server CPU µs/check |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range rep.Targets {
		if !t.Available || !(t.ID == "embedded" || isPeer(t.ID)) {
			continue
		}
		for _, r := range t.Runs {
			if r.Label == "check" && r.Mode == "open" {
				l := r.Latency
				fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %s | %s | %s | %s |\n", t.Name, r.TargetRate, r.RPS, fnum(l.P50), fnum(l.P90), fnum(l.P99), fnum(l.P999), fnum(r.ServerCPUPerReq))
			}
		}
	}
	b.WriteString("\nLoading (round 1) and readiness:\n\n| target | how | tuples or writes | load s | per s | × auth-server's time | visible after s | start s | later starts s |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, t := range rep.Targets {
		if !t.Available || t.Load == nil || !(t.ID == "embedded" || isPeer(t.ID)) {
			continue
		}
		how := "API writes, one change each"
		switch {
		case strings.HasPrefix(t.ID, "spicedb"):
			how = "ImportBulkRelationships, 1,000 a message, 10,000 a call"
		case strings.HasPrefix(t.ID, "openfga"):
			how = "Write calls of up to 100 tuples"
		}
		lr := "1"
		if t.ID != "embedded" {
			lr = "–"
			if base != nil && base.Load != nil {
				lr = ratio(t.Load.Seconds, base.Load.Seconds)
			}
		}
		later := pcts(t.RestartSecs, 1, "%.1f")
		if len(t.ReloadSecs) > 0 {
			later += " (reloaded in " + pcts(t.ReloadSecs, 1, "%.1f") + " s)"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.0f | %s | %.3f | %.1f | %s |\n", t.Name, how, t.Load.Writes, t.Load.Seconds, t.Load.PerSec, lr, t.VisibleSecs, t.StartSecs, later)
	}
	for _, t := range rep.Targets {
		if isPeer(t.ID) && t.Note != "" {
			fmt.Fprintf(&b, "\n%s: %s.", t.Name, t.Note)
		}
	}
	b.WriteString("\n\n")
	return b.String()
}
