package egress

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/netpolicy"
)

// chunkReader returns at most n bytes per Read, to put needles across
// read boundaries.
type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.s))
	copy(p, c.s[:k])
	c.s = c.s[k:]
	return k, nil
}

// reference is strings.Replacer with the same leftmost, longest-first rule.
func reference(m map[string]string, s string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	var args []string
	for _, k := range keys {
		args = append(args, k, m[k])
	}
	if len(args) == 0 {
		return s
	}
	return strings.NewReplacer(args...).Replace(s)
}

func checkReplace(t *testing.T, m map[string]string, in string, chunk int) {
	t.Helper()
	want := reference(m, in)
	r := newReplacements(m)
	if r == nil {
		return
	}
	if got := string(r.apply([]byte(in))); got != want {
		t.Fatalf("apply(%q) = %q, want %q", in, got, want)
	}
	got, err := io.ReadAll(newReplacingReader(io.NopCloser(&chunkReader{in, chunk}), r))
	if err != nil || string(got) != want {
		t.Fatalf("streamed %q (chunk %d) = %q, %v; want %q", in, chunk, got, err, want)
	}
}

func TestReplaceAcrossReads(t *testing.T) {
	ph := newPlaceholder()
	m := map[string]string{ph: secret}
	for _, in := range []string{"", ph, "a" + ph + "b", ph + ph, ph[:10] + ph + ph[:30], strings.Repeat("x", 100) + ph + strings.Repeat("y", 7)} {
		for chunk := 1; chunk <= len(in)+1; chunk++ {
			checkReplace(t, m, in, chunk)
		}
	}
}

// FuzzReplace: in memory and streamed at any read size, substitution equals
// strings.Replacer's, both ways (placeholder → secret and back).
func FuzzReplace(f *testing.F) {
	f.Add("hangar-placeholder-0123", "s3cr3t", "xx hangar-placeholder-0123 hangar-placeholder-01 yy", 3)
	f.Add("ab", "abab", "aaabababbb", 1)
	f.Add("key", "", "keykeyke", 2)
	f.Fuzz(func(t *testing.T, from, to, in string, chunk int) {
		if chunk <= 0 || chunk > 4096 {
			chunk = 7
		}
		checkReplace(t, map[string]string{from: to}, in, chunk)
		checkReplace(t, map[string]string{from: to, to: from + "!"}, in, chunk)
	})
}

// FuzzRequestParsing: authority parsing, host matching and header
// substitution never panic, and a match is always explainable.
func FuzzRequestParsing(f *testing.F) {
	f.Add("api.example.com:443", "*.example.com", "Basic dXNlcjpwaA==")
	f.Add("[::1]:80", "::1", "Bearer ph")
	f.Add(":0", "*.", "basic !!!")
	f.Fuzz(func(t *testing.T, authority, entry, header string) {
		host, hostport, err := splitAuthority(authority, "443")
		if err == nil && (host == "" || hostport == "") {
			t.Fatalf("splitAuthority(%q) accepted without host", authority)
		}
		if netpolicy.MatchHost(entry, host) {
			e := netpolicy.NormHost(entry)
			if e != host && !(strings.HasPrefix(e, "*.") && strings.HasSuffix(host, e[1:])) && !strings.Contains(e, ":") && !strings.Contains(host, ":") && !isDotted(e) {
				t.Fatalf("MatchHost(%q, %q) without a reason", entry, host)
			}
		}
		h := http.Header{"Authorization": {header}, "X": {header}}
		substituteHeaders(h, newReplacements(map[string]string{"ph": "secret"}))
	})
}

func isDotted(s string) bool { return strings.Count(s, ".") == 3 }
