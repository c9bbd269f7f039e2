package engine

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var nameTests = []struct {
	name string
	in   string
	want error
}{
	{"empty", "", ErrEmptyName},
	{"one byte", "a", nil},
	{"256 bytes", strings.Repeat("a", 256), nil},
	{"257 bytes", strings.Repeat("a", 257), ErrLongName},
	{"256 bytes of 2-byte runes", strings.Repeat("é", 128), nil},
	{"258 bytes of 2-byte runes", strings.Repeat("é", 129), ErrLongName},
	{"257 bytes of invalid UTF-8 is long first", strings.Repeat("\xff", 257), ErrLongName},
	{"ascii punctuation", "a-b_c.d:e@f", nil},
	{"plus", "a+b", nil},
	{"slash", "a/b", nil},
	{"only slash", "/", nil},
	{"percent", "100%", nil},
	{"space inside", "jack sparrow", nil},
	{"only a space", " ", nil},
	{"leading and trailing spaces", " x ", nil},
	{"no-break space U+00A0", "a\u00a0b", nil},
	{"unicode letters", "ساره", nil},
	{"cjk", "日本語", nil},
	{"emoji", "🐈‍⬛", nil},
	{"U+FFFD itself", "\ufffd", nil},
	{"line separator U+2028 is not a control", "a\u2028b", nil},
	{"zero width joiner", "a\u200db", nil},
	{"NUL", "a\x00b", ErrControlChar},
	{"tab", "a\tb", ErrControlChar},
	{"newline", "a\n", ErrControlChar},
	{"carriage return", "\r", ErrControlChar},
	{"escape", "\x1b[31m", ErrControlChar},
	{"unit separator 0x1f", "\x1f", ErrControlChar},
	{"DEL", "a\x7f", ErrControlChar},
	{"C1 U+0080", "a\u0080", ErrControlChar},
	{"C1 NEL U+0085", "\u0085", ErrControlChar},
	{"C1 U+009F", "\u009f", ErrControlChar},
	{"U+00A0 just past C1", "\u00a0", nil},
	{"invalid byte", "a\xffb", ErrBadUTF8},
	{"lone continuation byte", "\x80", ErrBadUTF8},
	{"truncated 2-byte sequence", "\xc3", ErrBadUTF8},
	{"truncated 3-byte sequence", "a\xe6\x97", ErrBadUTF8},
	{"overlong slash", "\xc0\xaf", ErrBadUTF8},
	{"overlong NUL", "\xc0\x80", ErrBadUTF8},
	{"encoded surrogate", "\xed\xa0\x80", ErrBadUTF8},
	{"past U+10FFFF", "\xf4\x90\x80\x80", ErrBadUTF8},
	{"C1 as a raw byte", "a\x85", ErrBadUTF8},
	{"control before bad UTF-8", "\x01\xff", ErrControlChar},
	{"bad UTF-8 before control", "\xff\x01", ErrBadUTF8},
}

func TestValidName(t *testing.T) {
	for _, tt := range nameTests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidName(tt.in)
			if got != tt.want {
				t.Fatalf("ValidName(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if got != nil && !errors.Is(got, ErrInvalid) {
				t.Fatalf("ValidName(%q) = %v, which does not match ErrInvalid", tt.in, got)
			}
			if naive := naiveValidName(tt.in); naive != got {
				t.Fatalf("ValidName(%q) = %v, naive %v", tt.in, got, naive)
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrEmptyKey},
		{"original README key", "pleaSeDoN0tKillMyC_at", nil},
		{"257 bytes is fine for a key", strings.Repeat("k", 257), nil},
		{"1024 bytes", strings.Repeat("k", 1024), nil},
		{"1025 bytes", strings.Repeat("k", 1025), ErrLongKey},
		{"spaces, plus and slash", "a key/with+stuff", nil},
		{"unicode", "ключ🔑", nil},
		{"NUL", "k\x00", ErrBadKey},
		{"newline", "k\n", ErrBadKey},
		{"DEL", "k\x7f", ErrBadKey},
		{"C1", "k\u0090", ErrBadKey},
		{"invalid UTF-8", "k\xff", ErrBadKey},
		{"encoded surrogate", "\xed\xbf\xbf", ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidKey(tt.in)
			if got != tt.want {
				t.Fatalf("ValidKey(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if got != nil && !errors.Is(got, ErrInvalid) {
				t.Fatalf("ValidKey(%q) = %v, which does not match ErrInvalid", tt.in, got)
			}
		})
	}
}

// naiveValidName is ValidName written from its definition with the
// standard library: the first offending rune decides between bad UTF-8
// and a control character.
func naiveValidName(s string) error {
	switch {
	case s == "":
		return ErrEmptyName
	case len(s) > MaxNameLen:
		return ErrLongName
	}
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\ufffd") {
			return ErrBadUTF8
		}
		if unicode.IsControl(r) {
			return ErrControlChar
		}
	}
	if !utf8.ValidString(s) {
		panic("naiveValidName: range and ValidString disagree")
	}
	return nil
}

// naiveValidKey is ValidKey's definition, likewise.
func naiveValidKey(s string) error {
	switch {
	case s == "":
		return ErrEmptyKey
	case len(s) > MaxKeyLen:
		return ErrLongKey
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return ErrBadKey
	}
	return nil
}

func FuzzValidName(f *testing.F) {
	for _, tt := range nameTests {
		f.Add(tt.in)
	}
	f.Add(strings.Repeat("k", 1025))
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidName(s), naiveValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, naive %v", s, got, want)
		}
		if got, want := ValidKey(s), naiveValidKey(s); got != want {
			t.Errorf("ValidKey(%q) = %v, naive %v", s, got, want)
		}
	})
}
