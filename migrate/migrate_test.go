package migrate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"auth/client"
	"auth/client/clienttest"
	"auth/httpapi"
	"auth/persist/mongo/mongotest"
)

func yes(b bool) any { return map[string]any{"result": b} }

// list is a list answer of the original: {top: [{field: name}, ...]}.
func list(top, field string, names ...string) any {
	l := []any{}
	for _, n := range names {
		l = append(l, map[string]any{field: n})
	}
	return map[string]any{top: l}
}

// originalAnswers is what the original answered on the fixture, worked
// out by hand from its code: these are the answers the server must give
// after the migration (without -restore-hidden-grants, without
// -skip-invalid: D is not imported).
func originalAnswers() map[string]any {
	a, b, c, d := url.PathEscape(keyA), url.PathEscape(keyB), url.PathEscape(keyC), url.PathEscape(keyD)
	return map[string]any{
		"roles/" + a:                         list("result", "role", "admin", "cookers", "laughers"),
		"role/" + a + "/admin":               yes(true), // is_active false: ignored
		"role/" + a + "/old":                 yes(false),
		"has_permission/" + a + "/sara/cook": yes(true),
		// Hidden: B granted laugh after A, the document names B.
		"has_permission/" + a + "/sara/laugh": yes(false),
		"has_permission/" + a + "/jack/laugh": yes(false),
		"has_permission/" + a + "/root/read":  yes(true),
		"has_permission/" + a + "/sara/tmp":   yes(false),
		"user_permissions/" + a + "/sara":     list("results", "name", "cook"),
		"user_roles/" + a + "/sara":           list("result", "role", "cookers", "laughers"),
		"user_roles/" + a + "/jack":           list("result", "role", "laughers"),
		"members/" + a + "/laughers":          list("result", "user", "jack", "sara"),
		"members/" + a + "/cookers":           list("result", "user", "sara"),
		"role_permissions/" + a + "/laughers": list("results", "name"),
		"role_permissions/" + a + "/admin":    list("results", "name", "read"),
		"which_users_can/" + a + "/laugh":     list("result", "user"),
		"which_roles_can/" + a + "/read":      list("result", "role", "admin"),

		"roles/" + b:                          list("result", "role", "jokers"),
		"has_permission/" + b + "/jack/laugh": yes(true),
		"which_users_can/" + b + "/laugh":     list("result", "user", "jack"),

		// Hidden: A granted read after C.
		"has_permission/" + c + "/carol/read": yes(false),
		"role_permissions/" + c + "/x":        list("results", "name"),
		"members/" + c + "/x":                 list("result", "user", "carol"),

		"roles/" + d:                         list("result", "role"),
		"has_permission/" + d + "/dave/do":   yes(false),
		"has_permission/" + d + "/sara/cook": yes(false),
	}
}

// pick is the answers of got that want names.
func pick(got, want map[string]any) map[string]any {
	out := map[string]any{}
	for k := range want {
		out[k] = got[k]
	}
	return out
}

func TestMigrate(t *testing.T) {
	uri := mongotest.URI(t)
	src := newSource(t, uri)
	writeFixture(t, src)
	a, b, c, d := fp(keyA), fp(keyB), fp(keyC), fp(keyD)
	invalidD := []InvalidName{{Kind: "user", Name: "bad\x01user", Reason: "name contains a control character"}}
	refusedD := tenantLine{Outcome: NotApplied, Invalid: invalidD, Refused: "names the server refuses"}

	t.Run("dry run", func(t *testing.T) {
		srv := clienttest.New(t)
		cfg := src.config(srv.URL, nil)
		cfg.DryRun = true
		rep := run(t, cfg)
		want := map[string]tenantLine{
			a: {Outcome: DryRun, Roles: 3, Grants: 2, Memberships: 4, Dangling: 2, Duplicates: 1, Hidden: 1},
			b: {Outcome: DryRun, Roles: 1, Grants: 1, Memberships: 1},
			c: {Outcome: DryRun, Roles: 1, Memberships: 1, Hidden: 1},
			d: refusedD,
		}
		if diff := cmp.Diff(want, lines(rep)); diff != "" {
			t.Errorf("dry run (-want +got):\n%s", diff)
		}
		if rep.OK() {
			t.Error("a dry run that would refuse a tenant is OK")
		}
		st, err := client.New(srv.URL, "").Status(context.Background())
		if err != nil || st.Tenants != 0 {
			t.Errorf("after a dry run the server holds %d tenants (%v)", st.Tenants, err)
		}
		s := rep.Summary
		if s.Tenants != 4 || s.Roles != 5 || s.Grants != 3 || s.Memberships != 6 || s.DanglingRefs != 2 || s.DuplicateRefs != 1 || s.HiddenGrants != 2 || s.InvalidNames != 1 || s.Refused != 1 {
			t.Errorf("summary %+v", s)
		}
	})

	t.Run("migrate then rerun", func(t *testing.T) {
		srv := clienttest.New(t)
		var progress bytes.Buffer
		rep := run(t, src.config(srv.URL, &progress))
		want := map[string]tenantLine{
			a: {Outcome: Imported, Roles: 3, Grants: 2, Memberships: 4, Dangling: 2, Duplicates: 1, Hidden: 1, Verified: true},
			b: {Outcome: Imported, Roles: 1, Grants: 1, Memberships: 1, Verified: true},
			c: {Outcome: Imported, Roles: 1, Memberships: 1, Hidden: 1, Verified: true},
			d: refusedD,
		}
		if diff := cmp.Diff(want, lines(rep)); diff != "" {
			t.Errorf("migration (-want +got):\n%s", diff)
		}
		if rep.OK() || rep.Unknown() {
			t.Errorf("OK %t, Unknown %t: want false, false (D is refused)", rep.OK(), rep.Unknown())
		}
		for _, r := range rep.Tenants {
			if v := r.Verification; v != nil && (v.Roles != r.Roles || v.Checks == 0) {
				t.Errorf("tenant %s: verified %d roles and %d checks", r.Name, v.Roles, v.Checks)
			}
		}
		if !strings.Contains(progress.String(), "migrate-original: ") {
			t.Errorf("no progress line: %q", progress.String())
		}
		first := answers(t, srv.URL)
		wantAnswers := originalAnswers()
		if diff := cmp.Diff(wantAnswers, pick(first, wantAnswers)); diff != "" {
			t.Errorf("the server's answers (-original +server):\n%s", diff)
		}

		// Again: nothing written, every answer the same.
		again := run(t, src.config(srv.URL, nil))
		for name, l := range want {
			if l.Outcome == Imported {
				l.Outcome = Unchanged
			}
			want[name] = l
		}
		if diff := cmp.Diff(want, lines(again)); diff != "" {
			t.Errorf("rerun (-want +got):\n%s", diff)
		}
		for i, r := range again.Tenants {
			if r.Seq != rep.Tenants[i].Seq {
				t.Errorf("tenant %s: seq %d after the rerun, %d before", r.Name, r.Seq, rep.Tenants[i].Seq)
			}
		}
		if diff := cmp.Diff(first, answers(t, srv.URL)); diff != "" {
			t.Errorf("the rerun changed answers (-before +after):\n%s", diff)
		}
	})

	t.Run("skip invalid", func(t *testing.T) {
		srv := clienttest.New(t)
		cfg := src.config(srv.URL, nil)
		cfg.SkipInvalid = true
		rep := run(t, cfg)
		got := lines(rep)[d]
		want := tenantLine{Outcome: Imported, Roles: 1, Grants: 1, Memberships: 1, Invalid: invalidD, Verified: true}
		if diff := cmp.Diff(want, got); diff != "" || !rep.OK() {
			t.Errorf("D with -skip-invalid (-want +got):\n%s", diff)
		}
		dd := url.PathEscape(keyD)
		wantAnswers := map[string]any{
			"roles/" + dd:                       list("result", "role", "r"),
			"has_permission/" + dd + "/dave/do": yes(true),
			"members/" + dd + "/r":              list("result", "user", "dave"),
		}
		if diff := cmp.Diff(wantAnswers, pick(answers(t, srv.URL), wantAnswers)); diff != "" {
			t.Errorf("D's answers (-want +got):\n%s", diff)
		}
	})

	t.Run("restore hidden grants", func(t *testing.T) {
		srv := clienttest.New(t)
		cfg := src.config(srv.URL, nil)
		cfg.RestoreHiddenGrants, cfg.SkipInvalid = true, true
		rep := run(t, cfg)
		if !rep.OK() || rep.Summary.Restored != 2 || rep.Summary.HiddenGrants != 2 {
			t.Fatalf("restore: OK %t, summary %+v, tenants %+v", rep.OK(), rep.Summary, lines(rep))
		}
		if l := lines(rep)[a]; l.Grants != 3 || !l.Restored || !l.Verified {
			t.Errorf("A: %+v", l)
		}
		aa, cc := url.PathEscape(keyA), url.PathEscape(keyC)
		wantAnswers := map[string]any{
			"has_permission/" + aa + "/sara/laugh": yes(true),
			"has_permission/" + aa + "/jack/laugh": yes(true),
			"which_users_can/" + aa + "/laugh":     list("result", "user", "jack", "sara"),
			"role_permissions/" + aa + "/laughers": list("results", "name", "laugh"),
			"has_permission/" + cc + "/carol/read": yes(true),
			"role_permissions/" + cc + "/x":        list("results", "name", "read"),
			// B's grant was never hidden: unchanged.
			"has_permission/" + url.PathEscape(keyB) + "/jack/laugh": yes(true),
		}
		if diff := cmp.Diff(wantAnswers, pick(answers(t, srv.URL), wantAnswers)); diff != "" {
			t.Errorf("restored answers (-want +got):\n%s", diff)
		}
	})

	t.Run("verification catches a change", func(t *testing.T) {
		srv := clienttest.New(t)
		cfg := src.config(srv.URL, nil)
		// Between the import and the verification, someone grants A's
		// cookers a permission the original never gave it.
		cfg.afterWrite = func() {
			if _, err := client.New(srv.URL, keyA).AddPermission(context.Background(), "cookers", "read"); err != nil {
				t.Error(err)
			}
		}
		rep := run(t, cfg)
		var va *Verification
		for _, r := range rep.Tenants {
			if r.Name == a {
				va = r.Verification
			} else if r.Verification != nil && !r.Verification.OK() {
				t.Errorf("tenant %s: %+v", r.Name, r.Verification)
			}
		}
		if va == nil || va.OK() || va.Differences < 2 || !strings.Contains(strings.Join(va.Examples, "\n"), `role "cookers": permissions: "read" is on the server`) ||
			!strings.Contains(strings.Join(va.Examples, "\n"), `check "sara" may "read": the server answers true, the original false`) {
			t.Fatalf("A's verification: %+v", va)
		}
		if rep.OK() || rep.Summary.Failed != 1 {
			t.Errorf("OK %t, failed %d", rep.OK(), rep.Summary.Failed)
		}
		// A rerun leaves the changed tenant alone, and says so.
		again := run(t, src.config(srv.URL, nil))
		for _, r := range again.Tenants {
			if r.Name == a && (r.Outcome != NotApplied || !strings.Contains(r.Error, "1 fact there not in the source, 0 facts of the source not there")) {
				t.Errorf("rerun of the changed A: %s %q", r.Outcome, r.Error)
			}
		}
		if ok, err := client.New(srv.URL, keyA).HasPermission(context.Background(), "cookers", "read"); err != nil || !ok.Result {
			t.Errorf("the rerun undid the change: %v %v", ok, err)
		}
	})

	t.Run("busy server", func(t *testing.T) {
		// Another tenant's import holds the server's one import slot
		// while the migration starts: its imports answer 429, and it
		// waits them out.
		srv := clienttest.New(t)
		ctx := context.Background()
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		other, probe := client.New(srv.URL, "another-key"), client.New(srv.URL, "probe-key")
		defer other.CloseIdleConnections()
		defer probe.CloseIdleConnections()
		go func() {
			_, err := other.Import(ctx, pr)
			done <- err
		}()
		if _, err := pw.Write([]byte("{\"role\": \"r\"}\n")); err != nil {
			t.Fatal(err)
		}
		var last error
		busy := func() bool {
			_, last = probe.Import(ctx, strings.NewReader("{\"role\": \"p\"}\n"))
			var ce *client.Error
			return errors.As(last, &ce) && ce.StatusCode == http.StatusTooManyRequests
		}
		// The held import reaches the server when the machine lets it: a
		// CI run under -race once took longer than 5 s.
		for deadline := time.Now().Add(30 * time.Second); !busy(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the held import does not hold the server's import slot (the probe's import: %v)", last)
			}
		}
		time.AfterFunc(300*time.Millisecond, func() { pw.Close() })
		cfg := src.config(srv.URL, nil)
		cfg.SkipInvalid = true
		tr := client.NewTransport()
		defer tr.CloseIdleConnections()
		busyAnswers := &counting{RoundTripper: tr, status: http.StatusTooManyRequests}
		cfg.HTTPClient = &http.Client{Transport: busyAnswers}
		rep := run(t, cfg)
		if !rep.OK() || rep.Summary.Outcomes[Imported] != 4 {
			t.Errorf("migration beside a busy server: %+v", rep.Summary)
		}
		if err := <-done; err != nil {
			t.Errorf("the other import: %v", err)
		}
		if busyAnswers.n.Load() == 0 {
			t.Error("no import of the migration was refused: the server was not busy")
		}
	})

	t.Run("outcomes", func(t *testing.T) {
		// The server refuses the import (its body is over the limit):
		// not applied, nothing written.
		small := clienttest.New(t, func(c *httpapi.Config) { c.MaxImportBodySize = 64 })
		cfg := src.config(small.URL, nil)
		cfg.SkipInvalid = true
		rep := run(t, cfg)
		for _, r := range rep.Tenants {
			if r.Name == a && (r.Outcome != NotApplied || !strings.Contains(r.Error, "413")) {
				t.Errorf("A over the limit: %s %q", r.Outcome, r.Error)
			}
		}
		// An answer lost on the way back: found imported by reading.
		srv := clienttest.New(t)
		lose := faultyProxy(t, srv.URL, true)
		rep = run(t, func() Config { c := src.config(lose, nil); c.SkipInvalid = true; return c }())
		for _, r := range rep.Tenants {
			if r.Outcome != Imported || !r.Verification.OK() {
				t.Errorf("lost answer, tenant %s: %s %q %+v", r.Name, r.Outcome, r.Error, r.Verification)
			}
		}
		// An import lost on the way there: unknown; a rerun finishes it.
		srv = clienttest.New(t)
		drop := faultyProxy(t, srv.URL, false)
		rep = run(t, func() Config { c := src.config(drop, nil); c.SkipInvalid = true; return c }())
		for _, r := range rep.Tenants {
			if r.Outcome != Unknown || r.Verification != nil || !strings.Contains(r.Error, "rerun") {
				t.Errorf("lost import, tenant %s: %s %q", r.Name, r.Outcome, r.Error)
			}
		}
		if !rep.Unknown() || rep.OK() {
			t.Errorf("Unknown %t, OK %t", rep.Unknown(), rep.OK())
		}
		cfg = src.config(srv.URL, nil)
		cfg.SkipInvalid = true
		if rep = run(t, cfg); !rep.OK() || rep.Summary.Outcomes[Imported] != 4 {
			t.Errorf("rerun after unknown outcomes: %+v", rep.Summary)
		}
	})
}

// counting counts the answers of one status.
type counting struct {
	http.RoundTripper
	status int
	n      atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.RoundTripper.RoundTrip(r)
	if err == nil && resp.StatusCode == c.status {
		c.n.Add(1)
	}
	return resp, err
}

// faultyProxy passes requests to target, except imports: with answer, it
// passes the import on and breaks the connection instead of answering;
// without, it breaks the connection without passing it on.
func faultyProxy(t *testing.T, target string, answer bool) string {
	u, _ := url.Parse(target)
	// A transport of its own, whose connections to the server the cleanup
	// closes: one the transport dialed and never used stays open without
	// a request, which the server's graceful shutdown waits on until its
	// read timeout (10 s), past the test server's 5 s to close.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = tr
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/import" {
			rp.ServeHTTP(w, r)
			return
		}
		if answer {
			req := r.Clone(r.Context())
			req.RequestURI, req.URL.Scheme, req.URL.Host = "", u.Scheme, u.Host
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return "http://" + ln.Addr().String()
}
