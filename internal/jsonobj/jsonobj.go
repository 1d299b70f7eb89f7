// Package jsonobj walks a JSON request body by hand, one object at a time.
//
// Request bodies of the API are trees of unions whose variants are chosen
// by "type", and update semantics depend on whether a key is absent, null
// or set. encoding/json can express neither without losing the field path
// of an error, so decoders walk the body with an Object per level: it knows
// its path ("tools[2].configs[0]"), reports each member as absent, null or
// present, and rejects the members nobody consumed.
//
// Every error is an errdefs.Invalid whose message starts with the field
// path, so clients see which field was wrong. The package depends on the
// standard library and errdefs only, so any layer may use it.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// Presence says whether an object member was absent, null or set.
type Presence int

const (
	Absent Presence = iota
	Null
	Present
)

// Invalid is a 400 whose message starts with path ("body" for the root).
func Invalid(path, format string, args ...any) error {
	if path == "" {
		path = "body"
	}
	return errdefs.Invalid("%s: "+format, append([]any{path}, args...)...)
}

// Key is the path of member key of the object at path.
func Key(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index is the path of element i of the array at path.
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Kind names the JSON type of raw for error messages ("an object", "null").
func Kind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// IsNull reports whether raw is the JSON literal null.
func IsNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// Object is one JSON object of the request, with its path and the set of
// members read so far.
type Object struct {
	path string
	m    map[string]json.RawMessage
	used map[string]bool
}

// New parses raw as the object at path; path "" is the request body.
func New(path string, raw json.RawMessage) (*Object, error) {
	if Kind(raw) != "an object" {
		if path == "" {
			return nil, errdefs.Invalid("request body must be a JSON object, got %s", Kind(raw))
		}
		return nil, Invalid(path, "expected an object, got %s", Kind(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, Invalid(path, "malformed object")
	}
	return &Object{path: path, m: m, used: map[string]bool{}}, nil
}

// Has reports whether member key was sent (even as null) without
// consuming it.
func (o *Object) Has(key string) bool {
	_, ok := o.m[key]
	return ok
}

// Keys lists the member names in sort order, without consuming them.
func (o *Object) Keys() []string {
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// At is the path of member key.
func (o *Object) At(key string) string { return Key(o.path, key) }

// Get returns a member and whether it is absent, null or present, and
// marks it consumed.
func (o *Object) Get(key string) (json.RawMessage, Presence) {
	raw, ok := o.m[key]
	o.used[key] = true
	switch {
	case !ok:
		return nil, Absent
	case IsNull(raw):
		return raw, Null
	}
	return raw, Present
}

// Finish rejects members that no Get consumed, naming the first in sort
// order so the message does not depend on map iteration.
func (o *Object) Finish() error {
	var extra []string
	for k := range o.m {
		if !o.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return Invalid(o.At(extra[0]), "unknown field")
}

// Str reads an optional string member. Null counts as absent unless the
// caller looks at the presence itself.
func (o *Object) Str(key string) (string, Presence, error) {
	raw, p := o.Get(key)
	if p != Present {
		return "", p, nil
	}
	s, err := String(o.At(key), raw)
	return s, p, err
}

// OptStr reads an optional string; null counts as absent.
func (o *Object) OptStr(key string) (*string, error) {
	s, p, err := o.Str(key)
	if err != nil || p != Present {
		return nil, err
	}
	return &s, nil
}

// RequiredStr reads a string member that must be present (and not null).
func (o *Object) RequiredStr(key string) (string, error) {
	s, p, err := o.Str(key)
	if err != nil {
		return "", err
	}
	if p != Present {
		return "", Invalid(o.At(key), "field required")
	}
	return s, nil
}

// Bool reads an optional boolean; nil when absent or null.
func (o *Object) Bool(key string) (*bool, error) {
	raw, p := o.Get(key)
	if p != Present {
		return nil, nil
	}
	b, err := Bool(o.At(key), raw)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// OptInt reads an optional integer; nil when absent or null.
func (o *Object) OptInt(key string) (*int64, error) {
	raw, p := o.Get(key)
	if p != Present {
		return nil, nil
	}
	n, err := Int(o.At(key), raw)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// Discriminator reads the required "type" member of a union variant.
func (o *Object) Discriminator() (string, error) { return o.RequiredStr("type") }

// ConstType checks the constant "type" of a non-union object. The SDKs
// always send it; required says whether other clients may leave it out.
func (o *Object) ConstType(want string, required bool) error {
	t, p, err := o.Str("type")
	if err != nil {
		return err
	}
	if p != Present {
		if required {
			return Invalid(o.At("type"), "field required")
		}
		return nil
	}
	if t != want {
		return Invalid(o.At("type"), "unknown value %q, expected %q", t, want)
	}
	return nil
}

// String decodes raw, the value at path, as a string.
func String(path string, raw json.RawMessage) (string, error) {
	if Kind(raw) != "a string" {
		return "", Invalid(path, "expected a string, got %s", Kind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", Invalid(path, "malformed string")
	}
	return s, nil
}

// Bool decodes raw, the value at path, as a boolean.
func Bool(path string, raw json.RawMessage) (bool, error) {
	if Kind(raw) != "a boolean" {
		return false, Invalid(path, "expected a boolean, got %s", Kind(raw))
	}
	return bytes.TrimSpace(raw)[0] == 't', nil
}

// Int decodes raw, the value at path, as an int64.
func Int(path string, raw json.RawMessage) (int64, error) {
	if Kind(raw) != "a number" {
		return 0, Invalid(path, "expected an integer, got %s", Kind(raw))
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		// 3.0 is an integer to JSON Schema but not to us; say so plainly.
		return 0, Invalid(path, "expected an integer, got %s", bytes.TrimSpace(raw))
	}
	return n, nil
}

// Array decodes raw, the value at path, into its elements.
func Array(path string, raw json.RawMessage) ([]json.RawMessage, error) {
	if Kind(raw) != "an array" {
		return nil, Invalid(path, "expected an array, got %s", Kind(raw))
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, Invalid(path, "malformed array")
	}
	return a, nil
}

// Strings decodes raw, the value at path, as an array of strings.
func Strings(path string, raw json.RawMessage) ([]string, error) {
	items, err := Array(path, raw)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, err := String(Index(path, i), it)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
