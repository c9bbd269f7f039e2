package httpapi_test

import (
	"encoding/json"
	"slices"
	"testing"

	"auth/engine"
	"auth/httpapi"
)

// TestOpenAPIOpsAreTheEngines: the document's Op enum is the engine's op
// table, and its Change and Event carry the engine's fields, so that an op
// or a field added to the engine fails here until the document has it.
func TestOpenAPIOpsAreTheEngines(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Op     struct{ Enum []string } `json:"Op"`
				Change struct {
					Properties map[string]any `json:"properties"`
				} `json:"Change"`
				Event struct {
					Properties map[string]any `json:"properties"`
				} `json:"Event"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, op := range engine.Ops() {
		want = append(want, op.String())
	}
	s := &doc.Components.Schemas
	if !slices.Equal(s.Op.Enum, want) {
		t.Errorf("Op enum %q, engine's ops %q", s.Op.Enum, want)
	}
	wantChange := []string{"op"}
	for _, f := range engine.Fields() {
		wantChange = append(wantChange, f.String())
		if _, ok := s.Event.Properties[f.String()]; !ok {
			t.Errorf("Event has no property %q", f)
		}
	}
	var got []string
	for k := range s.Change.Properties {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(wantChange)
	if !slices.Equal(got, wantChange) {
		t.Errorf("Change properties %q, want %q", got, wantChange)
	}
}
