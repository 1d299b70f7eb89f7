// Package dreams serves the dream endpoints (/v1/dreams…): create, get,
// list, archive and cancel. The dreams themselves run in package dream.
package dreams

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/dream"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Limits of a create request.
const (
	maxSessions     = 100
	maxInstructions = 4096
	maxModelID      = 256
)

// Runner runs the dreams this handler creates and stops the ones it
// cancels.
type Runner interface {
	Run(ws, id string)
	Stop(id string)
}

// Handler serves the dream endpoints.
type Handler struct {
	st     store.Store
	runner Runner
}

// New returns the handler.
func New(st store.Store, runner Runner) *Handler { return &Handler{st: st, runner: runner} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/dreams", h.create)
	route("GET /v1/dreams", h.list)
	route("GET /v1/dreams/{dream_id}", h.get)
	route("POST /v1/dreams/{dream_id}/archive", h.archive)
	route("POST /v1/dreams/{dream_id}/cancel", h.cancel)
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	var p wire.DreamCreateParams
	if err := httpx.DecodeJSONWith(r, &p, func() error {
		if p.Inputs == nil {
			return errdefs.Invalid("inputs: field required")
		}
		if len(p.Model) == 0 || bytes.Equal(p.Model, []byte("null")) {
			return errdefs.Invalid("model: field required")
		}
		return nil
	}); err != nil {
		return err
	}
	d := wire.Dream{
		ID: ids.New(ids.Dream), Type: wire.TypeDream, Status: wire.DreamPending,
		Outputs: []wire.DreamOutput{}, OutputBehavior: wire.DreamOutputBehavior{Type: wire.DreamCreateNew},
	}
	var err error
	if d.Model, err = parseModel(p.Model); err != nil {
		return err
	}
	if p.Instructions.Null {
		return errdefs.Invalid("instructions: must not be null")
	}
	if v, ok := p.Instructions.Value(); ok {
		if n := utf8.RuneCountInString(v); n < 1 || n > maxInstructions {
			return errdefs.Invalid("instructions: must be 1 to %d characters, got %d", maxInstructions, n)
		}
		d.Instructions = &v
	}
	storeID, sessionIDs, err := parseInputs(p.Inputs)
	if err != nil {
		return err
	}
	d.Inputs = []wire.DreamInput{
		{Type: wire.DreamInputMemoryStore, MemoryStoreID: storeID},
		{Type: wire.DreamInputSessions, SessionIDs: sessionIDs},
	}
	if p.OutputBehavior.Null {
		return errdefs.Invalid("output_behavior: must not be null")
	}
	if ob, ok := p.OutputBehavior.Value(); ok {
		if err := check.Enum("output_behavior.type", ob.Type, wire.DreamCreateNew, wire.DreamUpdateExisting); err != nil {
			return err
		}
		id, _ := ob.MemoryStoreID.Value()
		switch {
		case ob.Type == wire.DreamCreateNew && ob.MemoryStoreID.Set:
			return errdefs.Invalid("output_behavior.memory_store_id: only allowed with type update_existing")
		case ob.Type == wire.DreamUpdateExisting && id == "":
			return errdefs.Invalid("output_behavior.memory_store_id: field required with type update_existing")
		case ob.Type == wire.DreamUpdateExisting && id != storeID:
			return errdefs.Invalid("output_behavior.memory_store_id: must be the memory store of inputs (%s), got %s", storeID, id)
		}
		d.OutputBehavior = wire.DreamOutputBehavior{Type: ob.Type, MemoryStoreID: id}
	}
	ws, p2 := httpx.Workspace(r), httpx.PrincipalOf(r)
	err = h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := checkSources(ctx, tx, ws, storeID, sessionIDs); err != nil {
			return err
		}
		if d.OutputBehavior.Type == wire.DreamUpdateExisting {
			if err := noOtherWriter(ctx, tx, ws, storeID); err != nil {
				return err
			}
		}
		d.CreatedAt = wire.Now()
		data, err := json.Marshal(dream.Stored{Dream: d, KeyID: p2.KeyID})
		if err != nil {
			return errdefs.Internal(err, "encode dream")
		}
		return tx.Insert(ctx, &store.Record{Kind: dream.Kind, ID: d.ID, Workspace: ws, Data: data, CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt})
	})
	if err != nil {
		return err
	}
	h.runner.Run(ws, d.ID)
	return httpx.OK(w, d)
}

// parseModel reads model as an id or an {id, speed} object.
func parseModel(raw json.RawMessage) (wire.DreamModel, error) {
	m := wire.DreamModel{Speed: "standard"}
	if err := json.Unmarshal(raw, &m.ID); err != nil {
		var obj struct {
			ID    *string `json:"id"`
			Speed string  `json:"speed"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err != nil {
			return m, errdefs.Invalid("model: must be a model id or an object with id and speed: %v", err)
		}
		if obj.ID == nil {
			return m, errdefs.Invalid("model.id: field required")
		}
		if obj.Speed != "" {
			if err := check.Enum("model.speed", obj.Speed, "standard"); err != nil {
				return m, err
			}
		}
		m.ID = *obj.ID
	}
	if n := utf8.RuneCountInString(m.ID); n < 1 || n > maxModelID {
		return m, errdefs.Invalid("model: the model id must be 1 to %d characters, got %d", maxModelID, n)
	}
	return m, nil
}

// parseInputs checks that inputs are one memory store and one set of 1 to
// 100 distinct sessions, and returns them (the sessions sorted).
func parseInputs(inputs []wire.DreamInputParam) (string, []string, error) {
	var storeID string
	var sessions []string
	var haveStore, haveSessions bool
	for i, in := range inputs {
		at := fmt.Sprintf("inputs[%d]", i)
		switch in.Type {
		case wire.DreamInputMemoryStore:
			if haveStore {
				return "", nil, errdefs.Invalid("%s: inputs must have exactly one memory_store entry", at)
			}
			if in.SessionIDs != nil {
				return "", nil, errdefs.Invalid("%s.session_ids: not allowed in a memory_store entry", at)
			}
			id, _ := in.MemoryStoreID.Value()
			if id == "" {
				return "", nil, errdefs.Invalid("%s.memory_store_id: field required", at)
			}
			storeID, haveStore = id, true
		case wire.DreamInputSessions:
			if haveSessions {
				return "", nil, errdefs.Invalid("%s: inputs must have exactly one sessions entry", at)
			}
			if in.MemoryStoreID.Set {
				return "", nil, errdefs.Invalid("%s.memory_store_id: not allowed in a sessions entry", at)
			}
			if n := len(in.SessionIDs); n < 1 || n > maxSessions {
				return "", nil, errdefs.Invalid("%s.session_ids: must list 1 to %d sessions, got %d", at, maxSessions, n)
			}
			sessions = slices.Clone(in.SessionIDs)
			slices.Sort(sessions)
			for j := 1; j < len(sessions); j++ {
				if sessions[j] == sessions[j-1] {
					return "", nil, errdefs.Invalid("%s.session_ids: %s is listed twice", at, sessions[j])
				}
			}
			haveSessions = true
		default:
			return "", nil, errdefs.Invalid("%s.type: must be \"memory_store\" or \"sessions\", got %q", at, in.Type)
		}
	}
	if !haveStore {
		return "", nil, errdefs.Invalid("inputs: must have exactly one memory_store entry")
	}
	if !haveSessions {
		return "", nil, errdefs.Invalid("inputs: must have exactly one sessions entry")
	}
	return storeID, sessions, nil
}

// checkSources refuses a memory store or session the workspace does not
// have, and an archived store, naming which.
func checkSources(ctx context.Context, tx store.Tx, ws, storeID string, sessionIDs []string) error {
	rec, err := tx.Get(ctx, ws, store.KindMemoryStore, storeID)
	if errdefs.ClassOf(err) == errdefs.ClassNotFound {
		return errdefs.NotFound("inputs.memory_store_id: memory store %s not found", storeID)
	}
	if err != nil {
		return err
	}
	if rec.ArchivedAt != nil {
		return errdefs.Invalid("inputs.memory_store_id: memory store %s is archived", storeID)
	}
	for _, id := range sessionIDs {
		_, err := tx.GetSession(ctx, ws, id)
		if errdefs.ClassOf(err) == errdefs.ClassNotFound {
			return errdefs.NotFound("inputs.session_ids: session %s not found", id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// noOtherWriter refuses a second live update_existing dream on one store:
// two would overwrite each other's result.
func noOtherWriter(ctx context.Context, tx store.Tx, ws, storeID string) error {
	page, err := tx.List(ctx, store.ListOptions{Workspace: ws, Kind: dream.Kind, IncludeArchived: true})
	if err != nil {
		return err
	}
	for _, rec := range page.Records {
		var s dream.Stored
		if err := json.Unmarshal(rec.Data, &s); err != nil {
			return errdefs.Internal(err, "decode dream %s", rec.ID)
		}
		if !s.Final() && s.OutputBehavior.Type == wire.DreamUpdateExisting && s.OutputBehavior.MemoryStoreID == storeID {
			return errdefs.Conflict("output_behavior.memory_store_id: dream %s is still updating memory store %s; cancel it or wait for it to end", s.ID, storeID)
		}
	}
	return nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	_, s, err := dream.Load(r.Context(), h.st, httpx.Workspace(r), r.PathValue("dream_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, s.Dream)
}

// list pages through the workspace's dreams newest first. The statuses
// filter is applied to each stored page, so the store is read on until
// the page is full or the dreams run out.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lq, err := httpx.ParseListQuery(q, 20, 100)
	if err != nil {
		return err
	}
	lp, err := lq.Params(true)
	if err != nil {
		return err
	}
	statuses := httpx.QueryList(q, "statuses")
	for _, st := range statuses {
		if err := check.Enum("statuses", st, wire.DreamStatuses...); err != nil {
			return err
		}
	}
	o := store.ListOptions{Workspace: httpx.Workspace(r), Kind: dream.Kind}
	lq.Filter(&o)
	lp.Apply(&o)
	out := wire.Page[wire.Dream]{Data: []wire.Dream{}}
	for {
		page, err := h.st.List(r.Context(), o)
		if err != nil {
			return err
		}
		for i, rec := range page.Records {
			var s dream.Stored
			if err := json.Unmarshal(rec.Data, &s); err != nil {
				return errdefs.Internal(err, "decode dream %s", rec.ID)
			}
			if len(statuses) > 0 && !slices.Contains(statuses, s.Status) {
				continue
			}
			out.Data = append(out.Data, s.Dream)
			if len(out.Data) == lp.Limit {
				if i < len(page.Records)-1 || page.More {
					next := httpx.EncodeCursor(rec.Seq, lp.Desc)
					out.NextPage = &next
				}
				return httpx.OK(w, out)
			}
		}
		if !page.More {
			return httpx.OK(w, out)
		}
		o.After = page.Records[len(page.Records)-1].Seq
	}
}

// archive hides a final dream from the default list; archiving an
// archived dream returns it unchanged.
func (h *Handler) archive(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	var out wire.Dream
	err := h.change(r, func(s *dream.Stored) (bool, error) {
		if s.ArchivedAt != nil {
			return false, nil
		}
		if !s.Final() {
			return false, errdefs.Invalid("dream %s is %s; cancel it before archiving it", s.ID, s.Status)
		}
		s.ArchivedAt = ptr(wire.Now())
		return true, nil
	}, &out)
	if err != nil {
		return err
	}
	return httpx.OK(w, out)
}

// cancel stops a pending or running dream; canceling a canceled dream
// returns it unchanged, and a completed or failed one cannot be canceled.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	var out wire.Dream
	err := h.change(r, func(s *dream.Stored) (bool, error) {
		switch s.Status {
		case wire.DreamCanceled:
			return false, nil
		case wire.DreamCompleted, wire.DreamFailed:
			return false, errdefs.Invalid("dream %s is already %s and cannot be canceled", s.ID, s.Status)
		}
		s.Status, s.EndedAt = wire.DreamCanceled, ptr(wire.Now())
		return true, nil
	}, &out)
	if err != nil {
		return err
	}
	// The record says canceled first, so whatever the dream was doing
	// finds it so and writes nothing more.
	h.runner.Stop(out.ID)
	return httpx.OK(w, out)
}

// change applies fn to the request's dream in one transaction, saving it
// when fn reports a change, and leaves the result in out.
func (h *Handler) change(r *http.Request, fn func(*dream.Stored) (bool, error), out *wire.Dream) error {
	ws, id := httpx.Workspace(r), r.PathValue("dream_id")
	return h.st.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error {
		rec, s, err := dream.Load(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		changed, err := fn(&s)
		if err != nil {
			return err
		}
		*out = s.Dream
		if !changed {
			return nil
		}
		return dream.Save(ctx, tx, &rec, s)
	})
}

func ptr[T any](v T) *T { return &v }
