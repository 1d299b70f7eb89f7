package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// NormalizeURL is the form in which a credential's mcp_server_url and an
// agent's server url are compared: scheme and host lower-cased,
// default ports (:80 for http, :443 for https) dropped, the fragment
// dropped, and an empty path or a single trailing slash removed. Path and
// query stay case-sensitive. A string that does not parse as an absolute
// URL is compared as is.
func NormalizeURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return raw
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "http" && p == "80") && !(scheme == "https" && p == "443") {
		host += ":" + p
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	s := scheme + "://" + host + path
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s
}

// credLocks serializes refreshes of one credential within this process, so
// that two sessions starting together do not both spend a rotating refresh
// token (the second exchange would fail with invalid_grant).
var credLocks sync.Map // workspace/credential id → *sync.Mutex

func lockCredential(ws, id string) func() {
	m, _ := credLocks.LoadOrStore(ws+"/"+id, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// now is replaceable in tests.
var now = time.Now

// Resolve finds the credential for serverURL among the session's vaults:
// the first vault (in vaultIDs order) holding an active mcp_oauth or
// static_bearer credential whose mcp_server_url equals serverURL after
// NormalizeURL wins. Missing, archived and other-workspace vaults are
// skipped. No match returns the zero Credential and no error: whether the
// server needs one is for the caller to find out.
//
// An mcp_oauth access token within RefreshWindow of expires_at is refreshed
// first and the new tokens stored back sealed. If that refresh
// fails while the token is still valid, the credential is returned with
// RefreshErr set. A credential that cannot be used (secret unreadable,
// token expired without refresh, refresh failed after expiry) is a
// *CredentialError naming the server and the vault. A refresh that failed
// but left a usable token, and tokens that could not be stored back, are
// logged to log.
func Resolve(ctx context.Context, log *slog.Logger, st store.Store, sealer *vault.Sealer, ws string, vaultIDs []string, serverURL string) (Credential, error) {
	want := NormalizeURL(serverURL)
	for f, err := range vault.NewCredentials(st, sealer).Find(ctx, ws, vaultIDs, func(c wire.Credential) bool {
		return (c.Auth.Type == wire.CredentialMCPOAuth || c.Auth.Type == wire.CredentialStaticBearer) && NormalizeURL(c.Auth.MCPServerURL) == want
	}) {
		if err != nil {
			return Credential{}, err
		}
		cred, err := fromFound(f, serverURL)
		if err != nil {
			return Credential{}, err
		}
		if cred.Type != wire.CredentialMCPOAuth || !cred.expiresWithin(now(), RefreshWindow) {
			return cred, nil
		}
		return refreshAhead(ctx, log, st, sealer, ws, cred, serverURL)
	}
	return Credential{}, nil
}

// fromFound makes a Credential of a credential the lookup found.
func fromFound(f vault.Found, serverURL string) (Credential, error) {
	if f.SecretErr != nil {
		return Credential{}, &CredentialError{Server: serverURL, VaultID: f.VaultID, CredentialID: f.ID, Reason: ReasonUnreadable, Err: f.SecretErr}
	}
	c, sec := f.Credential, f.Secret
	cred := Credential{Type: c.Auth.Type, VaultID: f.VaultID, CredentialID: f.ID, ServerURL: c.Auth.MCPServerURL}
	switch c.Auth.Type {
	case wire.CredentialStaticBearer:
		cred.Token = sec.Token
	case wire.CredentialMCPOAuth:
		cred.Token = sec.AccessToken
		cred.ExpiresAt = c.Auth.ExpiresAt
		if r := c.Auth.Refresh; r != nil && sec.RefreshToken != "" {
			cred.Refresh = &vault.RefreshRequest{
				TokenEndpoint: r.TokenEndpoint, AuthMethod: r.TokenEndpointAuth.Type, ClientID: r.ClientID,
				ClientSecret: sec.ClientSecret, RefreshToken: sec.RefreshToken,
			}
			if r.Scope != nil {
				cred.Refresh.Scope = *r.Scope
			}
			if r.Resource != nil {
				cred.Refresh.Resource = *r.Resource
			}
		}
	}
	return cred, nil
}

// refreshAhead refreshes a credential close to expiry and stores the result.
func refreshAhead(ctx context.Context, log *slog.Logger, st store.Store, sealer *vault.Sealer, ws string, cred Credential, serverURL string) (Credential, error) {
	unlock := lockCredential(ws, cred.CredentialID)
	defer unlock()
	// Another session may have refreshed while we waited for the lock.
	rec, err := st.Get(ctx, ws, store.KindCredential, cred.CredentialID)
	if err != nil {
		return Credential{}, err
	}
	if rec.ArchivedAt == nil {
		if f, err := vault.NewCredentials(st, sealer).Open(rec); err == nil {
			if cur, err := fromFound(f, serverURL); err == nil {
				cred = cur
			}
		}
	}
	t := now()
	if !cred.expiresWithin(t, RefreshWindow) {
		return cred, nil
	}
	expired := cred.expiresWithin(t, 0)
	if !cred.canRefresh() {
		if expired {
			return Credential{}, &CredentialError{Server: serverURL, VaultID: cred.VaultID, CredentialID: cred.CredentialID, Reason: ReasonExpired}
		}
		return cred, nil
	}
	next, err := refreshCredential(context.WithoutCancel(ctx), defaultOAuth, cred)
	if err != nil {
		log.WarnContext(ctx, "mcp: refresh ahead of expiry failed", "server", serverURL, "credential", cred, "err", err)
		if expired {
			return Credential{}, &CredentialError{Server: serverURL, VaultID: cred.VaultID, CredentialID: cred.CredentialID, Reason: ReasonRefreshFailed, Err: err}
		}
		cred.RefreshErr = err
		return cred, nil
	}
	if err := storeTokens(context.WithoutCancel(ctx), st, sealer, ws, next); err != nil {
		// The new token works; only persistence failed. Use it anyway.
		log.ErrorContext(ctx, "mcp: storing refreshed tokens failed", "server", serverURL, "credential", next, "err", err)
	}
	return next, nil
}

// StoreRefreshed returns a ServerConfig.OnRefresh callback that stores
// refreshed tokens back into the credential's record, sealed.
func StoreRefreshed(st store.Store, sealer *vault.Sealer, ws string) func(context.Context, Credential) error {
	return func(ctx context.Context, c Credential) error {
		unlock := lockCredential(ws, c.CredentialID)
		defer unlock()
		return storeTokens(ctx, st, sealer, ws, c)
	}
}

// storeTokens writes c's access token, refresh token and expiry into its
// credential record in one transaction. An archived or moved credential is
// left alone: its secret was deleted on purpose.
func storeTokens(ctx context.Context, st store.Store, sealer *vault.Sealer, ws string, c Credential) error {
	if c.Type != wire.CredentialMCPOAuth || c.CredentialID == "" {
		return nil
	}
	return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, ws, store.KindCredential, c.CredentialID)
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil || rec.Parent != c.VaultID {
			return errdefs.Conflict("credential %s was archived or moved; refreshed tokens not stored", c.CredentialID)
		}
		var obj wire.Credential
		if err := json.Unmarshal(rec.Data, &obj); err != nil {
			return fmt.Errorf("decode credential %s: %w", rec.ID, err)
		}
		if obj.Auth.Type != wire.CredentialMCPOAuth {
			return errdefs.Conflict("credential %s is no longer mcp_oauth", c.CredentialID)
		}
		sec, err := sealer.OpenSecret(rec.ID, rec.Secret)
		if err != nil {
			return err
		}
		sec.AccessToken = c.Token
		if c.Refresh != nil && c.Refresh.RefreshToken != "" {
			sec.RefreshToken = c.Refresh.RefreshToken
		}
		if rec.Secret, err = sealer.SealSecret(rec.ID, sec); err != nil {
			return err
		}
		obj.Auth.ExpiresAt = c.ExpiresAt
		obj.UpdatedAt = wire.Now()
		if rec.Data, err = json.Marshal(obj); err != nil {
			return err
		}
		rec.UpdatedAt = obj.UpdatedAt
		return tx.Update(ctx, &rec)
	})
}
