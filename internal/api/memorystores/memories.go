package memorystores

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/memory"
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

// parseView reads the view query parameter, def when absent.
func parseView(r *http.Request, def string) (string, error) {
	v := r.URL.Query().Get("view")
	if v == "" {
		return def, nil
	}
	return v, check.Enum("view", v, viewBasic, viewFull)
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
	path, err := memory.CleanPath("path", p.Path.V)
	if err != nil {
		return err
	}
	if err := memory.CheckContent("content", p.Content.V); err != nil {
		return err
	}
	ws, storeID := httpx.Workspace(r), r.PathValue("memory_store_id")
	var m wire.Memory
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, err = memory.CreateMemory(ctx, tx, ws, storeID, path, p.Content.V, actorOf(r))
		return err
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, view(m, v))
}

func (h *Handler) getMemory(w http.ResponseWriter, r *http.Request) error {
	v, err := parseView(r, viewFull)
	if err != nil {
		return err
	}
	var m wire.Memory
	if _, err := memory.GetMemory(r.Context(), h.st, httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_id"), &m); err != nil {
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
		if path, err = memory.CleanPath("path", path); err != nil {
			return err
		}
	}
	content, contentSet := p.Content.Value()
	if p.Content.Null {
		return errdefs.Invalid("content: must not be null")
	}
	if err := memory.CheckContent("content", content); err != nil {
		return err
	}
	want, err := precondition(p.Precondition)
	if err != nil {
		return err
	}
	ws, storeID, id := httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_id")
	var ch memory.Change
	if pathSet {
		ch.Path = &path
	}
	if contentSet {
		ch.Content = &content
	}
	var m wire.Memory
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, err = memory.UpdateMemory(ctx, tx, ws, storeID, id, ch, want, actorOf(r))
		return err
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, view(m, v))
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
	return sum, memory.CheckSHA256("precondition.content_sha256", sum)
}

// deleteMemory deletes the memory (conditionally on its content hash when
// expected_content_sha256 is given) and records the deletion as a version;
// earlier versions stay.
func (h *Handler) deleteMemory(w http.ResponseWriter, r *http.Request) error {
	want := r.URL.Query().Get("expected_content_sha256")
	if want != "" {
		if err := memory.CheckSHA256("expected_content_sha256", want); err != nil {
			return err
		}
	}
	ws, storeID, id := httpx.Workspace(r), r.PathValue("memory_store_id"), r.PathValue("memory_id")
	err := h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		return memory.DeleteMemory(ctx, tx, ws, storeID, id, want, actorOf(r))
	})
	if err != nil {
		return err
	}
	return httpx.OK(w, wire.Deleted{ID: id, Type: wire.TypeMemoryDeleted})
}

// listQuery reads a memory or version list's view and list parameters; a
// full-view page is capped, its items carrying up to 100 KB of content each.
func listQuery(r *http.Request) (string, httpx.ListQuery, error) {
	v, err := parseView(r, viewBasic)
	if err != nil {
		return "", httpx.ListQuery{}, err
	}
	lq, err := httpx.ParseListQuery(r.URL.Query(), 20, 100)
	if err != nil {
		return "", httpx.ListQuery{}, err
	}
	if v == viewFull && lq.Limit > maxFullPage {
		lq.Limit = maxFullPage
	}
	return v, lq, nil
}

// listMemories lists the store's memories in path order as a tree: with
// depth n > 0, the memories more than n segments below path_prefix are
// rolled up into one memory_prefix entry per directory at depth n.
func (h *Handler) listMemories(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v, lq, err := listQuery(r)
	if err != nil {
		return err
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
		return memory.Successor(it.path)
	default:
		return it.path + "\x00"
	}
}

// walk lists the page: the names under the prefix from the cursor on,
// skipping what a rolled-up directory covers, until limit+1 items show
// whether there is more.
func (t tree) walk(ctx context.Context, st store.Tx, o store.ListOptions) ([]item, *string, error) {
	lo, hi := t.prefix, memory.Successor(t.prefix)
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
