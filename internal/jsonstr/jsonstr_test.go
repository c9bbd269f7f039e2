package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppend(t *testing.T) {
	for in, want := range map[string]string{
		"":          `""`,
		"plain":     `"plain"`,
		`q"b\s`:     `"q\"b\\s"`,
		"tab\t\x00": `"tab\u0009\u0000"`,
		"ü日本":       `"ü日本"`,
		"\xff":      `"\ufffd"`,
		"<html>&":   `"<html>&"`,
	} {
		if got := string(Append(nil, in)); got != want {
			t.Errorf("Append(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzAppend: what Append writes is a JSON string that decodes to s (with
// invalid UTF-8 as U+FFFD, as encoding/json reads it too).
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\t", "ü日本", "\xff\xfe", "<html>&", "\u2028", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Append([]byte("x"), s)
		if out[0] != 'x' {
			t.Fatal("Append did not append")
		}
		var got string
		if err := json.Unmarshal(out[1:], &got); err != nil {
			t.Fatalf("Append(%q) = %s: not JSON: %v", s, out[1:], err)
		}
		if want := perByte(s); got != want {
			t.Fatalf("Append(%q) decodes to %q, want %q", s, got, want)
		}
	})
}

// perByte is s with each byte of invalid UTF-8 replaced by U+FFFD.
func perByte(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // range yields U+FFFD for each invalid byte
	}
	return b.String()
}
