package sse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
)

// sdkStream opens the session stream of a server through the official SDK,
// so the decoding under test is exactly the one clients run.
func sdkStream(t *testing.T, h http.HandlerFunc) *ssestream.Stream[anthropic.BetaManagedAgentsStreamSessionEventsUnion] {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c := anthropic.NewClient(option.WithBaseURL(ts.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s := c.Beta.Sessions.Events.StreamEvents(ctx, "sesn_test", anthropic.BetaSessionEventStreamParams{})
	t.Cleanup(func() { s.Close() })
	return s
}

// Events reach the SDK by type, heartbeats (comment
// and ping) are invisible, pretty-printed data still decodes, and an error
// frame ends the stream with a typed API error.
func TestSDKDecodesFrames(t *testing.T) {
	pretty := "{\n  \"type\": \"agent.message\",\n  \"id\": \"sevt_2\",\n  \"processed_at\": \"2026-01-02T03:04:05Z\",\n  \"content\": [{\"type\": \"text\", \"text\": \"line1\\nline2\"}]\n}"
	s := sdkStream(t, func(w http.ResponseWriter, r *http.Request) {
		sw, err := Start(w)
		if err != nil {
			t.Errorf("Start: %v", err)
			return
		}
		must := func(err error) {
			if err != nil {
				t.Errorf("write: %v", err)
			}
		}
		must(sw.WriteEvent("session.status_running", "sevt_1", []byte(`{"type":"session.status_running","id":"sevt_1","processed_at":"2026-01-02T03:04:05Z"}`)))
		must(sw.Comment("keepalive"))
		must(sw.WriteEvent("ping", "", []byte(`{}`)))
		must(sw.WriteEvent("event_start", "", []byte(`{"type":"event_start","event":{"type":"agent.message","id":"sevt_2"}}`)))
		must(sw.WriteEvent("event_delta", "", []byte(`{"type":"event_delta","event_id":"sevt_2","delta":{"type":"content_delta","index":0,"content":{"type":"text","text":"li"}}}`)))
		must(sw.Comment(""))
		must(sw.WriteEvent("agent.message", "sevt_2", []byte(pretty)))
		must(sw.Error(map[string]any{
			"type":       "error",
			"error":      map[string]any{"type": "overloaded_error", "message": "try later"},
			"request_id": "req_1",
		}))
		must(sw.WriteEvent("session.status_idle", "sevt_3", []byte(`{"type":"session.status_idle","id":"sevt_3"}`)))
	})

	var got []string
	for s.Next() {
		ev := s.Current()
		switch ev.Type {
		case "event_start":
			got = append(got, ev.Type+":"+ev.AsEventStart().Event.ID)
		case "event_delta":
			d := ev.AsEventDelta()
			got = append(got, ev.Type+":"+d.EventID+":"+d.Delta.Content.Text)
		case "agent.message":
			m := ev.AsAgentMessage()
			got = append(got, ev.Type+":"+m.ID+":"+m.Content[0].Text)
		default:
			got = append(got, ev.Type+":"+ev.ID)
		}
	}
	want := []string{
		"session.status_running:sevt_1",
		"event_start:sevt_2",
		"event_delta:sevt_2:li",
		"agent.message:sevt_2:line1\nline2",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
	var apiErr *anthropic.Error
	if !errors.As(s.Err(), &apiErr) {
		t.Fatalf("stream error = %v, want *anthropic.Error", s.Err())
	}
	if apiErr.StatusCode != 200 || apiErr.Type() != "overloaded_error" {
		t.Fatalf("error status %d type %q, want 200 overloaded_error", apiErr.StatusCode, apiErr.Type())
	}
}

// The stream ends cleanly (Err nil) when the handler closes the writer and
// returns, even long after the last write's deadline expired.
func TestCleanEOFAfterIdle(t *testing.T) {
	s := sdkStream(t, func(w http.ResponseWriter, r *http.Request) {
		sw, err := Start(w, WithWriteTimeout(20*time.Millisecond))
		if err != nil {
			t.Errorf("Start: %v", err)
			return
		}
		defer sw.Close()
		if err := sw.WriteEvent("session.deleted", "sevt_9", []byte(`{"type":"session.deleted","id":"sevt_9","processed_at":"2026-01-02T03:04:05Z"}`)); err != nil {
			t.Errorf("write: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	})
	n := 0
	for s.Next() {
		if s.Current().Type != "session.deleted" {
			t.Fatalf("type %q", s.Current().Type)
		}
		n++
	}
	if n != 1 || s.Err() != nil {
		t.Fatalf("got %d events, err %v; want 1 event and a clean end", n, s.Err())
	}
}

// Headers are flushed by Start, before any event, so
// StreamEvents returns while the server is still silent.
func TestHeadersFlushedImmediately(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := Start(w); err != nil {
			t.Errorf("Start: %v", err)
			return
		}
		<-release
	}))
	defer ts.Close()
	defer close(release) // before ts.Close, which waits for the handler
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("headers did not arrive before the first event: %v", err)
	}
	defer res.Body.Close()
	for k, v := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
}

// Exact bytes: the id line is present only when set, heartbeats are
// comments, and every frame ends with a blank line.
func TestRawFraming(t *testing.T) {
	rec := httptest.NewRecorder()
	sw, err := Start(rec)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"with id", func() error { return sw.WriteEvent("agent.message", "sevt_1", []byte(`{"a":1}`)) }, "event: agent.message\nid: sevt_1\ndata: {\"a\":1}\n\n"},
		{"no id", func() error { return sw.WriteEvent("event_delta", "", []byte(`{"b":2}`)) }, "event: event_delta\ndata: {\"b\":2}\n\n"},
		{"heartbeat", func() error { return sw.Comment("keepalive") }, ": keepalive\n\n"},
		{"compacted", func() error { return sw.WriteEvent("x", "", []byte("{\r\n \"c\" : [1, 2]\n}\n")) }, "event: x\ndata: {\"c\":[1,2]}\n\n"},
		{"error", func() error { return sw.Error(json.RawMessage("{\n\"type\": \"error\"}")) }, "event: error\ndata: {\"type\":\"error\"}\n\n"},
	}
	for _, st := range steps {
		before := rec.Body.Len()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := rec.Body.String()[before:]; got != st.want {
			t.Fatalf("%s: wrote %q, want %q", st.name, got, st.want)
		}
	}
	if !rec.Flushed {
		t.Fatal("recorder was never flushed")
	}
}

// Input that would break framing is refused without writing anything, and
// the writer stays usable.
func TestRejectsBadInput(t *testing.T) {
	rec := httptest.NewRecorder()
	sw, err := Start(rec)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		do   func() error
	}{
		{"empty name", func() error { return sw.WriteEvent("", "", []byte(`{}`)) }},
		{"name with newline", func() error { return sw.WriteEvent("a\nb", "", []byte(`{}`)) }},
		{"name with CR", func() error { return sw.WriteEvent("a\r", "", []byte(`{}`)) }},
		{"id with newline", func() error { return sw.WriteEvent("a", "x\ny", []byte(`{}`)) }},
		{"id with NUL", func() error { return sw.WriteEvent("a", "x\x00", []byte(`{}`)) }},
		{"multi-line non-JSON data", func() error { return sw.WriteEvent("a", "", []byte("hello\nworld")) }},
		{"comment with newline", func() error { return sw.Comment("a\nb") }},
		{"unencodable envelope", func() error { return sw.Error(func() {}) }},
	}
	for _, c := range cases {
		before := rec.Body.Len()
		if err := c.do(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
		if rec.Body.Len() != before {
			t.Errorf("%s: wrote %q", c.name, rec.Body.String()[before:])
		}
	}
	if err := sw.WriteEvent("ok", "", []byte(`{}`)); err != nil || sw.Err() != nil {
		t.Fatalf("writer unusable after rejected input: %v / %v", err, sw.Err())
	}
}

type plainWriter struct {
	h      http.Header
	status int
}

func (p *plainWriter) Header() http.Header         { return p.h }
func (p *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *plainWriter) WriteHeader(s int)           { p.status = s }

type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// Start refuses a writer it cannot flush before committing a status, and
// finds a flusher behind Unwrap like http.ResponseController does.
func TestStartNeedsFlusher(t *testing.T) {
	p := &plainWriter{h: http.Header{}}
	if _, err := Start(unwrapper{p}); !errors.Is(err, ErrNotStreamable) {
		t.Fatalf("err = %v, want ErrNotStreamable", err)
	}
	if p.status != 0 || p.h.Get("Content-Type") != "" {
		t.Fatalf("status %d / headers %v written before refusing", p.status, p.h)
	}
	rec := httptest.NewRecorder()
	if _, err := Start(unwrapper{rec}); err != nil {
		t.Fatalf("wrapped flusher: %v", err)
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("code %d content-type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// A client that stops reading must not pin the handler. The
// per-write deadline turns a full socket into an error, and the error sticks.
func TestStalledClientTimesOut(t *testing.T) {
	result := make(chan error, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, err := Start(w, WithWriteTimeout(100*time.Millisecond))
		if err != nil {
			result <- err
			return
		}
		data := []byte(`{"pad":"` + strings.Repeat("x", 64<<10) + `"}`)
		for i := 0; ; i++ {
			if err := sw.WriteEvent("agent.message", "sevt", data); err != nil {
				if again := sw.Comment("after"); again != err {
					result <- fmt.Errorf("error not sticky: %v then %v", err, again)
					return
				}
				result <- nil
				return
			}
			if i > 100000 {
				result <- errors.New("wrote 6 GB to a client that never reads")
				return
			}
		}
	}))
	defer ts.Close()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// Read only the status line, then stall.
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("status line %q: %v", line, err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("handler still blocked on a client that never reads")
	}
}

// FuzzWriteEvent: whatever the caller passes, WriteEvent either refuses it
// without writing, or writes exactly one frame that the SDK's decoder reads
// back with the same name and equivalent data, and the id line appears iff
// an id was given.
func FuzzWriteEvent(f *testing.F) {
	f.Add("agent.message", "sevt_1", []byte(`{"type":"agent.message"}`))
	f.Add("event_delta", "", []byte("{\n \"a\": \"b\"\n}"))
	f.Add("x:y", "id:1", []byte(""))
	f.Add(" spaced", " ", []byte("not json"))
	f.Add("a\nb", "c", []byte("{}"))
	f.Add("e", "i", []byte("1\r2"))
	f.Fuzz(func(t *testing.T, name, id string, data []byte) {
		rec := httptest.NewRecorder()
		sw, err := Start(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.WriteEvent(name, id, data); err != nil {
			if rec.Body.Len() != 0 {
				t.Fatalf("refused but wrote %q", rec.Body.String())
			}
			return
		}
		raw := rec.Body.Bytes()
		if !bytes.HasSuffix(raw, []byte("\n\n")) {
			t.Fatalf("frame not terminated: %q", raw)
		}
		if hasID := bytes.Contains(raw, []byte("\nid: "+id+"\n")); hasID != (id != "") {
			t.Fatalf("id line present=%v for id %q: %q", hasID, id, raw)
		}
		res := &http.Response{Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(raw))}
		dec := ssestream.NewDecoder(res)
		if !dec.Next() {
			t.Fatalf("no event decoded from %q (err %v)", raw, dec.Err())
		}
		ev := dec.Event()
		if ev.Type != name {
			t.Fatalf("name %q decoded as %q", name, ev.Type)
		}
		got := bytes.TrimSuffix(ev.Data, []byte("\n"))
		if bytes.ContainsAny(data, "\r\n") {
			var want bytes.Buffer
			if json.Compact(&want, data) != nil || !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("multi-line data %q decoded as %q", data, got)
			}
		} else if !bytes.Equal(got, data) {
			t.Fatalf("data %q decoded as %q", data, got)
		}
		if dec.Next() {
			t.Fatalf("second event decoded from %q", raw)
		}
	})
}
