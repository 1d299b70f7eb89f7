package memory

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// Limits of a memory's path and content.
const (
	maxPathBytes    = 1024
	maxPathSegments = 20
	maxContentBytes = 100 * 1024
)

// CleanPath returns path in its stored form or a 400 naming field. A path
// is absolute, confined to the store (no empty, "." or ".." segment can
// climb out of it or alias another path) and plain text (no NUL, control or
// format characters, no line or paragraph separators). It is stored in
// Unicode NFC, so two spellings of one name are one path and collide.
func CleanPath(field, path string) (string, error) {
	if !utf8.ValidString(path) {
		return "", errdefs.Invalid("%s: must be valid UTF-8", field)
	}
	if strings.IndexByte(path, 0) >= 0 {
		return "", errdefs.Invalid("%s: must not contain NUL characters", field)
	}
	if !strings.HasPrefix(path, "/") {
		return "", errdefs.Invalid("%s: must start with \"/\", got %q", field, path)
	}
	path = norm.NFC.String(path)
	if len(path) > maxPathBytes {
		return "", errdefs.Invalid("%s: must be at most %d bytes, got %d", field, maxPathBytes, len(path))
	}
	segs := strings.Split(path[1:], "/")
	if len(segs) > maxPathSegments {
		return "", errdefs.Invalid("%s: must have at most %d segments, got %d", field, maxPathSegments, len(segs))
	}
	for _, s := range segs {
		switch s {
		case "":
			return "", errdefs.Invalid("%s: must not have empty segments (\"//\" or a trailing \"/\"), got %q", field, path)
		case ".", "..":
			return "", errdefs.Invalid("%s: must not have \".\" or \"..\" segments, got %q", field, path)
		}
	}
	for _, c := range path {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' {
			return "", errdefs.Invalid("%s: must not contain control, format or line separator characters (found U+%04X)", field, c)
		}
	}
	return path, nil
}

// Successor is the least string above every string that starts with s (""
// when there is none), so that [s, Successor(s)) is the range of names
// starting with s in bytewise order.
func Successor(s string) string {
	b := []byte(s)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}
