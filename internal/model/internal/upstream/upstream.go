// Package upstream holds what the HTTP providers share: the HTTP client with
// a stall watchdog, retry-after parsing, classification of upstream failures
// into model.Error kinds, and scrubbing of keys from messages.
package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hangarhq/hangar/internal/model"
)

// DefaultStallTimeout is how long a response may send nothing at all before
// the call fails as a retryable network error. Anthropic sends pings every
// few seconds and OpenAI-compatible servers send tokens, so minutes of
// silence means a dead connection that TCP has not noticed.
const DefaultStallTimeout = 5 * time.Minute

// ErrStalled is the read error of a response body that went silent.
var ErrStalled = errors.New("upstream sent nothing for too long")

// Client returns the HTTP client for a provider: base (or a clone of
// http.DefaultTransport's settings) with every response body guarded by the
// stall watchdog. No overall timeout: turns can stream for many minutes and
// are bounded by ctx and the watchdog instead.
func Client(base *http.Client, stall time.Duration) *http.Client {
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	var c http.Client
	if base != nil {
		c = *base
	}
	rt := c.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 10 * time.Minute
		rt = t
	}
	c.Transport = &stallTransport{base: rt, stall: stall}
	return &c
}

type stallTransport struct {
	base  http.RoundTripper
	stall time.Duration
}

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = newStallBody(resp.Body, t.stall)
	return resp, nil
}

// stallBody closes the underlying body when no Read has returned data for
// the stall period, which unblocks a Read stuck on a silent connection.
type stallBody struct {
	rc    io.ReadCloser
	stall time.Duration
	timer *time.Timer
	fired atomic.Bool
	once  sync.Once
}

func newStallBody(rc io.ReadCloser, d time.Duration) *stallBody {
	b := &stallBody{rc: rc, stall: d}
	b.timer = time.AfterFunc(d, func() {
		b.fired.Store(true)
		_ = rc.Close()
	})
	return b
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.fired.Load() {
		return n, ErrStalled
	}
	if n > 0 {
		b.timer.Reset(b.stall)
	}
	return n, err
}

func (b *stallBody) Close() error {
	b.once.Do(func() { b.timer.Stop() })
	return b.rc.Close()
}

// RetryAfter reads the upstream's retry hint: retry-after-ms (OpenAI),
// retry-after in seconds, or retry-after as an HTTP date.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < 1e6 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// KindForStatus classifies an HTTP status.
func KindForStatus(status int) model.Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return model.KindRateLimited
	case status == 529:
		return model.KindOverloaded
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return model.KindAuth
	case status == http.StatusPaymentRequired:
		return model.KindBilling
	case status == http.StatusRequestEntityTooLarge:
		return model.KindContextTooLong
	case status == http.StatusRequestTimeout || status == http.StatusConflict:
		// Both mean "try again" upstream (a timed-out or lock-contended
		// request), which the official SDKs retry as well.
		return model.KindServer
	case status >= 500:
		return model.KindServer
	case status >= 400:
		return model.KindInvalidRequest
	}
	return model.KindServer
}

// KindForType classifies an error type name as Anthropic and the
// OpenAI-compatible servers spell them; ok is false for names it does not know.
func KindForType(typ string) (model.Kind, bool) {
	switch strings.ToLower(typ) {
	case "rate_limit_error", "rate_limit_exceeded", "ratelimiterror", "too_many_requests":
		return model.KindRateLimited, true
	case "overloaded_error", "overloaded", "service_unavailable", "server_overloaded":
		return model.KindOverloaded, true
	case "api_error", "server_error", "internal_server_error", "internalservererror", "timeout_error":
		return model.KindServer, true
	case "authentication_error", "permission_error", "invalid_api_key", "authenticationerror", "permissiondeniederror":
		return model.KindAuth, true
	case "billing_error", "insufficient_quota":
		return model.KindBilling, true
	case "request_too_large", "context_length_exceeded", "exceed_context_size_error":
		return model.KindContextTooLong, true
	case "invalid_request_error", "not_found_error", "badrequesterror", "notfounderror", "invalid_request":
		return model.KindInvalidRequest, true
	}
	return 0, false
}

// LooksLikeContextOverflow recognises the "prompt too long" wording of
// Anthropic, OpenAI, vLLM, llama.cpp and Ollama, which all report it as a
// plain 400.
func LooksLikeContextOverflow(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{
		"prompt is too long",
		"exceed context limit",
		"exceeds the context",
		"context window",
		"maximum context length",
		"context length exceeded",
		"context_length_exceeded",
		"exceeds the available context size",
		"exceed_context_size",
		"too many tokens",
		"input is too long",
	} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// Scrub removes secret from msg, so an upstream that echoes the key it was
// given (some gateways do, in "invalid key sk-..." messages) cannot put it in
// a session event. Short secrets are left alone: replacing them would mangle
// ordinary words and they are not real keys.
func Scrub(msg, secret string) string {
	if len(secret) < 8 {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[redacted]")
}

// Transport classifies an error that is not an HTTP error response: ctx
// errors are returned as they are (the caller stopped the turn), everything
// else is a retryable network error.
func Transport(ctx context.Context, provider string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	msg := "could not reach the model provider"
	switch {
	case errors.Is(err, ErrStalled):
		msg = "the model provider stopped sending data"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		msg = "the connection to the model provider was cut"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "the model provider refused the connection"
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			msg = "the model provider timed out"
		}
	}
	return &model.Error{Kind: model.KindNetwork, Provider: provider, Message: msg, Err: err}
}
