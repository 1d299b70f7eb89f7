// Package errdefs owns Hangar's error classes. Every layer wraps its failures in
// one of these classes; only the API layer turns a class into an HTTP status and
// the standard error envelope, so that mapping lives in exactly one place.
package errdefs

import (
	"errors"
	"fmt"
)

// Class is the kind of failure, independent of transport.
type Class int

const (
	ClassInternal Class = iota
	ClassInvalid
	ClassUnauthenticated
	ClassPermissionDenied
	ClassNotFound
	ClassConflict
	ClassPreconditionFailed
	ClassTooLarge
	ClassRateLimited
	ClassUnavailable
	ClassTimeout
	// ClassStorageNotReady: the store cannot serve yet; the same request
	// may succeed shortly.
	ClassStorageNotReady
)

// Error is a classified error. Message is safe to show to API clients.
type Error struct {
	Class   Class
	Message string
	// Code is the optional details.error_code of the wire envelope.
	Code string
	// Details are extra fields of error.details (besides error_code).
	Details map[string]any
	// Type overrides the wire error.type (for example "conflict_error").
	Type string
	// Fields are extra members of the error object itself, beside type and
	// message, where an error type defines them (a path conflict names the
	// conflicting memory there).
	Fields map[string]any
	cause  error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Message + ": " + e.cause.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// Is lets errors.Is(err, ErrNotFound) match any error of the same class.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Class == e.Class
}

// Sentinels for errors.Is checks by class. errors.Is(err, ErrNotFound) is
// the one way code asks whether something was missing.
var (
	ErrInvalid            = &Error{Class: ClassInvalid}
	ErrNotFound           = &Error{Class: ClassNotFound}
	ErrConflict           = &Error{Class: ClassConflict}
	ErrUnauthenticated    = &Error{Class: ClassUnauthenticated}
	ErrPermissionDenied   = &Error{Class: ClassPermissionDenied}
	ErrPreconditionFailed = &Error{Class: ClassPreconditionFailed}
	ErrTooLarge           = &Error{Class: ClassTooLarge}
)

func newf(c Class, format string, args ...any) *Error {
	return &Error{Class: c, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input. The message should name the offending field.
func Invalid(format string, args ...any) *Error { return newf(ClassInvalid, format, args...) }

// NotFound reports a missing (or invisible to this tenant) object.
func NotFound(format string, args ...any) *Error { return newf(ClassNotFound, format, args...) }

// Conflict reports a clash with the current state (duplicate name, stale
// version, write to an archived object). Retrying the same request cannot help.
func Conflict(format string, args ...any) *Error { return newf(ClassConflict, format, args...) }

func Unauthenticated(format string, args ...any) *Error {
	return newf(ClassUnauthenticated, format, args...)
}

func PermissionDenied(format string, args ...any) *Error {
	return newf(ClassPermissionDenied, format, args...)
}

func PreconditionFailed(format string, args ...any) *Error {
	return newf(ClassPreconditionFailed, format, args...)
}

func TooLarge(format string, args ...any) *Error { return newf(ClassTooLarge, format, args...) }

func Unavailable(format string, args ...any) *Error { return newf(ClassUnavailable, format, args...) }

// StorageNotReady reports a store that cannot serve now (locked, not yet
// reachable) but may shortly; the cause is logged, never shown.
func StorageNotReady(cause error) *Error {
	e := newf(ClassStorageNotReady, "storage is not ready; retry shortly")
	e.Code = "storage_not_ready"
	e.cause = cause
	return e
}

// Internal wraps an unexpected failure; its cause is logged, never shown.
func Internal(cause error, format string, args ...any) *Error {
	e := newf(ClassInternal, format, args...)
	e.cause = cause
	return e
}

// WithCode sets details.error_code.
func (e *Error) WithCode(code string) *Error { e.Code = code; return e }

// WithDetail adds a field to error.details.
func (e *Error) WithDetail(k string, v any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[k] = v
	return e
}

// WithField adds a member to the error object itself.
func (e *Error) WithField(k string, v any) *Error {
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	e.Fields[k] = v
	return e
}

// Wrap attaches a cause to a classified error (kept for logs, not shown).
func (e *Error) Wrap(cause error) *Error { e.cause = cause; return e }

// ClassOf returns the class of err; unclassified errors are internal.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassInternal
}

// As returns the classified error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
