package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/jsonobj"
)

// DecodeJSON reads the request body into v, rejecting malformed JSON, wrong
// types and unknown fields with a 400 that names the field. An absent body
// decodes as {} so that optional-only endpoints accept empty POSTs.
func DecodeJSON(r *http.Request, v any) error { return DecodeJSONWith(r, v, nil) }

// DecodeJSONWith is DecodeJSON followed by check, the handler's validation
// of the decoded v (the fields it requires), so that nameBoth can complete
// an error of either by running both again on changed bodies.
func DecodeJSONWith(r *http.Request, v any, check func() error) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errdefs.TooLarge("request body exceeds %d bytes", mbe.Limit)
		}
		return errdefs.Invalid("could not read request body").Wrap(err)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && len(bytes.TrimSpace(body)) > 0 {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return errdefs.Invalid("Content-Type must be application/json, got %q", ct)
		}
	}
	return decodeChecked(body, v, check)
}

// DecodeEmpty reads the body of an endpoint that takes none (archive, ack,
// heartbeat, validate): no body or {} passes, and anything else is refused
// as DecodeJSON refuses it, rather than ignored.
func DecodeEmpty(r *http.Request) error { return DecodeJSON(r, &struct{}{}) }

// DecodeBytes is DecodeJSON's core, also used by the fuzz tests.
func DecodeBytes(body []byte, v any) error { return decodeChecked(body, v, nil) }

// decodeChecked decodes body into v and runs check; a failure is passed to
// nameBoth, whose probes decode into v again, emptied first, and v is put
// back as the failed decode left it.
func decodeChecked(body []byte, v any, check func() error) error {
	run := func(b []byte) error {
		if err := decodeBytes(b, v); err != nil {
			return err
		}
		if check != nil {
			return check()
		}
		return nil
	}
	err := run(body)
	if err == nil {
		return nil
	}
	dst := reflect.ValueOf(v).Elem()
	kept := reflect.New(dst.Type()).Elem()
	kept.Set(dst)
	defer dst.Set(kept)
	return nameBoth(body, err, func(b []byte) error {
		dst.SetZero()
		return run(b)
	})
}

func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// dec.More reports false before a stray ']' or '}', so look at what
	// follows the value directly: only whitespace may.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return errdefs.Invalid("request body must be a single JSON object")
	}
	return checkValues(body)
}

// Suffixes of the decoders' messages for the two halves of one mistake.
const (
	requiredSuffix = ": field required"
	unknownSuffix  = ": unknown field"
)

// maxProbes bounds the extra decodes nameBoth spends on one bad body.
const maxProbes = 3

// nameBoth completes a decode error that tells half of a common mistake —
// a required field left out and an unknown one sent in its place, as when
// a client writes agent_id for agent — so that the client learns both:
// "agent: field required; agent_id is not a field of this request".
// Decoders stop at their first error, and which half comes first depends
// on the decoder, so it probes decode (which must be free of side effects)
// with the body changed: the required field filled in with the value of a
// member of the same object, which then shows whether that member is
// unknown; or the unknown member taken out, which then shows what was
// missing. An inconclusive probe leaves err as it is.
func nameBoth(body []byte, err error, decode func([]byte) error) error {
	e, ok := errdefs.As(err)
	if !ok || e.Class != errdefs.ClassInvalid {
		return err
	}
	var root any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&root) != nil {
		return err
	}
	both := func(missing, unknown string) error {
		return errdefs.Invalid("%s%s; %s is not a field of this request", missing, requiredSuffix, unknown)
	}
	probe := func() (string, string) {
		b, merr := json.Marshal(root)
		if merr != nil {
			return "", ""
		}
		pe, ok := errdefs.As(decode(b))
		if !ok {
			return "", ""
		}
		if p, ok := strings.CutSuffix(pe.Message, requiredSuffix); ok {
			return p, ""
		}
		p, _ := strings.CutSuffix(pe.Message, unknownSuffix)
		return "", p
	}
	if path, ok := strings.CutSuffix(e.Message, requiredSuffix); ok {
		parent, key := splitPath(path)
		obj := objectAt(root, parent)
		if obj == nil {
			return err
		}
		if has(obj, key) {
			return err
		}
		for _, k := range likeFirst(obj, key) {
			obj[key] = obj[k]
			_, unknown := probe()
			delete(obj, key)
			if up, uk := splitPath(unknown); unknown != "" && up == parent && has(obj, uk) {
				return both(path, unknown)
			}
		}
		return err
	}
	if path, ok := strings.CutSuffix(e.Message, unknownSuffix); ok {
		parent, key := splitPath(path)
		obj := objectAt(root, parent)
		if obj == nil {
			return err
		}
		v, sent := obj[key]
		if !sent {
			return err
		}
		delete(obj, key)
		missing, _ := probe()
		obj[key] = v
		if mp, _ := splitPath(missing); missing != "" && mp == parent {
			return both(missing, path)
		}
	}
	return err
}

func has(obj map[string]any, key string) bool {
	_, ok := obj[key]
	return ok
}

// splitPath splits a field path ("a.b[2].c") into its parent ("a.b[2]")
// and last key ("c"); a root key has the parent "".
func splitPath(path string) (parent, key string) {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}

// objectAt finds the object at a field path in a decoded body, or nil.
func objectAt(root any, path string) map[string]any {
	cur := root
	for path != "" {
		seg, rest, _ := strings.Cut(path, ".")
		path = rest
		name, idx, _ := strings.Cut(seg, "[")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[name]
		for idx != "" {
			n, after, _ := strings.Cut(idx, "]")
			i, err := strconv.Atoi(n)
			a, ok := cur.([]any)
			if err != nil || !ok || i < 0 || i >= len(a) {
				return nil
			}
			cur = a[i]
			idx = strings.TrimPrefix(after, "[")
		}
	}
	m, _ := cur.(map[string]any)
	return m
}

// likeFirst orders an object's keys by how much of a prefix they share
// with key (agent_id before description for agent), at most maxProbes.
func likeFirst(obj map[string]any, key string) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	common := func(k string) int {
		n := 0
		for n < len(k) && n < len(key) && k[n] == key[n] {
			n++
		}
		return n
	}
	sort.Slice(keys, func(i, j int) bool {
		if ci, cj := common(keys[i]), common(keys[j]); ci != cj {
			return ci > cj
		}
		return keys[i] < keys[j]
	})
	return keys[:min(len(keys), maxProbes)]
}

// checkValues walks a body that decoded and rejects, naming the path, what
// encoding/json lets through silently: a key an object repeats (it keeps
// the last, so the client's meaning is lost) and a string that is not
// Unicode — invalid UTF-8 or an unpaired surrogate escape — which it turns
// into U+FFFD. The decode bounded the nesting, so the recursion is bounded.
func checkValues(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// next reads one token; for a string it also checks the literal.
	next := func(path string) (json.Token, error) {
		from := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, errdefs.Invalid("malformed JSON: %s", err)
		}
		if _, ok := tok.(string); ok && !isUnicode(bytes.TrimLeft(body[from:dec.InputOffset()], " \t\r\n,:")) {
			return nil, jsonobj.Invalid(path, "must be valid UTF-8 text (no invalid bytes or unpaired surrogates)")
		}
		return tok, nil
	}
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := next(path)
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := next(path)
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				at := jsonobj.Key(path, k)
				if seen[k] {
					return jsonobj.Invalid(at, "duplicate key: an object may name each key once")
				}
				seen[k] = true
				if err := walk(at); err != nil {
					return err
				}
			}
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(jsonobj.Index(path, i)); err != nil {
					return err
				}
			}
		default:
			return nil
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	return walk("")
}

// isUnicode reports whether a JSON string literal holds valid UTF-8 and
// pairs every surrogate escape (\uD800-\uDBFF then \uDC00-\uDFFF).
func isUnicode(lit []byte) bool {
	if !utf8.Valid(lit) {
		return false
	}
	for i := 0; i+5 < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		if lit[i+1] != 'u' {
			i++ // an escaped backslash or quote: skip it
			continue
		}
		r := hex4(lit[i+2 : i+6])
		i += 5
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r >= 0xDC00 || i+6 >= len(lit) || lit[i+1] != '\\' || lit[i+2] != 'u' {
			return false
		}
		if lo := hex4(lit[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
			return false
		}
		i += 6
	}
	return true
}

// hex4 reads the four hex digits of a \u escape the decoder accepted.
func hex4(b []byte) rune {
	n, _ := strconv.ParseUint(string(b), 16, 32)
	return rune(n)
}

// jsonError turns an encoding/json error into a message that names the field.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if e, ok := errdefs.As(err); ok {
		// Custom unmarshalers (unions, enums) return classified errors
		// that already name their field.
		return e
	}
	switch {
	case errors.As(err, &syn):
		return errdefs.Invalid("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errdefs.Invalid("request body must be a JSON object, not %s", typ.Value)
		}
		return errdefs.Invalid("%s: expected %s, got %s", typ.Field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errdefs.Invalid("malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errdefs.Invalid("%s: unknown field", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
	}
	return errdefs.Invalid("invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return kind
}
