package memorystores

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Views of a memory or version: basic leaves the content out.
const (
	viewBasic = "basic"
	viewFull  = "full"
	// maxFullPage caps a page of a full-view list, whose items carry
	// content of up to 100 KB each.
	maxFullPage = 20
)

// Error types of the memory endpoints.
const (
	pathConflictError       = "memory_path_conflict_error"
	preconditionFailedError = "memory_precondition_failed_error"
)

// parseView reads the view query parameter, def when absent.
func parseView(r *http.Request, def string) (string, error) {
	v := r.URL.Query().Get("view")
	if v == "" {
		return def, nil
	}
	return v, check.Enum("view", v, viewBasic, viewFull)
}

// CheckContent enforces the content limit.
func CheckContent(field, content string) error {
	if len(content) > maxContentBytes {
		return errdefs.Invalid("%s: must be at most %d bytes, got %d", field, maxContentBytes, len(content))
	}
	return nil
}

// checkSHA256 accepts a lowercase hex SHA-256 digest.
func checkSHA256(field, v string) error {
	if len(v) != 64 || strings.ToLower(v) != v {
		return errdefs.Invalid("%s: must be a lowercase hex SHA-256 digest (64 characters), got %q", field, v)
	}
	if _, err := hex.DecodeString(v); err != nil {
		return errdefs.Invalid("%s: must be a lowercase hex SHA-256 digest (64 characters), got %q", field, v)
	}
	return nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// actorOf is who makes the request's changes: the session whose token it
// carries, otherwise the API key.
func actorOf(r *http.Request) *wire.Actor {
	p := httpx.PrincipalOf(r)
	if p.SessionID != "" {
		return &wire.Actor{Type: wire.ActorSession, SessionID: p.SessionID}
	}
	return &wire.Actor{Type: wire.ActorAPI, APIKeyID: p.KeyID}
}

// view returns m as a response of view v.
func view(m wire.Memory, v string) wire.Memory {
	if v == viewBasic {
		m.Content = nil
	}
	return m
}

func (h *Handler) createMemory(w http.ResponseWriter, r *http.Request) error {
	v, err := parseView(r, viewBasic)
	if err != nil {
		return err
	}
	var p wire.MemoryCreateParams
	if err := httpx.DecodeJSONWith(r, &p, func() error {
		if !p.Path.Set || p.Path.Null {
			return errdefs.Invalid("path: field required")
		}
		if !p.Content.Set || p.Content.Null {
			return errdefs.Invalid("content: field required")
		}
		return nil
	}); err != nil {
		return err
	}
	path, err := CleanPath("path", p.Path.V)
	if err != nil {
		return err
	}
	if err := CheckContent("content", p.Content.V); err != nil {
		return err
	}
	ws, storeID := httpx.Workspace(r), r.PathValue("memory_store_id")
	var m wire.Memory
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, err = CreateMemory(ctx, tx, ws, storeID, path, p.Content.V, actorOf(r))
		return err
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, view(m, v))
}

// CreateMemory creates a memory at path (already cleaned, CleanPath) with
// its created version, in tx: the API's create and a session's write
// through its mount both come here.
func CreateMemory(ctx context.Context, tx store.Tx, ws, storeID, path, content string, by *wire.Actor) (wire.Memory, error) {
	now := wire.Now()
	m := wire.Memory{
		ID: ids.New(ids.Memory), Type: wire.TypeMemory, MemoryStoreID: storeID, Path: path,
		Content: &content, ContentSHA256: sha256Hex(content), ContentSizeBytes: int64(len(content)),
		CreatedAt: now, UpdatedAt: now,
	}
	if _, err := writableStore(ctx, tx, ws, storeID, &wire.MemoryStore{}); err != nil {
		return m, err
	}
	if err := pathFree(ctx, tx, ws, storeID, path, ""); err != nil {
		return m, err
	}
	ver, err := insertVersion(ctx, tx, ws, m, wire.MemoryCreated, by)
	if err != nil {
		return m, err
	}
	m.MemoryVersionID = ver
	rec := store.Record{Kind: store.KindMemory, ID: m.ID, Workspace: ws, Parent: storeID, Name: path, CreatedAt: now, UpdatedAt: now}
	return m, saveMemory(ctx, tx, &rec, m, true)
}

// pathFree refuses path when another memory of the store (not self) holds
// it or overlaps it: a memory at an ancestor of path (a file where path
// needs a directory) or memories below path (a directory where path would
// be a file).
func pathFree(ctx context.Context, tx store.Tx, ws, storeID, path, self string) error {
	conflict := func(rec store.Record) error {
		e := errdefs.Conflict("path: %q conflicts with the path %q of memory %s", path, rec.Name, rec.ID).
			WithField("conflicting_memory_id", rec.ID).WithField("conflicting_path", rec.Name)
		e.Type = pathConflictError
		return e
	}
	for i := len(path); i > 0; i = strings.LastIndexByte(path[:i], '/') {
		rec, err := tx.GetByName(ctx, ws, store.KindMemory, storeID, path[:i])
		if err == nil && rec.ID != self {
			return conflict(rec)
		}
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
	}
	below, err := tx.List(ctx, store.ListOptions{
		Workspace: ws, Kind: store.KindMemory, Parent: storeID, ParentSet: true,
		ByName: true, NameGTE: path + "/", NameLT: successor(path + "/"), Limit: 2,
	})
	if err != nil {
		return err
	}
	for _, rec := range below.Records {
		if rec.ID != self {
			return conflict(rec)
		}
	}
	return nil
}

// insertVersion records m as it is after operation and returns the
// version's id.
func insertVersion(ctx context.Context, tx store.Tx, ws string, m wire.Memory, operation string, by *wire.Actor) (string, error) {
	path := m.Path
	v := wire.MemoryVersion{
		ID: ids.New(ids.MemoryVer), Type: wire.TypeMemoryVersion, MemoryID: m.ID, MemoryStoreID: m.MemoryStoreID,
		Operation: operation, Path: &path, CreatedAt: wire.Now(), CreatedBy: by,
	}
	if operation != wire.MemoryDeleted {
		sum, size := m.ContentSHA256, m.ContentSizeBytes
		v.Content, v.ContentSHA256, v.ContentSizeBytes = m.Content, &sum, &size
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", errdefs.Internal(err, "encode memory version")
	}
	rec := store.Record{Kind: store.KindMemoryVersion, ID: v.ID, Workspace: ws, Parent: m.MemoryStoreID, Data: data, CreatedAt: v.CreatedAt, UpdatedAt: v.CreatedAt}
	return v.ID, tx.Insert(ctx, &rec)
}

// saveMemory writes m (content included) as rec's Data, inserting or
// updating the record.
func saveMemory(ctx context.Context, tx store.Tx, rec *store.Record, m wire.Memory, insert bool) error {
	data, err := json.Marshal(m)
	if err != nil {
		return errdefs.Internal(err, "encode memory")
	}
	rec.Data, rec.Name, rec.UpdatedAt = data, m.Path, m.UpdatedAt
	if insert {
		return tx.Insert(ctx, rec)
	}
	return tx.Update(ctx, rec)
}

// getMemory reads memory id of store storeID; a memory of another store
// (or workspace) is not found.
func getMemory(ctx context.Context, tx store.Tx, ws, storeID, id string, m *wire.Memory) (store.Record, error) {
	rec, err := tx.Get(ctx, ws, store.KindMemory, id)
	if err == nil && rec.Parent != storeID {
		err = errdefs.NotFound("memory %s not found in memory store %s", id, storeID)
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(rec.Data, m); err != nil {
		return rec, errdefs.Internal(err, "decode memory %s", id)
	}
	return rec, nil
}

func (h *Handler) getMemory(w http.ResponseWriter, r *http.Request) error {
	v, err := parseView(r, viewFull)
	if err != nil {
		return err
	}
	var m wire.Memory
	if _, err := getMemory(r.Context(), h.st, httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_id"), &m); err != nil {
		return err
	}
	return httpx.OK(w, view(m, v))
}

func (h *Handler) updateMemory(w http.ResponseWriter, r *http.Request) error {
	v, err := parseView(r, viewBasic)
	if err != nil {
		return err
	}
	var p wire.MemoryUpdateParams
	if err := httpx.DecodeJSON(r, &p); err != nil {
		return err
	}
	path, pathSet := p.Path.Value()
	if p.Path.Null {
		return errdefs.Invalid("path: must not be null")
	}
	if pathSet {
		if path, err = CleanPath("path", path); err != nil {
			return err
		}
	}
	content, contentSet := p.Content.Value()
	if p.Content.Null {
		return errdefs.Invalid("content: must not be null")
	}
	if err := CheckContent("content", content); err != nil {
		return err
	}
	want, err := precondition(p.Precondition)
	if err != nil {
		return err
	}
	ws, storeID, id := httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_id")
	var ch Change
	if pathSet {
		ch.Path = &path
	}
	if contentSet {
		ch.Content = &content
	}
	var m wire.Memory
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, err = UpdateMemory(ctx, tx, ws, storeID, id, ch, want, actorOf(r))
		return err
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, view(m, v))
}

// Change is what an update sets; nil leaves a field as it is.
type Change struct {
	Path    *string // cleaned (CleanPath)
	Content *string // within the limit (CheckContent)
}

// UpdateMemory applies ch to memory id in tx, only while its content hash
// is want (when want is not ""), and records a modified version unless
// nothing changed: the API's update and a session's write through its
// mount both come here, so a mount write races an API write exactly as
// two API writes do.
func UpdateMemory(ctx context.Context, tx store.Tx, ws, storeID, id string, ch Change, want string, by *wire.Actor) (wire.Memory, error) {
	var m wire.Memory
	if _, err := writableStore(ctx, tx, ws, storeID, &wire.MemoryStore{}); err != nil {
		return m, err
	}
	rec, err := getMemory(ctx, tx, ws, storeID, id, &m)
	if err != nil {
		return m, err
	}
	if want != "" && want != m.ContentSHA256 {
		return m, preconditionFailed("precondition.content_sha256", id, want, m.ContentSHA256)
	}
	changed := false
	if ch.Path != nil && *ch.Path != m.Path {
		if err := pathFree(ctx, tx, ws, storeID, *ch.Path, id); err != nil {
			return m, err
		}
		m.Path, changed = *ch.Path, true
	}
	if c := ch.Content; c != nil && *c != *m.Content {
		m.Content, m.ContentSHA256, m.ContentSizeBytes = c, sha256Hex(*c), int64(len(*c))
		changed = true
	}
	// An update that changes nothing is not a change: no version.
	if !changed {
		return m, nil
	}
	m.UpdatedAt = wire.Now()
	if m.MemoryVersionID, err = insertVersion(ctx, tx, ws, m, wire.MemoryModified, by); err != nil {
		return m, err
	}
	return m, saveMemory(ctx, tx, &rec, m, false)
}

// precondition validates an update's precondition and returns the
// content hash it requires ("" when none).
func precondition(o wire.Opt[wire.MemoryPrecondition]) (string, error) {
	pc, ok := o.Value()
	if !ok {
		return "", nil
	}
	if err := check.Enum("precondition.type", pc.Type, "content_sha256"); err != nil {
		return "", err
	}
	sum, ok := pc.ContentSHA256.Value()
	if !ok {
		return "", errdefs.Invalid("precondition.content_sha256: field required")
	}
	return sum, checkSHA256("precondition.content_sha256", sum)
}

func preconditionFailed(field, id, want, got string) error {
	e := errdefs.Conflict("%s: memory %s has content_sha256 %s, not %s; nothing was changed", field, id, got, want)
	e.Type = preconditionFailedError
	return e
}

// deleteMemory deletes the memory (conditionally on its content hash when
// expected_content_sha256 is given) and records the deletion as a version;
// earlier versions stay.
func (h *Handler) deleteMemory(w http.ResponseWriter, r *http.Request) error {
	want := r.URL.Query().Get("expected_content_sha256")
	if want != "" {
		if err := checkSHA256("expected_content_sha256", want); err != nil {
			return err
		}
	}
	ws, storeID, id := httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_id")
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		return DeleteMemory(ctx, tx, ws, storeID, id, want, actorOf(r))
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, wire.Deleted{ID: id, Type: wire.TypeMemoryDeleted})
}

// DeleteMemory deletes memory id in tx, only while its content hash is
// want (when want is not ""), and records the deleted version.
func DeleteMemory(ctx context.Context, tx store.Tx, ws, storeID, id, want string, by *wire.Actor) error {
	var m wire.Memory
	if _, err := getMemory(ctx, tx, ws, storeID, id, &m); err != nil {
		return err
	}
	if want != "" && want != m.ContentSHA256 {
		return preconditionFailed("expected_content_sha256", id, want, m.ContentSHA256)
	}
	if _, err := insertVersion(ctx, tx, ws, m, wire.MemoryDeleted, by); err != nil {
		return err
	}
	return tx.Delete(ctx, ws, store.KindMemory, id)
}

// listMemories lists the store's memories in path order as a tree: with
// depth n > 0, the memories more than n segments below path_prefix are
// rolled up into one memory_prefix entry per directory at depth n.
func (h *Handler) listMemories(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v, err := parseView(r, viewBasic)
	if err != nil {
		return err
	}
	lq, err := httpx.ParseListQuery(q, 20, 100)
	if err != nil {
		return err
	}
	if v == viewFull && lq.Limit > maxFullPage {
		lq.Limit = maxFullPage
	}
	if ob := q.Get("order_by"); ob != "" {
		if err := check.Enum("order_by", ob, "path"); err != nil {
			return err
		}
	}
	depth := 0
	if s := q.Get("depth"); s != "" {
		if depth, err = strconv.Atoi(s); err != nil || depth < 0 {
			return errdefs.Invalid("depth: must be a non-negative integer, got %q", s)
		}
	}
	t := tree{prefix: q.Get("path_prefix"), depth: depth, desc: lq.Order == "desc", limit: lq.Limit}
	if strings.IndexByte(t.prefix, 0) >= 0 {
		return errdefs.Invalid("path_prefix: must not contain NUL characters")
	}
	// Every path starts with "/", so the whole store is the prefix "/"
	// (and depth counts the segments below it).
	if t.prefix = norm.NFC.String(t.prefix); t.prefix == "" {
		t.prefix = "/"
	}
	if lq.Page != "" {
		if t.from, err = decodeCursor(lq.Page, t.desc); err != nil {
			return err
		}
	}
	ws, storeID := httpx.Workspace(r), r.PathValue("memory_store_id")
	if _, err := h.st.Get(r.Context(), ws, store.KindMemoryStore, storeID); err != nil {
		return err
	}
	items, next, err := t.walk(r.Context(), h.st, store.ListOptions{
		Workspace: ws, Kind: store.KindMemory, Parent: storeID, ParentSet: true, ByName: true, Desc: t.desc,
	})
	if err != nil {
		return err
	}
	out := wire.Page[any]{Data: make([]any, 0, len(items)), NextPage: next}
	for _, it := range items {
		if it.memory == nil {
			out.Data = append(out.Data, wire.MemoryPrefix{Type: wire.TypeMemoryPrefix, Path: it.path})
			continue
		}
		out.Data = append(out.Data, view(*it.memory, v))
	}
	return httpx.OK(w, out)
}

// tree is one page of a tree listing.
type tree struct {
	prefix string
	depth  int
	desc   bool
	limit  int
	// from is the cursor's bound: the least name still to list
	// (ascending) or the name every remaining one is below (descending).
	from string
}

// item is a memory, or a rolled-up directory (memory nil) whose path ends
// in "/".
type item struct {
	path   string
	memory *wire.Memory
}

// itemOf is the entry a memory's record appears as.
func (t tree) itemOf(rec store.Record) (item, error) {
	if t.depth > 0 && strings.HasPrefix(rec.Name, t.prefix) {
		rest := rec.Name[len(t.prefix):]
		segs := strings.SplitN(rest, "/", t.depth+1)
		if len(segs) > t.depth {
			return item{path: t.prefix + strings.Join(segs[:t.depth], "/") + "/"}, nil
		}
	}
	var m wire.Memory
	if err := json.Unmarshal(rec.Data, &m); err != nil {
		return item{}, errdefs.Internal(err, "decode memory %s", rec.ID)
	}
	return item{path: m.Path, memory: &m}, nil
}

// past is the cursor bound after it: a directory's whole range is behind.
func (t tree) past(it item) string {
	switch {
	case t.desc:
		return it.path
	case it.memory == nil:
		return successor(it.path)
	default:
		return it.path + "\x00"
	}
}

// walk lists the page: the names under the prefix from the cursor on,
// skipping what a rolled-up directory covers, until limit+1 items show
// whether there is more.
func (t tree) walk(ctx context.Context, st store.Tx, o store.ListOptions) ([]item, *string, error) {
	lo, hi := t.prefix, successor(t.prefix)
	if t.from != "" {
		if t.desc && (hi == "" || t.from < hi) {
			hi = t.from
		} else if !t.desc && t.from > lo {
			lo = t.from
		}
	}
	o.Limit = t.limit + 1
	var items []item
	for len(items) <= t.limit {
		o.NameGTE, o.NameLT = lo, hi
		page, err := st.List(ctx, o)
		if err != nil {
			return nil, nil, err
		}
		for _, rec := range page.Records {
			if n := len(items); n > 0 && items[n-1].memory == nil && strings.HasPrefix(rec.Name, items[n-1].path) {
				continue
			}
			it, err := t.itemOf(rec)
			if err != nil {
				return nil, nil, err
			}
			if items = append(items, it); len(items) > t.limit {
				break
			}
		}
		if !page.More || len(items) > t.limit {
			break
		}
		last := page.Records[len(page.Records)-1]
		cont := item{path: last.Name, memory: &wire.Memory{}}
		if n := len(items); n > 0 && items[n-1].memory == nil && strings.HasPrefix(last.Name, items[n-1].path) {
			cont = items[n-1]
		}
		if t.desc {
			hi = t.past(cont)
		} else {
			lo = t.past(cont)
		}
	}
	if len(items) <= t.limit {
		return items, nil, nil
	}
	items = items[:t.limit]
	next := encodeCursor(t.past(items[t.limit-1]), t.desc)
	return items, &next, nil
}

// Tree cursors carry a name bound and the order they were made for.
func encodeCursor(bound string, desc bool) string {
	d := "a"
	if desc {
		d = "d"
	}
	return "page_" + base64.RawURLEncoding.EncodeToString([]byte(d+bound))
}

func decodeCursor(s string, desc bool) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, "page_"))
	if err != nil || len(b) < 2 || (b[0] != 'a' && b[0] != 'd') {
		return "", errdefs.Invalid("page: invalid page cursor")
	}
	if (b[0] == 'd') != desc {
		return "", errdefs.Invalid("page: cursor was created with a different order")
	}
	return string(b[1:]), nil
}
