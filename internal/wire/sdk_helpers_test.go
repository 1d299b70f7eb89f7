package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2/packages/respjson"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// requirePresent fails for every field of v (an SDK response struct) that
// the SDK tags api:"required" but whose key was missing from the JSON v was
// decoded from. Nullable members may be null; they must still be sent.
func requirePresent(t *testing.T, name string, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	meta := rv.FieldByName("JSON")
	if !meta.IsValid() {
		t.Fatalf("%s: %T has no JSON metadata", name, v)
	}
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !strings.Contains(f.Tag.Get("api"), "required") {
			continue
		}
		m := meta.FieldByName(f.Name)
		if !m.IsValid() {
			continue
		}
		if m.Interface().(respjson.Field).Raw() == "" {
			t.Errorf("%s: required field %q missing", name, strings.Split(f.Tag.Get("json"), ",")[0])
		}
	}
}

// isNull reports whether an SDK field was sent as JSON null.
func isNull(f respjson.Field) bool { return f.Raw() == "null" }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

// wantInvalid asserts a 400-class error whose message starts with the field
// path (and contains want, when given).
func wantInvalid(t *testing.T, err error, path, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error at %q, got nil", path)
	}
	e, ok := errdefs.As(err)
	if !ok || e.Class != errdefs.ClassInvalid {
		t.Fatalf("want invalid error at %q, got %T %v", path, err, err)
	}
	if !strings.HasPrefix(e.Message, path+": ") {
		t.Fatalf("error %q does not name %q", e.Message, path)
	}
	if want != "" && !strings.Contains(e.Message, want) {
		t.Fatalf("error %q does not contain %q", e.Message, want)
	}
}

func ptr[T any](v T) *T { return &v }
