package web

import (
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeInput: the tool input decoders never panic and accept only a
// trimmed, bounded, non-empty string.
func FuzzDecodeInput(f *testing.F) {
	for _, s := range []string{`{"url":"https://x"}`, `{"query":"go"}`, `{}`, `[]`, `null`, `{"url":null}`, `{"url":"\u0000"}`, `{"query":1}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, dec := range []func(json.RawMessage) (string, error){DecodeFetchInput, DecodeSearchInput} {
			s, err := dec(b)
			if err != nil {
				continue
			}
			if s == "" || len(s) > maxInputLen || strings.TrimSpace(s) != s {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

// FuzzHTMLToText: any input converts without panicking into valid text
// with no script content and no runs of blank lines.
func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "<script>x", "<a href='x'>y", "<!--", "<pre>a\n\n\n\nb</pre>", "<<>>", "</", "<a/b>", "<title>t", "&#0;&amp"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://fuzz.test/")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		text, _ := htmlToText(s, base)
		if strings.Contains(s, "<pre") {
			return // preformatted text keeps its blank lines
		}
		if strings.Contains(text, "\n\n\n") {
			t.Fatalf("blank-line run in %q", text)
		}
	})
}

// FuzzPolicy: domain and host matching never panic, and a URL the policy
// accepts under an allowlist matches one of its entries.
func FuzzPolicy(f *testing.F) {
	f.Add("example.com", "https://docs.example.com/a", "127.0.0.1")
	f.Add("*.x.org/p/*", "http://a.x.org/p/q/r", "::ffff:10.0.0.1")
	f.Add("", "ftp://x", "garbage")
	f.Fuzz(func(t *testing.T, entry, raw, addr string) {
		if a, err := netip.ParseAddr(addr); err == nil {
			_ = isInternal(a)
		}
		_, _ = ParseInternalAllowlist(addr)
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		p := unrestricted()
		p.Fetch.AllowedDomains = []string{entry}
		if checkURL(p, u) == nil && !matchDomain(entry, normHost(u.Hostname()), u.EscapedPath()) {
			t.Fatalf("%q accepted %q without matching", entry, raw)
		}
		_ = hostAllowed(limited(entry).Networking, normHost(u.Hostname()))
	})
}
