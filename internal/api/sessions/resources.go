package sessions

// Session resources: add (file only), list, get,
// token rotation and delete. Resources live in the session document, so
// every change goes through engine.Update; what must not be in the document
// lives in records beside it:
//   - a repository's authorization_token is sealed under the master key in
//     a store.KindSessionSecret record (ID = the resource id, Parent = the
//     session), never in Data, a response or a log line;
//   - a file resource names a session-scoped COPY of the uploaded file:
//     a new file_ id whose bytes were copied, whose record has
//     Parent = the resource id (so a scope_id list shows only the files
//     the session wrote) and whose metadata names the session as its scope. Deleting
//     the original does not affect the session; the copy goes with the
//     resource or the session.
//
// Choices where the spec is open:
//   - add takes `file` only, as the SDK's Add does; mount_path defaults to
//     /mnt/session/uploads/<file_id of the original>.
//   - a mount_path already used by another resource of the session is a 409.
//   - delete works on idle and running sessions alike; the sandbox picks up
//     added or removed file mounts at its next tool call (see
//     internal/server). A deleted repository's clone stays in /workspace.
//   - writes to an archived session's resources are 409.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/files"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/jsonobj"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// resourceListMax is the SDK's limit maximum; an omitted limit lists all.
const resourceListMax = 1000

// WithSealer lets the handler keep repository tokens, sealed.
func WithSealer(s *vault.Sealer) Option { return func(h *Handler) { h.sealer = s } }

func (h *Handler) registerResources(route httpx.Router) {
	route("POST /v1/sessions/{session_id}/resources", h.addResource)
	route("GET /v1/sessions/{session_id}/resources", h.listResources)
	route("GET /v1/sessions/{session_id}/resources/{resource_id}", h.getResource)
	route("POST /v1/sessions/{session_id}/resources/{resource_id}", h.updateResource)
	route("DELETE /v1/sessions/{session_id}/resources/{resource_id}", h.deleteResource)
}

// fileResourceBody decodes POST …/resources through the wire decoder, so
// DecodeJSON's transport checks (content type, size) apply as well.
type fileResourceBody struct{ p wire.ResourceParams }

func (b *fileResourceBody) UnmarshalJSON(data []byte) error {
	p, err := wire.DecodeFileResourceParams(data)
	b.p = p
	return err
}

func errResourceNotFound(sessionID, id string) error {
	return errdefs.NotFound("resource_id: resource %s not found in session %s", id, sessionID)
}

func findResource(doc *wire.Session, id string) int {
	for i, r := range doc.Resources {
		if r.ID == id {
			return i
		}
	}
	return -1
}

// ---- add ---------------------------------------------------------------

func (h *Handler) addResource(w http.ResponseWriter, r *http.Request) error {
	var body fileResourceBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	p := body.p
	ws, sid := httpx.Workspace(r), r.PathValue("session_id")
	ctx := r.Context()
	// 404 for a missing session before anything is copied.
	if _, err := h.eng.Get(ctx, ws, sid); err != nil {
		return err
	}
	now := wire.Now()
	res := wire.SessionResource{Type: wire.ResourceFile, ID: ids.New(ids.Resource), CreatedAt: now, UpdatedAt: now,
		MountPath: p.EffectiveMountPath(), FileID: p.FileID}
	cp, err := h.copyFile(ctx, ws, p.FileID, "file_id")
	if err != nil {
		return err
	}
	if cp != nil {
		cp.resourceID, cp.sessionID = res.ID, sid
		if err := h.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return cp.insert(ctx, tx, ws) }); err != nil {
			h.dropCopies(ctx, ws, []*fileCopy{cp}, false)
			return err
		}
		res.FileID = cp.copyID
	}
	_, err = h.eng.Update(ctx, ws, sid, func(doc *wire.Session, _ string) (bool, []wire.EventPayload, error) {
		if doc.ArchivedAt != nil {
			return false, nil, errdefs.Conflict("session %s is archived and its resources cannot change", sid)
		}
		files := 0
		for _, o := range doc.Resources {
			if o.Type == wire.ResourceFile {
				files++
			}
			if o.MountPath == res.MountPath && o.Type != wire.ResourceMemoryStore {
				return false, nil, errdefs.Conflict("mount_path: %q is already used by resource %s", res.MountPath, o.ID)
			}
		}
		if files >= wire.MaxFileResources {
			return false, nil, errdefs.Invalid("file_id: session %s already has the maximum of %d file resources", sid, wire.MaxFileResources)
		}
		doc.Resources = append(append(make([]wire.SessionResource, 0, len(doc.Resources)+1), doc.Resources...), res)
		doc.UpdatedAt = now
		return true, nil, nil
	})
	if err != nil {
		if cp != nil {
			h.dropCopies(context.WithoutCancel(ctx), ws, []*fileCopy{cp}, true)
		}
		return err
	}
	return httpx.OK(w, res)
}

// ---- list and get ------------------------------------------------------

// resourceCursor names the last resource of a page and its position, so a
// page survives a resource deleted in between.
func encodeResourceCursor(lastID string, index int) string {
	return "page_" + base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(index)+":"+lastID))
}

func decodeResourceCursor(s string) (string, int, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, "page_"))
	if err != nil {
		return "", 0, errdefs.Invalid("page: invalid page cursor")
	}
	idx, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil || n < 0 || !strings.HasPrefix(id, ids.Resource) {
		return "", 0, errdefs.Invalid("page: invalid page cursor")
	}
	return id, n, nil
}

// pageResources returns the page of rs after the cursor position.
func pageResources(rs []wire.SessionResource, limit int, page string) (wire.Page[wire.SessionResource], error) {
	start := 0
	if page != "" {
		last, idx, err := decodeResourceCursor(page)
		if err != nil {
			return wire.Page[wire.SessionResource]{}, err
		}
		// A deleted last resource moved everything after it down by one.
		start = min(idx, len(rs))
		for i, r := range rs {
			if r.ID == last {
				start = i + 1
				break
			}
		}
	}
	end := len(rs)
	if limit > 0 && start+limit < end {
		end = start + limit
	}
	out := wire.Page[wire.SessionResource]{Data: append([]wire.SessionResource{}, rs[start:end]...)}
	if end < len(rs) && end > start {
		c := encodeResourceCursor(rs[end-1].ID, end-1)
		out.NextPage = &c
	}
	return out, nil
}

func (h *Handler) listResources(w http.ResponseWriter, r *http.Request) error {
	// No limit lists them all: a session has few resources.
	lq, err := httpx.ParseListQuery(r.URL.Query(), 0, resourceListMax)
	if err != nil {
		return err
	}
	doc, err := h.eng.Get(r.Context(), httpx.Workspace(r), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	page, err := pageResources(doc.Resources, lq.Limit, lq.Page)
	if err != nil {
		return err
	}
	return httpx.OK(w, page)
}

func (h *Handler) getResource(w http.ResponseWriter, r *http.Request) error {
	sid, rid := r.PathValue("session_id"), r.PathValue("resource_id")
	doc, err := h.eng.Get(r.Context(), httpx.Workspace(r), sid)
	if err != nil {
		return err
	}
	i := findResource(&doc, rid)
	if i < 0 {
		return errResourceNotFound(sid, rid)
	}
	return httpx.OK(w, doc.Resources[i])
}

// ---- update (token rotation) --------------------------------------------

func (h *Handler) updateResource(w http.ResponseWriter, r *http.Request) error {
	var p wire.ResourceUpdateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if h.sealer == nil {
		return errdefs.Unavailable("authorization_token: this server has no master key to keep tokens with")
	}
	ws, sid, rid := httpx.Workspace(r), r.PathValue("session_id"), r.PathValue("resource_id")
	var out wire.SessionResource
	_, err := h.eng.Update(r.Context(), ws, sid, func(doc *wire.Session, _ string) (bool, []wire.EventPayload, error) {
		i := findResource(doc, rid)
		if i < 0 {
			return false, nil, errResourceNotFound(sid, rid)
		}
		if doc.ArchivedAt != nil {
			return false, nil, errdefs.Conflict("session %s is archived and its resources cannot change", sid)
		}
		if t := doc.Resources[i].Type; t != wire.ResourceGitHubRepository {
			return false, nil, errdefs.Invalid("authorization_token: resource %s is a %s resource; only github_repository resources have a token", rid, t)
		}
		// The secret is written under the session's lock, before the
		// document: a failed write leaves both as they were.
		if err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
			return h.putSecret(ctx, tx, ws, sid, rid, p.AuthorizationToken)
		}); err != nil {
			return false, nil, err
		}
		now := wire.Now()
		rs := append([]wire.SessionResource{}, doc.Resources...)
		rs[i].UpdatedAt = now
		doc.Resources, doc.UpdatedAt = rs, now
		out = rs[i]
		return true, nil, nil
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, out)
}

// putSecret inserts or replaces the sealed token of a resource.
func (h *Handler) putSecret(ctx context.Context, tx store.Tx, ws, sessionID, resourceID, token string) error {
	sealed := h.sealer.Seal([]byte(token), store.SessionSecretAAD(resourceID))
	data, _ := json.Marshal(map[string]string{"resource_id": resourceID, "session_id": sessionID, "type": "github_repository_token"})
	rec, err := tx.Get(ctx, ws, store.KindSessionSecret, resourceID)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return tx.Insert(ctx, &store.Record{Kind: store.KindSessionSecret, ID: resourceID, Workspace: ws, Parent: sessionID, Data: data, Secret: sealed})
	case err != nil:
		return err
	}
	rec.Secret, rec.UpdatedAt = sealed, wire.Now()
	return tx.Update(ctx, &rec)
}

// storeSecrets seals the tokens of a create's repositories; params and
// resources are index-aligned (buildResources keeps the order).
func (h *Handler) storeSecrets(ctx context.Context, tx store.Tx, ws, sessionID string, params []wire.ResourceParams, resources []wire.SessionResource) error {
	for i, p := range params {
		if p.Type != wire.ResourceGitHubRepository || p.AuthorizationToken == "" {
			continue
		}
		if h.sealer == nil {
			h.log.Warn("no master key: repository token not kept", "session", sessionID, "resource", resources[i].ID)
			continue
		}
		if err := h.putSecret(ctx, tx, ws, sessionID, resources[i].ID, p.AuthorizationToken); err != nil {
			return err
		}
	}
	return nil
}

// ---- delete ------------------------------------------------------------

func (h *Handler) deleteResource(w http.ResponseWriter, r *http.Request) error {
	ws, sid, rid := httpx.Workspace(r), r.PathValue("session_id"), r.PathValue("resource_id")
	ctx := r.Context()
	var removed wire.SessionResource
	_, err := h.eng.Update(ctx, ws, sid, func(doc *wire.Session, _ string) (bool, []wire.EventPayload, error) {
		i := findResource(doc, rid)
		if i < 0 {
			return false, nil, errResourceNotFound(sid, rid)
		}
		if doc.ArchivedAt != nil {
			return false, nil, errdefs.Conflict("session %s is archived and its resources cannot change", sid)
		}
		if doc.Resources[i].Type == wire.ResourceMemoryStore {
			// Stores attach at creation only, so they stay for the session's life too.
			return false, nil, errdefs.Invalid("resource_id: %s is a memory store, which stays attached for the session's lifetime", rid)
		}
		removed = doc.Resources[i]
		rs := make([]wire.SessionResource, 0, len(doc.Resources)-1)
		rs = append(append(rs, doc.Resources[:i]...), doc.Resources[i+1:]...)
		doc.Resources, doc.UpdatedAt = rs, wire.Now()
		return true, nil, nil
	})
	if err != nil {
		return err
	}
	// The document no longer names them; a crash here leaves unreachable
	// records that the session's delete still removes.
	var blobs []string
	err = h.st.InTx(context.WithoutCancel(ctx), func(ctx context.Context, tx store.Tx) error {
		var err error
		blobs, err = deleteResourceRecords(ctx, tx, ws, []wire.SessionResource{removed})
		return err
	})
	if err != nil {
		h.log.Error("remove records of deleted session resource", "session", sid, "resource", rid, "err", err)
	}
	h.deleteBlobs(blobs)
	return httpx.OK(w, wire.Deleted{ID: rid, Type: wire.TypeSessionResourceDeleted})
}

// deleteResourceRecords removes what resources own beside the document:
// sealed tokens and session-scoped file copies. It returns the file ids
// whose bytes can go once the transaction committed.
func deleteResourceRecords(ctx context.Context, tx store.Tx, ws string, rs []wire.SessionResource) ([]string, error) {
	var files []string
	for _, r := range rs {
		switch r.Type {
		case wire.ResourceGitHubRepository:
			if err := tx.Delete(ctx, ws, store.KindSessionSecret, r.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return nil, err
			}
		case wire.ResourceFile:
			rec, err := tx.Get(ctx, ws, store.KindFile, r.FileID)
			if errors.Is(err, errdefs.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			// Only the session's own copy; a resource made without a
			// copy names the caller's file, which is not ours to delete.
			if rec.Parent != r.ID {
				continue
			}
			if err := tx.Delete(ctx, ws, store.KindFile, r.FileID); err != nil {
				return nil, err
			}
			files = append(files, r.FileID)
		}
	}
	return files, nil
}

// deleteChildren removes every record of kind under parent.
func deleteChildren(ctx context.Context, tx store.Tx, ws, kind, parent string) error {
	for {
		page, err := tx.List(ctx, store.ListOptions{Workspace: ws, Kind: kind, Parent: parent, ParentSet: true, IncludeArchived: true, Limit: 500})
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			if err := tx.Delete(ctx, ws, kind, rec.ID); err != nil {
				return err
			}
		}
		if !page.More {
			return nil
		}
	}
}

func (h *Handler) deleteBlobs(fileIDs []string) {
	if h.blobs == nil {
		return
	}
	for _, f := range fileIDs {
		if err := h.blobs.Delete(files.BlobKey(f)); err != nil {
			h.log.Warn("could not remove file content", "file_id", f, "err", err)
		}
	}
}

// ---- session-scoped file copies ---------------------------------

type fileCopy struct {
	origID, copyID        string
	resourceID, sessionID string
	meta                  wire.FileMetadata
}

// copyFile copies the bytes of an uploaded file to a new file id. field
// names the request field for a 404. Without a blob store (unit setups) it
// returns nil and the resource names the original.
func (h *Handler) copyFile(ctx context.Context, ws, fileID, field string) (*fileCopy, error) {
	rec, err := h.st.Get(ctx, ws, store.KindFile, fileID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, errdefs.NotFound("%s: file %s not found", field, fileID)
	}
	if err != nil {
		return nil, err
	}
	if h.blobs == nil {
		return nil, nil
	}
	meta, err := files.Decode(rec)
	if err != nil {
		return nil, err
	}
	cp := &fileCopy{origID: fileID, copyID: ids.New(ids.File), meta: meta}
	if err := files.CopyContent(ctx, h.blobs, fileID, cp.copyID); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil, errdefs.NotFound("%s: file %s has no content", field, fileID)
		}
		return nil, err
	}
	return cp, nil
}

// insert files the copy's record: Parent is the resource, so the copy is
// not among the session's outputs; its scope names the session.
func (c *fileCopy) insert(ctx context.Context, tx store.Tx, ws string) error {
	m := c.meta
	m.ID, m.CreatedAt, m.ExpiresAt = c.copyID, wire.Now(), nil
	m.Scope = &wire.FileScope{ID: c.sessionID, Type: wire.FileScopeType}
	return files.Insert(ctx, tx, ws, m, c.resourceID)
}

// copyAll copies the files of a create's resources, index-aligned with
// params (nil where no copy is made).
func (h *Handler) copyAll(ctx context.Context, ws string, params []wire.ResourceParams) ([]*fileCopy, error) {
	out := make([]*fileCopy, len(params))
	for i, p := range params {
		if p.Type != wire.ResourceFile {
			continue
		}
		cp, err := h.copyFile(ctx, ws, p.FileID, jsonobj.Index("resources", i)+".file_id")
		if err != nil {
			h.dropCopies(ctx, ws, out, false)
			return nil, err
		}
		out[i] = cp
	}
	return out, nil
}

// applyCopies inserts the copies' records inside the create's transaction
// and points the resources at them.
func applyCopies(ctx context.Context, tx store.Tx, ws, sessionID string, copies []*fileCopy, rs []wire.SessionResource) error {
	for i, cp := range copies {
		if cp == nil {
			continue
		}
		cp.resourceID, cp.sessionID = rs[i].ID, sessionID
		if err := cp.insert(ctx, tx, ws); err != nil {
			return err
		}
		rs[i].FileID = cp.copyID
	}
	return nil
}

// dropCopies undoes copies of a failed request: their bytes, and with
// records also their records.
func (h *Handler) dropCopies(ctx context.Context, ws string, copies []*fileCopy, records bool) {
	var ids []string
	for _, cp := range copies {
		if cp == nil {
			continue
		}
		ids = append(ids, cp.copyID)
		if records {
			if err := h.st.Delete(context.WithoutCancel(ctx), ws, store.KindFile, cp.copyID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				h.log.Error("remove file copy of failed request", "file_id", cp.copyID, "err", err)
			}
		}
	}
	h.deleteBlobs(ids)
}
