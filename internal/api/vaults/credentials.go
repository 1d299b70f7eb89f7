package vaults

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/webhook"
	"github.com/hangarhq/hangar/internal/wire"
)

// loadVault returns the vault record, not found when it is missing or in
// another workspace.
func loadVault(ctx context.Context, tx store.Tx, ws, vaultID string) (store.Record, error) {
	return tx.Get(ctx, ws, store.KindVault, vaultID)
}

// loadCredential returns a credential that belongs to vaultID, with its
// object decoded. A credential of another vault is not found here.
func loadCredential(ctx context.Context, tx store.Tx, ws, vaultID, credID string) (store.Record, wire.Credential, error) {
	var c wire.Credential
	if _, err := loadVault(ctx, tx, ws, vaultID); err != nil {
		return store.Record{}, c, err
	}
	rec, err := tx.Get(ctx, ws, store.KindCredential, credID)
	if err == nil && rec.Parent != vaultID {
		err = errdefs.NotFound("credential %s not found in vault %s", credID, vaultID)
	}
	if err != nil {
		return rec, c, err
	}
	if err := json.Unmarshal(rec.Data, &c); err != nil {
		return rec, c, errdefs.Internal(err, "decode credential %s", credID)
	}
	return rec, c, nil
}

func (h *Handler) createCredential(w http.ResponseWriter, r *http.Request) error {
	var p wire.CredentialCreateParams
	now := wire.Now()
	var auth wire.CredentialAuth
	var sec vault.Secret
	if err := httpx.DecodeJSONWith(r, &p, func() (err error) {
		auth, sec, err = decodeCreateAuth(p.Auth, now)
		return err
	}); err != nil {
		return err
	}
	var display *string
	if v, ok := p.DisplayName.Value(); ok {
		if err := check.Name("display_name", v, 0, maxDisplayName); err != nil {
			return err
		}
		if v != "" {
			display = &v
		}
	}
	if err := check.Metadata("metadata", p.Metadata); err != nil {
		return err
	}
	ws, vaultID := httpx.Workspace(r), r.PathValue("vault_id")
	c := wire.Credential{
		ID: ids.New(ids.Credential), Type: wire.TypeVaultCredential, VaultID: vaultID,
		DisplayName: display, Metadata: copyMetadata(p.Metadata), Auth: auth,
		CreatedAt: now, UpdatedAt: now,
	}
	sealed, err := h.sealer.SealSecret(c.ID, sec)
	if err != nil {
		return errdefs.Internal(err, "seal credential secret")
	}
	data, err := json.Marshal(c)
	if err != nil {
		return errdefs.Internal(err, "encode credential")
	}
	key := credentialKey(auth)
	sent := h.hooks.Batch()
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		vrec, err := loadVault(ctx, tx, ws, vaultID)
		if err != nil {
			return err
		}
		if vrec.ArchivedAt != nil {
			return errdefs.Conflict("vault %s is archived and can no longer be changed", vaultID)
		}
		// One active credential per key; archived ones released
		// their key when they were archived.
		if other, err := tx.GetByName(ctx, ws, store.KindCredential, vaultID, key); err == nil {
			field, value := describeKey(auth)
			return errdefs.Conflict("%s: vault %s already has an active credential (%s) for %q", field, vaultID, other.ID, value)
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
		// Archived credentials do not count, so that the documented
		// way to change a key (archive, then create anew) works at the limit.
		n, err := tx.Count(ctx, ws, store.KindCredential, vaultID, false)
		if err != nil {
			return err
		}
		if n >= maxCredentials {
			return errdefs.Conflict("vault %s already holds the maximum of %d active credentials; archive or delete one first", vaultID, maxCredentials)
		}
		rec := store.Record{
			Kind: store.KindCredential, ID: c.ID, Workspace: ws, Parent: vaultID, Name: key,
			Data: data, Secret: sealed, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.Insert(ctx, &rec); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "vault_credential.created", ID: c.ID, VaultID: vaultID})
	})
	if err != nil {
		return err
	}
	sent.Send()
	h.changes.Changed(r.Context(), changes.Credential(ws, vaultID, c.ID))
	return httpx.OK(w, c)
}

func (h *Handler) getCredential(w http.ResponseWriter, r *http.Request) error {
	rec, _, err := loadCredential(r.Context(), h.st, httpx.Workspace(r), r.PathValue("vault_id"), r.PathValue("credential_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, json.RawMessage(rec.Data))
}

func (h *Handler) listCredentials(w http.ResponseWriter, r *http.Request) error {
	ws, vaultID := httpx.Workspace(r), r.PathValue("vault_id")
	if _, err := loadVault(r.Context(), h.st, ws, vaultID); err != nil {
		return err
	}
	return h.list(w, r, store.ListOptions{Workspace: ws, Kind: store.KindCredential, Parent: vaultID, ParentSet: true})
}

func (h *Handler) updateCredential(w http.ResponseWriter, r *http.Request) error {
	var p wire.CredentialUpdateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	if p.DisplayName.Set && !p.DisplayName.Null {
		if err := check.Name("display_name", p.DisplayName.V, 1, maxDisplayName); err != nil {
			return err
		}
	}
	if err := check.MetadataPatch("metadata", p.Metadata); err != nil {
		return err
	}
	ws, vaultID, credID := httpx.Workspace(r), r.PathValue("vault_id"), r.PathValue("credential_id")
	var c wire.Credential
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		var rec store.Record
		var err error
		if rec, c, err = loadCredential(ctx, tx, ws, vaultID, credID); err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			return errdefs.Conflict("credential %s is archived and can no longer be changed", credID)
		}
		now := wire.Now()
		if p.Auth != nil {
			sec, err := h.sealer.OpenSecret(credID, rec.Secret)
			if err != nil {
				return errdefs.Internal(err, "open credential secret")
			}
			auth, nsec, err := decodeUpdateAuth(p.Auth, c.Auth, sec, now)
			if err != nil {
				return err
			}
			if rec.Secret, err = h.sealer.SealSecret(credID, nsec); err != nil {
				return errdefs.Internal(err, "seal credential secret")
			}
			c.Auth = auth
		}
		if p.DisplayName.Set {
			if v, ok := p.DisplayName.Value(); ok {
				c.DisplayName = &v
			} else {
				c.DisplayName = nil
			}
		}
		c.Metadata = p.Metadata.Apply(c.Metadata)
		if err := check.Metadata("metadata", c.Metadata); err != nil {
			return err
		}
		c.UpdatedAt = now
		return h.save(ctx, tx, &rec, c)
	})
	if err != nil {
		return err
	}
	if p.Auth != nil {
		// A rotated secret is used from the sessions' next request on
		// (the name and metadata are nothing the sessions use).
		h.changes.Changed(r.Context(), changes.Credential(ws, vaultID, credID))
	}
	return httpx.OK(w, c)
}

func (h *Handler) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	ws, vaultID, credID := httpx.Workspace(r), r.PathValue("vault_id"), r.PathValue("credential_id")
	sent := h.hooks.Batch()
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if _, _, err := loadCredential(ctx, tx, ws, vaultID, credID); err != nil {
			return err
		}
		if err := tx.Delete(ctx, ws, store.KindCredential, credID); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "vault_credential.deleted", ID: credID, VaultID: vaultID})
	})
	if err != nil {
		return err
	}
	sent.Send()
	h.changes.Changed(r.Context(), changes.Credential(ws, vaultID, credID))
	return httpx.OK(w, wire.Deleted{ID: credID, Type: wire.TypeVaultCredentialDeleted})
}

// archiveCredential archives one credential. Archiving an archived
// credential returns it unchanged.
func (h *Handler) archiveCredential(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	ws, vaultID, credID := httpx.Workspace(r), r.PathValue("vault_id"), r.PathValue("credential_id")
	var c wire.Credential
	sent := h.hooks.Batch()
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, _, err := loadCredential(ctx, tx, ws, vaultID, credID)
		if err != nil {
			return err
		}
		was := rec.ArchivedAt
		if c, err = h.archiveCredentialRecord(ctx, tx, &rec, wire.Now()); err != nil || was != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "vault_credential.archived", ID: credID, VaultID: vaultID})
	})
	if err != nil {
		return err
	}
	sent.Send()
	h.changes.Changed(r.Context(), changes.Credential(ws, vaultID, credID))
	return httpx.OK(w, c)
}

// archiveCredentialRecord archives rec unless it already is: the secret is
// dropped for good and the key released for a new credential.
func (h *Handler) archiveCredentialRecord(ctx context.Context, tx store.Tx, rec *store.Record, now time.Time) (wire.Credential, error) {
	var c wire.Credential
	if err := json.Unmarshal(rec.Data, &c); err != nil {
		return c, errdefs.Internal(err, "decode credential %s", rec.ID)
	}
	if rec.ArchivedAt != nil {
		return c, nil
	}
	c.ArchivedAt, c.UpdatedAt = &now, now
	rec.Secret, rec.Name = nil, ""
	return c, h.save(ctx, tx, rec, c)
}
