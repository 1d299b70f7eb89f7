package mcp

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzInputs checks the decoders and validators fed by agents and users:
// tool arguments are accepted exactly when they are a JSON object (or
// empty/null), URL normalisation is idempotent, and previews stay valid
// UTF-8 within their budget.
func FuzzInputs(f *testing.F) {
	f.Add([]byte(`{"a":1}`), "https://Example.COM:443/mcp/", "héllo\nwörld")
	f.Add([]byte(`null`), "http://h:80", "")
	f.Add([]byte(`[1,2]`), "not a url", strings.Repeat("é", 100))
	f.Add([]byte(` {"x":`), "HTTP://[::1]:8080/a/?q=1#frag", "\xff\xfe")
	f.Add([]byte(``), "https://a.example/%2Fx", "a\nb\nc")
	f.Fuzz(func(t *testing.T, args []byte, rawURL, text string) {
		v, err := callArguments(args)
		if err == nil {
			b, merr := json.Marshal(v)
			if merr != nil || len(b) == 0 || b[0] != '{' {
				t.Fatalf("accepted %q as %q (%v)", args, b, merr)
			}
		} else if !strings.Contains(err.Error(), "input") {
			t.Fatalf("error %q does not name the field", err)
		}
		n := NormalizeURL(rawURL)
		if NormalizeURL(n) != n {
			t.Fatalf("not idempotent: %q → %q → %q", rawURL, n, NormalizeURL(n))
		}
		for _, budget := range []int{0, 1, 7, 64} {
			h := previewHead(text, budget)
			if len(h) > budget || !strings.HasPrefix(text, h) {
				t.Fatalf("previewHead(%q, %d) = %q", text, budget, h)
			}
			if utf8.ValidString(text) && !utf8.ValidString(h) {
				t.Fatalf("previewHead split a rune: %q", h)
			}
		}
		r := Result{Content: []Block{{Type: "text", Text: text}}}
		if s, ok := SpillLarge(r, 3); ok != (len(text) > 3) || (ok && s.Full != text) {
			t.Fatalf("SpillLarge(%d bytes) = %v", len(text), ok)
		}
	})
}
