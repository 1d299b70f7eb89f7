package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// RefreshWindow is how close to expires_at an mcp_oauth access token is
// refreshed ahead of use.
const RefreshWindow = 60 * time.Second

// Credential is a decrypted vault credential ready to authenticate to one
// MCP server. The zero value means "no credential": requests go out without
// an Authorization header. It holds plaintext secrets: it must never be
// logged, stored unsealed or put in an event.
type Credential struct {
	// Type is wire.CredentialStaticBearer, wire.CredentialMCPOAuth or "".
	Type         string
	VaultID      string
	CredentialID string
	// ServerURL is the credential's mcp_server_url as stored.
	ServerURL string
	// Token is the bearer sent: the static_bearer token or the mcp_oauth
	// access token.
	Token string
	// ExpiresAt is the mcp_oauth access token's expiry; nil when unknown.
	ExpiresAt *time.Time
	// Refresh is the mcp_oauth refresh configuration, nil when the
	// credential has none or no refresh token.
	Refresh *vault.RefreshRequest
	// RefreshErr is set by Resolve when a refresh ahead of expiry failed
	// but the current token has not expired yet: the credential is still
	// usable, and the caller may report the failure.
	RefreshErr error
}

// String, GoString and LogValue keep a Credential that reaches a formatter
// or logger by mistake from printing its tokens.
func (c Credential) String() string {
	return fmt.Sprintf("mcp.Credential{type=%s vault=%s id=%s}", c.Type, c.VaultID, c.CredentialID)
}
func (c Credential) GoString() string { return c.String() }
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", c.Type), slog.String("vault_id", c.VaultID), slog.String("credential_id", c.CredentialID))
}

// IsZero reports whether there is no credential.
func (c Credential) IsZero() bool { return c.Type == "" && c.Token == "" }

// canRefresh reports whether a refresh_token grant is possible.
func (c Credential) canRefresh() bool {
	return c.Type == wire.CredentialMCPOAuth && c.Refresh != nil && c.Refresh.RefreshToken != "" && c.Refresh.TokenEndpoint != ""
}

// expiresWithin reports whether the access token expires within d of now.
func (c Credential) expiresWithin(now time.Time, d time.Duration) bool {
	return c.ExpiresAt != nil && c.ExpiresAt.Sub(now) < d
}

// Reasons a credential cannot be used.
const (
	// ReasonRejected: the server answered 401/403 with the credential,
	// after a refresh when one was possible.
	ReasonRejected = "rejected"
	// ReasonMissing: the server requires authorization and no vault of the
	// session has a credential for it.
	ReasonMissing = "missing"
	// ReasonExpired: the mcp_oauth access token expired and cannot be
	// refreshed.
	ReasonExpired = "expired"
	// ReasonRefreshFailed: the refresh_token grant failed.
	ReasonRefreshFailed = "refresh_failed"
	// ReasonUnreadable: the credential's stored secret could not be opened.
	ReasonUnreadable = "unreadable"
)

// CredentialError is an MCP authentication failure. It names the server and,
// when a credential was involved, its vault, so the engine can emit a
// session.error describing it. It never contains a secret.
type CredentialError struct {
	// Server is the server's URL (with its agent-given name when known).
	Server       string
	VaultID      string
	CredentialID string
	Reason       string
	// Err is the underlying failure; a *vault.RefreshError for
	// ReasonRefreshFailed.
	Err error
}

func (e *CredentialError) Error() string {
	var who string
	if e.CredentialID != "" {
		who = fmt.Sprintf(" with credential %s of vault %s", e.CredentialID, e.VaultID)
	}
	var msg string
	switch e.Reason {
	case ReasonMissing:
		msg = "requires authorization and none of the session's vaults has a credential for it"
	case ReasonRejected:
		msg = "rejected the credential"
	case ReasonExpired:
		msg = "access token expired and the credential has no refresh token"
	case ReasonRefreshFailed:
		msg = "access token refresh failed"
	case ReasonUnreadable:
		msg = "stored secret could not be read"
	default:
		msg = e.Reason
	}
	s := fmt.Sprintf("mcp server %s%s: %s", e.Server, who, msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CredentialError) Unwrap() error { return e.Err }

var defaultOAuth = vault.NewOAuthClient()

// authTransport adds the credential's bearer token to every request, and
// refreshes an mcp_oauth token ahead of expiry and once on 401.
type authTransport struct {
	base      http.RoundTripper
	server    ServerConfig
	oauth     *vault.OAuthClient
	onRefresh func(context.Context, Credential) error
	now       func() time.Time

	mu   sync.Mutex
	cred Credential
	// gen counts refreshes, so that requests that failed concurrently with
	// the same token refresh it once.
	gen int
}

func newAuthTransport(server ServerConfig, cred Credential) *authTransport {
	t := &authTransport{base: server.Transport, server: server, oauth: server.OAuth, onRefresh: server.OnRefresh, now: time.Now, cred: cred}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.oauth == nil {
		t.oauth = defaultOAuth
	}
	return t
}

func (t *authTransport) current() Credential {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cred
}

// token returns the bearer to send, refreshing first when the token is
// about to expire. A failed early refresh is not fatal: the server decides.
func (t *authTransport) token(ctx context.Context) (string, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cred.canRefresh() && t.cred.expiresWithin(t.now(), RefreshWindow) {
		_ = t.refreshLocked(ctx)
	}
	return t.cred.Token, t.gen
}

// refresh performs a refresh unless another request already did since gen.
func (t *authTransport) refresh(ctx context.Context, gen int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen != gen {
		return nil
	}
	return t.refreshLocked(ctx)
}

func (t *authTransport) refreshLocked(ctx context.Context) error {
	if !t.cred.canRefresh() {
		return errors.New("credential has no refresh token")
	}
	// The exchange may rotate the refresh token: once started it must
	// finish even if the request that triggered it is cancelled.
	ctx = context.WithoutCancel(ctx)
	next, err := refreshCredential(ctx, t.oauth, t.cred)
	if err != nil {
		t.server.log().WarnContext(ctx, "mcp: token refresh failed", "server", t.server.URL, "credential", t.cred, "err", err)
		return err
	}
	t.cred = next
	t.gen++
	if t.onRefresh != nil {
		if err := t.onRefresh(ctx, next); err != nil {
			t.server.log().ErrorContext(ctx, "mcp: storing refreshed tokens failed", "server", t.server.URL, "credential", next, "err", err)
		}
	}
	return nil
}

// refreshCredential runs the refresh_token grant for c and returns c with
// the new tokens (keeping the old refresh token unless it was rotated).
func refreshCredential(ctx context.Context, oauth *vault.OAuthClient, c Credential) (Credential, error) {
	r := *c.Refresh
	tok, err := oauth.Refresh(ctx, r)
	if err != nil {
		return c, err
	}
	if tok.RefreshToken != "" {
		r.RefreshToken = tok.RefreshToken
	}
	c.Refresh = &r
	c.Token = tok.AccessToken
	c.ExpiresAt = tok.Expiry
	c.RefreshErr = nil
	return c, nil
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	st := callStateFrom(ctx)
	tok, gen := t.token(ctx)
	resp, err := t.send(req, tok)
	if err != nil {
		return nil, err
	}
	if st != nil {
		st.status.Store(int32(resp.StatusCode))
	}
	if resp.StatusCode != http.StatusUnauthorized {
		if resp.StatusCode == http.StatusForbidden && st != nil {
			st.unauthorized.Store(true)
		}
		return resp, nil
	}
	// One refresh-and-retry, only when the body can be replayed.
	if !t.current().canRefresh() || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		if st != nil {
			st.unauthorized.Store(true)
		}
		return resp, nil
	}
	if err := t.refresh(ctx, gen); err != nil {
		if st != nil {
			st.unauthorized.Store(true)
			st.refreshErr.Store(&err)
		}
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	retry := req
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		retry = req.Clone(ctx)
		retry.Body = body
	}
	tok, _ = t.token(ctx)
	resp, err = t.send(retry, tok)
	if err != nil {
		return nil, err
	}
	if st != nil {
		st.status.Store(int32(resp.StatusCode))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			st.unauthorized.Store(true)
		}
	}
	return resp, nil
}

// send forwards req with the bearer; RoundTrippers must not modify the
// caller's request, hence the clone.
func (t *authTransport) send(req *http.Request, tok string) (*http.Response, error) {
	if tok != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return t.base.RoundTrip(req)
}

// authFailure turns what the HTTP layer saw into a *CredentialError, or nil
// when the failure was not about authorization.
func (t *authTransport) authFailure(st *callState) error {
	if st == nil || !st.unauthorized.Load() {
		return nil
	}
	c := t.current()
	e := &CredentialError{Server: t.server.label(), VaultID: c.VaultID, CredentialID: c.CredentialID, Reason: ReasonRejected}
	switch {
	case c.IsZero():
		e.Reason = ReasonMissing
	case st.refreshErr.Load() != nil:
		e.Reason, e.Err = ReasonRefreshFailed, *st.refreshErr.Load()
	case c.Type == wire.CredentialMCPOAuth && !c.canRefresh() && c.expiresWithin(t.now(), 0):
		e.Reason = ReasonExpired
	}
	return e
}
