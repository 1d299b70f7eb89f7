package itemworker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// handshakePrefetch pipelines the --item worker's handshake. The SDK's
// worker claims its item with a first heartbeat, then asks for the
// session, then (once it has looked at the session's skills and memory
// stores) its runner opens the event stream, asks for the session again
// and lists the events: five round trips one after the other, each
// waiting for the worker's own work between them, on the path to a new
// session's first tool call. This transport sends the worker's session
// request and the stream request with the claim, and once the stream is
// open the runner's session request and then its list request — the
// runner's own order, so that no event falls between them and the status
// is not newer than the history — and hands the responses to the
// worker's and the runner's requests when they come. An event stream
// opened early sees only more events, which the runner deduplicates
// anyway; the reads are the item's own and change nothing, so sending
// them before the claim is answered costs nothing if it fails.
//
// Only the requests the SDK makes are answered ahead (same method, path
// and query; anything else goes to the server as it is), and only while
// the session's response shows nothing the worker spends time on before
// its runner starts (skills to download, its subagents' too, memory
// stores) and the session is not terminated: otherwise the early stream
// would sit unread. What was not taken is cancelled when the worker ends
// (close).
type handshakePrefetch struct {
	rt      http.RoundTripper
	session string
	ctx     context.Context

	mu      sync.Mutex
	started bool                        // the first request came
	looked  bool                        // the worker's session lookup came
	ahead   map[string][]*aheadResponse // by request URI, in the order they are taken
}

// The URIs of the SDK's requests: the session (the worker's lookup and
// the runner's status), and the runner's stream without parameters and
// history a thousand at a time (anthropic.SessionToolRunner).
func sessionURI(session string) string { return "/v1/sessions/" + url.PathEscape(session) }

func streamURI(session string) string { return sessionURI(session) + "/events/stream" }

func listURI(session string) string { return sessionURI(session) + "/events?limit=1000" }

// The x-stainless-helper values of the worker's and the runner's requests.
const (
	workerHelper = "environments-worker"
	runnerHelper = "environments-worker, session-tool-runner"
)

type aheadResponse struct {
	ctx    context.Context // the request's, until it is taken
	done   chan struct{}
	resp   *http.Response
	err    error
	cancel context.CancelFunc
}

func newHandshakePrefetch(ctx context.Context, rt http.RoundTripper, session string) *handshakePrefetch {
	return &handshakePrefetch{rt: rt, session: session, ctx: ctx, ahead: map[string][]*aheadResponse{}}
}

func (h *handshakePrefetch) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	first := !h.started
	h.started = true
	// The worker's lookup is the first request for the session.
	lookup := req.Method == http.MethodGet && req.URL.Path == "/v1/sessions/"+h.session && !h.looked
	h.looked = h.looked || lookup
	var a *aheadResponse
	if uri := req.URL.RequestURI(); req.Method == http.MethodGet && len(h.ahead[uri]) > 0 {
		a = h.ahead[uri][0]
		h.ahead[uri] = h.ahead[uri][1:]
	}
	h.mu.Unlock()
	switch {
	case first && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/heartbeat"):
		h.prefetch(req)
	case first:
		// Not the flow this transport knows: nothing is sent ahead.
		h.close()
	}
	resp, ok := a.take(req)
	var err error
	if !ok {
		resp, err = h.rt.RoundTrip(req)
	}
	if lookup && (err != nil || resp.StatusCode != http.StatusOK || !quickStart(resp)) {
		h.close()
	}
	return resp, err
}

// prefetch sends the worker's session request and the stream request
// now, and the runner's session and list requests once the stream is
// open, with the claim's headers (its credential).
func (h *handshakePrefetch) prefetch(claim *http.Request) {
	tmpl := claim.Clone(h.ctx)
	tmpl.Method, tmpl.Body, tmpl.GetBody, tmpl.ContentLength = http.MethodGet, nil, nil, 0
	for _, k := range []string{"Content-Type", "Content-Length", "Idempotency-Key", "X-Stainless-Timeout"} {
		tmpl.Header.Del(k)
	}
	lookup, stream := h.add(sessionURI(h.session)), h.add(streamURI(h.session))
	go func() {
		h.send(tmpl, lookup, sessionURI(h.session), workerHelper)
		close(lookup.done)
	}()
	go func() {
		h.send(tmpl, stream, streamURI(h.session), runnerHelper)
		if stream.err != nil || stream.resp.StatusCode != http.StatusOK {
			close(stream.done)
			return
		}
		// Registered before the stream is handed over, so the runner's
		// requests, which follow, find them.
		status, list := h.add(sessionURI(h.session)), h.add(listURI(h.session))
		close(stream.done)
		for _, next := range []struct {
			a   *aheadResponse
			uri string
		}{{status, sessionURI(h.session)}, {list, listURI(h.session)}} {
			if next.a == nil {
				return
			}
			h.send(tmpl, next.a, next.uri, runnerHelper)
			close(next.a.done)
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
	h.ahead[uri] = append(h.ahead[uri], a)
	return a
}

// send sends tmpl's request for uri as the SDK would (its helper header)
// and keeps the response in a.
func (h *handshakePrefetch) send(tmpl *http.Request, a *aheadResponse, uri, helper string) {
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
	r.Header.Set("X-Stainless-Helper", helper)
	a.resp, a.err = h.rt.RoundTrip(r)
}

// take waits for the response sent ahead of req and gives it to req: ok
// false when there is none to give (none was sent, or it failed; req is
// then sent as it is).
func (a *aheadResponse) take(req *http.Request) (*http.Response, bool) {
	if a == nil {
		return nil, false
	}
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
	for _, queued := range ahead {
		for _, a := range queued {
			go a.discard()
		}
	}
}

// quickStart reads the session (and gives its body back) and says whether
// the worker's runner starts right after: a session that is not
// terminated, whose agent and subagents have no skills to download, and
// with no memory store to download.
func quickStart(resp *http.Response) bool {
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		// The SDK meets the same error reading it.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		return false
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	type skilled struct {
		Skills []json.RawMessage `json:"skills"`
	}
	var s struct {
		Status string `json:"status"`
		Agent  struct {
			skilled
			// The SDK downloads the skills of the roster's agents too
			// (coordinator members, predefined subagents and workflows).
			Multiagent struct {
				Agents    []skilled `json:"agents"`
				Subagents struct {
					PredefinedAgents []skilled `json:"predefined_agents"`
				} `json:"subagents"`
				Workflows struct {
					PredefinedAgents []skilled `json:"predefined_agents"`
				} `json:"workflows"`
			} `json:"multiagent"`
		} `json:"agent"`
		Resources []struct {
			Type string `json:"type"`
		} `json:"resources"`
	}
	if json.Unmarshal(b, &s) != nil || s.Status == "terminated" {
		return false
	}
	m := s.Agent.Multiagent
	for _, agents := range [][]skilled{{s.Agent.skilled}, m.Agents, m.Subagents.PredefinedAgents, m.Workflows.PredefinedAgents} {
		for _, a := range agents {
			if len(a.Skills) > 0 {
				return false
			}
		}
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
