package model

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Kind classifies an upstream failure by what the loop should do about it.
type Kind uint8

// Kinds. RateLimited, Overloaded, Server and Network are transient: retry
// after Error.RetryAfter or a backoff. The others are fatal for the turn.
const (
	KindUnknown        Kind = iota
	KindRateLimited         // 429, or a rate_limit_error event
	KindOverloaded          // 529 / overloaded_error
	KindServer              // 5xx, api_error, a malformed response
	KindNetwork             // connection refused or reset, stream cut or stalled
	KindInvalidRequest      // 400/404/422: the request itself is wrong
	KindContextTooLong      // the prompt does not fit the model's context window
	KindAuth                // 401/403: the configured key is missing or refused
	KindBilling             // 402 / billing_error: out of credits
	KindNotConfigured       // no provider serves the model (or it has no key)
)

var kindNames = [...]string{
	KindUnknown:        "unknown",
	KindRateLimited:    "rate_limited",
	KindOverloaded:     "overloaded",
	KindServer:         "server_error",
	KindNetwork:        "network_error",
	KindInvalidRequest: "invalid_request",
	KindContextTooLong: "context_too_long",
	KindAuth:           "auth_error",
	KindBilling:        "billing_error",
	KindNotConfigured:  "not_configured",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Error is a failed model call. Message is safe to put in a session.error
// event: providers build it from the upstream's error message with the API
// key scrubbed, never from request headers.
type Error struct {
	Kind Kind
	// Provider is "anthropic", "openai" or "router".
	Provider string
	// Status is the upstream HTTP status; 0 when there was no response or the
	// error arrived inside a 200 stream.
	Status int
	// Type is the upstream error type (e.g. "overloaded_error"), if any.
	Type    string
	Message string
	// RetryAfter is the upstream's retry-after hint; 0 when none was given.
	RetryAfter time.Duration
	// RequestID is the upstream request id, for support tickets.
	RequestID string
	// Err is the underlying cause, for logs. It may contain URLs but never
	// credentials.
	Err error
}

func (e *Error) Error() string {
	var sb strings.Builder
	if e.Provider != "" {
		sb.WriteString(e.Provider)
		sb.WriteString(": ")
	}
	sb.WriteString(e.Kind.String())
	if e.Status != 0 || e.Type != "" {
		sb.WriteString(" (")
		if e.Status != 0 {
			fmt.Fprintf(&sb, "%d", e.Status)
			if e.Type != "" {
				sb.WriteString(" ")
			}
		}
		sb.WriteString(e.Type)
		sb.WriteString(")")
	}
	if e.Message != "" {
		sb.WriteString(": ")
		sb.WriteString(e.Message)
	}
	return sb.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed later.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimited, KindOverloaded, KindServer, KindNetwork:
		return true
	}
	return false
}

// SessionErrorType is the error.type of the session.error event that reports
// this failure.
func (e *Error) SessionErrorType() string {
	switch e.Kind {
	case KindRateLimited:
		return "model_rate_limited_error"
	case KindOverloaded:
		return "model_overloaded_error"
	case KindBilling:
		return "billing_error"
	}
	return "model_request_failed_error"
}

// AsError returns err as a *Error if it is (or wraps) one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsRetryable reports whether err is a transient model failure. Context
// cancellation is not: the caller asked to stop.
func IsRetryable(err error) bool {
	e, ok := AsError(err)
	return ok && e.Retryable()
}

// Backoff is the loop's retry schedule for transient model errors.
type Backoff struct {
	// Attempts is how many retries to make after the first failure.
	Attempts int
	// Base is the first delay; each retry doubles it, up to Max.
	Base, Max time.Duration
	// MaxRetryAfter caps an upstream retry-after hint, so a bogus hint cannot
	// park a session for hours. Zero means no cap.
	MaxRetryAfter time.Duration
}

// DefaultBackoff retries for roughly two minutes in total.
var DefaultBackoff = Backoff{Attempts: 6, Base: time.Second, Max: 32 * time.Second, MaxRetryAfter: 5 * time.Minute}

// Delay returns how long to wait before retry number attempt (0-based) after
// err, and false when err is not retryable or the attempts are used up. An
// upstream retry-after hint wins over the computed delay; otherwise the delay
// is exponential with jitter (half fixed, half random) so that sessions
// throttled together do not retry in lockstep.
func (b Backoff) Delay(attempt int, err error) (time.Duration, bool) {
	e, ok := AsError(err)
	if !ok || !e.Retryable() || attempt < 0 || attempt >= b.Attempts {
		return 0, false
	}
	if e.RetryAfter > 0 {
		if b.MaxRetryAfter > 0 && e.RetryAfter > b.MaxRetryAfter {
			return b.MaxRetryAfter, true
		}
		return e.RetryAfter, true
	}
	d := b.Base
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if d <= 0 {
		return 0, true
	}
	half := d / 2
	return half + rand.N(d-half+1), true
}
