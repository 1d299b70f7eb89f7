package httpx

import (
	"context"
	"net/http"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	KeyID     string
	Workspace string
	Admin     bool
	// EnvironmentID is set for environment keys.
	EnvironmentID string
	// SessionID and WorkID are set for a work item's sessions token, which
	// reaches only that session's worker endpoints and that item.
	SessionID string
	WorkID    string
}

// IsWorker reports whether the caller is a self-hosted worker's credential
// (an environment key or a work item's sessions token) rather than an API
// key.
func (p Principal) IsWorker() bool { return p.EnvironmentID != "" || p.SessionID != "" }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalOf returns the caller; authenticated routes always have one.
func PrincipalOf(r *http.Request) Principal {
	p, _ := r.Context().Value(principalKey{}).(Principal)
	return p
}

// Workspace is the tenant every object of the request belongs to.
func Workspace(r *http.Request) string { return PrincipalOf(r).Workspace }

// Router registers a route pattern ("METHOD /path/{wildcard}") with the API,
// which wraps it in authentication and error rendering.
type Router func(pattern string, h HandlerFunc)
