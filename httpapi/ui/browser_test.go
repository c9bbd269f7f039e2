package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"auth/client/clienttest"
	"auth/httpapi"
	"auth/httpapi/ui"
	"auth/internal/testhttp"
)

// consoleKey holds characters that URL encodings change ('+', '/', '='),
// so that the request log is searched for every form it could take.
const consoleKey = "console-S3cret+key/with=odd chars"

// xssRole is a role name that is HTML: it must show as these characters.
const xssRole = `<img src=x onerror=alert(1)>`

// chromium finds the browser: $CHROMIUM, else chromium (Debian's package)
// or its other names on the PATH. The browser test fails, never skips,
// without one: CI (.ci/run) installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install it (Debian: apt-get install chromium) or set CHROMIUM to its path; the console's browser test needs it")
	return ""
}

// startServer serves the API and the console over a real embedded store.
func startServer(t *testing.T) string {
	t.Helper()
	s, err := clienttest.Start("", func(c *httpapi.Config) { c.UI = ui.Handler() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s.URL
}

// api calls the /v1 API from Go, as any client would.
func api(t *testing.T, base, method, path, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+consoleKey)
	resp, b := testhttp.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}

type request struct {
	method, url string
	headers     network.Headers
}

// TestConsoleInBrowser drives the console in headless Chromium through
// what a person does with it, and checks that the key never appears in a
// URL and that every request the page makes is an ordinary API call.
func TestConsoleInBrowser(t *testing.T) {
	exe := chromium(t)
	base := startServer(t)

	// A role of 10k members to page through, and a file to import.
	lines := []string{`{"role": "big"}`}
	for i := range 10_000 {
		lines = append(lines, fmt.Sprintf(`{"role": "big", "user": "m%05d"}`, i))
	}
	api(t, base, "POST", "/v1/import", strings.Join(lines, "\n")+"\n")
	dir := t.TempDir()
	importFile := filepath.Join(dir, "import.jsonl")
	if err := os.WriteFile(importFile, []byte(`{"role": "imported"}`+"\n"+`{"role": "imported", "permission": "upload"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("AUTH_UI_SCREENSHOTS") // to keep them; else a temporary folder
	if shots == "" {
		shots = filepath.Join(dir, "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	downloads := filepath.Join(dir, "downloads")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	var mu sync.Mutex
	var requests []request
	var problems []string // dialogs and uncaught exceptions
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", exe, err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, request{ev.Request.Method, ev.Request.URL + ev.Request.URLFragment, ev.Request.Headers})
		case *page.EventJavascriptDialogOpening:
			problems = append(problems, "a dialog opened: "+ev.Message)
		case *runtime.EventExceptionThrown:
			problems = append(problems, "an uncaught exception: "+ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() { // an alert would block the page: close it (and fail, above)
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
		}
	}()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	// waitFor waits until the JavaScript expression is true.
	waitFor := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('status').textContent`))
			t.Fatalf("waiting for %s (%s): %v; status line: %q", what, expr, err, status)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(id string) string { return `document.getElementById(` + js(id) + `).textContent` }
	// clear empties an input, as a person would before typing anew.
	clear := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`document.getElementById(` + js(id) + `).value = ''`)
	}
	// clickName clicks the button showing exactly name in the element id.
	clickName := func(id, name string) {
		t.Helper()
		waitFor(name+" in #"+id, `[...document.querySelectorAll('#`+id+` button.link')].some(b => b.textContent === `+js(name)+`)`)
		step("open "+name, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#`+id+` button.link')].find(b => b.textContent === `+js(name)+`).click()`))
	}
	// button clicks the button labelled label beside name in the list id.
	button := func(id, name, label string) {
		t.Helper()
		waitFor(name+" in #"+id, `[...document.querySelectorAll('#`+id+` li')].some(li => li.querySelector('.name')?.textContent === `+js(name)+`)`)
		step(label+" "+name, chromedp.Evaluate[chromedp.Void](`[...[...document.querySelectorAll('#`+id+` li')].find(li => li.querySelector('.name')?.textContent === `+js(name)+`).querySelectorAll('button')].find(b => b.textContent === `+js(label)+`).click()`))
	}
	// The names of a list, in order.
	names := func(id string) []string {
		t.Helper()
		var out []string
		if err := json.Unmarshal([]byte(eval(`JSON.stringify([...document.querySelectorAll('#`+id+` .name')].map(e => e.textContent))`)), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// Open the console: without a key it says how to start.
	step("open the console", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("start")))
	if s := eval(text("start")); !strings.Contains(s, "Getting started") || !strings.Contains(s, "Authorization: Bearer") {
		t.Errorf("the start text: %q", s)
	}
	shot("0-start")

	// A key the browser cannot send as the server reads it is refused.
	step("a key past ASCII", chromedp.SendKeys(chromedp.ID("key"), "café"), chromedp.Click(chromedp.ID("key-use")))
	waitFor("the refusal", text("status")+`.includes('printable ASCII')`)
	if got := eval(`String(document.getElementById('app').hidden) + sessionStorage.length`); got != "true0" {
		t.Errorf("after a refused key: %q", got)
	}

	// Enter the key.
	step("enter the key", chromedp.SendKeys(chromedp.ID("key"), consoleKey), chromedp.Click(chromedp.ID("key-use")),
		chromedp.WaitVisible(chromedp.ID("view-roles")))
	waitFor("the big role listed", text("roles-list")+`.includes('big')`)
	waitFor("the live feed", text("feed-state")+` === 'live'`)

	// Create a role, grant a permission, add a member.
	step("create a role", chromedp.SendKeys(chromedp.ID("role-new"), "cookers"), chromedp.Click(chromedp.CSS("#role-create button")))
	clickName("roles-list", "cookers")
	waitFor("the role's view", text("role-name")+` === 'cookers' && `+text("role-counts")+` === '0 members, 0 permissions'`)
	step("grant a permission", chromedp.SendKeys(chromedp.ID("perm-new"), "cook"), chromedp.Click(chromedp.CSS("#perm-add button")))
	waitFor("the grant", text("perms-list")+`.includes('cook')`)
	step("add a member", chromedp.SendKeys(chromedp.ID("member-new"), "sara"), chromedp.Click(chromedp.CSS("#member-add button")))
	waitFor("the member", text("members-list")+`.includes('sara') && `+text("role-counts")+` === '1 members, 1 permissions'`)
	shot("1-role")

	// Run a check: allowed, and through which role; and a denial.
	step("check", chromedp.Click(chromedp.ID("tab-check")), chromedp.SendKeys(chromedp.ID("check-user"), "sara"),
		chromedp.SendKeys(chromedp.ID("check-perm"), "cook"), chromedp.Click(chromedp.CSS("#check-form button")))
	waitFor("allowed", text("check-result")+` === 'allowed through cookers'`)
	shot("2-check")
	step("check a denial", clear("check-perm"), chromedp.SendKeys(chromedp.ID("check-perm"), "dance"), chromedp.Click(chromedp.CSS("#check-form button")))
	waitFor("denied", text("check-result")+`.startsWith('denied')`)

	// The user's view: roles and effective permissions; who can cook.
	step("a user", chromedp.Click(chromedp.ID("tab-user")), chromedp.SendKeys(chromedp.ID("user-name"), "sara"),
		chromedp.Click(chromedp.CSS("#user-open button")))
	waitFor("sara's roles and permissions", text("user-roles")+`.includes('cookers') && `+text("user-perms")+`.includes('cook')`)
	step("who can cook", chromedp.Click(chromedp.ID("tab-perm")), chromedp.SendKeys(chromedp.ID("perm-name"), "cook"),
		chromedp.Click(chromedp.CSS("#perm-open button")))
	waitFor("who can cook", text("perm-roles")+`.includes('cookers') && `+text("perm-users")+`.includes('sara')`)

	// Take the membership and the grant away and make them again: from
	// the user's view, and from the role's.
	step("back to sara", chromedp.Click(chromedp.ID("tab-user")))
	button("user-roles", "cookers", "Remove")
	waitFor("sara out of cookers", text("status")+` === 'removed sara from cookers' && `+text("user-roles")+` === 'none'`)
	step("add sara to cookers", chromedp.SendKeys(chromedp.ID("user-role-new"), "cookers"), chromedp.Click(chromedp.CSS("#user-role-add button")))
	waitFor("sara in cookers again", text("status")+` === 'added sara to cookers' && `+text("user-roles")+`.includes('cookers')`)
	step("back to the roles", chromedp.Click(chromedp.ID("tab-roles")))
	clickName("roles-list", "cookers")
	counts := func(want string) string { return text("role-counts") + ` === ` + js(want) }
	waitFor("cookers again", counts("1 members, 1 permissions"))
	button("perms-list", "cook", "Revoke")
	waitFor("the grant revoked", text("status")+` === 'revoked cook from cookers' && `+counts("1 members, 0 permissions")+` && `+text("perms-list")+` === 'none'`)
	button("members-list", "sara", "Remove")
	waitFor("the member removed", text("status")+` === 'removed sara from cookers' && `+counts("0 members, 0 permissions")+` && `+text("members-list")+` === 'none'`)
	step("grant it again", chromedp.SendKeys(chromedp.ID("perm-new"), "cook"), chromedp.Click(chromedp.CSS("#perm-add button")))
	waitFor("the grant again", text("status")+` === 'granted cook to cookers' && `+counts("0 members, 1 permissions"))
	step("add her again", chromedp.SendKeys(chromedp.ID("member-new"), "sara"), chromedp.Click(chromedp.CSS("#member-add button")))
	waitFor("the member again", text("status")+` === 'added sara to cookers' && `+counts("1 members, 1 permissions"))

	// The live feed shows the console's writes, and a write made elsewhere
	// as it happens.
	step("the feed", chromedp.Click(chromedp.ID("tab-feed")))
	waitFor("the console's writes in the feed", text("feed")+`.includes('add_membership') && `+text("feed")+`.includes('sara')`)
	api(t, base, "POST", "/v1/role/"+url.PathEscape("made-elsewhere"), "")
	waitFor("a write made elsewhere in the feed", text("feed")+`.includes('made-elsewhere')`)
	shot("3-feed")

	// Page through the 10k-member role.
	step("find the big role", chromedp.Click(chromedp.ID("tab-roles")), chromedp.SendKeys(chromedp.ID("roles-prefix"), "bi"),
		chromedp.Click(chromedp.CSS("#roles-search button")))
	waitFor("only the big role", `document.querySelectorAll('#roles-list tr').length === 1`)
	clickName("roles-list", "big")
	waitFor("the big role's counts", text("role-counts")+` === '10000 members, 0 permissions'`)
	for page := 0; page < 5; page++ {
		first := fmt.Sprintf("m%05d", page*100)
		waitFor("page "+first, `document.querySelector('#members-list .name').textContent === `+js(first))
		got := names("members-list")
		if len(got) != 100 || got[99] != fmt.Sprintf("m%05d", page*100+99) {
			t.Fatalf("page %d: %d names, last %q", page, len(got), got[len(got)-1])
		}
		if page == 1 {
			shot("4-big-role")
		}
		step("next page", chromedp.Click(chromedp.ID("members-next")))
	}
	waitFor("page m00500", `document.querySelector('#members-list .name').textContent === 'm00500'`)
	step("first page", chromedp.Click(chromedp.ID("members-first")))
	waitFor("back at the first page", `document.querySelector('#members-list .name').textContent === 'm00000'`)
	step("search the members", chromedp.SendKeys(chromedp.ID("members-prefix"), "m0999"), chromedp.Click(chromedp.CSS("#members-search button")))
	waitFor("the search", `document.querySelectorAll('#members-list .name').length === 10 && document.getElementById('members-next').disabled`)
	if got := names("members-list"); got[0] != "m09990" || got[9] != "m09999" {
		t.Errorf("the search found %q", got)
	}

	// A role named with HTML shows as its characters.
	step("create the HTML role", chromedp.Click(chromedp.ID("role-back")), clear("roles-prefix"),
		chromedp.Click(chromedp.CSS("#roles-search button")), chromedp.SendKeys(chromedp.ID("role-new"), xssRole),
		chromedp.Click(chromedp.CSS("#role-create button")))
	clickName("roles-list", xssRole)
	waitFor("the HTML role's view", text("role-name")+` === `+js(xssRole))
	step("the feed", chromedp.Click(chromedp.ID("tab-feed")))
	waitFor("the HTML role in the feed", text("feed")+`.includes(`+js(xssRole)+`)`)
	if n := eval(`String(document.querySelectorAll('img').length)`); n != "0" {
		t.Errorf("%s made %s img elements", xssRole, n)
	}
	step("the roles", chromedp.Click(chromedp.ID("tab-roles")))
	shot("5-html-name")

	// Import a file, see the server's answer; export.
	step("import", chromedp.Click(chromedp.ID("tab-bulk")), chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{importFile}),
		chromedp.Click(chromedp.CSS("#import-form button")))
	waitFor("the import's answer", text("import-result")+`.startsWith('200') && `+text("import-result")+`.includes('"result": true')`)
	if got := api(t, base, "GET", "/v1/role_permissions/imported", ""); got != `{"results": [{"name": "upload"}]}` {
		t.Errorf("after the import: %s", got)
	}
	shot("6-import")
	step("export", chromedp.Click(chromedp.ID("export")))
	var exported []byte
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(downloads, "auth-export.jsonl")); err == nil && strings.Contains(string(b), `"user": "m09999"`) {
			exported = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the export was not downloaded")
		}
	}
	if want := api(t, base, "GET", "/v1/export", ""); string(exported) != want {
		t.Errorf("the download differs from GET /v1/export (%d and %d bytes)", len(exported), len(want))
	}

	// The key is in this tab's sessionStorage only; there are no cookies.
	if got := eval(`sessionStorage.getItem('auth-console-key')`); got != consoleKey {
		t.Errorf("sessionStorage holds %q", got)
	}
	if got := eval(`document.cookie + '|' + localStorage.length`); got != "|0" {
		t.Errorf("cookies and localStorage: %q", got)
	}
	step("forget the key", chromedp.Click(chromedp.ID("key-forget")), chromedp.WaitVisible(chromedp.ID("start")))
	if got := eval(`String(sessionStorage.length)`); got != "0" {
		t.Errorf("after forgetting, sessionStorage holds %s items", got)
	}

	// The request log: no key in any URL; every request is a file of the
	// console or an ordinary /v1 call carrying the key in its header.
	mu.Lock()
	defer mu.Unlock()
	forms := []string{consoleKey, url.QueryEscape(consoleKey), url.PathEscape(consoleKey), strings.ReplaceAll(consoleKey, " ", "%20"), "S3cret"}
	seen := map[string]bool{}
	for _, r := range requests {
		for _, f := range forms {
			if strings.Contains(r.url, f) {
				t.Errorf("the key is in a URL: %s %s", r.method, r.url)
			}
		}
		u, err := url.Parse(r.url)
		if err != nil {
			t.Errorf("request log: %v", err)
			continue
		}
		switch {
		case strings.HasPrefix(u.Path, "/v1/"):
			if auth, _ := r.headers["Authorization"].(string); auth != "Bearer "+consoleKey {
				t.Errorf("%s %s without the key in its header", r.method, r.url)
			}
			route := strings.SplitN(strings.TrimPrefix(u.Path, "/v1/"), "/", 2)[0]
			if route == "events" {
				route = u.Path
			}
			seen[r.method+" "+route] = true
		case u.Path == "/ui/" || u.Path == "/ui/app.js" || u.Path == "/ui/app.css" || u.Path == "/favicon.ico":
		case u.Scheme == "blob":
		default:
			t.Errorf("a request that is neither the console nor the API: %s %s", r.method, r.url)
		}
	}
	for _, want := range []string{"GET roles", "POST role", "POST permission", "POST membership", "GET role_counts", "GET members",
		"GET role_permissions", "GET user_roles", "GET user_permissions", "GET which_roles_can", "GET which_users_can",
		"GET why", "GET /v1/events/stream", "POST import", "GET export"} {
		if !seen[want] {
			t.Errorf("no %s request in the log (%d requests)", want, len(requests))
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d requests, screenshots in %s", len(requests), shots)
}
