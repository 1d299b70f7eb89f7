// Package sse owns Server-Sent Events framing on the wire: response headers,
// event frames, heartbeats and in-stream errors, written exactly the way the
// official SDKs' decoders (anthropic-sdk-go packages/ssestream) parse them.
// It knows nothing about sessions or subscriptions; the API layer feeds it.
package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultWriteTimeout bounds each write to the client. A client that stops
// reading fills the TCP buffers and would otherwise pin the handler (and its
// subscription) forever.
const DefaultWriteTimeout = 10 * time.Second

// ErrNotStreamable is returned by Start when the ResponseWriter cannot flush,
// so events would sit in a buffer instead of reaching the client.
var ErrNotStreamable = errors.New("sse: response writer does not support flushing")

// Option configures a Writer.
type Option func(*Writer)

// WithWriteTimeout bounds how long a write may block on a client that does
// not read: it fails after between d/2 and d. d <= 0 disables it.
func WithWriteTimeout(d time.Duration) Option { return func(w *Writer) { w.timeout = d } }

// Writer writes one SSE response. It is safe for concurrent use, so a
// heartbeat ticker and the event loop may share it. After the first failed
// write every method returns that error: a half-written frame cannot be
// repaired, and the caller should end the handler.
type Writer struct {
	mu         sync.Mutex
	w          http.ResponseWriter
	rc         *http.ResponseController
	timeout    time.Duration
	noDeadline bool
	// deadline is the armed write deadline. It is moved forward only when
	// less than half the timeout is left, not around every frame: with
	// a thousand subscribers, two deadline updates per frame per
	// connection were a measurable share of the fan-out's CPU.
	deadline time.Time
	err      error
	head     []byte
	compact  bytes.Buffer
}

// Start sends the 200 status and stream headers and flushes them at once:
// the SDK's StreamEvents returns only when headers arrive, and the worker's
// runner lists history only after that, so holding headers back until the
// first event would stall it.
func Start(w http.ResponseWriter, opts ...Option) (*Writer, error) {
	if !canFlush(w) {
		return nil, ErrNotStreamable
	}
	sw := &Writer{w: w, rc: http.NewResponseController(w), timeout: DefaultWriteTimeout}
	for _, o := range opts {
		o(sw)
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Stops nginx-style proxies from buffering the whole stream.
	h.Set("X-Accel-Buffering", "no")
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.armDeadline()
	w.WriteHeader(http.StatusOK)
	if err := sw.flushLocked(); err != nil {
		return nil, err
	}
	return sw, nil
}

// canFlush mirrors how http.ResponseController finds a flusher, so Start can
// refuse before committing a status it could not stream behind.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// WriteEvent writes `event: name`, `id: id` (omitted when id is empty) and
// `data: data` as one frame and flushes it. data must be a single JSON value;
// pretty-printed JSON is compacted, because a second data line would be
// joined with "\n" by the SDK and any raw newline is only JSON whitespace.
// name must be non-empty: the SDK silently drops frames without a name.
func (sw *Writer) WriteEvent(name, id string, data []byte) error {
	if name == "" || strings.ContainsAny(name, "\r\n") {
		return fmt.Errorf("sse: invalid event name %q", name)
	}
	if strings.ContainsAny(id, "\r\n\x00") {
		return fmt.Errorf("sse: invalid event id %q", id)
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.err != nil {
		return sw.err
	}
	if bytes.ContainsAny(data, "\r\n") {
		sw.compact.Reset()
		if err := json.Compact(&sw.compact, data); err != nil {
			return fmt.Errorf("sse: event data spans lines and is not JSON: %w", err)
		}
		data = sw.compact.Bytes()
	}
	return sw.frameLocked(name, id, data)
}

// Comment writes `: text` — a heartbeat that keeps idle connections (and
// proxies) alive and that every SSE parser ignores.
func (sw *Writer) Comment(text string) error {
	if strings.ContainsAny(text, "\r\n") {
		return fmt.Errorf("sse: comment must be one line")
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.err != nil {
		return sw.err
	}
	sw.head = append(append(append(sw.head[:0], ": "...), text...), "\n\n"...)
	return sw.writeLocked(sw.head, nil, nil)
}

// Error writes an `event: error` frame carrying envelope (the standard error
// envelope, {"type":"error","error":{...},"request_id":...}). The Go SDK ends
// the stream with an *anthropic.Error built from it, so it should be the last
// frame of the response.
func (sw *Writer) Error(envelope any) error {
	b, err := json.Marshal(envelope) // also compacts a json.RawMessage
	if err != nil {
		return fmt.Errorf("sse: encode error envelope: %w", err)
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.err != nil {
		return sw.err
	}
	return sw.frameLocked("error", "", b)
}

// Err reports the write failure that ended the stream, if any.
func (sw *Writer) Err() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.err
}

func (sw *Writer) frameLocked(name, id string, data []byte) error {
	h := append(append(sw.head[:0], "event: "...), name...)
	if id != "" {
		h = append(append(h, "\nid: "...), id...)
	}
	sw.head = append(h, "\ndata: "...)
	// data is written separately so a large event is not copied again.
	return sw.writeLocked(sw.head, data, []byte("\n\n"))
}

func (sw *Writer) writeLocked(parts ...[]byte) error {
	sw.armDeadline()
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if _, err := sw.w.Write(p); err != nil {
			sw.err = fmt.Errorf("sse: write: %w", err)
			return sw.err
		}
	}
	return sw.flushLocked()
}

func (sw *Writer) flushLocked() error {
	if err := sw.rc.Flush(); err != nil {
		sw.err = fmt.Errorf("sse: flush: %w", err)
		return sw.err
	}
	return nil
}

// Close clears the write deadline. Call it before the handler returns: a
// deadline that expired while the stream was quiet would otherwise break
// the final chunk net/http writes then, and the client would see a
// truncated body instead of a clean end.
func (sw *Writer) Close() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.deadline.IsZero() {
		sw.deadline = time.Time{}
		sw.setDeadline(time.Time{})
	}
}

func (sw *Writer) armDeadline() {
	if sw.timeout <= 0 {
		return
	}
	if now := time.Now(); sw.deadline.Sub(now) < sw.timeout/2 {
		sw.deadline = now.Add(sw.timeout)
		sw.setDeadline(sw.deadline)
	}
}

func (sw *Writer) setDeadline(t time.Time) {
	if sw.noDeadline {
		return
	}
	if err := sw.rc.SetWriteDeadline(t); errors.Is(err, http.ErrNotSupported) {
		sw.noDeadline = true
	}
}
