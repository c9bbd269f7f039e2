package engine

import (
	"errors"
	"unicode/utf8"
)

// MaxNameLen is the longest role, permission or user name, in bytes.
const MaxNameLen = 256

// MaxKeyLen is the longest secret key, in bytes.
const MaxKeyLen = 1024

// ErrInvalid matches (with errors.Is) every error that rejects input: bad
// names, bad keys, unknown ops. Callers answer them as bad requests.
var ErrInvalid = errors.New("invalid input")

// inputError is an error about input; it matches ErrInvalid.
type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == ErrInvalid }

// Errors returned by [ValidName] and [ValidKey]; each matches ErrInvalid.
var (
	ErrEmptyName   error = &inputError{"name is empty"}
	ErrLongName    error = &inputError{"name is longer than 256 bytes"}
	ErrBadUTF8     error = &inputError{"name is not valid UTF-8"}
	ErrControlChar error = &inputError{"name contains a control character"}
	ErrEmptyKey    error = &inputError{"key is empty"}
	ErrLongKey     error = &inputError{"key is longer than 1024 bytes"}
	ErrBadKey      error = &inputError{"key contains a control character or invalid UTF-8"}
)

// ValidName reports whether s may be used as a role, permission or user
// name: non-empty, at most MaxNameLen bytes, valid UTF-8, and free of control
// characters (C0, DEL and C1). It does not allocate.
func ValidName(s string) error {
	if len(s) == 0 {
		return ErrEmptyName
	}
	if len(s) > MaxNameLen {
		return ErrLongName
	}
	return validText(s, ErrBadUTF8, ErrControlChar)
}

// ValidKey reports whether s may be used as a secret key: non-empty, at most
// MaxKeyLen bytes, valid UTF-8 without control characters.
func ValidKey(s string) error {
	if len(s) == 0 {
		return ErrEmptyKey
	}
	if len(s) > MaxKeyLen {
		return ErrLongKey
	}
	return validText(s, ErrBadKey, ErrBadKey)
}

func validText(s string, badUTF8, control error) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return control
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return badUTF8
		}
		if r >= 0x80 && r <= 0x9f {
			return control
		}
		i += size
	}
	return nil
}
