package httpapi

import (
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"auth/engine"
)

// TestImportLineOfEveryFact: a line with exactly the fields of a fact of
// the engine's op table is a change of that op; a line with the fields of
// none is refused with a message naming the facts.
func TestImportLineOfEveryFact(t *testing.T) {
	var p fastjson.Parser
	facts := 0
	for _, op := range engine.Ops() {
		if !op.IsFact() {
			continue
		}
		facts++
		var parts []string
		for _, f := range op.Needs().Fields() {
			parts = append(parts, strconv.Quote(f.String())+": "+strconv.Quote("n-"+f.String()))
		}
		// The fields it may carry (a membership's window): each a time.
		for i, f := range op.May().Fields() {
			parts = append(parts, strconv.Quote(f.String())+": "+strconv.Quote("2026-12-0"+strconv.Itoa(i+1)+"T18:00:00Z"))
		}
		line := "{" + strings.Join(parts, ", ") + "}"
		c, bad := parseImportLine(&p, []byte(line))
		if bad != "" || c.Op != op {
			t.Errorf("%s: %v, %q; want %v", line, c.Op, bad, op)
		}
		for _, f := range op.Needs().Fields() {
			if got := *f.In(&c); got != "n-"+f.String() {
				t.Errorf("%s: %v = %q", line, f, got)
			}
		}
	}
	if facts < 3 {
		t.Fatalf("%d facts", facts)
	}
	if _, bad := parseImportLine(&p, []byte(`{"role": "r", "user": "u", "permission": "p"}`)); bad != msgImportLineFields ||
		!strings.Contains(bad, `"role" and "permission"`) {
		t.Errorf("role, user and permission: %q", bad)
	}
}
