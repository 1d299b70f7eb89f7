// Package check holds the field checks shared by the API's request
// decoding and the configuration parsers below it; each returns an
// invalid-request error (errdefs) whose message names the field.
package check

import (
	"strings"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// Len bounds a string's length in characters (not bytes).
func Len(field, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min {
		if min == 1 {
			return errdefs.Invalid("%s: must not be empty", field)
		}
		return errdefs.Invalid("%s: must be at least %d characters", field, min)
	}
	if max > 0 && n > max {
		return errdefs.Invalid("%s: must be at most %d characters, got %d", field, max, n)
	}
	return nil
}

// Name checks a name-like field (a name, display name or title): its
// length, as Len, and that it is text — valid UTF-8 without NUL bytes,
// which C-string consumers (file systems, terminals, logs) cut short.
func Name(field, s string, min, max int) error {
	if !utf8.ValidString(s) {
		return errdefs.Invalid("%s: must be valid UTF-8", field)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errdefs.Invalid("%s: must not contain NUL characters", field)
	}
	return Len(field, s, min, max)
}

// Metadata enforces the metadata limits shared by every resource:
// at most 16 pairs, keys up to 64 characters, values up to 512.
func Metadata(field string, m map[string]string) error {
	if len(m) > 16 {
		return errdefs.Invalid("%s: at most 16 pairs are allowed, got %d", field, len(m))
	}
	for k, v := range m {
		if err := Len(field+" key", k, 1, 64); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > 512 {
			return errdefs.Invalid("%s.%s: value must be at most 512 characters", field, k)
		}
	}
	return nil
}

// MetadataPatch validates an update's metadata patch (null deletes).
func MetadataPatch(field string, m map[string]*string) error {
	for k, v := range m {
		if err := Len(field+" key", k, 1, 64); err != nil {
			return err
		}
		if v != nil && utf8.RuneCountInString(*v) > 512 {
			return errdefs.Invalid("%s.%s: value must be at most 512 characters", field, k)
		}
	}
	return nil
}

// Enum accepts v only if it is one of allowed.
func Enum(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return errdefs.Invalid("%s: unknown value %q, expected one of %v", field, v, allowed)
}
