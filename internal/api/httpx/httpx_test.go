package httpx

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

// decodeTarget has a field of every shape request bodies use.
type decodeTarget struct {
	Name     string            `json:"name"`
	N        int               `json:"n"`
	F        float64           `json:"f"`
	B        bool              `json:"b"`
	Tags     []string          `json:"tags"`
	Metadata map[string]string `json:"metadata"`
	Nested   *struct {
		X int `json:"x"`
	} `json:"nested"`
	Opt  wire.Opt[string]       `json:"opt"`
	Meta wire.MetadataPatch     `json:"meta_patch"`
	Raw  json.RawMessage        `json:"raw"`
	Any  map[string]interface{} `json:"any"`
}

func wantInvalid(t *testing.T, err error, what string) {
	t.Helper()
	e, ok := errdefs.As(err)
	if !ok || e.Class != errdefs.ClassInvalid || e.Message == "" {
		t.Fatalf("%s: error %v (%T), want a classified invalid_request error with a message", what, err, err)
	}
}

func TestDecodeBytes(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		wantErr string // substring of the message; "" means success
	}{
		{"empty body is {}", "", ""},
		{"whitespace body is {}", " \n\t", ""},
		{"object", `{"name":"a","n":1,"tags":["x"],"metadata":{"k":"v"},"nested":{"x":2}}`, ""},
		{"trailing whitespace", "{}\n\n", ""},
		{"unknown field", `{"nope":1}`, "nope: unknown field"},
		{"wrong type names the field", `{"n":"one"}`, "n: expected an integer"},
		{"wrong nested type names the path", `{"nested":{"x":"y"}}`, "nested.x: expected an integer"},
		{"wrong type in array", `{"tags":[1]}`, "tags: expected a string"},
		{"array body", `[]`, "must be a JSON object"},
		{"string body", `"x"`, "must be a JSON object"},
		{"truncated", `{"name":`, "malformed JSON"},
		{"syntax error", `{"name" "x"}`, "malformed JSON"},
		{"two objects", `{} {}`, "single JSON object"},
		{"trailing garbage", `{} x`, "single JSON object"},
		{"stray closing brace", `{}}`, "single JSON object"},
		{"stray closing bracket", `{"n":1}]`, "single JSON object"},
		{"duplicate key", `{"name":"a","name":"b"}`, "name: duplicate key"},
		{"duplicate key by escape", `{"name":"a","n\u0061me":"b"}`, "name: duplicate key"},
		{"duplicate nested key names the path", `{"any":{"a":[{"x":1,"x":2}]}}`, "any.a[0].x: duplicate key"},
		{"same key in sibling objects", `{"any":{"a":{"x":1},"b":{"x":2}}}`, ""},
		{"invalid UTF-8", "{\"name\":\"a\xffb\"}", "name: must be valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"any\":{\"\xc3\":1}}", "must be valid UTF-8"},
		{"lone high surrogate", `{"tags":["ok","\ud800"]}`, "tags[1]: must be valid UTF-8"},
		{"lone low surrogate", `{"name":"\udc00x"}`, "name: must be valid UTF-8"},
		{"high surrogate then a letter", `{"name":"\ud83dA"}`, "name: must be valid UTF-8"},
		{"surrogate pair", `{"name":"\ud83d\ude00"}`, ""},
		{"escaped backslash before u", `{"name":"\\ud800"}`, ""},
		{"NUL is valid JSON text", `{"name":"a\u0000b"}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v decodeTarget
			err := DecodeBytes([]byte(c.body), &v)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeBytes(%q): %v", c.body, err)
				}
				return
			}
			wantInvalid(t, err, c.body)
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("DecodeBytes(%q) = %q, want it to contain %q", c.body, err, c.wantErr)
			}
		})
	}
}

// FuzzDecodeBytes checks that no body makes the decoder panic or fail with
// anything but a 400, and that it accepts only well-formed JSON.
func FuzzDecodeBytes(f *testing.F) {
	for _, s := range []string{
		"", "{}", "null", "[]", `{"name":"a"}`, `{"n":1e400}`, `{"n":-0}`, `{"f":1.5e308}`,
		`{"tags":["a",null]}`, `{"metadata":{"k":null}}`, `{"nested":null}`, `{"opt":null}`, `{"opt":"v"}`,
		`{"meta_patch":{"k":null,"j":"v"}}`, `{"raw":{"deep":[1,{"x":[]}]}}`, `{"any":{"a":[true,false,null]}}`,
		`{"name":"\ud800"}`, "{\"name\":\"\xff\xfe\"}", `{"NAME":"case"}`, `{"name":"a","name":"b"}`,
		strings.Repeat("[", 20000), `{"nested":` + strings.Repeat(`{"x":`, 100) + "1" + strings.Repeat("}", 101),
		"{}}", "{}]", `{} {}`, "\ufeff{}", `{"n":1} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v decodeTarget
		err := DecodeBytes(body, &v)
		if err != nil {
			wantInvalid(t, err, string(body))
			return
		}
		if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && !json.Valid(trimmed) {
			t.Fatalf("DecodeBytes accepted malformed JSON %q", body)
		}
	})
}

// requiredTarget needs "agent" and knows "title", checked the way the
// jsonobj decoders check: the missing field first, unknown ones last.
type requiredTarget struct{}

func (*requiredTarget) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if _, ok := m["agent"]; !ok {
		return errdefs.Invalid("agent: field required")
	}
	for k := range m {
		if k != "agent" && k != "title" {
			return errdefs.Invalid("%s: unknown field", k)
		}
	}
	return nil
}

func TestDecodeNamesBothHalves(t *testing.T) {
	for body, want := range map[string]string{
		`{"agent_id":"a","title":"t"}`: "agent: field required; agent_id is not a field of this request",
		`{"title":"t"}`:                "agent: field required",
		`{"agent":"a","x":1}`:          "x: unknown field",
	} {
		err := DecodeBytes([]byte(body), &requiredTarget{})
		wantInvalid(t, err, body)
		if err.Error() != want {
			t.Errorf("DecodeBytes(%s) = %q, want %q", body, err, want)
		}
	}
	// The other order: an unknown field reported first, the probe finds
	// what was missing.
	decode := func(b []byte) error {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for k := range m {
			if k != "name" && k != "model" {
				return errdefs.Invalid("%s: unknown field", k)
			}
		}
		if m["name"] == nil {
			return errdefs.Invalid("name: field required")
		}
		return nil
	}
	body := []byte(`{"nmae":"a","model":"m"}`)
	if err := nameBoth(body, decode(body), decode); err == nil || err.Error() != "name: field required; nmae is not a field of this request" {
		t.Fatalf("nameBoth = %v", err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []struct {
		seq  int64
		desc bool
	}{{0, false}, {1, true}, {1 << 40, false}, {1<<63 - 1, true}} {
		s := EncodeCursor(c.seq, c.desc)
		if !strings.HasPrefix(s, "page_") {
			t.Fatalf("cursor %q lacks the page_ prefix", s)
		}
		seq, desc, err := DecodeCursor(s)
		if err != nil || seq != c.seq || desc != c.desc {
			t.Fatalf("DecodeCursor(EncodeCursor(%d, %v)) = %d, %v, %v", c.seq, c.desc, seq, desc, err)
		}
	}
}

func TestParseListCursor(t *testing.T) {
	asc, desc := EncodeCursor(42, false), EncodeCursor(42, true)
	cases := []struct {
		name     string
		q        url.Values
		want     ListParams
		wantErrs string
	}{
		{"defaults", url.Values{}, ListParams{Limit: 20}, ""},
		{"cursor keeps its order", url.Values{"page": {desc}}, ListParams{Limit: 20, After: 42, Desc: true}, ""},
		{"cursor with matching order", url.Values{"page": {asc}, "order": {"asc"}}, ListParams{Limit: 20, After: 42}, ""},
		// A cursor reused with another order is a 400.
		{"cursor with other order", url.Values{"page": {asc}, "order": {"desc"}}, ListParams{}, "page: cursor was created with a different order"},
		{"garbage cursor", url.Values{"page": {"page_!!"}}, ListParams{}, "page: invalid page cursor"},
		{"negative cursor", url.Values{"page": {"page_" + base64.RawURLEncoding.EncodeToString([]byte("a-5"))}}, ListParams{}, "page: invalid page cursor"},
		{"limit", url.Values{"limit": {"5"}}, ListParams{Limit: 5}, ""},
		{"limit zero", url.Values{"limit": {"0"}}, ListParams{}, "limit: must be between 1 and 100"},
		{"limit too big", url.Values{"limit": {"101"}}, ListParams{}, "limit: must be between 1 and 100"},
		{"limit not a number", url.Values{"limit": {"ten"}}, ListParams{}, "limit: must be an integer"},
		{"bad order", url.Values{"order": {"up"}}, ListParams{}, `order: must be "asc" or "desc"`},
		{"bad include_archived", url.Values{"include_archived": {"maybe"}}, ListParams{}, "include_archived: must be true or false"},
		{"bad created_at", url.Values{"created_at[gte]": {"notadate"}}, ListParams{}, "created_at[gte]: must be an RFC 3339 timestamp"},
		{"filters are read", url.Values{"include_archived": {"true"}, "created_at[lt]": {"2026-01-02T03:04:05Z"}}, ListParams{Limit: 20}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseList(c.q, 20, 100, false)
			if c.wantErrs != "" {
				wantInvalid(t, err, c.name)
				if !strings.Contains(err.Error(), c.wantErrs) {
					t.Fatalf("error %q, want %q", err, c.wantErrs)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseList = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// FuzzDecodeCursor feeds arbitrary page tokens to the cursor decoder and to
// ParseList: neither may panic, every rejection is a 400 naming "page", and
// every accepted cursor re-encodes to one that decodes the same.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{
		EncodeCursor(0, false), EncodeCursor(7, true), EncodeCursor(1<<63-1, false),
		"", "page_", "page_YQ", "page_ZDEy", "page_!!", "page_YS0x", "a12",
		"page_" + base64.RawURLEncoding.EncodeToString([]byte("a99999999999999999999")),
		"page_" + base64.RawURLEncoding.EncodeToString([]byte("d+5")),
		"page_" + base64.StdEncoding.EncodeToString([]byte("a12")),
		"page_page_YTE",
	} {
		f.Add(s, int64(len(s)), len(s)%2 == 0)
	}
	f.Fuzz(func(t *testing.T, s string, seq int64, desc bool) {
		n, d, err := DecodeCursor(s)
		if err != nil {
			wantInvalid(t, err, s)
		} else {
			if n < 0 {
				t.Fatalf("DecodeCursor(%q) = negative seq %d", s, n)
			}
			n2, d2, err := DecodeCursor(EncodeCursor(n, d))
			if err != nil || n2 != n || d2 != d {
				t.Fatalf("re-encoded cursor of %q decodes to %d %v %v, want %d %v", s, n2, d2, err, n, d)
			}
		}
		lp, err := ParseList(url.Values{"page": {s}}, 20, 100, false)
		if err != nil {
			wantInvalid(t, err, s)
			if !strings.HasPrefix(err.Error(), "page: ") {
				t.Fatalf("ParseList error %q does not name the page parameter", err)
			}
		} else if s != "" && (lp.After < 0 || lp.Limit != 20) {
			t.Fatalf("ParseList(page=%q) = %+v", s, lp)
		}
		if seq >= 0 {
			n, d, err := DecodeCursor(EncodeCursor(seq, desc))
			if err != nil || n != seq || d != desc {
				t.Fatalf("DecodeCursor(EncodeCursor(%d, %v)) = %d, %v, %v", seq, desc, n, d, err)
			}
		}
	})
}
