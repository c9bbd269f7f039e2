package httpapi

import (
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"auth/engine"
)

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
		if w.StartsAt.Nanosecond() != 0 || w.ExpiresAt.Nanosecond() != 0 {
			t.Fatalf("%q: %+v is not to the second", body, w)
		}
		c := engine.MembershipChange("u", "r", w)
		if err := c.Validate(); err != nil {
			t.Fatalf("%q decoded to %+v, which the engine refuses: %v", body, c, err)
		}
		if w.ExpiresAt.Year() > 9999 || w.StartsAt.Year() > 9999 {
			t.Fatalf("%q: %+v past the year 9999", body, w)
		}
	})
}

// FuzzImportWindowLine: an import line with a window is a change the
// engine takes, which keeps its window through the binary form.
func FuzzImportWindowLine(f *testing.F) {
	for _, s := range []string{
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
		ev := engine.Event{Seq: 1, Change: c}
		b, err := ev.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back engine.Event
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		for _, f := range engine.Fields() {
			if f.Of(&back.Change) != f.Of(&c) {
				t.Fatalf("%q: %v is %q after the binary form, was %q", line, f, f.Of(&back.Change), f.Of(&c))
			}
		}
	})
}
