package client

import (
	"slices"
	"testing"
)

func TestParseResults(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []bool
		ok   bool
	}{
		{`{"results": []}`, []bool{}, true},
		{`{"results": [true]}`, []bool{true}, true},
		{`{"results": [true, false, true]}`, []bool{true, false, true}, true},
		{`{"results":[true]}`, nil, false},
		{`{"results": [true,false]}`, nil, false},
		{`{"results": [true, fals]}`, nil, false},
		{`{"results": [true, ]}`, nil, false},
		{`{"results": [1]}`, nil, false},
		{`{"results": [true]} `, nil, false},
	} {
		got, ok := parseResults([]byte(tc.in), 4)
		if ok != tc.ok || ok && !slices.Equal(got, tc.want) {
			t.Errorf("parseResults(%s) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEscapeSegment(t *testing.T) {
	for in, want := range map[string]string{
		"a/b": "a%2Fb", ".": "%2E", "..": "%2E%2E", "...": "...", "a b": "a%20b", "a+b": "a+b", "100%": "100%25", "?#": "%3F%23",
	} {
		if got := escapeSegment(in); got != want {
			t.Errorf("escapeSegment(%q) = %q, want %q", in, got, want)
		}
	}
}
