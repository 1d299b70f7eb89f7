// Package work serves the self-hosted work queue endpoints under
// /v1/environments/{environment_id}/work: poll, ack,
// heartbeat, stop, get, update, list and stats. It owns who may call which
// of them; the queue's rules live in internal/workqueue.
//
// Credentials (as the SDK's doc comments describe them):
//   - API keys of the workspace: every route.
//   - Environment keys: poll, ack, heartbeat, stop, list and stats of their
//     own environment; get and update reject them, as the SDK documents.
//   - Sessions tokens: heartbeat and stop of their own item only.
//
// Cloud environments' queues are served by the server's own dispatcher
// (internal/server/dispatch.go), which claims, acks and stops their items
// in process, and by the worker it starts in each session's sandbox, which
// heartbeats and stops its own item with its sessions token. Any other
// caller that polled, acked, heartbeat, stopped or updated a cloud item
// could take it from the sandbox and strand the session's tool calls, so
// those routes refuse API and environment keys there with a 400
// invalid_request_error (not 401/403/404, which the SDK's poller reserves
// for real authentication and missing-environment errors; any other 4xx
// makes it stop with the message). Reads (list, get, stats) stay allowed.
package work

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/check"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
	"github.com/hangarhq/hangar/internal/workqueue"
)

const (
	listDefault = 20
	listMax     = 100
	maxBlockMS  = 999
)

// Handler serves the work endpoints.
type Handler struct {
	st store.Store
	q  *workqueue.Queue
}

// New returns the handler.
func New(st store.Store, q *workqueue.Queue) *Handler { return &Handler{st: st, q: q} }

// access is who may call a route besides API keys.
type access int

const (
	apiKeysOnly access = iota
	envKeys
	envKeysAndTokens
)

// op says whether a route hands out or changes an item (refused for a
// cloud environment's items, except to their own sessions token) or only
// reads.
type op int

const (
	reads op = iota
	claims
)

// Register adds the routes. route must let environment keys and sessions
// tokens through; this package decides per route.
func (h *Handler) Register(route httpx.Router) {
	const base = "/v1/environments/{environment_id}/work"
	route("GET "+base+"/poll", h.guard(envKeys, claims, h.poll))
	route("GET "+base+"/stats", h.guard(envKeys, reads, h.stats))
	route("GET "+base, h.guard(envKeys, reads, h.list))
	route("POST "+base+"/{work_id}/ack", h.guard(envKeys, claims, h.ack))
	route("POST "+base+"/{work_id}/heartbeat", h.guard(envKeysAndTokens, claims, h.heartbeat))
	route("POST "+base+"/{work_id}/stop", h.guard(envKeysAndTokens, claims, h.stop))
	route("GET "+base+"/{work_id}", h.guard(apiKeysOnly, reads, h.get))
	route("POST "+base+"/{work_id}", h.guard(apiKeysOnly, claims, h.update))
}

// isCloud reports whether an environment record is a cloud environment.
func isCloud(rec store.Record) (bool, error) {
	var env struct {
		Config struct {
			Type string `json:"type"`
		} `json:"config"`
	}
	if err := json.Unmarshal(rec.Data, &env); err != nil {
		return false, errdefs.Internal(err, "decode environment %s", rec.ID)
	}
	return env.Config.Type == wire.EnvironmentConfigCloud, nil
}

func (h *Handler) guard(a access, o op, next httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := httpx.PrincipalOf(r)
		env := r.PathValue("environment_id")
		switch {
		case p.SessionID != "":
			if a != envKeysAndTokens || p.WorkID != r.PathValue("work_id") {
				return errdefs.PermissionDenied("a work item's sessions token may only heartbeat and stop that item")
			}
		case p.EnvironmentID != "":
			if a == apiKeysOnly {
				return errdefs.PermissionDenied("this endpoint does not accept environment keys; use an API key")
			}
			if p.EnvironmentID != env {
				return errdefs.PermissionDenied("this environment key belongs to environment %s", p.EnvironmentID)
			}
		}
		rec, err := h.st.Get(r.Context(), p.Workspace, store.KindEnvironment, env)
		if err != nil {
			return err
		}
		// A sessions token reached this far only for its own item: the
		// in-sandbox worker of a cloud session keeps and ends its lease.
		if o == claims && p.SessionID == "" {
			cloud, err := isCloud(rec)
			if err != nil {
				return err
			}
			if cloud {
				return errdefs.Invalid("environment %s is a cloud environment; its work is run by Hangar's own sandboxes, not by outside workers (use a self_hosted environment for those)", env)
			}
		}
		return next(w, r)
	}
}

// Work is the SelfHostedWork wire object.
type Work struct {
	ID                string            `json:"id"`
	AcknowledgedAt    *time.Time        `json:"acknowledged_at"`
	CreatedAt         time.Time         `json:"created_at"`
	Data              Data              `json:"data"`
	EnvironmentID     string            `json:"environment_id"`
	LatestHeartbeatAt *time.Time        `json:"latest_heartbeat_at"`
	Metadata          map[string]string `json:"metadata"`
	Secret            *string           `json:"secret"`
	StartedAt         *time.Time        `json:"started_at"`
	State             string            `json:"state"`
	StopRequestedAt   *time.Time        `json:"stop_requested_at"`
	StoppedAt         *time.Time        `json:"stopped_at"`
	Type              string            `json:"type"`
}

// Data is the work item's subject.
type Data struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// ToWire renders an item; secret is set only on a poll.
func ToWire(w store.WorkItem, secret *string) Work {
	m := w.Metadata
	if m == nil {
		m = map[string]string{}
	}
	return Work{ID: w.ID, AcknowledgedAt: w.AcknowledgedAt, CreatedAt: w.CreatedAt, Data: Data{Type: w.DataType, ID: w.DataID},
		EnvironmentID: w.EnvironmentID, LatestHeartbeatAt: w.LatestHeartbeatAt, Metadata: m, Secret: secret,
		StartedAt: w.StartedAt, State: w.State, StopRequestedAt: w.StopRequestedAt, StoppedAt: w.StoppedAt, Type: "work"}
}

// ParsePoll reads block_ms and reclaim_older_than_ms.
func ParsePoll(q map[string][]string) (block time.Duration, reclaim *time.Duration, err error) {
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if v, ok := get("block_ms"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, nil, errdefs.Invalid("block_ms: must be an integer, got %q", v)
		}
		if n < 1 || n > maxBlockMS {
			return 0, nil, errdefs.Invalid("block_ms: must be between 1 and %d, got %d", maxBlockMS, n)
		}
		block = time.Duration(n) * time.Millisecond
	}
	if v, ok := get("reclaim_older_than_ms"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, nil, errdefs.Invalid("reclaim_older_than_ms: must be an integer, got %q", v)
		}
		if n < 0 || n > int64(24*time.Hour/time.Millisecond) {
			return 0, nil, errdefs.Invalid("reclaim_older_than_ms: must be between 0 and 86400000, got %d", n)
		}
		d := time.Duration(n) * time.Millisecond
		reclaim = &d
	}
	return block, reclaim, nil
}

func (h *Handler) poll(w http.ResponseWriter, r *http.Request) error {
	block, reclaim, err := ParsePoll(r.URL.Query())
	if err != nil {
		return err
	}
	c, err := h.q.Poll(r.Context(), httpx.Workspace(r), r.PathValue("environment_id"), workqueue.PollParams{
		Block: block, Reclaim: reclaim, WorkerID: r.Header.Get("Anthropic-Worker-ID")})
	if err != nil {
		return err
	}
	if c == nil {
		// The SDK reads a JSON null as "no work"; 204 or an empty body fail.
		return httpx.OK(w, nil)
	}
	return httpx.OK(w, ToWire(c.Item, &c.Secret))
}

func (h *Handler) ack(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	item, err := h.q.Ack(r.Context(), httpx.Workspace(r), r.PathValue("environment_id"), r.PathValue("work_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, ToWire(item, nil))
}

// ParseHeartbeat reads the heartbeat's query parameters.
func ParseHeartbeat(q map[string][]string) (workqueue.HeartbeatParams, error) {
	var p workqueue.HeartbeatParams
	if v, ok := q["expected_last_heartbeat"]; ok && len(v) > 0 {
		p.Expected = &v[0]
	}
	if v, ok := q["desired_ttl_seconds"]; ok && len(v) > 0 {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil {
			return p, errdefs.Invalid("desired_ttl_seconds: must be an integer, got %q", v[0])
		}
		if n < 1 || n > 3600 {
			return p, errdefs.Invalid("desired_ttl_seconds: must be between 1 and 3600, got %d", n)
		}
		p.DesiredTTL = &n
	}
	return p, nil
}

func (h *Handler) heartbeat(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	p, err := ParseHeartbeat(r.URL.Query())
	if err != nil {
		return err
	}
	hb, err := h.q.Heartbeat(r.Context(), httpx.Workspace(r), r.PathValue("environment_id"), r.PathValue("work_id"), p)
	if err != nil {
		return err
	}
	return httpx.OK(w, hb)
}

// DecodeStop reads the stop body: empty, {} or {"force":bool}.
func DecodeStop(body []byte) (bool, error) {
	var req struct {
		Force *bool `json:"force"`
	}
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return false, err
	}
	return req.Force != nil && *req.Force, nil
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errdefs.TooLarge("request body exceeds %d bytes", mbe.Limit)
		}
		return nil, errdefs.Invalid("could not read request body").Wrap(err)
	}
	return b, nil
}

func (h *Handler) stop(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	force, err := DecodeStop(body)
	if err != nil {
		return err
	}
	item, err := h.q.Stop(r.Context(), httpx.Workspace(r), r.PathValue("environment_id"), r.PathValue("work_id"), force)
	if err != nil {
		return err
	}
	return httpx.OK(w, ToWire(item, nil))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	item, err := h.q.Get(r.Context(), httpx.Workspace(r), r.PathValue("environment_id"), r.PathValue("work_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, ToWire(item, nil))
}

// DecodeUpdate reads the update body: a required metadata patch whose
// values are strings (upsert) or null (delete). Bad metadata is a 400 with
// error_code invalid_metadata.
func DecodeUpdate(body []byte) (map[string]*string, error) {
	var req struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return nil, err
	}
	if len(req.Metadata) == 0 || bytes.Equal(bytes.TrimSpace(req.Metadata), []byte("null")) {
		return nil, invalidMetadata(errdefs.Invalid("metadata: is required"))
	}
	var patch map[string]*string
	if err := httpx.DecodeBytes(req.Metadata, &patch); err != nil {
		return nil, invalidMetadata(errdefs.Invalid("metadata: must be an object of strings (null deletes a key)"))
	}
	if err := check.MetadataPatch("metadata", patch); err != nil {
		return nil, invalidMetadata(err)
	}
	return patch, nil
}

func invalidMetadata(err error) error {
	if e, ok := errdefs.As(err); ok && e.Class == errdefs.ClassInvalid {
		return e.WithCode("invalid_metadata")
	}
	return err
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	patch, err := DecodeUpdate(body)
	if err != nil {
		return err
	}
	item, err := h.q.UpdateMetadata(r.Context(), httpx.Workspace(r), r.PathValue("environment_id"), r.PathValue("work_id"), patch,
		func(m map[string]string) error { return invalidMetadata(check.Metadata("metadata", m)) })
	if err != nil {
		return err
	}
	return httpx.OK(w, ToWire(item, nil))
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	lp, err := httpx.ParseList(r.URL.Query(), listDefault, listMax, true)
	if err != nil {
		return err
	}
	page, err := h.q.List(r.Context(), store.WorkQuery{Workspace: httpx.Workspace(r), EnvironmentID: r.PathValue("environment_id"),
		Desc: lp.Desc, After: lp.After, Limit: lp.Limit})
	if err != nil {
		return err
	}
	out := struct {
		Data     []Work  `json:"data"`
		NextPage *string `json:"next_page"`
	}{Data: make([]Work, 0, len(page.Items))}
	for _, it := range page.Items {
		out.Data = append(out.Data, ToWire(it, nil))
	}
	if page.More && len(page.Items) > 0 {
		c := httpx.EncodeCursor(page.Items[len(page.Items)-1].Seq, lp.Desc)
		out.NextPage = &c
	}
	return httpx.OK(w, out)
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) error {
	s, err := h.q.Stats(r.Context(), httpx.Workspace(r), r.PathValue("environment_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, s)
}
