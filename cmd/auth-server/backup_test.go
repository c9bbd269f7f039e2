package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/internal/await"
	"auth/persist/bolt"
)

var adminRE = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)

func (p *proc) adminBase() string {
	p.t.Helper()
	m := adminRE.FindStringSubmatch(p.logs.String())
	if m == nil {
		p.t.Fatalf("no admin listener in the log:\n%s", p.logs)
	}
	return "http://" + m[1]
}

// v1 sends a /v1 request with tenant key k and decodes its JSON answer.
func (p *proc) v1(k, method, path, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+k)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %q: %w", method, path, b, err)
	}
	return resp.StatusCode, out, nil
}

// write is a write a client made and the seq the server acknowledged it
// at.
type write struct {
	seq              uint64
	op               string // "role", "grant", "member"
	role, perm, user string
}

// TestBackupWhileWriting is the second requirement: a backup taken
// through the admin listener while 64 clients write; auth-server check
// passes on it; a server started on it (the restore: the file copied into
// a data folder) takes a new epoch and answers every check as the
// original did at the backup's seq, tenant by tenant.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, "-admin-addr", "127.0.0.1:0")
	tenants := make([]string, 8)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("backup-tenant-%d-key", i)
	}
	var (
		mu      sync.Mutex
		written = map[string][]write{}
		acked   atomic.Int64
	)
	stop := await.Workers(64, func(c, i int) bool {
		k := tenants[c%len(tenants)]
		role, perm, user := fmt.Sprintf("c%d-r%d", c, i), fmt.Sprintf("p%d", i%3), fmt.Sprintf("u%d-%d", c, i)
		for _, w := range []write{
			{op: "role", role: role},
			{op: "grant", role: role, perm: perm},
			{op: "member", role: role, user: user},
		} {
			path := map[string]string{"role": "/v1/role/" + role, "grant": "/v1/permission/" + role + "/" + perm, "member": "/v1/membership/" + user + "/" + role}[w.op]
			code, out, err := p.v1(k, "POST", path, "")
			if err != nil || code != 200 || out["result"] != true {
				t.Errorf("POST %s = %d %v %v", path, code, out, err)
				return false
			}
			w.seq = uint64(out["seq"].(float64))
			mu.Lock()
			written[k] = append(written[k], w)
			mu.Unlock()
			acked.Add(1)
		}
		return true
	})
	waitFor := func(n int64) {
		deadline := time.Now().Add(60 * time.Second)
		for acked.Load() < n && time.Now().Before(deadline) && !t.Failed() {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(600)
	before := acked.Load()
	backupFile := filepath.Join(t.TempDir(), "backup.db")
	code, stdout, stderr, took := runOnce(t, 60*time.Second, "backup", "-from", p.adminBase(), "-to", backupFile)
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("backup with %d writes acknowledged before it, in %v: %s", before, took.Round(time.Millisecond), stdout)
	waitFor(acked.Load() + 300) // writes went on through it, and go on
	stop()
	p.stop()
	if t.Failed() {
		return
	}

	code, stdout, _, _ = runOnce(t, 30*time.Second, "check", "-file", backupFile)
	if code != 0 || !strings.Contains(stdout, "ok\n") || !strings.Contains(stdout, "a backup") {
		t.Fatalf("check of the backup: exit %d\n%s", code, stdout)
	}

	// Restore: the backup file as a data folder's file.
	rdir := t.TempDir()
	b, err := os.ReadFile(backupFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rdir, bolt.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, rdir)
	if !strings.Contains(r.logs.String(), "restored backup") {
		t.Errorf("the restored store does not say it took a new epoch:\n%s", r.logs)
	}
	epochRE := regexp.MustCompile(`epoch=([0-9a-f]+)`)
	if e1, e2 := epochRE.FindStringSubmatch(p.logs.String()), epochRE.FindStringSubmatch(r.logs.String()); e1 == nil || e2 == nil || e1[1] == e2[1] {
		t.Errorf("epochs: original %v, restored %v; want two", e1, e2)
	}
	var total uint64
	for _, k := range tenants {
		_, st, err := r.v1(k, "GET", "/status", "")
		if err != nil {
			t.Fatal(err)
		}
		at := uint64(st["seq"].(float64))
		total += at
		checkTenantAt(t, r, k, written[k], at)
	}
	if total == 0 || total >= uint64(acked.Load()) {
		t.Errorf("the backup holds %d of %d writes: not a copy taken while they went on", total, acked.Load())
	}
	// The restored server shows its new epoch, and a seq token of the
	// original's is refused as of another epoch, not compared.
	_, st, err := r.v1(tenants[0], "GET", "/status", "")
	if err != nil {
		t.Fatal(err)
	}
	old, now := epochRE.FindStringSubmatch(p.logs.String()), epochRE.FindStringSubmatch(r.logs.String())
	if old == nil || now == nil || st["epoch"] != now[1] {
		t.Errorf("/status of the restored server: %v, want epoch %v", st, now)
	} else {
		code, out, err := r.v1(tenants[0], "GET", "/v1/roles?min_seq=1&epoch="+old[1], "")
		if err != nil || code != http.StatusPreconditionFailed || out["epoch"] != now[1] {
			t.Errorf("a min_seq of the original's epoch at the restored server = %d %v %v, want 412 naming epoch %s", code, out, err, now[1])
		}
	}
	r.stop()
}

// checkTenantAt checks that r answers for tenant k as the writes ws with
// seqs up to at made it: the roles, and a check for every user and
// permission written.
func checkTenantAt(t *testing.T, r *proc, k string, ws []write, at uint64) {
	t.Helper()
	slices.SortFunc(ws, func(a, b write) int { return int(a.seq) - int(b.seq) })
	roles := []string{}
	grants, members := map[string]string{}, map[string]string{} // role -> perm, user -> role
	for i, w := range ws {
		if w.seq != uint64(i+1) {
			t.Fatalf("tenant %s: write %d acknowledged at seq %d: the model needs every seq", k, i, w.seq)
		}
		if w.seq > at {
			break
		}
		switch w.op {
		case "role":
			roles = append(roles, w.role)
		case "grant":
			grants[w.role] = w.perm
		case "member":
			members[w.user] = w.role
		}
	}
	slices.Sort(roles)
	_, out, err := r.v1(k, "GET", "/v1/roles", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range out["result"].([]any) {
		got = append(got, x.(map[string]any)["role"].(string))
	}
	if d := cmp.Diff(roles, got); d != "" {
		t.Errorf("tenant %s at seq %d: roles (-want +got):\n%s", k, at, d)
	}
	type check struct {
		User       string `json:"user"`
		Permission string `json:"permission"`
	}
	var checks []check
	var want []bool
	for _, w := range ws {
		if w.op != "member" {
			continue
		}
		for _, perm := range []string{"p0", "p1", "p2"} {
			checks = append(checks, check{w.user, perm})
			role, member := members[w.user]
			want = append(want, member && grants[role] == perm)
		}
	}
	for len(checks) > 0 {
		n := min(len(checks), 999)
		body, _ := json.Marshal(map[string]any{"checks": checks[:n]})
		_, out, err := r.v1(k, "POST", "/v1/check", string(body))
		if err != nil {
			t.Fatal(err)
		}
		var got []bool
		for _, x := range out["results"].([]any) {
			got = append(got, x.(bool))
		}
		if d := cmp.Diff(want[:n], got); d != "" {
			t.Errorf("tenant %s at seq %d: checks (-want +got):\n%s", k, at, d)
		}
		checks, want = checks[n:], want[n:]
	}
}

// TestAdminListener: off unless configured; refused beyond loopback
// without a token; with a token, it listens on every interface and
// answers only requests carrying it, and auth-server backup passes it.
// A stopped server's store is backed up from its data folder.
func TestAdminListener(t *testing.T) {
	c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || c.admin.Addr != "" {
		t.Fatalf("default admin address %q (%v), want none", c.admin.Addr, err)
	}
	dir := t.TempDir()
	p := start(t, dir)
	if strings.Contains(p.logs.String(), "admin") {
		t.Errorf("an admin listener without -admin-addr:\n%s", p.logs)
	}
	p.expect("POST", "/api/role/"+key+"/r", `{"result": true}`)
	p.stop()

	code, _, stderr, _ := runOnce(t, 20*time.Second, "-addr", "127.0.0.1:0", "-data", dir, "-admin-addr", "0.0.0.0:0")
	if code == 0 || !strings.Contains(stderr, "not a loopback address") || stackTrace.MatchString(stderr) {
		t.Errorf("-admin-addr 0.0.0.0:0 without a token: exit %d\n%s", code, stderr)
	}

	const token = "admin-token-0123456789"
	p = start(t, dir, "-admin-addr", "0.0.0.0:0", "-admin-token", token)
	base := strings.Replace(p.adminBase(), "[::]", "127.0.0.1", 1)
	base = strings.Replace(base, "0.0.0.0", "127.0.0.1", 1)
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/admin/backup", "", 401},
		{"/admin/backup", "wrong-token-0123456789", 401},
		{"/debug/pprof/", "", 401},
		{"/admin/backup", token, 200},
		{"/debug/pprof/goroutine?debug=1", token, 200},
	} {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s with token %q = %d, want %d", tc.path, tc.token, resp.StatusCode, tc.code)
		}
	}
	file := filepath.Join(t.TempDir(), "b.db")
	if code, out, errOut, _ := runOnce(t, 30*time.Second, "backup", "-from", base, "-to", file); code == 0 || !strings.Contains(errOut, "401") {
		t.Errorf("backup without the token: exit %d %s%s", code, out, errOut)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a failed backup left a file")
	}
	if code, out, errOut, _ := runOnce(t, 30*time.Second, "backup", "-from", base, "-to", file, "-admin-token", token); code != 0 {
		t.Errorf("backup with the token: exit %d %s%s", code, out, errOut)
	}
	p.stop()

	// A stopped server's store, from its data folder.
	file2 := filepath.Join(t.TempDir(), "b2.db")
	if code, out, errOut, _ := runOnce(t, 30*time.Second, "backup", "-data", dir, "-to", file2); code != 0 || !strings.Contains(out, "1 tenant, 1 event") {
		t.Errorf("backup -data: exit %d %s%s", code, out, errOut)
	}
	if code, out, _, _ := runOnce(t, 30*time.Second, "check", "-file", file2); code != 0 {
		t.Errorf("check of the offline backup: exit %d %s", code, out)
	}
}
