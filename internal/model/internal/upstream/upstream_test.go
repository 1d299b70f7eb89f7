package upstream

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		h    map[string]string
		want time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond},
		{map[string]string{"Retry-After": "-1"}, 0},
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{map[string]string{"Retry-After-Ms": "250", "Retry-After": "1"}, 250 * time.Millisecond},
		{map[string]string{"Retry-After-Ms": "x", "Retry-After": "1"}, time.Second},
	}
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.h {
			h.Set(k, v)
		}
		if got := RetryAfter(h, now); got != c.want {
			t.Errorf("%v: %v, want %v", c.h, got, c.want)
		}
	}
}

func TestKindForStatus(t *testing.T) {
	cases := map[int]model.Kind{
		400: model.KindInvalidRequest, 401: model.KindAuth, 402: model.KindBilling, 403: model.KindAuth,
		404: model.KindInvalidRequest, 408: model.KindServer, 409: model.KindServer, 413: model.KindContextTooLong,
		422: model.KindInvalidRequest, 429: model.KindRateLimited, 500: model.KindServer, 502: model.KindServer,
		503: model.KindServer, 529: model.KindOverloaded,
	}
	for status, want := range cases {
		if got := KindForStatus(status); got != want {
			t.Errorf("%d: %v, want %v", status, got, want)
		}
	}
}

func TestScrub(t *testing.T) {
	if got := Scrub("bad key sk-abcdef123 in request", "sk-abcdef123"); got != "bad key [redacted] in request" {
		t.Fatal(got)
	}
	if got := Scrub("short", "abc"); got != "short" {
		t.Fatal(got)
	}
}

// A silent body fails with ErrStalled instead of blocking forever.
func TestStallBody(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	b := newStallBody(pr, 20*time.Millisecond)
	go func() { _, _ = pw.Write([]byte("x")) }()
	buf := make([]byte, 8)
	if n, err := b.Read(buf); n != 1 || err != nil {
		t.Fatalf("first read: %d %v", n, err)
	}
	if _, err := b.Read(buf); err != ErrStalled {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
	if err := b.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Fatal(err)
	}
}
