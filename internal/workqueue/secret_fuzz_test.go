package workqueue

import (
	"encoding/base64"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeSecret checks that any secret either yields a non-empty token
// or an error, never a panic, and that EncodeSecret round-trips.
func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{
		EncodeSecret("sk-ant-wst01-abc"),
		base64.URLEncoding.EncodeToString([]byte(`{"sessions_token":"t","ingress":"x"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"sessions_token":1}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`[]`)),
		base64.RawURLEncoding.EncodeToString([]byte(`null`)),
		"", "!!", "e30",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := DecodeSecret(s)
		if err == nil && tok == "" {
			t.Fatalf("empty token accepted from %q", s)
		}
		if err != nil && tok != "" {
			t.Fatalf("token and error from %q", s)
		}
		if utf8.ValidString(s) && s != "" {
			if got, err := DecodeSecret(EncodeSecret(s)); err != nil || got != s {
				t.Fatalf("round trip of %q: %q %v", s, got, err)
			}
		}
	})
}
