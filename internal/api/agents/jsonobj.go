package agents

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// The agent body is a tree of unions whose variants are chosen by "type",
// and update semantics depend on whether a key is absent, null or set. The
// standard decoder can express neither without losing the field path of an
// error, so bodies are walked by hand: every level is a jsonObject that
// knows its path and reports keys nobody consumed.

type presence int

const (
	absent presence = iota
	null
	present
)

// jsonObject is one JSON object of the request with its path ("tools[2]").
type jsonObject struct {
	path string
	m    map[string]json.RawMessage
	used map[string]bool
}

func invalid(path, format string, args ...any) error {
	if path == "" {
		path = "body"
	}
	return errdefs.Invalid("%s: "+format, append([]any{path}, args...)...)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// kind names the JSON type of raw for error messages.
func kind(raw json.RawMessage) string {
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

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func newObject(path string, raw json.RawMessage) (*jsonObject, error) {
	if kind(raw) != "an object" {
		if path == "" {
			return nil, errdefs.Invalid("request body must be a JSON object, got %s", kind(raw))
		}
		return nil, invalid(path, "expected an object, got %s", kind(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid(path, "malformed object")
	}
	return &jsonObject{path: path, m: m, used: map[string]bool{}}, nil
}

func (o *jsonObject) at(key string) string { return join(o.path, key) }

// get returns a member and whether it is absent, null or present.
func (o *jsonObject) get(key string) (json.RawMessage, presence) {
	raw, ok := o.m[key]
	o.used[key] = true
	switch {
	case !ok:
		return nil, absent
	case isNull(raw):
		return raw, null
	}
	return raw, present
}

// finish rejects members that no caller consumed.
func (o *jsonObject) finish() error {
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
	return invalid(o.at(extra[0]), "unknown field")
}

// str reads an optional string member. Null counts as absent unless the
// caller looks at the presence itself.
func (o *jsonObject) str(key string) (string, presence, error) {
	raw, p := o.get(key)
	if p != present {
		return "", p, nil
	}
	s, err := asString(o.at(key), raw)
	return s, p, err
}

// requiredStr reads a string member that must be present (and not null).
func (o *jsonObject) requiredStr(key string) (string, error) {
	s, p, err := o.str(key)
	if err != nil {
		return "", err
	}
	if p != present {
		return "", invalid(o.at(key), "field required")
	}
	return s, nil
}

func asString(path string, raw json.RawMessage) (string, error) {
	if kind(raw) != "a string" {
		return "", invalid(path, "expected a string, got %s", kind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(path, "malformed string")
	}
	return s, nil
}

func asInt(path string, raw json.RawMessage) (int64, error) {
	if kind(raw) != "a number" {
		return 0, invalid(path, "expected an integer, got %s", kind(raw))
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		// 3.0 is an integer to JSON Schema but not to us; say so plainly.
		return 0, invalid(path, "expected an integer, got %s", bytes.TrimSpace(raw))
	}
	return n, nil
}

func asArray(path string, raw json.RawMessage) ([]json.RawMessage, error) {
	if kind(raw) != "an array" {
		return nil, invalid(path, "expected an array, got %s", kind(raw))
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, invalid(path, "malformed array")
	}
	return a, nil
}

// discriminator reads the required "type" member of a union variant.
func (o *jsonObject) discriminator() (string, error) {
	return o.requiredStr("type")
}
