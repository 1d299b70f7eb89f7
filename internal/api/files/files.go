// Package files serves the Files API (FIL-*): multipart upload streamed into
// the blob store, metadata kept as store records (Parent = the session that
// scopes a file, if any), listing by scope and ids, download honouring
// downloadable and expiry, and delete. What a file is (blob key, name, MIME
// type, record) is package internal/files.
//
// Choices where the spec is open:
//   - Uploaded files are downloadable: Hangar is self-hosted, so the cloud
//     service's "your uploads cannot be downloaded" rule protects nobody.
//     The flag is still stored and honoured (400 file_not_downloadable).
//   - An unscoped list returns every file of the workspace, session outputs
//     included; scope_id narrows it to one session.
//   - Lists are newest first. ids[] returns one page of the matching files
//     and cannot be combined with page or limit.
//   - Expired files keep their metadata; only their bytes become
//     unavailable (404 file_expired).
package files

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/api/upload"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/files"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits from the SDK's parameter docs and the Files API reference.
const (
	minExpiresIn = 3600
	maxExpiresIn = 7776000

	listDefault = 20
	listMax     = 1000
	maxIDs      = 100
)

// Handler serves the files endpoints.
type Handler struct {
	st        store.Store
	log       *slog.Logger
	blobs     *blob.FS
	maxUpload int64
	// now is replaceable so tests can move past an expiry.
	now func() time.Time
}

// New returns the handler.
func New(st store.Store, blobs *blob.FS, maxUpload int64, log *slog.Logger) *Handler {
	return &Handler{st: st, log: log, blobs: blobs, maxUpload: maxUpload, now: wire.Now}
}

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/files", h.upload)
	route("GET /v1/files", h.list)
	route("GET /v1/files/{file_id}", h.get)
	route("GET /v1/files/{file_id}/content", h.content)
	route("DELETE /v1/files/{file_id}", h.delete)
}

// uploadForm is what the upload body said besides the file's bytes.
type uploadForm struct {
	sawFile   bool
	expiresIn *int64
}

// filePart is the file part as handed to the content sink.
type filePart struct {
	filename    string // raw, as sent
	contentType string
	body        io.Reader
}

// readUpload walks the upload form: exactly one part "file", whose
// content goes to sink as it streams, and an optional "expires_in_seconds".
// Other parts are rejected so a typo does not pass silently.
func readUpload(mr *multipart.Reader, sink func(filePart) error) (uploadForm, error) {
	var f uploadForm
	err := upload.Walk(mr, map[string]func(*multipart.Part) error{
		"file": func(p *multipart.Part) error {
			if f.sawFile {
				return errdefs.Invalid("file: exactly one file part is allowed")
			}
			f.sawFile = true
			raw, _, err := upload.Filename(p)
			if err != nil {
				return err
			}
			return sink(filePart{filename: raw, contentType: p.Header.Get("Content-Type"), body: upload.Source(p)})
		},
		"expires_in_seconds": func(p *multipart.Part) error {
			if f.expiresIn != nil {
				return errdefs.Invalid("expires_in_seconds: given more than once")
			}
			v, err := upload.Value(p, 64)
			if err != nil {
				return err
			}
			n, err := parseExpiresIn(v)
			if err != nil {
				return err
			}
			f.expiresIn = &n
			return nil
		},
	})
	if err != nil {
		return f, err
	}
	if !f.sawFile {
		return f, errdefs.Invalid("file: field required")
	}
	return f, nil
}

func parseExpiresIn(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, errdefs.Invalid("expires_in_seconds: must be an integer, got %q", v)
	}
	if n < minExpiresIn || n > maxExpiresIn {
		return 0, errdefs.Invalid("expires_in_seconds: must be between %d and %d, got %d", minExpiresIn, maxExpiresIn, n)
	}
	return n, nil
}

func (h *Handler) upload(w http.ResponseWriter, r *http.Request) error {
	ws := httpx.Workspace(r)
	mr, err := upload.Reader(w, r, h.maxUpload+upload.Overhead)
	if err != nil {
		return err
	}
	id := ids.New(ids.File)
	var meta wire.FileMetadata
	stored := false
	form, err := readUpload(mr, func(fp filePart) error {
		m, err := files.Put(r.Context(), h.blobs, id, fp.filename, fp.contentType, fp.body, h.maxUpload)
		stored, meta = err == nil, m
		return err
	})
	if err == nil {
		if form.expiresIn != nil {
			exp := meta.CreatedAt.Add(time.Duration(*form.expiresIn) * time.Second)
			meta.ExpiresAt = &exp
		}
		err = files.Insert(r.Context(), h.st, ws, meta, "")
	}
	if err != nil {
		if stored {
			h.removeContent(id)
		}
		return err
	}
	return httpx.OK(w, meta)
}

// removeContent deletes a file's bytes; a failure leaves only an orphaned
// blob, so it is logged rather than returned.
func (h *Handler) removeContent(id string) {
	if err := h.blobs.Delete(files.BlobKey(id)); err != nil {
		h.log.Warn("could not remove file content", "file_id", id, "err", err)
	}
}

func (h *Handler) load(ctx context.Context, ws, id string) (wire.FileMetadata, error) {
	rec, err := h.st.Get(ctx, ws, store.KindFile, id)
	if err != nil {
		return wire.FileMetadata{}, err
	}
	return files.Decode(rec)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	m, err := h.load(r.Context(), httpx.Workspace(r), r.PathValue("file_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, m)
}

func (h *Handler) content(w http.ResponseWriter, r *http.Request) error {
	m, err := h.load(r.Context(), httpx.Workspace(r), r.PathValue("file_id"))
	if err != nil {
		return err
	}
	if !m.Downloadable {
		return errdefs.Invalid("file %s is not downloadable", m.ID).WithCode("file_not_downloadable")
	}
	if m.ExpiresAt != nil && !h.now().Before(*m.ExpiresAt) {
		return errdefs.NotFound("file %s expired at %s", m.ID, m.ExpiresAt.Format(time.RFC3339)).WithCode("file_expired")
	}
	f, err := h.blobs.Open(files.BlobKey(m.ID))
	if err != nil {
		return err
	}
	defer f.Close()
	typ := m.MimeType
	if typ == "" {
		typ = files.OctetStream
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	cd := mime.FormatMediaType("attachment", map[string]string{"filename": m.Filename})
	if cd == "" {
		cd = "attachment"
	}
	w.Header().Set("Content-Disposition", cd)
	// ServeContent adds Content-Length and Range support for large files.
	http.ServeContent(w, r, "", m.CreatedAt, f)
	return nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o := store.ListOptions{Workspace: httpx.Workspace(r), Kind: store.KindFile}
	wanted := httpx.QueryList(q, "ids")
	if len(wanted) > 0 {
		if q.Get("page") != "" || q.Get("limit") != "" {
			return errdefs.Invalid("ids: cannot be combined with page or limit")
		}
		if len(wanted) > maxIDs {
			return errdefs.Invalid("ids: at most %d ids are allowed, got %d", maxIDs, len(wanted))
		}
	}
	lp, err := httpx.ParseList(q, listDefault, listMax, true)
	if err != nil {
		return err
	}
	lp.Apply(&o)
	if scope := q.Get("scope_id"); scope != "" {
		// Only sessions scope files.
		if !strings.HasPrefix(scope, ids.Session) {
			return errdefs.Invalid("scope_id: must be a session id (%s…), got %q", ids.Session, scope)
		}
		o.Parent, o.ParentSet = scope, true
	}
	if len(wanted) > 0 {
		o.IDs, o.Limit = wanted, 0
	}
	page, err := h.st.List(r.Context(), o)
	if err != nil {
		return err
	}
	out := wire.ListPage[wire.FileMetadata]{Data: make([]wire.FileMetadata, 0, len(page.Records)), HasMore: page.More}
	for _, rec := range page.Records {
		m, err := files.Decode(rec)
		if err != nil {
			return err
		}
		out.Data = append(out.Data, m)
	}
	out.NextPage = httpx.NextPage(page, lp.Desc)
	return httpx.OK(w, out)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("file_id")
	if err := h.st.Delete(r.Context(), ws, store.KindFile, id); err != nil {
		return err
	}
	// The record is gone first, so a crash here leaves an orphaned blob,
	// never a record pointing at missing bytes.
	h.removeContent(id)
	return httpx.OK(w, wire.Deleted{ID: id, Type: wire.FileDeletedType})
}
