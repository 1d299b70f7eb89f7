package egress

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
)

// placeholderPrefix starts every placeholder: a sandbox sees
// "hangar-placeholder-<32 hex>" where the secret would be.
const placeholderPrefix = "hangar-placeholder-"

func newPlaceholder() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return placeholderPrefix + hex.EncodeToString(b[:])
}

// pair is one substitution: from → to.
type pair struct{ from, to []byte }

// replacements is an ordered set of substitutions. The same machinery runs
// both ways: placeholder → secret on requests, secret → placeholder on
// responses.
type replacements struct {
	pairs  []pair
	maxLen int
}

func newReplacements(m map[string]string) *replacements {
	if len(m) == 0 {
		return nil
	}
	r := &replacements{}
	for from, to := range m {
		if from == "" {
			continue
		}
		r.pairs = append(r.pairs, pair{[]byte(from), []byte(to)})
		r.maxLen = max(r.maxLen, len(from))
	}
	if len(r.pairs) == 0 {
		return nil
	}
	// Longest first, so when two needles start at the same offset the longer
	// one wins deterministically.
	for i := 1; i < len(r.pairs); i++ {
		for j := i; j > 0 && len(r.pairs[j].from) > len(r.pairs[j-1].from); j-- {
			r.pairs[j], r.pairs[j-1] = r.pairs[j-1], r.pairs[j]
		}
	}
	return r
}

// next finds the leftmost match in b: its offset and pair, or -1.
func (r *replacements) next(b []byte) (int, *pair) {
	at, best := -1, (*pair)(nil)
	for i := range r.pairs {
		p := &r.pairs[i]
		j := bytes.Index(b, p.from)
		if j >= 0 && (at < 0 || j < at) {
			at, best = j, p
		}
	}
	return at, best
}

// apply replaces every match in b, returning b itself when nothing matched.
func (r *replacements) apply(b []byte) []byte {
	out, _ := r.process(nil, b, true)
	if out == nil {
		return b
	}
	return out
}

// applyString is apply for header values.
func (r *replacements) applyString(s string) string {
	if out, _ := r.process(nil, []byte(s), true); out != nil {
		return string(out)
	}
	return s
}

// process appends the replaced form of in to out and returns how much of
// in it consumed. Unless final, the last maxLen-1 bytes are held back: a
// needle may start there and end in data not yet read. out stays nil when
// nothing matched and final, so callers can skip a copy.
func (r *replacements) process(out, in []byte, final bool) ([]byte, int) {
	limit := len(in)
	if !final {
		limit = max(0, len(in)-(r.maxLen-1))
	}
	i := 0
	for i < limit {
		j, p := r.next(in[i:])
		if j < 0 || i+j >= limit {
			break
		}
		if out == nil {
			out = make([]byte, 0, len(in)+64)
		}
		out = append(out, in[i:i+j]...)
		out = append(out, p.to...)
		i += j + len(p.from)
	}
	if out == nil && final && i == 0 {
		return nil, len(in)
	}
	if i < limit {
		out = append(out, in[i:limit]...)
		i = limit
	}
	return out, i
}

// replacingReader substitutes on the fly, for bodies too large or too long
// (unknown length, event streams) to buffer.
type replacingReader struct {
	src  io.ReadCloser
	r    *replacements
	in   []byte
	out  []byte
	off  int
	err  error
	read []byte
}

func newReplacingReader(src io.ReadCloser, r *replacements) *replacingReader {
	return &replacingReader{src: src, r: r, read: make([]byte, 32<<10)}
}

func (z *replacingReader) Read(p []byte) (int, error) {
	for z.off == len(z.out) {
		if z.err != nil {
			return 0, z.err
		}
		z.out, z.off = z.out[:0], 0
		n, err := z.src.Read(z.read)
		z.in = append(z.in, z.read[:n]...)
		final := err != nil
		var used int
		z.out, used = z.r.process(z.out, z.in, final)
		if final && z.out == nil {
			z.out = append(z.out, z.in...)
		}
		z.in = append(z.in[:0], z.in[used:]...)
		if err != nil {
			z.err = err
		}
	}
	n := copy(p, z.out[z.off:])
	z.off += n
	return n, nil
}

func (z *replacingReader) Close() error { return z.src.Close() }

// substituteHeaders replaces in every header value, and inside Basic
// credentials too: git and many HTTP clients put a token in the password
// of user:password, where the placeholder is only visible once decoded.
func substituteHeaders(h http.Header, r *replacements) {
	for k, vs := range h {
		for i, v := range vs {
			v = r.applyString(v)
			if (k == "Authorization" || k == "Proxy-Authorization") && len(v) > 6 && strings.EqualFold(v[:6], "basic ") {
				if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[6:])); err == nil {
					if rep := r.apply(dec); !bytes.Equal(rep, dec) {
						v = v[:6] + base64.StdEncoding.EncodeToString(rep)
					}
				}
			}
			vs[i] = v
		}
	}
}
