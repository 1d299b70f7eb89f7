package vaults

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/mcp"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// validateCredential answers mcp_oauth_validate. First the
// credential's own checks:
//
//   - mcp_oauth with a refresh configuration: a real refresh_token grant
//     against the token endpoint. On success the new tokens are stored and
//     the verdict is "unknown" (the SDK's wording: a refresh succeeded but
//     the new access token was not tested); a 4xx or unusable answer means
//     the end user must authorize again ("invalid"); a 5xx or unreachable
//     endpoint tells nothing ("unknown").
//   - mcp_oauth without refresh: refresh.status "no_refresh_token"; the
//     verdict is "invalid" once expires_at has passed, else
//     "unknown".
//   - static_bearer and environment_variable: nothing to exchange, so
//     refresh is null.
//
// Then, for MCP credentials not already known to be invalid, the MCP probe:
// connect to the credential's server with it and list its tools. Success
// makes the verdict "valid"; a refusal of the credential makes it
// "invalid"; an unreachable server leaves it "unknown". A failed probe is
// described in mcp_probe.
func (h *Handler) validateCredential(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	ctx := r.Context()
	ws, vaultID, credID := httpx.Workspace(r), r.PathValue("vault_id"), r.PathValue("credential_id")
	rec, c, err := loadCredential(ctx, h.st, ws, vaultID, credID)
	if err != nil {
		return err
	}
	if rec.ArchivedAt != nil {
		return errdefs.Conflict("credential %s is archived; its secrets were deleted", credID)
	}
	v := wire.CredentialValidation{
		Type: wire.TypeVaultCredentialValidation, CredentialID: credID, VaultID: vaultID, Status: wire.ValidationUnknown,
	}
	if c.Auth.Type == wire.CredentialMCPOAuth {
		if c.Auth.Refresh == nil {
			v.Refresh = &wire.CredentialRefresh{Status: wire.RefreshNoRefreshToken}
			v.Status = expiryVerdict(c.Auth.ExpiresAt)
		} else {
			unlock := h.refreshing.lock(credID)
			defer unlock()
			if err := h.refresh(ctx, ws, vaultID, credID, &v); err != nil {
				return err
			}
		}
	}
	if (c.Auth.Type == wire.CredentialMCPOAuth || c.Auth.Type == wire.CredentialStaticBearer) && v.Status != wire.ValidationInvalid {
		h.probe(ctx, ws, vaultID, c.Auth.MCPServerURL, &v)
	}
	v.ValidatedAt = wire.Now()
	return httpx.OK(w, v)
}

// probe connects to the credential's MCP server with it (MCP initialize,
// then tools/list) and records the verdict.
func (h *Handler) probe(ctx context.Context, ws, vaultID, serverURL string, v *wire.CredentialValidation) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cred, err := mcp.Resolve(ctx, h.log, h.st, h.sealer, ws, []string{vaultID}, serverURL)
	if err != nil {
		v.Status = wire.ValidationInvalid
		v.MCPProbe = &wire.MCPProbe{Method: "initialize"}
		return
	}
	conn, err := mcp.Connect(ctx, mcp.ServerConfig{Logger: h.log, URL: serverURL, OnRefresh: mcp.StoreRefreshed(h.st, h.sealer, ws)}, cred)
	method := "initialize"
	if err == nil {
		method = "tools/list"
		_, err = conn.Tools(ctx)
		_ = conn.Close()
	}
	var ce *mcp.CredentialError
	switch {
	case err == nil:
		v.Status = wire.ValidationValid
	case errors.As(err, &ce):
		v.Status = wire.ValidationInvalid
		v.MCPProbe = &wire.MCPProbe{Method: method, HTTPResponse: &wire.HTTPResponse{StatusCode: http.StatusUnauthorized, ContentType: "text/plain", Body: ce.Error()}}
	default:
		v.Status = wire.ValidationUnknown
		v.MCPProbe = &wire.MCPProbe{Method: method}
	}
}

func expiryVerdict(exp *time.Time) string {
	if exp != nil && !exp.After(time.Now()) {
		return wire.ValidationInvalid
	}
	return wire.ValidationUnknown
}

// refresh performs the refresh-token exchange for an mcp_oauth credential
// and stores its result. The caller holds the credential's refresh lock.
func (h *Handler) refresh(ctx context.Context, ws, vaultID, credID string, v *wire.CredentialValidation) error {
	// Reload: another refresh may have rotated the tokens while we waited.
	rec, c, err := loadCredential(ctx, h.st, ws, vaultID, credID)
	if err != nil {
		return err
	}
	if rec.ArchivedAt != nil || c.Auth.Refresh == nil {
		return errdefs.Conflict("credential %s changed during validation; retry", credID)
	}
	sec, err := h.sealer.OpenSecret(credID, rec.Secret)
	if err != nil {
		return errdefs.Internal(err, "open credential secret")
	}
	if sec.RefreshToken == "" {
		v.Refresh = &wire.CredentialRefresh{Status: wire.RefreshNoRefreshToken}
		v.Status = expiryVerdict(c.Auth.ExpiresAt)
		return nil
	}
	v.HasRefreshToken = true
	cfg := c.Auth.Refresh
	req := vault.RefreshRequest{
		TokenEndpoint: cfg.TokenEndpoint, AuthMethod: cfg.TokenEndpointAuth.Type, ClientID: cfg.ClientID,
		ClientSecret: sec.ClientSecret, RefreshToken: sec.RefreshToken,
	}
	if cfg.Scope != nil {
		req.Scope = *cfg.Scope
	}
	if cfg.Resource != nil {
		req.Resource = *cfg.Resource
	}
	// A client hanging up must not abandon an exchange whose rotated
	// refresh token only this request will ever see.
	bg := context.WithoutCancel(ctx)
	tok, err := h.oauth.Refresh(bg, req)
	var rerr *vault.RefreshError
	switch {
	case errors.As(err, &rerr) && rerr.ConnectError:
		h.log.WarnContext(ctx, "credential refresh: token endpoint unreachable", "credential_id", credID, "err", err)
		v.Refresh = &wire.CredentialRefresh{Status: wire.RefreshConnectError}
		return nil
	case errors.As(err, &rerr):
		resp := rerr.Response
		h.log.InfoContext(ctx, "credential refresh refused", "credential_id", credID, "status_code", resp.StatusCode)
		v.Refresh = &wire.CredentialRefresh{Status: wire.RefreshFailed, HTTPResponse: &wire.HTTPResponse{
			StatusCode: resp.StatusCode, ContentType: resp.ContentType, Body: resp.Body, BodyTruncated: resp.BodyTruncated,
		}}
		if resp.StatusCode < 500 {
			v.Status = wire.ValidationInvalid
		}
		return nil
	case err != nil:
		return errdefs.Internal(err, "refresh credential")
	}
	err = h.st.InTx(bg, func(ctx context.Context, tx store.Tx) error {
		rec, c, err := loadCredential(ctx, tx, ws, vaultID, credID)
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			return errdefs.Conflict("credential %s was archived during validation", credID)
		}
		sec, err := h.sealer.OpenSecret(credID, rec.Secret)
		if err != nil {
			return errdefs.Internal(err, "open credential secret")
		}
		sec.AccessToken = tok.AccessToken
		if tok.RefreshToken != "" {
			sec.RefreshToken = tok.RefreshToken
		}
		if rec.Secret, err = h.sealer.SealSecret(credID, sec); err != nil {
			return errdefs.Internal(err, "seal credential secret")
		}
		c.Auth.ExpiresAt = tok.Expiry
		c.UpdatedAt = wire.Now()
		return h.save(ctx, tx, &rec, c)
	})
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "credential refreshed", "credential_id", credID, "rotated_refresh_token", tok.RefreshToken != "")
	v.Refresh = &wire.CredentialRefresh{Status: wire.RefreshSucceeded}
	return nil
}
