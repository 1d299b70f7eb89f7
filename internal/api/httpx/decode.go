package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// DecodeJSON reads the request body into v, rejecting malformed JSON, wrong
// types and unknown fields with a 400 that names the field. An absent body
// decodes as {} so that optional-only endpoints accept empty POSTs.
func DecodeJSON(r *http.Request, v any) error {
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
	return DecodeBytes(body, v)
}

// DecodeBytes is DecodeJSON's core, also used by the fuzz tests.
func DecodeBytes(body []byte, v any) error {
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
	return nil
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
