package workflow

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// A start the server refuses creates no run: the agent's call fails and
// workflow_run.error with a null run id reports it.
func TestRefusedStarts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    StartRequest
		want   string
		detail string
	}{
		{"syntax error", StartRequest{Program: `return (1 +`}, wire.WorkflowRunProgramError, "Unexpected"},
		{"empty program", StartRequest{Program: "  "}, wire.WorkflowRunProgramError, "empty"},
		{"unnamed phase", StartRequest{Program: "return 1", Phases: []PhaseDecl{{Name: " "}}}, wire.WorkflowRunProgramError, "phases[0]"},
		{"program too big", StartRequest{Program: "return 1;" + strings.Repeat(" ", 300<<10)}, wire.WorkflowRunUnknownError, "bytes"},
		{"bad input", StartRequest{Program: "return 1", Input: json.RawMessage(`{`)}, wire.WorkflowRunProgramError, "input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runner, sink := &fakeRunner{}, &recSink{}
			g := NewRegistry(newConfig(runner, sink))
			_, err := g.Start(context.Background(), tc.req)
			e, ok := AsError(err)
			if !ok || e.Type != tc.want || !strings.Contains(e.Detail, tc.detail) {
				t.Fatalf("err = %v, want %s mentioning %q", err, tc.want, tc.detail)
			}
			evs := sink.all()
			if len(evs) != 1 {
				t.Fatalf("events = %v", sink.types())
			}
			ev := evs[0].Payload.(*wire.WorkflowRunErrorEvent)
			if ev.WorkflowRunID != nil || ev.Error.Type != tc.want {
				t.Errorf("event = %s", mustJSON(t, ev))
			}
			if len(g.List()) != 0 || g.Open() != 0 {
				t.Errorf("a run was created")
			}
		})
	}
}

// A session has at most MaxOpenRuns open runs; idle ones count, ended ones
// do not, and a start at the limit is refused with max_workflow_runs_error.
func TestMaxOpenRuns(t *testing.T) {
	ctx := context.Background()
	sink := &recSink{}
	cfg := newConfig(&fakeRunner{answer: blockUntilCancelled}, sink)
	cfg.Limits = Limits{MaxOpenRuns: 2}
	g := NewRegistry(cfg)
	first, err := g.Start(ctx, StartRequest{Program: `agent("wait")`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Start(ctx, StartRequest{Program: `agent("wait")`}); err != nil {
		t.Fatal(err)
	}
	if n := g.Running(); n != 2 {
		t.Errorf("%d running", n)
	}
	g.Pause(ctx) // idle runs still count
	if n := g.Running(); n != 0 {
		t.Errorf("%d running after a pause", n)
	}
	_, err = g.Start(ctx, StartRequest{Program: `return 1`})
	if e, ok := AsError(err); !ok || e.Type != wire.WorkflowRunMaxWorkflowRunsError {
		t.Fatalf("third start: %v", err)
	}
	var refusal *wire.WorkflowRunErrorEvent
	for _, e := range sink.all() {
		if p, ok := e.Payload.(*wire.WorkflowRunErrorEvent); ok {
			refusal = p
		}
	}
	if refusal == nil || refusal.WorkflowRunID != nil || refusal.Error.Type != wire.WorkflowRunMaxWorkflowRunsError {
		t.Fatalf("refusal = %v", refusal)
	}
	if n := len(g.List()); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}

	s, err := g.Stop(ctx, first.ID)
	if err != nil || s.Result == nil || s.Result.Type != wire.WorkflowRunStopped {
		t.Fatalf("stop: %+v %v", s.Result, err)
	}
	if _, err := g.Start(ctx, StartRequest{Program: `return 1`}); err != nil {
		t.Fatalf("start after a run ended: %v", err)
	}
	g.StopAll(ctx)
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Open() != 0 {
		t.Errorf("%d runs open after StopAll", g.Open())
	}
}

// A suspended run (the server shutting down) does not end; restored from
// its saved state, it replays its program: finished threads give their
// recorded answers without running again, phases already entered are not
// announced again, and the run completes.
func TestSuspendAndRestore(t *testing.T) {
	ctx := context.Background()
	store, sink := &memStore{}, &recSink{}
	blocked := make(chan struct{})
	var once sync.Once
	first := &fakeRunner{answer: func(ctx context.Context, req ThreadRequest) (string, error) {
		if req.Prompt == "summarise" {
			once.Do(func() { close(blocked) })
			return blockUntilCancelled(ctx, req)
		}
		return "read " + req.Prompt, nil
	}}
	cfg := newConfig(first, sink)
	cfg.Store = store
	program := `
		const parts = phase("Read", () => parallel(["a", "b"]));
		log("read", parts.length, Math.random() < 2);
		return phase("Sum", () => agent("summarise") + " of " + parts.join(","));`
	g := NewRegistry(cfg)
	started, err := g.Start(ctx, StartRequest{Program: program, Phases: []PhaseDecl{{Name: "Read"}, {Name: "Sum"}}})
	if err != nil {
		t.Fatal(err)
	}
	<-blocked
	if err := g.Suspend(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(sink.types(), wire.EventTypeWorkflowRunStatusEnded) {
		t.Fatalf("a suspended run ended: %v", sink.types())
	}
	if _, err := g.Start(ctx, StartRequest{Program: "return 1"}); err == nil {
		t.Error("a suspended registry started a run")
	}
	saved := store.all()
	if len(saved) != 1 || saved[0].Status != StatusRunning || len(saved[0].Threads) != 3 || saved[0].Threads[2].Done {
		t.Fatalf("saved = %s", mustJSON(t, saved))
	}

	// The restart: a new registry, the same store and event log.
	before := len(sink.all())
	second := &fakeRunner{answer: func(_ context.Context, req ThreadRequest) (string, error) { return "summary", nil }}
	cfg.Runner = second
	ended := make(chan Snapshot, 1)
	cfg.Ended = func(_ context.Context, s Snapshot) { ended <- s }
	g2 := NewRegistry(cfg)
	if err := g2.Restore(ctx, saved); err != nil {
		t.Fatal(err)
	}
	s := <-ended
	if s.ID != started.ID || s.Result.Type != wire.WorkflowRunCompleted || string(s.Output) != `"summary of read a,read b"` {
		t.Fatalf("restored run = %s", mustJSON(t, s))
	}
	if reqs := second.requests(); len(reqs) != 1 || reqs[0].Index != 2 || reqs[0].PhaseID != s.Phases[1].ID {
		t.Errorf("after the restart the runner ran %+v, want only the unfinished thread", reqs)
	}
	var after []string
	for _, e := range sink.all()[before:] {
		after = append(after, e.EventType())
	}
	want := []string{wire.EventTypeWorkflowRunPhaseEnded, wire.EventTypeWorkflowRunStatusEnded}
	if !slices.Equal(after, want) {
		t.Errorf("events after the restart = %v, want %v", after, want)
	}
	if got, ok := g2.Get(started.ID); !ok || got.Status != StatusEnded {
		t.Errorf("registry state = %+v", got)
	}
	if notice := EndingNotice(s); !strings.Contains(notice, started.ID) || !strings.Contains(notice, "completed") || !strings.Contains(notice, "summary of") {
		t.Errorf("notice = %q", notice)
	}

	// Ended runs come back for the agent's checks, and do not run.
	g3 := NewRegistry(cfg)
	if err := g3.Restore(ctx, store.all()); err != nil {
		t.Fatal(err)
	}
	if got, ok := g3.Get(started.ID); !ok || got.Status != StatusEnded || g3.Open() != 0 {
		t.Errorf("restored ended run = %+v", got)
	}
}

// A restored run whose program now goes another way drops the records
// from where it differs and goes on live.
func TestRestoreDiverged(t *testing.T) {
	ctx := context.Background()
	runner := &fakeRunner{}
	cfg := newConfig(runner, &recSink{})
	run, err := NewRun(cfg, StartRequest{Program: `return [agent("x"), agent("y")]`})
	if err != nil {
		t.Fatal(err)
	}
	s := run.Snapshot()
	s.Announced, s.Started = true, true
	s.Threads = []ThreadRecord{
		{Index: 0, Agent: AgentSpec{Name: "agent"}, Prompt: "x", Done: true, Answer: "recorded x"},
		{Index: 1, Agent: AgentSpec{Name: "agent"}, Prompt: "not y", Done: true, Answer: "stale"},
	}
	restored, err := Restore(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := restored.Execute(ctx)
	if err != nil || res.Type != wire.WorkflowRunCompleted {
		t.Fatalf("%+v %v", res, err)
	}
	if out := string(restored.Snapshot().Output); out != `["recorded x","agent:y"]` {
		t.Errorf("output = %s", out)
	}
	if n := len(runner.requests()); n != 1 {
		t.Errorf("%d threads ran, want 1", n)
	}
}
