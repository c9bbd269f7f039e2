package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"auth/bus/natstest"
	"auth/internal/logbuf"
	"auth/persist/mongo/mongotest"
)

// binary is the auth-server built once for the tests that run it as a
// process, as a user would.
var binary string

// plainBinary is auth-server built without the race detector.
var plainBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "auth-server-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "auth-server")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building auth-server:", err)
		os.Exit(1)
	}
	// Memory is measured on a binary built as users run it: the race
	// detector's shadow memory would swamp what the attack tests bound.
	plainBinary = binary
	if raceEnabled {
		plainBinary = filepath.Join(dir, "auth-server-plain")
		build := exec.Command("go", "build", "-o", plainBinary, ".")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building auth-server:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running auth-server.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	// hc sends the test's requests: the plain client, or one that trusts
	// the server's TLS certificate.
	hc   *http.Client
	logs *logbuf.Buffer
	exit chan error
}

// servingRE finds the listening address in the log, in either format.
var servingRE = regexp.MustCompile(`(?:msg=serving addr=|"msg":"serving","addr":")([^\s"]+)`)

// start runs auth-server on a free loopback port with data in dir.
func start(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	return startBinary(t, binary, dir, extra...)
}

// startBinary is start, running bin.
func startBinary(t *testing.T, bin, dir string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-data", dir}, extra...)...)
	// Only what a test passes configures the server: clear the variables
	// it reads from a developer's environment.
	cmd.Env = append(os.Environ(), "AUTH_ADDR=", "AUTH_DATA=", "MONGO_URI=", "MONGO_HOST=", "MONGO_PORT=", "MONGO_DB=", "NATS_URL=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, hc: client, logs: &logbuf.Buffer{}, exit: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if m := servingRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
		p.exit <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
	case err := <-p.exit:
		t.Fatalf("auth-server exited before serving: %v\n%s", err, p.logs)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("auth-server did not start serving:\n%s", p.logs)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.exit
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.exit:
		if err != nil {
			p.t.Fatalf("auth-server exited with %v after SIGTERM:\n%s", err, p.logs)
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("auth-server did not exit after SIGTERM:\n%s", p.logs)
	}
}

func (p *proc) kill() {
	p.t.Helper()
	p.cmd.Process.Kill()
	<-p.exit
}

var client = &http.Client{Timeout: 10 * time.Second}

func (p *proc) call(method, path string) (int, string, error) {
	req, err := http.NewRequest(method, p.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (p *proc) expect(method, path, want string) {
	p.t.Helper()
	code, body, err := p.call(method, path)
	if err != nil || code != http.StatusOK || body != want {
		p.t.Errorf("%s %s = %d %s (%v), want 200 %s", method, path, code, body, err, want)
	}
}

const key = "pleaSeDoN0tKillMyC_at"

// tellStory writes and reads the story, expecting each answer.
func (p *proc) tellStory() {
	p.t.Helper()
	for _, s := range story {
		p.expect(s[0], s[1], s[2])
	}
}

// story is the original README's story as (method, path, answer) steps.
var story = [][3]string{
	{"POST", "/api/role/" + key + "/cookers", `{"result": true}`},
	{"POST", "/api/role/" + key + "/dancers", `{"result": true}`},
	{"POST", "/api/role/" + key + "/laughers", `{"result": true}`},
	{"POST", "/api/permission/" + key + "/cookers/cook", `{"result": true}`},
	{"POST", "/api/permission/" + key + "/dancers/dance", `{"result": true}`},
	{"POST", "/api/permission/" + key + "/laughers/laugh", `{"result": true}`},
	{"POST", "/api/membership/" + key + "/sara/cookers", `{"result": true}`},
	{"POST", "/api/membership/" + key + "/sara/laughers", `{"result": true}`},
	{"POST", "/api/membership/" + key + "/jack/dancers", `{"result": true}`},
	{"POST", "/api/membership/" + key + "/jack/laughers", `{"result": true}`},
}

// reads are the story's read answers, the same before and after a restart.
var reads = [][3]string{
	{"GET", "/ping", `{"message": "PONG"}`},
	{"GET", "/api/has_permission/" + key + "/jack/dance", `{"result": true}`},
	{"GET", "/api/has_permission/" + key + "/sara/dance", `{"result": false}`},
	{"GET", "/api/has_permission/" + key + "/sara/laugh", `{"result": true}`},
	{"GET", "/api/role/" + key + "/cookers", `{"result": true}`},
	{"GET", "/api/roles/" + key, `{"result": [{"role": "cookers"}, {"role": "dancers"}, {"role": "laughers"}]}`},
	{"GET", "/api/permission/" + key + "/cookers/cook", `{"result": true}`},
	{"GET", "/api/membership/" + key + "/sara/cookers", `{"result": true}`},
	{"GET", "/api/user_permissions/" + key + "/sara", `{"results": [{"name": "cook"}, {"name": "laugh"}]}`},
	{"GET", "/api/role_permissions/" + key + "/dancers", `{"results": [{"name": "dance"}]}`},
	{"GET", "/api/user_roles/" + key + "/jack", `{"result": [{"role": "dancers"}, {"role": "laughers"}]}`},
	{"GET", "/api/members/" + key + "/laughers", `{"result": [{"user": "jack"}, {"user": "sara"}]}`},
	{"GET", "/api/which_roles_can/" + key + "/laugh", `{"result": [{"role": "laughers"}]}`},
	{"GET", "/api/which_users_can/" + key + "/laugh", `{"result": [{"user": "jack"}, {"user": "sara"}]}`},
}

// stores are the store configurations every store-facing test runs with:
// the embedded default and MongoDB (the test server, or MONGO_URI's).
func stores(t *testing.T) map[string]func(t *testing.T) []string {
	return map[string]func(t *testing.T) []string{
		"embedded": func(*testing.T) []string { return nil },
		"mongo": func(t *testing.T) []string {
			cfg := mongotest.Config(t)
			return []string{"-mongo-uri", cfg.URI, "-mongo-db", cfg.Database}
		},
	}
}

func forEachStore(t *testing.T, test func(t *testing.T, storeArgs []string)) {
	for name, args := range stores(t) {
		t.Run(name, func(t *testing.T) { test(t, args(t)) })
	}
}

// TestStoryKeepsAcrossRestart: the story over HTTP, then the same answers
// after a clean stop and start, and after a snapshot has been taken.
func TestStoryKeepsAcrossRestart(t *testing.T) { forEachStore(t, testStoryKeepsAcrossRestart) }

func testStoryKeepsAcrossRestart(t *testing.T, storeArgs []string) {
	dir := t.TempDir()
	p := start(t, dir, append([]string{"-snapshot-every", "4"}, storeArgs...)...)
	p.tellStory()
	for _, r := range reads {
		p.expect(r[0], r[1], r[2])
	}
	p.stop()
	p = start(t, dir, storeArgs...)
	for _, r := range reads {
		p.expect(r[0], r[1], r[2])
	}
	if len(storeArgs) > 0 && !strings.Contains(p.logs.String(), "store=\"mongodb ") {
		t.Errorf("start-up log does not say the store is MongoDB:\n%s", p.logs)
	}
	if !strings.Contains(p.logs.String(), "tenants=1") {
		t.Errorf("start-up log does not report the loaded tenant:\n%s", p.logs)
	}
	p.stop()
	if strings.Contains(p.logs.String(), key) {
		t.Errorf("the secret key appears in the log:\n%s", p.logs)
	}
}

// TestKill9LosesNoAcknowledgedWrite kills the server in the middle of a
// burst of concurrent writes; every write it acknowledged is there after a
// restart.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) { forEachStore(t, testKill9) }

func testKill9(t *testing.T, storeArgs []string) {
	dir := t.TempDir()
	p := start(t, dir, storeArgs...)
	b := startBurst(p, 16)
	b.waitAcked(t, 300)
	p.kill()
	b.stop()
	p = start(t, dir, storeArgs...)
	b.checkAll(t, p, "kill -9")
	p.stop()
}

// burst is writers adding memberships of fresh users to role r as fast as
// the server answers, recording the writes it acknowledged.
type burst struct {
	acked   sync.Map // user -> struct{}
	n       atomic.Int64
	wg      sync.WaitGroup
	stopped atomic.Bool
}

func startBurst(p *proc, writers int) *burst {
	p.t.Helper()
	p.expect("POST", "/api/role/"+key+"/r", `{"result": true}`)
	b := &burst{}
	for w := range writers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for i := 0; !b.stopped.Load(); i++ {
				user := fmt.Sprintf("u%d-%d", w, i)
				code, body, err := p.call("POST", "/api/membership/"+key+"/"+user+"/r")
				if err != nil {
					return // the server is gone
				}
				if code == http.StatusOK && body == `{"result": true}` {
					b.acked.Store(user, struct{}{})
					b.n.Add(1)
				}
			}
		}()
	}
	return b
}

// waitAcked waits until n writes are acknowledged (or 20 s pass).
func (b *burst) waitAcked(t *testing.T, n int64) {
	deadline := time.Now().Add(20 * time.Second)
	for b.n.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if b.n.Load() == 0 {
		t.Fatal("no write was acknowledged")
	}
}

func (b *burst) stop() {
	b.stopped.Store(true)
	b.wg.Wait()
}

// checkAll fails unless every acknowledged write is there at p.
func (b *burst) checkAll(t *testing.T, p *proc, after string) {
	t.Helper()
	missing := 0
	b.acked.Range(func(u, _ any) bool {
		code, body, err := p.call("GET", "/api/membership/"+key+"/"+u.(string)+"/r")
		if err != nil || code != http.StatusOK || body != `{"result": true}` {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged membership of %s lost: %d %s %v", u, code, body, err)
			}
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost across %s", missing, b.n.Load(), after)
	}
	t.Logf("%d acknowledged writes, all present after %s", b.n.Load(), after)
}

func TestFlagsAndEnvironment(t *testing.T) {
	env := map[string]string{"AUTH_ADDR": "127.0.0.1:1234", "AUTH_DATA": "/var/lib/auth"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:1234" || c.dataDir != "/var/lib/auth" {
		t.Errorf("environment not used: %+v", c)
	}
	c, err = parseConfig([]string{"-addr", ":5000", "-data", "d"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != ":5000" || c.dataDir != "d" {
		t.Errorf("flags do not override the environment: %+v", c)
	}
	c, err = parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != ":4000" || c.dataDir != "./auth-data" {
		t.Errorf("defaults: %+v, want :4000 and ./auth-data", c)
	}
	if _, err := parseConfig([]string{"stray"}, getenv, io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
}

// TestSIGTERMDuringWriteBurst: a SIGTERM in the middle of concurrent
// writes lets the requests in flight finish, exits 0 within the deadline,
// and every write acknowledged before it is there after a restart.
func TestSIGTERMDuringWriteBurst(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, "-shutdown-timeout", "5s")
	b := startBurst(p, 16)
	b.waitAcked(t, 200)
	begin := time.Now()
	p.stop() // SIGTERM; fails the test unless the exit is 0
	if took := time.Since(begin); took > 6*time.Second {
		t.Errorf("exit took %v, past the 5s shutdown deadline", took)
	}
	b.stop()
	p = start(t, dir)
	b.checkAll(t, p, "SIGTERM")
	p.stop()
}

// TestMetricsAfterTraffic scrapes /metrics after traffic and checks the
// series of every layer.
func TestMetricsAfterTraffic(t *testing.T) {
	p := start(t, t.TempDir())
	p.tellStory()
	for range 5 {
		p.expect("GET", "/api/has_permission/"+key+"/jack/dance", `{"result": true}`)
	}
	code, body, err := p.call("GET", "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", code, err)
	}
	for _, want := range []string{
		`auth_http_requests_total{code="200",method="GET",route="/api/has_permission/{key}/{user}/{name}"} 5`,
		`auth_http_requests_total{code="200",method="POST",route="/api/membership/{key}/{user}/{role}"} 4`,
		`auth_events_applied_total{source="local"} 10`,
		`auth_store_append_duration_seconds_count 10`,
		`auth_store_append_errors_total 0`,
		`auth_tenants 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, key) {
		t.Error("the key appears in /metrics")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, err := p.call("GET", path); err != nil || code != http.StatusOK {
			t.Errorf("GET %s = %d, %v", path, code, err)
		}
	}
	p.stop()
}

// TestKeyNeverLeaves writes with a distinctive key through every route,
// with debug and access logs on, then searches the data folder, the log,
// /metrics and /status for it: it must be nowhere.
func TestKeyNeverLeaves(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testKeyNeverLeaves(t, nil, nil) })
	t.Run("https", func(t *testing.T) {
		// Over TLS with client certificates: the key travels encrypted,
		// and nothing of it, or of the private keys, reaches the log.
		s := newTestTLS(t)
		testKeyNeverLeaves(t, s.mtlsArgs(), nil, s)
	})
	t.Run("cluster", func(t *testing.T) {
		// Over MongoDB and NATS: every document of the database and every
		// message on the bus are searched too.
		nats := natstest.Start(t)
		mcfg := mongotest.Config(t)
		traffic := captureNATS(t, nats.URL())
		args := []string{"-mongo-uri", mcfg.URI, "-mongo-db", mcfg.Database, "-nats-url", nats.URL(), "-cluster-secret", testClusterSecret}
		testKeyNeverLeaves(t, args, func() [][]byte {
			return append(traffic(), mongoDocuments(t, mcfg.URI, mcfg.Database)...)
		})
	})
}

func testKeyNeverLeaves(t *testing.T, storeArgs []string, elsewhere func() [][]byte, secure ...*testTLS) {
	const secret = "Zq9-DISTINCTIVE-secret-KEY-7Xw"
	dir := t.TempDir()
	p := start(t, dir, append([]string{"-log-level", "debug", "-access-log", "-snapshot-every", "3"}, storeArgs...)...)
	dial := func() (net.Conn, error) { return net.Dial("tcp", strings.TrimPrefix(p.base, "http://")) }
	for _, s := range secure {
		s.use(p)
		dial = s.dialer(p)
	}
	k := secret
	orig := [][2]string{
		{"POST", "/api/role/" + k + "/r"}, {"GET", "/api/role/" + k + "/r"}, {"GET", "/api/roles/" + k},
		{"POST", "/api/permission/" + k + "/r/p"}, {"GET", "/api/permission/" + k + "/r/p"},
		{"POST", "/api/membership/" + k + "/u/r"}, {"GET", "/api/membership/" + k + "/u/r"},
		{"GET", "/api/has_permission/" + k + "/u/p"}, {"GET", "/api/user_permissions/" + k + "/u"},
		{"GET", "/api/role_permissions/" + k + "/r"}, {"GET", "/api/user_roles/" + k + "/u"},
		{"GET", "/api/members/" + k + "/r"}, {"GET", "/api/which_roles_can/" + k + "/p"},
		{"GET", "/api/which_users_can/" + k + "/p"}, {"DELETE", "/api/membership/" + k + "/u/r"},
		{"DELETE", "/api/permission/" + k + "/r/p"}, {"DELETE", "/api/role/" + k + "/r"},
		{"POST", "/api/role/" + k + "/bad%00"}, {"POST", "/api/nowhere/" + k},
	}
	var answers strings.Builder
	for _, r := range orig {
		_, body, err := p.call(r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		answers.WriteString(body)
	}
	v1 := [][3]string{
		{"POST", "/v1/role/r2", ""}, {"POST", "/v1/permission/r2/p", ""}, {"POST", "/v1/membership/u/r2", ""},
		{"GET", "/v1/has_permission/u/p", ""}, {"GET", "/v1/roles", ""},
		{"POST", "/v1/check", `{"checks": [{"user": "u", "permission": "p"}]}`},
		{"GET", "/v1/events", ""}, {"GET", "/v1/export", ""},
		{"POST", "/v1/import", "{\"role\": \"r3\"}\n"}, {"GET", "/status", ""},
		{"POST", "/v1/role/bad%01", ""},
	}
	send := func(method, path, body, key string) string {
		req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := p.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	for _, r := range v1 {
		answers.WriteString(send(r[0], r[1], r[2], secret))
	}
	// Keys the server makes: a scoped key, used; a rotation, whose new key
	// is used; the scoped key revoked. Their secrets are in the answers
	// that make them, and nowhere else.
	made := func(answer string) string {
		var m struct{ Key string }
		if err := json.Unmarshal([]byte(answer), &m); err != nil || m.Key == "" {
			t.Fatalf("a key's answer %q: %v", answer, err)
		}
		return m.Key
	}
	addAnswer := send("POST", "/v1/keys", `{"name": "checker", "scope": "check"}`, secret)
	scoped := made(addAnswer)
	for _, r := range v1[:6] {
		answers.WriteString(send(r[0], r[1], r[2], scoped))
	}
	rotated := made(send("POST", "/v1/keys/rotate", "", secret))
	for _, r := range v1 {
		answers.WriteString(send(r[0], r[1], r[2], rotated))
	}
	var keyID struct{ ID string }
	_ = json.Unmarshal([]byte(addAnswer), &keyID)
	answers.WriteString(send("DELETE", "/v1/keys/"+keyID.ID, "", rotated))
	answers.WriteString(send("GET", "/v1/keys", "", rotated))
	answers.WriteString(send("GET", "/v1/roles", "", scoped))
	answers.WriteString(send("GET", "/v1/roles", "", secret))
	// The secrets, and their parts past the prefix, are searched for.
	secrets := []string{secret, scoped, rotated, scoped[3:], rotated[3:]}
	// A request cut off in its headers makes the HTTP server log an
	// error; its bytes (with the key in the path) must not be logged.
	if conn, err := dial(); err == nil {
		fmt.Fprintf(conn, "GET /api/roles/%s HTTP/1.1\r\nHost: x\r\nX-Cut: ", secret)
		time.Sleep(100 * time.Millisecond)
		conn.Close()
	}
	_, metrics, _ := p.call("GET", "/metrics")
	p.stop()

	logs := p.logs.String()
	for _, secret := range secrets {
		if strings.Contains(answers.String(), secret) {
			t.Error("an answer echoes a key")
		}
		if strings.Contains(metrics, secret) {
			t.Error("/metrics holds a key")
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a key:\n%s", logs)
		}
	}
	if strings.Contains(logs, testClusterSecret) || strings.Contains(metrics, testClusterSecret) {
		t.Errorf("the log or /metrics holds the cluster secret:\n%s", logs)
	}
	for _, s := range secure {
		s.noKeyMaterial(t, logs+metrics)
	}
	if !strings.Contains(logs, "path=/api/role/{key}/{role}") {
		t.Errorf("the access log does not show route templates:\n%.2000s", logs)
	}
	if elsewhere != nil {
		seen := elsewhere()
		if len(seen) == 0 {
			t.Error("nothing was captured from the store and the bus")
		}
		for _, b := range seen {
			for _, secret := range secrets {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("a key is in the store or on the bus: %.300q", b)
				}
			}
			if bytes.Contains(b, []byte(testClusterSecret)) {
				t.Errorf("the cluster secret is in the store or on the bus: %.300q", b)
			}
		}
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, secret := range secrets {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds a key", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenTenantsFlag: tenants are open by default; -open-tenants=false
// or AUTH_OPEN_TENANTS=0 closes them.
func TestOpenTenantsFlag(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		env    string
		closed bool
	}{{nil, "", false}, {[]string{"-open-tenants=false"}, "", true}, {nil, "0", true}, {[]string{"-open-tenants=true"}, "0", false}} {
		getenv := func(name string) string {
			if name == "AUTH_OPEN_TENANTS" {
				return tc.env
			}
			return ""
		}
		c, err := parseConfig(tc.args, getenv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.http.ClosedTenants != tc.closed {
			t.Errorf("%q with AUTH_OPEN_TENANTS=%q: closed %v, want %v", tc.args, tc.env, c.http.ClosedTenants, tc.closed)
		}
	}
}
