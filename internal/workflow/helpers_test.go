package workflow

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// fakeRunner answers agent calls; by default with "<agent>:<prompt>".
type fakeRunner struct {
	mu          sync.Mutex
	reqs        []ThreadRequest
	inflight    int
	maxInflight int
	answer      func(ctx context.Context, req ThreadRequest) (string, error)
}

func (f *fakeRunner) RunAgent(ctx context.Context, req ThreadRequest) (string, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if f.answer != nil {
		return f.answer(ctx, req)
	}
	who := req.Agent.Predefined
	if who == "" {
		who = req.Agent.Name
	}
	return who + ":" + req.Prompt, nil
}

func (f *fakeRunner) requests() []ThreadRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ThreadRequest(nil), f.reqs...)
}

// blockUntilCancelled is an answer that never comes on its own.
func blockUntilCancelled(ctx context.Context, _ ThreadRequest) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

// recSink keeps every emitted event.
type recSink struct {
	mu     sync.Mutex
	events []wire.Event
	// on, if set, sees each event as it is emitted.
	on func(wire.Event)
}

func (s *recSink) Emit(_ context.Context, evs ...wire.Event) error {
	s.mu.Lock()
	s.events = append(s.events, evs...)
	on := s.on
	s.mu.Unlock()
	if on != nil {
		for _, e := range evs {
			on(e)
		}
	}
	return nil
}

func (s *recSink) all() []wire.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Event(nil), s.events...)
}

// types lists the event types, in order.
func (s *recSink) types() []string {
	var out []string
	for _, e := range s.all() {
		out = append(out, e.EventType())
	}
	return out
}

// memStore keeps each run's last saved state.
type memStore struct {
	mu   sync.Mutex
	runs map[string]Snapshot
}

func (m *memStore) SaveRun(_ context.Context, s Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runs == nil {
		m.runs = map[string]Snapshot{}
	}
	// Through JSON, as a database column would keep it.
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		return err
	}
	m.runs[s.ID] = back
	return nil
}

func (m *memStore) all() []Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Snapshot
	for _, s := range m.runs {
		out = append(out, s)
	}
	return out
}

func newConfig(r AgentRunner, s EventSink) Config {
	return Config{Runner: r, Events: s, Agents: Agents{Predefined: []string{"reader", "reviewer"}, Inline: true}}
}

// execute runs a program to its end with Run directly.
func execute(t *testing.T, cfg Config, req StartRequest) (wire.WorkflowRunResult, Snapshot) {
	t.Helper()
	run, err := NewRun(cfg, req)
	if err != nil {
		t.Fatalf("NewRun: %v", err)
	}
	res, err := run.Execute(context.Background())
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return res, run.Snapshot()
}

func wantError(t *testing.T, res wire.WorkflowRunResult, typ string) {
	t.Helper()
	if res.Type != wire.WorkflowRunErrored || res.Error == nil || res.Error.Type != typ {
		t.Fatalf("result = %+v, want error %s", res, typ)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
