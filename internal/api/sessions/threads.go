package sessions

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

// Session threads (multiagent): list, retrieve, archive, and each
// thread's events, listed and streamed. The threads live in the engine,
// rebuilt from the session's event log; a thread's events are the log's
// entries of that thread (the primary thread's are the session's own).

// Thread list limits: the hosted API's default page is 1000.
const (
	threadsDefaultLimit = 1000
	threadsMaxLimit     = 1000
)

func (h *Handler) registerThreads(route httpx.Router) {
	route("GET /v1/sessions/{session_id}/threads", h.listThreads)
	route("GET /v1/sessions/{session_id}/threads/{thread_id}", h.getThread)
	route("POST /v1/sessions/{session_id}/threads/{thread_id}/archive", h.archiveThread)
	route("GET /v1/sessions/{session_id}/threads/{thread_id}/events", h.listThreadEvents)
	route("GET /v1/sessions/{session_id}/threads/{thread_id}/stream", h.streamThread)
}

type threadPage struct {
	Data     []wire.SessionThread `json:"data"`
	NextPage *string              `json:"next_page"`
}

// listThreads pages the threads in creation order, the primary first; the
// cursor is a position in that order, which only grows.
func (h *Handler) listThreads(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	q := r.URL.Query()
	lq, err := httpx.ParseListQuery(q, threadsDefaultLimit, threadsMaxLimit)
	if err != nil {
		return err
	}
	var after int64
	if lq.Page != "" {
		seq, desc, err := httpx.DecodeCursor(lq.Page)
		if err != nil || desc {
			return errdefs.Invalid("page: invalid page cursor")
		}
		after = seq
	}
	statuses := httpx.QueryList(q, "statuses")
	for _, s := range statuses {
		if !slices.Contains(wire.ThreadStatuses, s) {
			return errdefs.Invalid("statuses: unknown thread status %q, expected one of %s", s, strings.Join(wire.ThreadStatuses, ", "))
		}
	}
	all, err := h.eng.Threads(r.Context(), ws, id)
	if err != nil {
		return err
	}
	out := threadPage{Data: []wire.SessionThread{}}
	pos := int(after)
	for ; pos < len(all) && len(out.Data) < lq.Limit; pos++ {
		if len(statuses) == 0 || slices.Contains(statuses, all[pos].Status) {
			out.Data = append(out.Data, all[pos])
		}
	}
	for ; pos < len(all); pos++ {
		if len(statuses) == 0 || slices.Contains(statuses, all[pos].Status) {
			c := httpx.EncodeCursor(int64(pos), false)
			out.NextPage = &c
			break
		}
	}
	return httpx.OK(w, out)
}

func (h *Handler) getThread(w http.ResponseWriter, r *http.Request) error {
	t, err := h.eng.Thread(r.Context(), httpx.Workspace(r), r.PathValue("session_id"), r.PathValue("thread_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, t)
}

func (h *Handler) archiveThread(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	t, err := h.eng.ArchiveThread(r.Context(), httpx.Workspace(r), r.PathValue("session_id"), r.PathValue("thread_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, t)
}

func (h *Handler) listThreadEvents(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	logID, err := h.eng.ThreadLog(r.Context(), ws, id, r.PathValue("thread_id"))
	if err != nil {
		return err
	}
	return h.listLog(w, r, id, logID, false)
}

// streamThread streams one thread's events, with the session stream's
// rules; previews cover the primary thread only, so event_deltas is
// refused here.
func (h *Handler) streamThread(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	if len(httpx.QueryList(r.URL.Query(), "event_deltas")) > 0 {
		return errdefs.Invalid("event_deltas: live previews are not available on a thread's stream; use the session's stream")
	}
	logID, err := h.eng.ThreadLog(r.Context(), ws, id, r.PathValue("thread_id"))
	if err != nil {
		return err
	}
	return h.stream(w, r, id, logID, nil, strings.TrimSpace(r.Header.Get("Last-Event-ID")))
}
