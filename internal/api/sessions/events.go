package sessions

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/sse"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Event list limits (the worker pages with limit=1000).
const (
	eventsDefaultLimit = 1000
	eventsMaxLimit     = 1000
)

// registerEvents adds the event routes.
func (h *Handler) registerEvents(route httpx.Router) {
	route("GET /v1/sessions/{session_id}/events", h.listEvents)
	route("POST /v1/sessions/{session_id}/events", h.sendEvents)
	route("GET /v1/sessions/{session_id}/events/stream", h.streamEvents)
}

// eventPage is the list response; events are sent as stored, without
// decoding and re-encoding them.
type eventPage struct {
	Data     []json.RawMessage `json:"data"`
	NextPage *string           `json:"next_page"`
}

func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	if _, err := h.st.GetSession(r.Context(), ws, id); err != nil {
		return err
	}
	// The session's list is the primary thread's: a subagent thread's
	// events are listed on the thread (its summary is on the primary).
	return h.listLog(w, r, id, "", true)
}

// listLog pages the logged events of one thread of the session ("" the
// primary); filters enables the session list's types and time filters.
func (h *Handler) listLog(w http.ResponseWriter, r *http.Request, id, thread string, filters bool) error {
	q := r.URL.Query()
	lq, err := httpx.ParseListQuery(q, eventsDefaultLimit, eventsMaxLimit)
	if err != nil {
		return err
	}
	lp, err := lq.Params(false)
	if err != nil {
		return err
	}
	eq := store.EventQuery{SessionID: id, ThreadID: thread, ThreadSet: true, Desc: lp.Desc, After: lp.After, Limit: lp.Limit}
	if filters {
		for _, t := range httpx.QueryList(q, "types") {
			if !slices.Contains(wire.ListableEventTypes, t) {
				return errdefs.Invalid("types: unknown event type %q", t)
			}
			eq.Types = append(eq.Types, t)
		}
		// Time filters compare processed_at.
		eq.ProcessedGT, eq.ProcessedGTE, eq.ProcessedLT, eq.ProcessedLTE = lq.CreatedGT, lq.CreatedGTE, lq.CreatedLT, lq.CreatedLTE
	}
	page, err := h.st.ListEvents(r.Context(), eq)
	if err != nil {
		return err
	}
	out := eventPage{Data: make([]json.RawMessage, len(page.Events))}
	for i, e := range page.Events {
		out.Data[i] = json.RawMessage(e.Data)
	}
	if page.More && len(page.Events) > 0 {
		c := httpx.EncodeCursor(page.Events[len(page.Events)-1].Seq, lp.Desc)
		out.NextPage = &c
	}
	return httpx.OK(w, out)
}

func (h *Handler) sendEvents(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errdefs.TooLarge("request body exceeds %d bytes", mbe.Limit)
		}
		return errdefs.Invalid("could not read request body")
	}
	var p wire.SendEventsParams
	if err := httpx.DecodeBytes(body, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if httpx.PrincipalOf(r).IsWorker() {
		if err := workerMaySend(p.Events); err != nil {
			return err
		}
	}
	if err := h.resolveRubrics(r.Context(), ws, p.Events); err != nil {
		return err
	}
	// The SDK resends a POST after a 5xx or a timeout and numbers the
	// attempts; a resend of a body already accepted returns the first
	// answer instead of queueing the events again.
	sum := sha256.Sum256(bytes.TrimSpace(body))
	retry := r.Header.Get("X-Stainless-Retry-Count")
	echoes, err := h.eng.Send(r.Context(), ws, id, p.Events, hex.EncodeToString(sum[:]), retry != "" && retry != "0")
	if err != nil {
		return err
	}
	return httpx.OK(w, wire.SentEvents{Data: echoes})
}

// workerEventTypes are the events a worker's credential may send: the
// results of the calls it ran, which is all the official workers post.
// Steering a session (messages, interrupts, confirmations, outcomes) is the
// API key holder's, never the machine that runs its tools.
var workerEventTypes = []string{wire.EventTypeUserToolResult, wire.EventTypeUserCustomToolResult}

func workerMaySend(evs []wire.EventPayload) error {
	for i, ev := range evs {
		if !slices.Contains(workerEventTypes, ev.EventType()) {
			return errdefs.PermissionDenied("events[%d].type: a worker's credential may only send %s, not %s; send it with an API key",
				i, strings.Join(workerEventTypes, " or "), ev.EventType())
		}
	}
	return nil
}

// heartbeat is how often a quiet stream gets a keepalive comment.
const heartbeat = 15 * time.Second

func (h *Handler) streamEvents(w http.ResponseWriter, r *http.Request) error {
	ws, id := httpx.Workspace(r), r.PathValue("session_id")
	if _, err := h.st.GetSession(r.Context(), ws, id); err != nil {
		return err
	}
	deltas := httpx.QueryList(r.URL.Query(), "event_deltas")
	for _, d := range deltas {
		if !slices.Contains(wire.PreviewTypes, d) {
			return errdefs.Invalid("event_deltas: unknown value %q, expected agent.message or agent.thinking", d)
		}
	}
	return h.stream(w, r, id, "", deltas, strings.TrimSpace(r.Header.Get("Last-Event-ID")))
}

// stream serves the live event stream. It
// subscribes before sending headers, so nothing published after the request
// arrived is missed; with Last-Event-ID (an extension) it first replays the
// persisted events after that one from the log, then continues live without
// duplicates.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, id, thread string, deltas []string, lastEventID string) error {
	sub := h.broker.Subscribe(id, events.SubscribeOptions{Previews: deltas, Thread: thread})
	defer sub.Close()
	var after int64
	if lastEventID != "" {
		last, err := h.st.GetEvent(r.Context(), id, lastEventID)
		if err != nil {
			return errdefs.Invalid("Last-Event-ID: event %s is not part of session %s", lastEventID, id)
		}
		after = last.Seq
	}
	sw, err := sse.Start(w)
	if err != nil {
		return err
	}
	defer sw.Close()
	// sent holds what the replay wrote, so the same state of an event
	// arriving live is not written twice. A processed echo of a user event
	// has the same id as its queued form but different data, so the key
	// includes whether it was processed.
	sent := map[string]bool{}
	key := func(id string, data []byte) string {
		return id + "\x00" + strconv.FormatBool(!bytes.Contains(data, []byte(`"processed_at":null`)))
	}
	if after > 0 {
		for {
			evs, err := h.st.EventsSince(r.Context(), id, after, 500)
			if err != nil {
				return nil // headers are out; the client reconnects
			}
			for _, e := range evs {
				after = e.Seq
				if e.ThreadID != thread {
					continue
				}
				sent[key(e.ID, e.Data)] = true
				if sw.WriteEvent(e.Type, e.ID, e.Data) != nil {
					return nil
				}
			}
			if len(evs) < 500 {
				break
			}
		}
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	// A stream that carried an event since the last tick needs no
	// keepalive; skipping it spares busy streams a write per connection.
	wrote := false
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
			if wrote {
				wrote = false
				continue
			}
			if sw.Comment("keepalive") != nil {
				return nil
			}
		case m, ok := <-sub.C():
			if !ok {
				// Dropped as too slow, or the session ended: closing the
				// stream lets the client reconnect and consolidate.
				return nil
			}
			if len(sent) > 0 && !m.Preview {
				if sent[key(m.ID, m.Data)] {
					continue
				}
			}
			eventID := m.ID
			if m.Preview {
				// Previews carry no id of their own.
				eventID = ""
			}
			if sw.WriteEvent(m.Type, eventID, m.Data) != nil {
				return nil
			}
			wrote = true
		}
	}
}
