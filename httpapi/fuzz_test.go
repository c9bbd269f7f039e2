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
		// Memberships with windows.
		`{"role": "r", "user": "u", "expires_at": "2026-12-04T18:00:00Z"}`, `{"role": "r", "user": "u", "starts_at": "2026-12-04T18:00:00Z"}`,
		`{"role": "r", "user": "u", "starts_at": "2026-12-04T18:00:00Z", "expires_at": "2026-12-04T18:00:00Z"}`,
		`{"role": "r", "expires_at": "2026-12-04T18:00:00Z"}`, `{"role": "r", "user": "u", "expires_at": ""}`,
		`{"role": "r", "permission": "p", "expires_at": "2026-12-04T18:00:00Z"}`, `{"expires_at": "2026-12-04T18:00:00Z"}`,
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
		// Its fields, a window's too, survive the binary form.
		ev := engine.Event{Seq: 1, Change: c}
		b, err := ev.MarshalBinary()
		var back engine.Event
		if err == nil {
			err = back.UnmarshalBinary(b)
		}
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		for _, f := range engine.Fields() {
			if f.Of(&back.Change) != f.Of(&c) {
				t.Fatalf("%q: %v is %q after the binary form, was %q", line, f, f.Of(&back.Change), f.Of(&c))
			}
		}
	})
}

// FuzzWindowBody: the body of a /v1 membership write either is refused
// with a message or decodes to a window the engine takes (a valid change,
// bounds in order, to the second), whatever the input.
func FuzzWindowBody(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"expires_at": "2026-12-04T18:00:00Z"}`, `{"expires_in": "72h"}`, `{"expires_in": "1ns"}`,
		`{"starts_at": "2026-12-01T09:00:00+02:00", "expires_at": "2026-12-04T18:00:00Z"}`, `{"expires_at": 1}`,
		`{"expires_at": "2026-12-04T18:00:00.5Z"}`, `{"expires_in": "876000h"}`, `{"x": "y"}`, `[]`, `null`,
		`{"expires_at": "9999-12-31T23:59:59Z"}`, `{"starts_at": "0000-01-01T00:00:00Z"}`, `{"expires_in": "9223372036s"}`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 500_000_000, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		w, bad := decodeWindowBody([]byte(body), now)
		if bad != "" {
			if !w.IsZero() {
				t.Fatalf("%q refused (%s) with a window %+v", body, bad, w)
			}
			return
		}
		if w.StartsAt.Nanosecond() != 0 || w.ExpiresAt.Nanosecond() != 0 || w.StartsAt.Year() > 9999 || w.ExpiresAt.Year() > 9999 {
			t.Fatalf("%q: %+v is not to the second, or past the year 9999", body, w)
		}
		c := engine.MembershipChange("u", "r", w)
		if err := c.Validate(); err != nil {
			t.Fatalf("%q decoded to %+v, which the engine refuses: %v", body, c, err)
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
