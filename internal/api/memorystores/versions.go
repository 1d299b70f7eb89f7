package memorystores

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/memory"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// versionView returns v as a response of view vw.
func versionView(v wire.MemoryVersion, vw string) wire.MemoryVersion {
	if vw == viewBasic {
		v.Content = nil
	}
	return v
}

// versionFilter is what a version list selects beyond time and store.
type versionFilter struct {
	memoryID, operation, sessionID, apiKeyID, serviceAccountID string
}

func (f versionFilter) match(v wire.MemoryVersion) bool {
	by := v.CreatedBy
	if by == nil {
		by = &wire.Actor{}
	}
	return (f.memoryID == "" || v.MemoryID == f.memoryID) &&
		(f.operation == "" || v.Operation == f.operation) &&
		(f.sessionID == "" || by.SessionID == f.sessionID) &&
		(f.apiKeyID == "" || by.APIKeyID == f.apiKeyID) &&
		// No change is ever made by a service account here.
		f.serviceAccountID == ""
}

// listVersions lists the store's versions newest first.
func (h *Handler) listVersions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	vw, lq, err := listQuery(r)
	if err != nil {
		return err
	}
	lp, err := lq.Params(true)
	if err != nil {
		return err
	}
	f := versionFilter{
		memoryID: q.Get("memory_id"), operation: q.Get("operation"), sessionID: q.Get("session_id"),
		apiKeyID: q.Get("api_key_id"), serviceAccountID: q.Get("service_account_id"),
	}
	if f.operation != "" {
		if err := check.Enum("operation", f.operation, wire.MemoryCreated, wire.MemoryModified, wire.MemoryDeleted); err != nil {
			return err
		}
	}
	ws, storeID := httpx.Workspace(r), r.PathValue("memory_store_id")
	if _, err := h.st.Get(r.Context(), ws, store.KindMemoryStore, storeID); err != nil {
		return err
	}
	o := store.ListOptions{Workspace: ws, Kind: store.KindMemoryVersion, Parent: storeID, ParentSet: true}
	lq.Filter(&o)
	lp.Apply(&o)
	out := wire.Page[wire.MemoryVersion]{Data: []wire.MemoryVersion{}}
	// The filters other than time are fields of the stored versions, so
	// pages are read until a page's worth matches.
	var lastSeq int64
	for {
		page, err := h.st.List(r.Context(), o)
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			var v wire.MemoryVersion
			if err := json.Unmarshal(rec.Data, &v); err != nil {
				return errdefs.Internal(err, "decode memory version %s", rec.ID)
			}
			if !f.match(v) {
				continue
			}
			if len(out.Data) == lp.Limit {
				next := httpx.EncodeCursor(lastSeq, lp.Desc)
				out.NextPage = &next
				return httpx.OK(w, out)
			}
			out.Data, lastSeq = append(out.Data, versionView(v, vw)), rec.Seq
		}
		if !page.More {
			return httpx.OK(w, out)
		}
		o.After = page.Records[len(page.Records)-1].Seq
	}
}

// getVersion reads version id of store storeID; one of another store (or
// workspace) is not found.
func getVersion(ctx context.Context, tx store.Tx, ws, storeID, id string, v *wire.MemoryVersion) (store.Record, error) {
	rec, err := tx.Get(ctx, ws, store.KindMemoryVersion, id)
	if err == nil && rec.Parent != storeID {
		err = errdefs.NotFound("memory version %s not found in memory store %s", id, storeID)
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(rec.Data, v); err != nil {
		return rec, errdefs.Internal(err, "decode memory version %s", id)
	}
	return rec, nil
}

func (h *Handler) getVersion(w http.ResponseWriter, r *http.Request) error {
	vw, err := parseView(r, viewFull)
	if err != nil {
		return err
	}
	var v wire.MemoryVersion
	if _, err := getVersion(r.Context(), h.st, httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_version_id"), &v); err != nil {
		return err
	}
	return httpx.OK(w, versionView(v, vw))
}

// redactVersion clears a version's content, hash, size and path for good:
// the stored document is rewritten without them (and the store overwrites
// freed pages), so nothing of them is left to read back. The current
// version of a live memory holds the memory's content and cannot be
// redacted until the memory changes or is deleted. Redacting a redacted
// version returns it unchanged.
func (h *Handler) redactVersion(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	ws, storeID, id := httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_version_id")
	var v wire.MemoryVersion
	redacted := false
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, err := getVersion(ctx, tx, ws, storeID, id, &v)
		if err != nil || v.RedactedAt != nil {
			return err
		}
		redacted = true
		var m wire.Memory
		_, err = memory.GetMemory(ctx, tx, ws, storeID, v.MemoryID, &m)
		switch {
		case err == nil && m.MemoryVersionID == v.ID:
			return errdefs.Conflict("memory version %s is the current version of memory %s; update or delete the memory first", id, m.ID)
		case err != nil && !errors.Is(err, errdefs.ErrNotFound):
			return err
		}
		now := wire.Now()
		v.Path, v.Content, v.ContentSHA256, v.ContentSizeBytes = nil, nil, nil, nil
		v.RedactedAt, v.RedactedBy = &now, actorOf(r)
		data, err := json.Marshal(v)
		if err != nil {
			return errdefs.Internal(err, "encode memory version")
		}
		rec.Data, rec.UpdatedAt = data, now
		return tx.Update(ctx, &rec)
	})
	if err != nil {
		return err
	}
	if redacted {
		h.contentGone(r, storeID)
	}
	return httpx.OK(w, v)
}
