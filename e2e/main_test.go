// Package e2e drives a real `hangar serve` process through the official Go
// SDK (and raw HTTP where the SDK cannot express a request) and asserts on
// what comes back. Each test's comment says the rule it checks.
package e2e

import (
	"errors"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// apiErr asserts err is an API error with the given status and error type
// and returns it.
func apiErr(t *testing.T, err error, status int, typ string) *anthropic.Error {
	t.Helper()
	var e *anthropic.Error
	if !errors.As(err, &e) {
		t.Fatalf("expected an API error with status %d, got %v", status, err)
	}
	if e.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", e.StatusCode, status, e.RawJSON())
	}
	if typ != "" && string(e.Type()) != typ {
		t.Fatalf("error.type = %q, want %q (body %s)", e.Type(), typ, e.RawJSON())
	}
	if e.RequestID == "" {
		t.Fatalf("error without request_id: %s", e.RawJSON())
	}
	return e
}
