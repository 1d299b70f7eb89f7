// Package skills serves the Skills API: skills and their immutable
// versions, uploaded as multipart files[] parts (a directory whose paths
// share one top-level folder with SKILL.md at its root, or one zip of the
// same), validated, and stored as one zip per version in the blob store. The
// version archive is what the self-hosted worker downloads and installs into
// skills/<name>/. ResolveVersion is the lookup other packages use to check
// an agent's skill references, "latest" included.
//
// Choices where the spec is open:
//   - A version's id is a decimal timestamp in microseconds, strictly
//     increasing per skill (the reference service's versions look
//     like "1759178010641129"). It is what paths and references use.
//   - A skill always holds at least one version (the SDK documents
//     latest_version_id as always set): deleting a skill deletes its
//     versions with it, and deleting the only version is a 409.
//   - Uploads are validated like the reference service validates custom
//     skills: SKILL.md front matter with a kebab-case name of at most 64
//     characters free of "anthropic" and "claude", and a description of at
//     most 1024 characters without XML tags. A missing name falls back to
//     the top-level directory's name.
//   - Every later version must resolve to the same name as the skill's
//     first one (the name is the directory workers install it into).
//   - Lists are newest first; source=anthropic (and the other non-custom
//     sources) list nothing, since Hangar hosts only custom skills.
package skills

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

const (
	listDefault    = 20
	listMax        = 1000
	maxDisplayName = 255
)

// Handler serves the skills endpoints.
type Handler struct {
	st        store.Store
	log       *slog.Logger
	blobs     *blob.FS
	maxUpload int64
}

// New returns the handler.
func New(st store.Store, blobs *blob.FS, maxUpload int64, log *slog.Logger) *Handler {
	return &Handler{st: st, log: log, blobs: blobs, maxUpload: maxUpload}
}

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/skills", h.create)
	route("GET /v1/skills", h.list)
	route("GET /v1/skills/{skill_id}", h.get)
	route("DELETE /v1/skills/{skill_id}", h.delete)
	route("POST /v1/skills/{skill_id}/versions", h.createVersion)
	route("GET /v1/skills/{skill_id}/versions", h.listVersions)
	route("GET /v1/skills/{skill_id}/versions/{version}", h.getVersion)
	route("DELETE /v1/skills/{skill_id}/versions/{version}", h.deleteVersion)
	route("GET /v1/skills/{skill_id}/versions/{version}/content", h.content)
}

// archiveKey is where a version's zip lives. Both ids are server-minted,
// so the key is always a safe path.
func archiveKey(skillID, versionRecordID string) string {
	return "skills/" + skillID + "/" + versionRecordID + ".zip"
}

// skillForm is an upload body: the files[] parts, spooled, and the optional
// display_name.
type skillForm struct {
	parts       []upPart
	displayName *string
}

// readForm walks a skill upload body. display_name is only allowed when
// creating a skill; unknown parts are rejected so typos do not pass.
func readForm(mr *multipart.Reader, sp *spool, allowDisplayName bool, limit int64) (skillForm, error) {
	var f skillForm
	file := func(p *multipart.Part) error {
		raw, has, err := upload.Filename(p)
		if err != nil {
			return err
		}
		if !has || raw == "" {
			return errdefs.Invalid("files[]: every file part needs a filename holding its path (e.g. my-skill/SKILL.md)")
		}
		if len(f.parts) >= maxFiles {
			return errdefs.Invalid("files[]: at most %d files are allowed", maxFiles)
		}
		off, size, err := sp.add(upload.Source(p), limit)
		if err != nil {
			return err
		}
		f.parts = append(f.parts, upPart{name: raw, off: off, size: size})
		return nil
	}
	err := upload.Walk(mr, map[string]func(*multipart.Part) error{
		"files[]": file,
		"files":   file,
		"display_name": func(p *multipart.Part) error {
			if !allowDisplayName {
				return errdefs.Invalid("display_name: unknown field (a version takes only files[]; the display name is set when the skill is created)")
			}
			if f.displayName != nil {
				return errdefs.Invalid("display_name: given more than once")
			}
			v, err := upload.Value(p, 4*maxDisplayName)
			if err != nil {
				return err
			}
			if err := checkDisplayName(v); err != nil {
				return err
			}
			f.displayName = &v
			return nil
		},
	})
	if err != nil {
		return f, err
	}
	if len(f.parts) == 0 {
		return f, errdefs.Invalid("files[]: field required")
	}
	return f, nil
}

func checkDisplayName(v string) error {
	if err := check.Name("display_name", v, 1, maxDisplayName); err != nil {
		return err
	}
	if strings.ContainsAny(v, "\r\n") {
		return errdefs.Invalid("display_name: must be a single line")
	}
	if strings.TrimSpace(v) == "" {
		return errdefs.Invalid("display_name: must not be blank")
	}
	return nil
}

// readUpload parses and validates an upload body into a bundle. The caller
// closes the returned spool once the bundle has been stored.
func (h *Handler) readUpload(w http.ResponseWriter, r *http.Request, allowDisplayName bool) (*bundle, skillForm, *spool, error) {
	mr, err := upload.Reader(w, r, h.maxUpload+upload.Overhead)
	if err != nil {
		return nil, skillForm{}, nil, err
	}
	sp, err := newSpool()
	if err != nil {
		return nil, skillForm{}, nil, err
	}
	form, err := readForm(mr, sp, allowDisplayName, h.maxUpload)
	if err != nil {
		sp.close()
		return nil, form, nil, err
	}
	b, err := newBundle(form.parts, sp, h.maxUpload)
	if err != nil {
		sp.close()
		return nil, form, nil, err
	}
	return b, form, sp, nil
}

// putArchive streams the bundle's zip into the blob store.
func (h *Handler) putArchive(ctx context.Context, key string, b *bundle, modified time.Time) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeArchive(pw, b, modified))
	}()
	_, _, err := h.blobs.Put(ctx, key, pr, 0)
	// Unblocks the writer when Put gave up early.
	pr.CloseWithError(io.ErrClosedPipe)
	<-done
	return err
}

func (h *Handler) removeArchive(key string) {
	if err := h.blobs.Delete(key); err != nil {
		h.log.Warn("could not remove skill archive", "key", key, "err", err)
	}
}

// nextVersion returns a version id after prev: the current time in
// microseconds, or prev+1 when the clock has not moved past it.
func nextVersion(now time.Time, prev string) string {
	v := now.UnixMicro()
	if p, err := strconv.ParseInt(prev, 10, 64); err == nil && p >= v {
		v = p + 1
	}
	return strconv.FormatInt(v, 10)
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	ws := httpx.Workspace(r)
	b, form, sp, err := h.readUpload(w, r, true)
	if err != nil {
		return err
	}
	defer sp.close()
	now := wire.Now()
	skill := wire.Skill{
		ID: ids.New(ids.Skill), CreatedAt: now, UpdatedAt: now, DisplayName: b.name,
		Source: wire.SkillSource{Type: wire.SkillSourceCustom}, Type: wire.SkillType,
	}
	if form.displayName != nil {
		skill.DisplayName = *form.displayName
	}
	ver := wire.SkillVersion{
		ID: nextVersion(now, ""), CreatedAt: now, Description: b.description, Name: b.name,
		SkillID: skill.ID, Type: wire.SkillVersionType,
	}
	skill.LatestVersionID = ver.ID
	verRecID := ids.New(ids.SkillVersion)
	key := archiveKey(skill.ID, verRecID)
	if err := h.putArchive(r.Context(), key, b, now); err != nil {
		return err
	}
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := insertRecord(ctx, tx, store.Record{Kind: store.KindSkill, ID: skill.ID, Workspace: ws, CreatedAt: now, UpdatedAt: now}, skill); err != nil {
			return err
		}
		return insertRecord(ctx, tx, store.Record{Kind: store.KindSkillVersion, ID: verRecID, Workspace: ws, Parent: skill.ID, Name: ver.ID, CreatedAt: now, UpdatedAt: now}, ver)
	})
	if err != nil {
		h.removeArchive(key)
		return err
	}
	return httpx.OK(w, skill)
}

func insertRecord(ctx context.Context, tx store.Tx, rec store.Record, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return errdefs.Internal(err, "encode %s", rec.Kind)
	}
	rec.Data = data
	return tx.Insert(ctx, &rec)
}

func (h *Handler) createVersion(w http.ResponseWriter, r *http.Request) error {
	ws, skillID := httpx.Workspace(r), r.PathValue("skill_id")
	// Fail fast on an unknown skill or a renamed upload, before the
	// archive is written; both are checked again in the transaction.
	current, err := ResolveVersion(r.Context(), h.st, ws, skillID, wire.SkillVersionLatest)
	if err != nil {
		return err
	}
	b, _, sp, err := h.readUpload(w, r, false)
	if err != nil {
		return err
	}
	defer sp.close()
	if err := sameName(b.name, current.Name); err != nil {
		return err
	}
	now := wire.Now()
	verRecID := ids.New(ids.SkillVersion)
	key := archiveKey(skillID, verRecID)
	if err := h.putArchive(r.Context(), key, b, now); err != nil {
		return err
	}
	var ver wire.SkillVersion
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		skillRec, skill, err := loadSkill(ctx, tx, ws, skillID)
		if err != nil {
			return err
		}
		latest, err := ResolveVersion(ctx, tx, ws, skillID, wire.SkillVersionLatest)
		if err != nil {
			return err
		}
		if err := sameName(b.name, latest.Name); err != nil {
			return err
		}
		ver = wire.SkillVersion{
			ID: nextVersion(now, skill.LatestVersionID), CreatedAt: now, Description: b.description,
			Name: b.name, SkillID: skillID, Type: wire.SkillVersionType,
		}
		if err := insertRecord(ctx, tx, store.Record{Kind: store.KindSkillVersion, ID: verRecID, Workspace: ws, Parent: skillID, Name: ver.ID, CreatedAt: now, UpdatedAt: now}, ver); err != nil {
			return err
		}
		skill.LatestVersionID, skill.UpdatedAt = ver.ID, now
		return saveSkill(ctx, tx, skillRec, skill)
	})
	if err != nil {
		h.removeArchive(key)
		return err
	}
	return httpx.OK(w, ver)
}

func sameName(got, want string) error {
	if got != want {
		return errdefs.Invalid("SKILL.md: front matter name: a new version must keep the skill's name %q, got %q", want, got)
	}
	return nil
}

func loadSkill(ctx context.Context, tx store.Tx, ws, id string) (store.Record, wire.Skill, error) {
	var s wire.Skill
	rec, err := tx.Get(ctx, ws, store.KindSkill, id)
	if err != nil {
		return rec, s, err
	}
	if err := json.Unmarshal(rec.Data, &s); err != nil {
		return rec, s, errdefs.Internal(err, "decode skill %s", id)
	}
	return rec, s, nil
}

func saveSkill(ctx context.Context, tx store.Tx, rec store.Record, s wire.Skill) error {
	data, err := json.Marshal(s)
	if err != nil {
		return errdefs.Internal(err, "encode skill")
	}
	rec.Data, rec.UpdatedAt = data, s.UpdatedAt
	return tx.Update(ctx, &rec)
}

// ResolveVersion returns a skill's version by id or by the alias "latest",
// with a not-found error naming what is missing. Agents and sessions use it
// to check custom skill references.
func ResolveVersion(ctx context.Context, tx store.Tx, ws, skillID, version string) (wire.SkillVersion, error) {
	_, v, err := resolveVersion(ctx, tx, ws, skillID, version)
	return v, err
}

func resolveVersion(ctx context.Context, tx store.Tx, ws, skillID, version string) (store.Record, wire.SkillVersion, error) {
	var v wire.SkillVersion
	_, skill, err := loadSkill(ctx, tx, ws, skillID)
	if err != nil {
		return store.Record{}, v, err
	}
	if version == wire.SkillVersionLatest {
		version = skill.LatestVersionID
	}
	rec, err := tx.GetByName(ctx, ws, store.KindSkillVersion, skillID, version)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return rec, v, errdefs.NotFound("skill %s has no version %s", skillID, version)
		}
		return rec, v, err
	}
	if err := json.Unmarshal(rec.Data, &v); err != nil {
		return rec, v, errdefs.Internal(err, "decode skill version %s", version)
	}
	return rec, v, nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	_, s, err := loadSkill(r.Context(), h.st, httpx.Workspace(r), r.PathValue("skill_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, s)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lp, err := httpx.ParseList(q, listDefault, listMax, true)
	if err != nil {
		return err
	}
	out := wire.ListPage[wire.Skill]{Data: []wire.Skill{}}
	if src := q.Get("source"); src != "" {
		if err := check.Enum("source", src, wire.SkillSourceCustom, wire.SkillSourceAnthropic, wire.SkillSourceAnthropicExample, wire.SkillSourcePlugin); err != nil {
			return err
		}
		if src != wire.SkillSourceCustom {
			return httpx.OK(w, out)
		}
	}
	o := store.ListOptions{Workspace: httpx.Workspace(r), Kind: store.KindSkill}
	lp.Apply(&o)
	page, err := h.st.List(r.Context(), o)
	if err != nil {
		return err
	}
	for _, rec := range page.Records {
		var s wire.Skill
		if err := json.Unmarshal(rec.Data, &s); err != nil {
			return errdefs.Internal(err, "decode skill %s", rec.ID)
		}
		out.Data = append(out.Data, s)
	}
	out.HasMore, out.NextPage = page.More, httpx.NextPage(page, lp.Desc)
	return httpx.OK(w, out)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	ws, skillID := httpx.Workspace(r), r.PathValue("skill_id")
	var keys []string
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if _, _, err := loadSkill(ctx, tx, ws, skillID); err != nil {
			return err
		}
		page, err := tx.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindSkillVersion, Parent: skillID, ParentSet: true})
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			keys = append(keys, archiveKey(skillID, rec.ID))
		}
		// Delete takes the versions (children) with the skill.
		return tx.Delete(ctx, ws, store.KindSkill, skillID)
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		h.removeArchive(k)
	}
	return httpx.OK(w, wire.Deleted{ID: skillID, Type: wire.SkillDeletedType})
}

func (h *Handler) listVersions(w http.ResponseWriter, r *http.Request) error {
	ws, skillID := httpx.Workspace(r), r.PathValue("skill_id")
	lp, err := httpx.ParseList(r.URL.Query(), listDefault, listMax, true)
	if err != nil {
		return err
	}
	if _, _, err := loadSkill(r.Context(), h.st, ws, skillID); err != nil {
		return err
	}
	o := store.ListOptions{Workspace: ws, Kind: store.KindSkillVersion, Parent: skillID, ParentSet: true}
	lp.Apply(&o)
	page, err := h.st.List(r.Context(), o)
	if err != nil {
		return err
	}
	out := wire.ListPage[wire.SkillVersion]{Data: make([]wire.SkillVersion, 0, len(page.Records)), HasMore: page.More}
	for _, rec := range page.Records {
		var v wire.SkillVersion
		if err := json.Unmarshal(rec.Data, &v); err != nil {
			return errdefs.Internal(err, "decode skill version %s", rec.Name)
		}
		out.Data = append(out.Data, v)
	}
	out.NextPage = httpx.NextPage(page, lp.Desc)
	return httpx.OK(w, out)
}

func (h *Handler) getVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := ResolveVersion(r.Context(), h.st, httpx.Workspace(r), r.PathValue("skill_id"), r.PathValue("version"))
	if err != nil {
		return err
	}
	return httpx.OK(w, v)
}

func (h *Handler) deleteVersion(w http.ResponseWriter, r *http.Request) error {
	ws, skillID := httpx.Workspace(r), r.PathValue("skill_id")
	var deleted wire.SkillVersion
	var key string
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		skillRec, skill, err := loadSkill(ctx, tx, ws, skillID)
		if err != nil {
			return err
		}
		rec, v, err := resolveVersion(ctx, tx, ws, skillID, r.PathValue("version"))
		if err != nil {
			return err
		}
		n, err := tx.Count(ctx, ws, store.KindSkillVersion, skillID, false)
		if err != nil {
			return err
		}
		if n <= 1 {
			return errdefs.Conflict("version %s is the only version of skill %s; a skill keeps at least one version, so delete the skill instead", v.ID, skillID)
		}
		if err := tx.Delete(ctx, ws, store.KindSkillVersion, rec.ID); err != nil {
			return err
		}
		deleted, key = v, archiveKey(skillID, rec.ID)
		if skill.LatestVersionID == v.ID {
			page, err := tx.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindSkillVersion, Parent: skillID, ParentSet: true, Desc: true, Limit: 1})
			if err != nil {
				return err
			}
			if len(page.Records) == 0 {
				return errdefs.Internal(nil, "skill %s lost its versions", skillID)
			}
			skill.LatestVersionID = page.Records[0].Name
		}
		skill.UpdatedAt = wire.Now()
		return saveSkill(ctx, tx, skillRec, skill)
	})
	if err != nil {
		return err
	}
	h.removeArchive(key)
	return httpx.OK(w, wire.Deleted{ID: deleted.ID, Type: wire.SkillVersionDeletedType})
}

func (h *Handler) content(w http.ResponseWriter, r *http.Request) error {
	rec, v, err := resolveVersion(r.Context(), h.st, httpx.Workspace(r), r.PathValue("skill_id"), r.PathValue("version"))
	if err != nil {
		return err
	}
	f, err := h.blobs.Open(archiveKey(v.SkillID, rec.ID))
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": v.Name + ".zip"}))
	http.ServeContent(w, r, "", v.CreatedAt, f)
	return nil
}
