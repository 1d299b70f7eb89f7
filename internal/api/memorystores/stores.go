// Package memorystores serves the memory store endpoints
// (/v1/memory_stores/…): stores, the memories in them addressed by path
// and listed as a tree, and the immutable versions every change of a
// memory leaves behind, which can be redacted.
//
// The records, their checks and the write path are package memory's; this
// package decodes requests, lists, and shapes the responses.
package memorystores

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/memory"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits of a store's fields.
const (
	maxStoreName   = 255
	maxDescription = 1024
)

// Handler serves the memory store endpoints.
type Handler struct {
	st      store.Store
	changes changes.Notifier
}

// Option configures a Handler.
type Option func(*Handler)

// WithNotifier tells n when a store is deleted or a version of it
// redacted: content that copies outside the database (the snapshots
// sandboxes mount) must no longer hold.
func WithNotifier(n changes.Notifier) Option { return func(h *Handler) { h.changes = changes.Or(n) } }

// New returns the handler.
func New(st store.Store, opts ...Option) *Handler {
	h := &Handler{st: st, changes: changes.Nop{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// contentGone tells the notifier that content of the store is gone.
func (h *Handler) contentGone(r *http.Request, storeID string) {
	h.changes.Changed(r.Context(), changes.Change{Workspace: httpx.Workspace(r), Kind: store.KindMemoryStore, ID: storeID})
}

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/memory_stores", h.createStore)
	route("GET /v1/memory_stores", h.listStores)
	route("GET /v1/memory_stores/{memory_store_id}", h.getStore)
	route("POST /v1/memory_stores/{memory_store_id}", h.updateStore)
	route("DELETE /v1/memory_stores/{memory_store_id}", h.deleteStore)
	route("POST /v1/memory_stores/{memory_store_id}/archive", h.archiveStore)

	route("POST /v1/memory_stores/{memory_store_id}/memories", h.createMemory)
	route("GET /v1/memory_stores/{memory_store_id}/memories", h.listMemories)
	route("GET /v1/memory_stores/{memory_store_id}/memories/{memory_id}", h.getMemory)
	route("POST /v1/memory_stores/{memory_store_id}/memories/{memory_id}", h.updateMemory)
	route("DELETE /v1/memory_stores/{memory_store_id}/memories/{memory_id}", h.deleteMemory)

	route("GET /v1/memory_stores/{memory_store_id}/memory_versions", h.listVersions)
	route("GET /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}", h.getVersion)
	route("POST /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}/redact", h.redactVersion)
}

func (h *Handler) createStore(w http.ResponseWriter, r *http.Request) error {
	var p wire.MemoryStoreCreateParams
	if err := httpx.DecodeJSONWith(r, &p, func() error {
		if !p.Name.Set || p.Name.Null {
			return errdefs.Invalid("name: field required")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := check.Name("name", p.Name.V, 1, maxStoreName); err != nil {
		return err
	}
	if p.Description.Null {
		return errdefs.Invalid("description: must not be null")
	}
	if err := check.Name("description", p.Description.V, 0, maxDescription); err != nil {
		return err
	}
	if err := check.Metadata("metadata", p.Metadata); err != nil {
		return err
	}
	now := wire.Now()
	ms := wire.MemoryStore{
		ID: ids.New(ids.MemoryStore), Type: wire.TypeMemoryStore, Name: p.Name.V, Description: p.Description.V,
		Metadata: wire.MetadataPatch(nil).Apply(p.Metadata), CreatedAt: now, UpdatedAt: now,
	}
	data, err := json.Marshal(ms)
	if err != nil {
		return errdefs.Internal(err, "encode memory store")
	}
	rec := store.Record{Kind: store.KindMemoryStore, ID: ms.ID, Workspace: httpx.Workspace(r), Data: data, CreatedAt: now, UpdatedAt: now}
	if err := h.st.Insert(r.Context(), &rec); err != nil {
		return err
	}
	return httpx.OK(w, ms)
}

func (h *Handler) getStore(w http.ResponseWriter, r *http.Request) error {
	rec, err := h.st.Get(r.Context(), httpx.Workspace(r), store.KindMemoryStore, r.PathValue("memory_store_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, json.RawMessage(rec.Data))
}

func (h *Handler) listStores(w http.ResponseWriter, r *http.Request) error {
	return httpx.ListRecords(w, r, h.st, store.ListOptions{Workspace: httpx.Workspace(r), Kind: store.KindMemoryStore}, 20, 100)
}

func (h *Handler) updateStore(w http.ResponseWriter, r *http.Request) error {
	var p wire.MemoryStoreUpdateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	if p.Name.Null {
		return errdefs.Invalid("name: must not be null")
	}
	if p.Name.Set {
		if err := check.Name("name", p.Name.V, 1, maxStoreName); err != nil {
			return err
		}
	}
	if p.Description.Null {
		return errdefs.Invalid("description: must not be null")
	}
	if err := check.Name("description", p.Description.V, 0, maxDescription); err != nil {
		return err
	}
	if err := check.MetadataPatch("metadata", p.Metadata); err != nil {
		return err
	}
	ws, id := httpx.Workspace(r), r.PathValue("memory_store_id")
	var ms wire.MemoryStore
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := memory.WritableStore(ctx, tx, ws, id, &ms)
		if err != nil {
			return err
		}
		if v, ok := p.Name.Value(); ok {
			ms.Name = v
		}
		if v, ok := p.Description.Value(); ok {
			ms.Description = v
		}
		ms.Metadata = p.Metadata.Apply(ms.Metadata)
		if err := check.Metadata("metadata", ms.Metadata); err != nil {
			return err
		}
		ms.UpdatedAt = wire.Now()
		return memory.SaveStore(ctx, tx, &rec, ms)
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, ms)
}

// deleteStore deletes the store with every memory and version in it: they
// are its children, which the store deletes with it in the same
// transaction.
func (h *Handler) deleteStore(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("memory_store_id")
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		return tx.Delete(ctx, httpx.Workspace(r), store.KindMemoryStore, id)
	})
	if err != nil {
		return err
	}
	h.contentGone(r, id)
	return httpx.OK(w, wire.Deleted{ID: id, Type: wire.TypeMemoryStoreDeleted})
}

// archiveStore makes the store read-only for good. Archiving an archived
// store returns it unchanged, so a retried archive succeeds.
func (h *Handler) archiveStore(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	ws, id := httpx.Workspace(r), r.PathValue("memory_store_id")
	var ms wire.MemoryStore
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := memory.GetStore(ctx, tx, ws, id, &ms)
		if err != nil || ms.ArchivedAt != nil {
			return err
		}
		now := wire.Now()
		ms.ArchivedAt, ms.UpdatedAt = &now, now
		return memory.SaveStore(ctx, tx, &rec, ms)
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, ms)
}
