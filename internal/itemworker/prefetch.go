package itemworker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// handshakePrefetch pipelines the --item worker's handshake. The SDK's
// worker asks for the session, then (once it has looked at the session's
// skills and memory stores) its runner opens the event stream, then, once
// the stream is open, lists the events: three round trips one after the
// other, each waiting for the worker's own work between them, on the path
// to a new session's first tool call. This transport sends the stream
// request as soon as the session is asked for, and the list request as soon
// as the stream is open — the order the runner keeps, so no event falls
// between the two — and hands the responses to the runner's own requests
// when they come. An event stream opened early sees only more events,
// which the runner deduplicates anyway.
//
// Only the requests the SDK's runner makes are answered ahead (same method,
// path and query; anything else goes to the server as it is), and only
// while the session's response shows nothing the worker spends time on
// before its runner starts (skills to download, memory stores) and the
// session is not terminated: otherwise the early stream would sit unread.
// What was not taken is cancelled when the worker ends (close).
type handshakePrefetch struct {
	rt      http.RoundTripper
	session string
	ctx     context.Context

	mu      sync.Mutex
	started bool
	ahead   map[string]*aheadResponse // by request URI
}

// The URIs of the runner's requests (anthropic.SessionToolRunner: the
// stream without parameters, the history a thousand at a time, oldest
// first).
func streamURI(session string) string {
	return "/v1/sessions/" + url.PathEscape(session) + "/events/stream"
}

func listURI(session string) string {
	return "/v1/sessions/" + url.PathEscape(session) + "/events?limit=1000&order=asc"
}

type aheadResponse struct {
	ctx    context.Context // the request's, until it is taken
	done   chan struct{}
	resp   *http.Response
	err    error
	cancel context.CancelFunc
}

func newHandshakePrefetch(ctx context.Context, rt http.RoundTripper, session string) *handshakePrefetch {
	return &handshakePrefetch{rt: rt, session: session, ctx: ctx, ahead: map[string]*aheadResponse{}}
}

func (h *handshakePrefetch) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return h.rt.RoundTrip(req)
	}
	h.mu.Lock()
	a := h.ahead[req.URL.RequestURI()]
	delete(h.ahead, req.URL.RequestURI())
	first := !h.started && a == nil && req.URL.Path == "/v1/sessions/"+h.session
	if first {
		h.started = true
	}
	h.mu.Unlock()
	if a != nil {
		if resp, ok := a.take(req); ok {
			return resp, nil
		}
		return h.rt.RoundTrip(req)
	}
	if !first {
		return h.rt.RoundTrip(req)
	}
	h.prefetch(req)
	resp, err := h.rt.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || !quickStart(resp) {
		h.close()
	}
	return resp, err
}

// prefetch sends the stream request now, and the list request once the
// stream is open, with the session request's headers (its credential).
func (h *handshakePrefetch) prefetch(tmpl *http.Request) {
	stream := h.add(streamURI(h.session))
	go func() {
		h.send(tmpl, stream, streamURI(h.session))
		if stream.err != nil || stream.resp.StatusCode != http.StatusOK {
			close(stream.done)
			return
		}
		// Registered before the stream is handed over, so the runner's
		// list request, which follows, finds it.
		list := h.add(listURI(h.session))
		close(stream.done)
		if list != nil {
			h.send(tmpl, list, listURI(h.session))
			close(list.done)
		}
	}()
}

// add registers a response to come for uri; nil once closed.
func (h *handshakePrefetch) add(uri string) *aheadResponse {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ahead == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(h.ctx)
	a := &aheadResponse{ctx: ctx, done: make(chan struct{}), cancel: cancel}
	h.ahead[uri] = a
	return a
}

// send sends tmpl's request for uri as the runner would (its helper
// header) and keeps the response in a.
func (h *handshakePrefetch) send(tmpl *http.Request, a *aheadResponse, uri string) {
	if a == nil {
		return
	}
	u, err := tmpl.URL.Parse(uri)
	if err != nil {
		a.err = err
		return
	}
	r := tmpl.Clone(a.ctx)
	r.URL, r.Host = u, tmpl.Host
	r.Header.Set("X-Stainless-Helper", "session-tool-runner")
	a.resp, a.err = h.rt.RoundTrip(r)
}

// take waits for the response sent ahead of req and gives it to req: ok
// false when there is none to give (it failed; req is then sent as it is).
func (a *aheadResponse) take(req *http.Request) (*http.Response, bool) {
	select {
	case <-a.done:
	case <-req.Context().Done():
		a.cancel()
		go a.discard()
		return nil, false
	}
	if a.err != nil || a.resp.StatusCode != http.StatusOK {
		a.discard()
		return nil, false
	}
	// From now on the request is req's: it ends with req's context.
	context.AfterFunc(req.Context(), a.cancel)
	a.resp.Request = req
	return a.resp, true
}

// discard cancels a response nobody takes, once it came.
func (a *aheadResponse) discard() {
	a.cancel()
	<-a.done
	if a.err == nil && a.resp != nil {
		_ = a.resp.Body.Close()
	}
}

// close drops what was sent ahead and not taken, and sends nothing more.
func (h *handshakePrefetch) close() {
	h.mu.Lock()
	ahead := h.ahead
	h.ahead = nil
	h.started = true
	h.mu.Unlock()
	for _, a := range ahead {
		go a.discard()
	}
}

// quickStart reads the session (and gives its body back) and says whether
// the worker's runner starts right after: a session that is not
// terminated, whose agent has no skills to download, and with no memory
// store to download.
func quickStart(resp *http.Response) bool {
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		// The SDK meets the same error reading it.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		return false
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var s struct {
		Status string `json:"status"`
		Agent  struct {
			Skills []json.RawMessage `json:"skills"`
		} `json:"agent"`
		Resources []struct {
			Type string `json:"type"`
		} `json:"resources"`
	}
	if json.Unmarshal(b, &s) != nil || s.Status == "terminated" || len(s.Agent.Skills) > 0 {
		return false
	}
	for _, r := range s.Resources {
		if r.Type == "memory_store" {
			return false
		}
	}
	return true
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
