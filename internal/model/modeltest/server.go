package modeltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a fake server.
type Options struct {
	// APIKey, when set, must arrive as x-api-key or "Authorization: Bearer";
	// other requests get a 401.
	APIKey string
	// Rule answers requests once the scripted turns are used up. Nil answers
	// them with a 500 "script exhausted", which fails the test visibly.
	Rule Rule
	// ReasoningField is the delta field the OpenAI fake streams thinking in:
	// "reasoning_content" (vLLM, llama.cpp; the default) or "reasoning"
	// (Ollama, newer vLLM).
	ReasoningField string
	// Addr is the listen address; default 127.0.0.1:0.
	Addr string
	// MaxRecorded bounds the recorded requests, oldest dropped first; 0
	// keeps them all, and a negative value none (the demo mode, which never
	// reads them: each holds a whole conversation).
	MaxRecorded int
}

// Recorded is one request a fake received.
type Recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Input is the parsed, provider-neutral view (zero if the body did not
	// parse).
	Input Input
}

// JSON decodes the body into a generic map, for assertions on exact wire
// fields.
func (r Recorded) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// TB is the part of testing.TB the constructors use; this package does not
// import testing because the demo mode links it into the server.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Server is a running fake upstream.
type Server struct {
	// URL is the base URL to configure the provider with: the server root
	// for Anthropic (the SDK appends /v1/messages), .../v1 for OpenAI.
	URL string

	opts    Options
	srv     *http.Server
	ln      net.Listener
	closing chan struct{}
	aborted chan struct{}

	mu       sync.Mutex
	turns    []Turn
	requests []Recorded
	served   int
	aborts   int
	wg       sync.WaitGroup
}

func start(opts Options, handler func(*Server) http.Handler, urlSuffix string, turns []Turn) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("modeltest: listen: %w", err)
	}
	s := &Server{
		URL:     "http://" + ln.Addr().String() + urlSuffix,
		opts:    opts,
		ln:      ln,
		closing: make(chan struct{}),
		aborted: make(chan struct{}, 64),
		turns:   append([]Turn(nil), turns...),
	}
	s.srv = &http.Server{Handler: handler(s), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server, releasing streams that are stalled.
func (s *Server) Close() error {
	select {
	case <-s.closing:
		return nil
	default:
		close(s.closing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	s.wg.Wait()
	return err
}

// Push appends scripted turns.
func (s *Server) Push(turns ...Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.turns = append(s.turns, turns...)
}

// Pending is the number of scripted turns not yet served.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.turns)
}

// Requests returns a copy of the requests received so far.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

// LastRequest returns the most recent request.
func (s *Server) LastRequest() (Recorded, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Recorded{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// Aborted receives a value each time a client went away before its
// response was complete (a cancelled turn).
func (s *Server) Aborted() <-chan struct{} { return s.aborted }

// AbortCount is how many responses clients abandoned.
func (s *Server) AbortCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborts
}

func (s *Server) noteAbort() {
	s.mu.Lock()
	s.aborts++
	s.mu.Unlock()
	select {
	case s.aborted <- struct{}{}:
	default:
	}
}

// record stores a request and picks its turn: the next scripted one, or the
// rule's answer. The second result is the request's sequence number.
func (s *Server) record(rec Recorded) (Turn, int, bool) {
	s.mu.Lock()
	s.keep(rec)
	s.served++
	n := s.served
	if len(s.turns) > 0 {
		t := s.turns[0]
		s.turns = s.turns[1:]
		s.mu.Unlock()
		return t, n, true
	}
	s.mu.Unlock()
	if s.opts.Rule != nil {
		return s.opts.Rule(rec.Input), n, true
	}
	return Turn{}, n, false
}

// authorized checks the configured key.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.APIKey == "" {
		return true
	}
	if r.Header.Get("X-Api-Key") == s.opts.APIKey {
		return true
	}
	return r.Header.Get("Authorization") == "Bearer "+s.opts.APIKey
}

// wait sleeps for d unless the client leaves or the server closes first;
// false means the response should be abandoned.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// stall blocks until the client leaves (reported as an abort) or the server
// closes.
func (s *Server) stall(ctx context.Context) {
	select {
	case <-ctx.Done():
		s.noteAbort()
	case <-s.closing:
	}
}

// setRetryAfter writes the retry headers of a scripted error.
func setRetryAfter(h http.Header, d time.Duration) {
	if d <= 0 {
		return
	}
	secs := int(math.Ceil(d.Seconds()))
	h.Set("Retry-After", strconv.Itoa(secs))
	if d%time.Second != 0 {
		h.Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
	}
}

// sseWriter writes server-sent events and flushes each one, noticing when
// the client has gone.
type sseWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	failed bool
}

func newSSE(w http.ResponseWriter) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

// send writes one event (name may be empty) with v marshalled as data.
func (e *sseWriter) send(name string, v any) bool {
	if e.failed {
		return false
	}
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("modeltest: marshal event: %v", err))
	}
	return e.raw(name, data)
}

func (e *sseWriter) raw(name string, data []byte) bool {
	if e.failed {
		return false
	}
	var sb strings.Builder
	if name != "" {
		sb.WriteString("event: ")
		sb.WriteString(name)
		sb.WriteByte('\n')
	}
	sb.WriteString("data: ")
	sb.Write(data)
	sb.WriteString("\n\n")
	if _, err := e.w.Write([]byte(sb.String())); err != nil {
		e.failed = true
		return false
	}
	if err := e.rc.Flush(); err != nil {
		e.failed = true
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// pacer spaces a turn's deltas by ChunkDelay and performs its Stall after
// the first delta.
type pacer struct {
	s       *Server
	ctx     context.Context
	t       Turn
	sent    bool
	stalled bool
}

// before runs ahead of each delta; false means stop (client or server gone).
func (p *pacer) before() bool {
	if !p.sent {
		return p.ctx.Err() == nil
	}
	return p.s.wait(p.ctx, p.t.ChunkDelay)
}

// after runs once a delta is written; false means stop (stalled turn).
func (p *pacer) after() bool {
	first := !p.sent
	p.sent = true
	if first && p.t.Stall {
		p.stalled = true
		p.s.stall(p.ctx)
		return false
	}
	return true
}

// keep records rec; s.mu must be held.
func (s *Server) keep(rec Recorded) {
	if s.opts.MaxRecorded < 0 {
		return
	}
	s.requests = append(s.requests, rec)
	if limit := s.opts.MaxRecorded; limit > 0 && len(s.requests) > limit {
		s.requests = append(s.requests[:0:0], s.requests[len(s.requests)-limit:]...)
	}
}

// reject records a request that is answered with an error without using a
// turn.
func (s *Server) reject(rec Recorded) {
	s.mu.Lock()
	s.keep(rec)
	s.mu.Unlock()
}
