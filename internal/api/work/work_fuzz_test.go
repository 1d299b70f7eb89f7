package work

import (
	"net/url"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// FuzzDecoders feeds arbitrary bodies and query strings to the request
// decoders: each must accept or fail with a classified 400, never panic.
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{`{"metadata":{"a":"1","b":null}}`, `{"metadata":null}`, `{}`, `{"force":true}`, `[`,
		`{"metadata":{"":"x"}}`, "block_ms=999&reclaim_older_than_ms=5000", "block_ms=0", "desired_ttl_seconds=9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(what string, err error) {
			if err != nil && errdefs.ClassOf(err) != errdefs.ClassInvalid {
				t.Fatalf("%s(%q): unclassified %v", what, s, err)
			}
		}
		patch, err := DecodeUpdate([]byte(s))
		check("DecodeUpdate", err)
		if err == nil && patch == nil {
			t.Fatalf("DecodeUpdate(%q): nil patch without error", s)
		}
		_, err = DecodeStop([]byte(s))
		check("DecodeStop", err)
		q, perr := url.ParseQuery(s)
		if perr != nil {
			return
		}
		block, _, err := ParsePoll(q)
		check("ParsePoll", err)
		if err == nil && (block < 0 || block > 999_000_000) {
			t.Fatalf("ParsePoll(%q): block %v out of range", s, block)
		}
		hp, err := ParseHeartbeat(q)
		check("ParseHeartbeat", err)
		if err == nil && hp.DesiredTTL != nil && (*hp.DesiredTTL < 1 || *hp.DesiredTTL > 3600) {
			t.Fatalf("ParseHeartbeat(%q): ttl %d", s, *hp.DesiredTTL)
		}
	})
}
