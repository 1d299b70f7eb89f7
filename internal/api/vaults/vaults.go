// Package vaults serves the vault and vault credential endpoints
// (/v1/vaults/…): vault CRUD and archive, credentials with their write-only
// secrets sealed into the store record (never into the object, a response or
// a log line), their per-vault unique keys and limit, and mcp_oauth_validate,
// which performs a real OAuth refresh against the credential's token
// endpoint.
package vaults

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

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

// Handler serves the vaults endpoints.
type Handler struct {
	st     store.Store
	sealer *vault.Sealer
	oauth  *vault.OAuthClient
	log    *slog.Logger
	// refreshing serializes refreshes of one credential in this process, so
	// that two validations do not both spend a rotating refresh token.
	refreshing keyedMutex
	// changes hears of committed changes that running sessions must follow
	// (the egress proxy's credentials).
	changes changes.Notifier
	// hooks queues the vault and credential webhooks in the transaction
	// of the change; nil queues none.
	hooks *webhook.Service
}

// Option configures a Handler.
type Option func(*Handler)

// WithNotifier tells n about every committed change of a vault or
// credential that running sessions hold a copy of.
func WithNotifier(n changes.Notifier) Option { return func(h *Handler) { h.changes = changes.Or(n) } }

// WithWebhooks announces vaults and credentials created, archived and
// deleted to webhook endpoints.
func WithWebhooks(s *webhook.Service) Option { return func(h *Handler) { h.hooks = s } }

// New returns the handler.
func New(st store.Store, sealer *vault.Sealer, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{st: st, sealer: sealer, oauth: vault.NewOAuthClient(), log: log, changes: changes.Nop{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/vaults", h.createVault)
	route("GET /v1/vaults", h.listVaults)
	route("GET /v1/vaults/{vault_id}", h.getVault)
	route("POST /v1/vaults/{vault_id}", h.updateVault)
	route("DELETE /v1/vaults/{vault_id}", h.deleteVault)
	route("POST /v1/vaults/{vault_id}/archive", h.archiveVault)

	route("POST /v1/vaults/{vault_id}/credentials", h.createCredential)
	route("GET /v1/vaults/{vault_id}/credentials", h.listCredentials)
	route("GET /v1/vaults/{vault_id}/credentials/{credential_id}", h.getCredential)
	route("POST /v1/vaults/{vault_id}/credentials/{credential_id}", h.updateCredential)
	route("DELETE /v1/vaults/{vault_id}/credentials/{credential_id}", h.deleteCredential)
	route("POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive", h.archiveCredential)
	route("POST /v1/vaults/{vault_id}/credentials/{credential_id}/mcp_oauth_validate", h.validateCredential)
}

func (h *Handler) createVault(w http.ResponseWriter, r *http.Request) error {
	var p wire.VaultCreateParams
	var name string
	if err := httpx.DecodeJSONWith(r, &p, func() (err error) {
		name, err = required("display_name", p.DisplayName)
		return err
	}); err != nil {
		return err
	}
	if err := check.Name("display_name", name, 1, maxDisplayName); err != nil {
		return err
	}
	if err := check.Metadata("metadata", p.Metadata); err != nil {
		return err
	}
	now := wire.Now()
	v := wire.Vault{
		ID: ids.New(ids.Vault), Type: wire.TypeVault, DisplayName: name,
		Metadata: copyMetadata(p.Metadata), CreatedAt: now, UpdatedAt: now,
	}
	data, err := json.Marshal(v)
	if err != nil {
		return errdefs.Internal(err, "encode vault")
	}
	rec := store.Record{Kind: store.KindVault, ID: v.ID, Workspace: httpx.Workspace(r), Data: data, CreatedAt: now, UpdatedAt: now}
	sent := h.hooks.Batch()
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.Insert(ctx, &rec); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, rec.Workspace, webhook.Data{Type: "vault.created", ID: v.ID})
	})
	if err != nil {
		return err
	}
	sent.Send()
	return httpx.OK(w, v)
}

func (h *Handler) getVault(w http.ResponseWriter, r *http.Request) error {
	rec, err := h.st.Get(r.Context(), httpx.Workspace(r), store.KindVault, r.PathValue("vault_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, json.RawMessage(rec.Data))
}

func (h *Handler) listVaults(w http.ResponseWriter, r *http.Request) error {
	return h.list(w, r, store.ListOptions{Workspace: httpx.Workspace(r), Kind: store.KindVault})
}

// list serves a PageCursor list, newest first, of the records o selects.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, o store.ListOptions) error {
	return httpx.ListRecords(w, r, h.st, o, 20, 100)
}

func (h *Handler) updateVault(w http.ResponseWriter, r *http.Request) error {
	var p wire.VaultUpdateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	if p.DisplayName.Set {
		if p.DisplayName.Null {
			return errdefs.Invalid("display_name: must not be null")
		}
		if err := check.Name("display_name", p.DisplayName.V, 1, maxDisplayName); err != nil {
			return err
		}
	}
	if err := check.MetadataPatch("metadata", p.Metadata); err != nil {
		return err
	}
	ws, id := httpx.Workspace(r), r.PathValue("vault_id")
	var v wire.Vault
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, ws, store.KindVault, id)
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			return errdefs.Conflict("vault %s is archived and can no longer be changed", id)
		}
		if err := json.Unmarshal(rec.Data, &v); err != nil {
			return errdefs.Internal(err, "decode vault %s", id)
		}
		if name, ok := p.DisplayName.Value(); ok {
			v.DisplayName = name
		}
		v.Metadata = p.Metadata.Apply(v.Metadata)
		if err := check.Metadata("metadata", v.Metadata); err != nil {
			return err
		}
		v.UpdatedAt = wire.Now()
		return h.save(ctx, tx, &rec, v)
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, v)
}

// copyMetadata returns m as stored: a copy, never nil, so it reads back as {}.
func copyMetadata(m map[string]string) wire.Metadata {
	return wire.MetadataPatch(nil).Apply(m)
}

// save writes obj as rec's Data (keeping the record's timestamps in step
// with the object's) and updates the record.
func (h *Handler) save(ctx context.Context, tx store.Tx, rec *store.Record, obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return errdefs.Internal(err, "encode %s", rec.Kind)
	}
	rec.Data = data
	switch o := obj.(type) {
	case wire.Vault:
		rec.UpdatedAt, rec.ArchivedAt = o.UpdatedAt, o.ArchivedAt
	case wire.Credential:
		rec.UpdatedAt, rec.ArchivedAt = o.UpdatedAt, o.ArchivedAt
	}
	return tx.Update(ctx, rec)
}

func (h *Handler) deleteVault(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("vault_id")
	// The store deletes the vault's credentials with it (one level of
	// children by parent), secrets included; the transaction keeps a crash
	// from leaving orphaned credentials behind.
	sent := h.hooks.Batch()
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.Delete(ctx, httpx.Workspace(r), store.KindVault, id); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, httpx.Workspace(r), webhook.Data{Type: "vault.deleted", ID: id})
	})
	if err != nil {
		return err
	}
	sent.Send()
	h.changes.Changed(r.Context(), changes.Change{Workspace: httpx.Workspace(r), Kind: store.KindVault, ID: id})
	return httpx.OK(w, wire.Deleted{ID: id, Type: wire.TypeVaultDeleted})
}

// archiveVault archives the vault and every active credential in it,
// purging their secrets. Archiving an archived vault returns it unchanged,
// so a retried archive succeeds.
func (h *Handler) archiveVault(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	ws, id := httpx.Workspace(r), r.PathValue("vault_id")
	var v wire.Vault
	sent := h.hooks.Batch()
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, ws, store.KindVault, id)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(rec.Data, &v); err != nil {
			return errdefs.Internal(err, "decode vault %s", id)
		}
		if rec.ArchivedAt != nil {
			return nil
		}
		now := wire.Now()
		creds, err := tx.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindCredential, Parent: id, ParentSet: true})
		if err != nil {
			return err
		}
		for i := range creds.Records {
			if _, err := h.archiveCredentialRecord(ctx, tx, &creds.Records[i], now); err != nil {
				return err
			}
			if err := sent.Emit(ctx, tx, ws, webhook.Data{Type: "vault_credential.archived", ID: creds.Records[i].ID, VaultID: id}); err != nil {
				return err
			}
		}
		v.ArchivedAt, v.UpdatedAt = &now, now
		if err := h.save(ctx, tx, &rec, v); err != nil {
			return err
		}
		return sent.Emit(ctx, tx, ws, webhook.Data{Type: "vault.archived", ID: id})
	})
	if err != nil {
		return err
	}
	sent.Send()
	h.changes.Changed(r.Context(), changes.Change{Workspace: ws, Kind: store.KindVault, ID: id})
	return httpx.OK(w, v)
}

// keyedMutex is a set of mutexes created on demand and dropped when unused.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock function.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
