package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"auth/engine"
)

// FuzzBatchCheckBody sends arbitrary bodies to POST /v1/check: never a
// 5xx; a 200 answers one boolean per check.
func FuzzBatchCheckBody(f *testing.F) {
	for _, s := range []string{
		`{"checks": [{"user": "u", "permission": "p"}]}`, `{"checks": []}`, `{}`, `[]`, `{"checks": [1]}`,
		`{"checks": [{"user": "u\u0000", "permission": "p"}]}`, `{"checks": [{"user": "\ud800", "permission": "p"}]}`,
		`{"checks": [{"user": "u", "permission": "p", "x": {"y": [1, 2]}}]}`, `{"checks": null}`, ``,
	} {
		f.Add(s)
	}
	srv, rep := newInternalServer(f)
	if _, err := rep.WriteBatch(t0(), "k", []engine.Change{
		{Op: engine.OpAddRole, Role: "r"},
		{Op: engine.OpAddPermission, Role: "r", Permission: "p"},
		{Op: engine.OpAddMembership, Role: "r", User: "u"},
	}); err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		ctx := request("POST", "/v1/check")
		ctx.Request.Header.Set("Authorization", "Bearer k")
		ctx.Request.SetBodyString(body)
		h(ctx)
		code := ctx.Response.StatusCode()
		if code >= 500 {
			t.Fatalf("%q answered %d: %s", body, code, ctx.Response.Body())
		}
		if code != 200 {
			return
		}
		var in struct{ Checks []json.RawMessage }
		var out struct{ Results []bool }
		if err := json.Unmarshal(ctx.Response.Body(), &out); err != nil {
			t.Fatalf("%q: answer %s is not JSON: %v", body, ctx.Response.Body(), err)
		}
		if err := json.Unmarshal([]byte(body), &in); err == nil && len(in.Checks) != len(out.Results) {
			t.Fatalf("%q: %d checks, %d results", body, len(in.Checks), len(out.Results))
		}
	})
}

// FuzzImportLine: a line is a change or an error, never a panic, and an
// accepted change is valid.
func FuzzImportLine(f *testing.F) {
	for _, s := range []string{
		`{"role": "r"}`, `{"role": "r", "permission": "p"}`, `{"role": "r", "user": "u"}`,
		`{"role": ""}`, `{"user": "u"}`, `{"role": "r", "user": "u", "permission": "p"}`, `{"role": 1}`, `nope`,
		`{"role": "admin", "includes": "editor"}`, `{"role": "a", "includes": "a"}`, `{"includes": "e"}`,
		`{"role": "a", "includes": "e", "user": "u"}`, `{"role": "a", "includes": ""}`,
	} {
		f.Add(s)
	}
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, line string) {
		c, bad := parseImportLine(&p, []byte(line))
		if bad != "" {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q accepted as %+v, which is invalid: %v", line, c, err)
		}
	})
}

// FuzzQueryArgs sends arbitrary query strings to the routes that read
// them: never a 5xx.
func FuzzQueryArgs(f *testing.F) {
	for _, s := range []string{"after=1&limit=2", "min_seq=1", "wait=1ms", "limit=0", "after=-1", "wait=%ZZ", "min_seq=99999999999999999999", "limit=5&limit=6",
		"limit=3&after=a&prefix=b", "counts=true&limit=1", "prefix=%01", "after=&limit=10000"} {
		f.Add(s)
	}
	for _, s := range []string{"min_seq=1&epoch=0123456789abcdef", "after=1&epoch=65cc214741437ac3", "epoch="} {
		f.Add(s) // a seq of another epoch, of this one, none
	}
	// Waits are bounded short, so that no input holds the fuzzer up.
	srv, _ := newInternalServer(f, func(c *Config) { c.MaxWatch, c.MinSeqWait = 5*time.Millisecond, 5*time.Millisecond })
	srv.epoch, srv.epochValue = "65cc214741437ac3", []byte("65cc214741437ac3") // a store with an epoch
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		for _, path := range []string{"/v1/events", "/v1/roles", "/v1/members/r", "/v1/has_permission/u/p"} {
			ctx := request("GET", path+"?"+query)
			ctx.Request.Header.Set("Authorization", "Bearer k")
			h(ctx)
			if code := ctx.Response.StatusCode(); code >= 500 {
				t.Fatalf("%s?%s answered %d: %s", path, query, code, ctx.Response.Body())
			}
		}
	})
}
