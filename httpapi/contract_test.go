package httpapi_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	key = "pleaSeDoN0tKillMyC_at"
	ok  = http.StatusOK
	T   = `{"result": true}`
	F   = `{"result": false}`
)

// TestSaraAndJack is the original README's story, every route of the
// contract, with its exact answers.
func TestSaraAndJack(t *testing.T) {
	s := newTestServer(t)
	for _, st := range storySteps(key) {
		s.expect(st.method, st.path, st.status, st.body)
	}
}

type step struct {
	method, path string
	status       int
	body         string
}

// storySteps is the story with key k, as (request, answer) steps.
func storySteps(k string) []step {
	return []step{
		{"GET", "/ping", ok, `{"message": "PONG"}`},
		{"GET", "/api/roles/" + k, ok, `{"result": []}`},
		{"POST", "/api/role/" + k + "/cookers", ok, T},
		{"POST", "/api/role/" + k + "/dancers", ok, T},
		{"POST", "/api/role/" + k + "/laughers", ok, T},
		{"POST", "/api/role/" + k + "/cookers", ok, F},
		{"GET", "/api/role/" + k + "/cookers", ok, T},
		{"GET", "/api/role/" + k + "/admin", ok, F},
		{"POST", "/api/permission/" + k + "/cookers/cook", ok, T},
		{"POST", "/api/permission/" + k + "/dancers/dance", ok, T},
		{"POST", "/api/permission/" + k + "/laughers/laugh", ok, T},
		{"POST", "/api/permission/" + k + "/laughers/laugh", ok, T},
		{"POST", "/api/permission/" + k + "/nobody/laugh", ok, F},
		{"GET", "/api/permission/" + k + "/cookers/cook", ok, T},
		{"GET", "/api/permission/" + k + "/cookers/dance", ok, F},
		{"POST", "/api/membership/" + k + "/sara/cookers", ok, T},
		{"POST", "/api/membership/" + k + "/sara/laughers", ok, T},
		{"POST", "/api/membership/" + k + "/jack/dancers", ok, T},
		{"POST", "/api/membership/" + k + "/jack/laughers", ok, T},
		{"POST", "/api/membership/" + k + "/jack/laughers", ok, T},
		{"POST", "/api/membership/" + k + "/jack/nobody", ok, F},
		{"GET", "/api/membership/" + k + "/jack/dancers", ok, T},
		{"GET", "/api/membership/" + k + "/jack/cookers", ok, F},
		{"GET", "/api/has_permission/" + k + "/jack/dance", ok, T},
		{"GET", "/api/has_permission/" + k + "/sara/cook", ok, T},
		{"GET", "/api/has_permission/" + k + "/sara/dance", ok, F},
		{"GET", "/api/has_permission/" + k + "/sara/laugh", ok, T},
		{"GET", "/api/has_permission/" + k + "/nobody/laugh", ok, F},
		{"GET", "/api/roles/" + k, ok, `{"result": [{"role": "cookers"}, {"role": "dancers"}, {"role": "laughers"}]}`},
		{"GET", "/api/user_permissions/" + k + "/sara", ok, `{"results": [{"name": "cook"}, {"name": "laugh"}]}`},
		{"GET", "/api/user_permissions/" + k + "/nobody", ok, `{"results": []}`},
		{"GET", "/api/role_permissions/" + k + "/laughers", ok, `{"results": [{"name": "laugh"}]}`},
		{"GET", "/api/user_roles/" + k + "/jack", ok, `{"result": [{"role": "dancers"}, {"role": "laughers"}]}`},
		{"GET", "/api/members/" + k + "/laughers", ok, `{"result": [{"user": "jack"}, {"user": "sara"}]}`},
		{"GET", "/api/which_roles_can/" + k + "/laugh", ok, `{"result": [{"role": "laughers"}]}`},
		{"GET", "/api/which_roles_can/" + k + "/fly", ok, `{"result": []}`},
		{"GET", "/api/which_users_can/" + k + "/laugh", ok, `{"result": [{"user": "jack"}, {"user": "sara"}]}`},
		{"GET", "/api/which_users_can/" + k + "/cook", ok, `{"result": [{"user": "sara"}]}`},
		// The original README: make an admin group, check Sara still cooks.
		{"POST", "/api/role/" + k + "/admin", ok, T},
		{"POST", "/api/membership/" + k + "/jack/admin", ok, T},
		{"GET", "/api/has_permission/" + k + "/sara/cook", ok, T},
		// Revocations.
		{"DELETE", "/api/permission/" + k + "/cookers/cook", ok, T},
		{"DELETE", "/api/permission/" + k + "/cookers/cook", ok, T},
		{"GET", "/api/has_permission/" + k + "/sara/cook", ok, F},
		{"DELETE", "/api/membership/" + k + "/sara/laughers", ok, T},
		{"DELETE", "/api/membership/" + k + "/sara/laughers", ok, T},
		{"GET", "/api/which_users_can/" + k + "/laugh", ok, `{"result": [{"user": "jack"}]}`},
		// Deleting a role takes its grants and memberships with it.
		{"DELETE", "/api/role/" + k + "/laughers", ok, T},
		{"DELETE", "/api/role/" + k + "/laughers", ok, F},
		{"GET", "/api/has_permission/" + k + "/jack/laugh", ok, F},
		{"GET", "/api/user_roles/" + k + "/jack", ok, `{"result": [{"role": "admin"}, {"role": "dancers"}]}`},
		{"GET", "/api/which_roles_can/" + k + "/laugh", ok, `{"result": []}`},
		{"POST", "/api/role/" + k + "/laughers", ok, T},
		{"GET", "/api/members/" + k + "/laughers", ok, `{"result": []}`},
		{"GET", "/api/role_permissions/" + k + "/laughers", ok, `{"results": []}`},
		// Another key is another tenant.
		{"GET", "/api/roles/other-key", ok, `{"result": []}`},
		{"GET", "/api/has_permission/other-key/jack/dance", ok, F},
	}
}

// TestPathDecoding: names travel percent-encoded in path segments, and an
// encoded slash stays inside its name.
func TestPathDecoding(t *testing.T) {
	s := newTestServer(t)
	names := []string{"a/b", "with space", "plus+sign", "ünïcødé", "日本", `quote"back\slash`, "100%", "?#&="}
	for _, n := range names {
		esc := url.PathEscape(n)
		esc = strings.ReplaceAll(esc, "/", "%2F")
		s.expect("POST", "/api/role/"+key+"/"+esc, ok, T)
		s.expect("POST", "/api/permission/"+key+"/"+esc+"/"+esc, ok, T)
		s.expect("POST", "/api/membership/"+key+"/"+esc+"/"+esc, ok, T)
		s.expect("GET", "/api/has_permission/"+key+"/"+esc+"/"+esc, ok, T)
	}
	// '+' in a path is a plus, never a space.
	s.expect("GET", "/api/role/"+key+"/plus+sign", ok, T)
	s.expect("GET", "/api/role/"+key+"/plus%20sign", ok, F)
	// Lowercase escapes decode too.
	s.expect("GET", "/api/role/"+key+"/a%2fb", ok, T)
	// Keys are decoded the same way.
	s.expect("POST", "/api/role/a%2Fkey/r", ok, T)
	s.expect("GET", "/api/roles/a%2Fkey", ok, `{"result": [{"role": "r"}]}`)
	s.expect("GET", "/api/roles/"+key, ok,
		`{"result": [{"role": "100%"}, {"role": "?#&="}, {"role": "a/b"}, {"role": "plus+sign"}, {"role": "quote\"back\\slash"}, {"role": "with space"}, {"role": "ünïcødé"}, {"role": "日本"}]}`)
}

// TestBadInput: every kind of bad name on every route family answers 400
// with a JSON error and changes nothing.
func TestBadInput(t *testing.T) {
	s := newTestServer(t)
	s.expect("POST", "/api/role/"+key+"/r", ok, T)
	s.expect("POST", "/api/permission/"+key+"/r/p", ok, T)
	s.expect("POST", "/api/membership/"+key+"/u/r", ok, T)
	before := s.snapshot(key)

	bad := map[string]string{
		"too long":       strings.Repeat("x", 257),
		"too long utf8":  strings.Repeat("é", 129),
		"invalid utf8":   "%FF%FE",
		"truncated utf8": "a%C3",
		"NUL":            "a%00b",
		"control":        "a%01",
		"newline":        "a%0Ab",
		"DEL":            "a%7F",
		"C1 control":     "a%C2%85",
		"bad escape":     "a%ZZ",
		"short escape":   "a%4",
		"lone percent":   "%",
	}
	routes := []struct{ method, path string }{
		{"POST", "/api/role/K/X"}, {"DELETE", "/api/role/K/X"}, {"GET", "/api/role/K/X"},
		{"POST", "/api/permission/K/r/X"}, {"DELETE", "/api/permission/K/X/p"}, {"GET", "/api/permission/K/r/X"},
		{"POST", "/api/membership/K/X/r"}, {"DELETE", "/api/membership/K/u/X"}, {"GET", "/api/membership/K/X/r"},
		{"GET", "/api/has_permission/K/u/X"}, {"GET", "/api/has_permission/K/X/p"},
		{"GET", "/api/user_permissions/K/X"}, {"GET", "/api/role_permissions/K/X"},
		{"GET", "/api/user_roles/K/X"}, {"GET", "/api/members/K/X"},
		{"GET", "/api/which_roles_can/K/X"}, {"GET", "/api/which_users_can/K/X"},
	}
	for what, name := range bad {
		for _, r := range routes {
			path := strings.Replace(strings.Replace(r.path, "K", key, 1), "X", name, 1)
			status, body := s.do(r.method, path)
			if status != http.StatusBadRequest || !strings.HasPrefix(body, `{"error": "`) {
				t.Errorf("%s (%s) %s = %d %s, want 400 with a JSON error", what, r.method, path, status, body)
			}
		}
	}
	// Bad keys too.
	for _, k := range []string{"%00", "k%0A", "%FF", strings.Repeat("k", 1025)} {
		for _, path := range []string{"/api/role/" + k + "/r", "/api/roles/" + k} {
			for _, m := range []string{"GET", "POST"} {
				if m == "POST" && strings.HasPrefix(path, "/api/roles/") {
					continue
				}
				status, _ := s.do(m, path)
				if status != http.StatusBadRequest {
					t.Errorf("%s %s = %d, want 400", m, path, status)
				}
			}
		}
	}
	if after := s.snapshot(key); !bytes.Equal(before, after) {
		t.Fatal("bad requests changed the state")
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	s := newTestServer(t)
	for _, path := range []string{"/", "/api", "/api/role/" + key, "/api/role/" + key + "/r/extra", "/api/roles/" + key + "/", "/nope", "/api/has_permission/" + key + "/u"} {
		s.expect("GET", path, http.StatusNotFound, `{"error": "no such route"}`)
	}
	for _, c := range []struct{ method, path string }{
		{"PUT", "/api/role/" + key + "/r"},
		{"PATCH", "/api/permission/" + key + "/r/p"},
		{"POST", "/api/has_permission/" + key + "/u/p"},
		{"DELETE", "/api/roles/" + key},
		{"POST", "/ping"},
	} {
		s.expect(c.method, c.path, http.StatusMethodNotAllowed, `{"error": "method not allowed on this route"}`)
	}
}

// TestStoreFailure: a write the store cannot take answers 503, outcome
// not_applied, and changes nothing; reads keep answering from memory.
func TestStoreFailure(t *testing.T) {
	s := newTestServer(t)
	s.expect("POST", "/api/role/"+key+"/r", ok, T)
	s.expect("POST", "/api/membership/"+key+"/u/r", ok, T)
	before := s.snapshot(key)
	if err := s.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/role/" + key + "/new"},
		{"DELETE", "/api/role/" + key + "/r"},
		{"POST", "/api/permission/" + key + "/r/p"},
		{"POST", "/api/membership/" + key + "/v/r"},
		{"DELETE", "/api/membership/" + key + "/u/r"},
		// Writes that look like no-ops here are decided at the store's
		// head too, which cannot be read: they are refused as well,
		// rather than answered from a state that may be behind.
		{"POST", "/api/role/" + key + "/r"},
		{"DELETE", "/api/membership/" + key + "/nobody/r"},
	} {
		status, body := s.do(c.method, c.path)
		if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, `{"error": "`) || !strings.HasSuffix(body, `, "outcome": "not_applied"}`) {
			t.Errorf("%s %s with the store closed = %d %s, want 503 with a JSON error, outcome not_applied", c.method, c.path, status, body)
		}
	}
	s.expect("GET", "/api/membership/"+key+"/u/r", ok, T)
	if after := s.snapshot(key); !bytes.Equal(before, after) {
		t.Fatal("failed writes changed the state")
	}
}

func TestWriteReportsSeq(t *testing.T) {
	s := newTestServer(t)
	for i, want := range []string{"1", "2", "2"} {
		path := "/api/role/" + key + "/r" + []string{"1", "2", "2"}[i]
		req, _ := http.NewRequest("POST", s.base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Auth-Seq"); got != want {
			t.Errorf("POST %s: X-Auth-Seq %q, want %q", path, got, want)
		}
	}
}
