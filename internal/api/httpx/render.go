// Package httpx holds what every API handler shares: the handler signature,
// JSON and error rendering (the one place error classes become HTTP statuses),
// strict request decoding, validation helpers that name the field, the
// authenticated principal, and cursor pagination.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// HandlerFunc is what every route implements: it writes a success response
// itself and returns an error for everything else, which serve renders.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// WriteJSON writes v with an explicit JSON content type (the Go SDK refuses
// to decode anything else) and a status that is never 204.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errdefs.Internal(err, "encode response")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// OK writes a 200 JSON response.
func OK(w http.ResponseWriter, v any) error { return WriteJSON(w, http.StatusOK, v) }

type errorBody struct {
	Type      string      `json:"type"`
	Error     errorDetail `json:"error"`
	RequestID string      `json:"request_id"`
}

type errorDetail struct {
	Type    string         `json:"type"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
	// Fields are the error type's own members, beside type and message.
	Fields map[string]any `json:"-"`
}

func (d errorDetail) MarshalJSON() ([]byte, error) {
	type plain errorDetail
	if len(d.Fields) == 0 {
		return json.Marshal(plain(d))
	}
	m := make(map[string]any, len(d.Fields)+3)
	for k, v := range d.Fields {
		m[k] = v
	}
	m["type"], m["message"] = d.Type, d.Message
	if len(d.Details) > 0 {
		m["details"] = d.Details
	}
	return json.Marshal(m)
}

// classes maps every error class to its HTTP status and wire error type. It
// is the only place where that mapping exists.
var classes = map[errdefs.Class]struct {
	status int
	typ    string
}{
	errdefs.ClassInvalid:            {http.StatusBadRequest, "invalid_request_error"},
	errdefs.ClassUnauthenticated:    {http.StatusUnauthorized, "authentication_error"},
	errdefs.ClassPermissionDenied:   {http.StatusForbidden, "permission_error"},
	errdefs.ClassNotFound:           {http.StatusNotFound, "not_found_error"},
	errdefs.ClassConflict:           {http.StatusConflict, "invalid_request_error"},
	errdefs.ClassPreconditionFailed: {http.StatusPreconditionFailed, "invalid_request_error"},
	errdefs.ClassTooLarge:           {http.StatusRequestEntityTooLarge, "request_too_large"},
	errdefs.ClassRateLimited:        {http.StatusTooManyRequests, "rate_limit_error"},
	errdefs.ClassUnavailable:        {529, "overloaded_error"},
	errdefs.ClassTimeout:            {http.StatusGatewayTimeout, "timeout_error"},
	errdefs.ClassStorageNotReady:    {http.StatusServiceUnavailable, "api_error"},
	errdefs.ClassInternal:           {http.StatusInternalServerError, "api_error"},
}

// WriteError renders err as the standard error envelope.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody is left to read a response.
		return
	}
	e, classified := errdefs.As(err)
	if !classified {
		e = errdefs.Internal(err, "internal server error")
	}
	c := classes[e.Class]
	msg := e.Message
	rid := w.Header().Get("request-id")
	switch e.Class {
	case errdefs.ClassInternal:
		log.ErrorContext(r.Context(), "request failed", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal server error"
	case errdefs.ClassStorageNotReady:
		log.WarnContext(r.Context(), "storage not ready", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	typ := c.typ
	if e.Type != "" {
		typ = e.Type
	}
	var details map[string]any
	if e.Code != "" || len(e.Details) > 0 {
		details = map[string]any{}
		for k, v := range e.Details {
			details[k] = v
		}
		if e.Code != "" {
			details["error_code"] = e.Code
		}
	}
	switch e.Class {
	case errdefs.ClassInvalid, errdefs.ClassConflict, errdefs.ClassNotFound, errdefs.ClassPreconditionFailed,
		errdefs.ClassUnauthenticated, errdefs.ClassPermissionDenied, errdefs.ClassTooLarge:
		// Deterministic: the SDK would otherwise retry 409s twice more.
		w.Header().Set("x-should-retry", "false")
	}
	_ = WriteJSON(w, c.status, errorBody{
		Type:      "error",
		Error:     errorDetail{Type: typ, Message: msg, Details: details, Fields: e.Fields},
		RequestID: rid,
	})
}
