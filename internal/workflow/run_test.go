package workflow

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/wire"
)

// A two-phase workflow fans out in its first phase, hands the combined
// answers to one agent in the second, and returns what it combined; the
// events follow the run and close each phase by its start event's id.
func TestTwoPhaseWorkflowCombinesResults(t *testing.T) {
	runner, sink := &fakeRunner{}, &recSink{}
	desc := "read, then reconcile"
	res, s := execute(t, newConfig(runner, sink), StartRequest{
		Name:        "Contract review",
		Description: &desc,
		Phases:      []PhaseDecl{{Name: "Read"}, {Name: "Reconcile"}},
		Input:       json.RawMessage(`{"docs":["a","b","c"]}`),
		Program: `
			const found = phase("Read", () => parallel(input.docs.map(d => ({agent: "reader", prompt: "read " + d}))));
			const merged = phase("Reconcile", () => agent("merge " + found.join("|"), {name: "merger", system: "You merge."}));
			return {found, merged};`,
	})
	if res.Type != wire.WorkflowRunCompleted {
		t.Fatalf("result = %+v (%s)", res, s.Failure)
	}
	want := `{"found":["reader:read a","reader:read b","reader:read c"],"merged":"merger:merge reader:read a|reader:read b|reader:read c"}`
	if string(s.Output) != want {
		t.Errorf("output = %s, want %s", s.Output, want)
	}

	reqs := runner.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d threads, want 4", len(reqs))
	}
	slices.SortFunc(reqs, func(a, b ThreadRequest) int { return a.Index - b.Index })
	read, rec := s.Phases[0].ID, s.Phases[1].ID
	for i, r := range reqs {
		wantPhase := read
		if i == 3 {
			wantPhase = rec
		}
		if r.Index != i || r.PhaseID != wantPhase || r.RunID != s.ID {
			t.Errorf("thread %d = %+v", i, r)
		}
	}
	if m := reqs[3].Agent; m.Predefined != "" || m.Name != "merger" || m.System != "You merge." {
		t.Errorf("inline agent = %+v", m)
	}

	sinkTypes := sink.types()
	wantTypes := []string{
		wire.EventTypeWorkflowRunCreated, wire.EventTypeWorkflowRunStatusRunning,
		wire.EventTypeWorkflowRunPhaseStarted, wire.EventTypeWorkflowRunPhaseEnded,
		wire.EventTypeWorkflowRunPhaseStarted, wire.EventTypeWorkflowRunPhaseEnded,
		wire.EventTypeWorkflowRunStatusEnded,
	}
	if !slices.Equal(sinkTypes, wantTypes) {
		t.Fatalf("events = %v", sinkTypes)
	}
	evs := sink.all()
	created := evs[0].Payload.(*wire.WorkflowRunCreatedEvent)
	if created.WorkflowRunID != s.ID || !strings.HasPrefix(s.ID, RunPrefix) || created.Name != "Contract review" ||
		*created.Description != desc || len(created.Phases) != 2 || created.Phases[1].Name != "Reconcile" {
		t.Errorf("created = %s", mustJSON(t, created))
	}
	for i, phase := range []string{read, rec} {
		started := evs[2+2*i].Payload.(*wire.WorkflowRunPhaseStartedEvent)
		ended := evs[3+2*i].Payload.(*wire.WorkflowRunPhaseEndedEvent)
		if started.WorkflowRunPhaseID != phase || ended.WorkflowRunPhaseID != phase || ended.PhaseStartedID != evs[2+2*i].ID {
			t.Errorf("phase %d: %s %s", i, mustJSON(t, started), mustJSON(t, ended))
		}
	}
	if ended := evs[6].Payload.(*wire.WorkflowRunStatusEndedEvent); ended.Result.Type != wire.WorkflowRunCompleted {
		t.Errorf("ended = %s", mustJSON(t, ended))
	}
	if s.Status != StatusEnded || len(s.Threads) != 4 || !s.Threads[3].Done {
		t.Errorf("state = %s", mustJSON(t, s))
	}
}

// A program that fails ends the run with program_error, reported by
// workflow_run.error before status_ended; failures the program catches do
// not end it.
func TestProgramErrors(t *testing.T) {
	failing := func(_ context.Context, req ThreadRequest) (string, error) {
		if strings.Contains(req.Prompt, "bad") {
			return "", errString("the thread failed")
		}
		return "ok", nil
	}
	for _, tc := range []struct {
		name, program string
		want          string // "" for completed
		detail        string
		output        string
	}{
		{"throw", `throw new Error("boom")`, wire.WorkflowRunProgramError, "boom", ""},
		{"reference error", `return missing.x`, wire.WorkflowRunProgramError, "missing", ""},
		{"agent failure uncaught", `return agent("bad")`, wire.WorkflowRunProgramError, "the thread failed", ""},
		{"parallel failure uncaught", `return parallel(["good", "bad"])`, wire.WorkflowRunProgramError, "the thread failed", ""},
		{"unknown predefined agent", `return agent({prompt: "x", agent: "nobody"})`, wire.WorkflowRunProgramError, "nobody", ""},
		{"bad task", `return agent({prompt: "x", colour: "red"})`, wire.WorkflowRunProgramError, "colour", ""},
		{"empty prompt", `return agent("  ")`, wire.WorkflowRunProgramError, "prompt is empty", ""},
		{"phase without function", `phase("p")`, wire.WorkflowRunProgramError, "must be a function", ""},
		{"result not JSON", `return 10n`, wire.WorkflowRunProgramError, "BigInt", ""},
		{"caught agent failure", `try { agent("bad") } catch (e) { return "caught: " + e.message }`, "", "", `"caught: agent \"agent\" failed: the thread failed"`},
		{"settled", `return parallelSettled(["good", {prompt: "bad", agent: "reader"}])`, "", "", `[{"ok":true,"result":"ok"},{"ok":false,"error":"the thread failed"}]`},
		{"undefined result", `agent("good")`, "", "", `null`},
		{"async program", `return (async () => { const a = await agent("good"); return [a, await Promise.resolve(2)] })()`, "", "", `["ok",2]`},
		{"rejected promise", `return (async () => { throw new Error("late") })()`, wire.WorkflowRunProgramError, "late", ""},
		{"pending promise", `return new Promise(() => {})`, wire.WorkflowRunProgramError, "never settled", ""},
		{"caught phase failure", `try { phase("p", () => { throw new Error("inner") }) } catch (e) { return e.message }`, "", "", `"inner"`},
		{"phase failure", `phase("p", () => agent("bad"))`, wire.WorkflowRunProgramError, "the thread failed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recSink{}
			res, s := execute(t, newConfig(&fakeRunner{answer: failing}, sink), StartRequest{Program: tc.program})
			if tc.want == "" {
				if res.Type != wire.WorkflowRunCompleted || string(s.Output) != tc.output {
					t.Fatalf("result = %+v, output %s (%s)", res, s.Output, s.Failure)
				}
				return
			}
			wantError(t, res, tc.want)
			if !strings.Contains(s.Failure, tc.detail) {
				t.Errorf("failure = %q, want it to mention %q", s.Failure, tc.detail)
			}
			types := sink.types()
			if slices.Contains(types, wire.EventTypeWorkflowRunPhaseStarted) && !slices.Contains(types, wire.EventTypeWorkflowRunPhaseEnded) {
				t.Errorf("the phase was not ended: %v", types)
			}
			n := len(types)
			if n < 2 || types[n-2] != wire.EventTypeWorkflowRunError || types[n-1] != wire.EventTypeWorkflowRunStatusEnded {
				t.Fatalf("events = %v", types)
			}
			evs := sink.all()
			e := evs[n-2].Payload.(*wire.WorkflowRunErrorEvent)
			if e.WorkflowRunID == nil || *e.WorkflowRunID != s.ID || e.Error.Type != tc.want {
				t.Errorf("error event = %s", mustJSON(t, e))
			}
			// The event's message is the server's, never the program's.
			if strings.Contains(e.Error.Message, tc.detail) {
				t.Errorf("error message %q carries the run's content", e.Error.Message)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A run past its lifetime ends with timeout_error, whether it is waiting
// on agents or computing on its own, and its threads are cancelled.
func TestTimeout(t *testing.T) {
	for _, tc := range []struct{ name, program string }{
		{"waiting on an agent", `phase("p", () => agent("slow"))`},
		{"computing", `let n = 0; while (true) { n++ }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recSink{}
			cfg := newConfig(&fakeRunner{answer: blockUntilCancelled}, sink)
			cfg.Limits = Limits{DefaultTimeLimit: 30 * time.Millisecond, MaxSteps: 1 << 62}
			res, s := execute(t, cfg, StartRequest{Program: tc.program, Phases: []PhaseDecl{{Name: "p"}}})
			wantError(t, res, wire.WorkflowRunTimeoutError)
			if len(s.Threads) > 0 && s.Threads[0].Done {
				t.Errorf("the cancelled thread was recorded as done: %+v", s.Threads[0])
			}
			types := sink.types()
			if types[len(types)-1] != wire.EventTypeWorkflowRunStatusEnded {
				t.Errorf("events = %v", types)
			}
			if slices.Contains(types, wire.EventTypeWorkflowRunPhaseStarted) && !slices.Contains(types, wire.EventTypeWorkflowRunPhaseEnded) {
				t.Errorf("an open phase was not ended: %v", types)
			}
		})
	}
}

// A program that computes past its step budget (or its call depth) ends
// with unknown_error, the service's type for a server limit on plans.
func TestStepBudget(t *testing.T) {
	for _, tc := range []struct{ name, program, detail string }{
		{"while block", `while (true) {}`, "step budget"},
		{"bare for", `for (;;);`, "step budget"},
		{"bare do-while", `let x = 0; do x++; while (true)`, "step budget"},
		{"for-of", `const a = [1]; for (const v of a) { a.push(v) }`, "step budget"},
		{"for-of bare if", `const a = [1]; for (const v of a) if (v) a.push(v)`, "step budget"},
		{"while parenthesised", `let i = 0; while (true) (i++)`, "step budget"},
		{"calls", `const f = () => 1; const g = function () { return f() }; while (true) g()`, "step budget"},
		{"array callbacks", `const a = new Array(100000).fill(0); return a.map(x => x + 1).length`, "step budget"},
		{"recursion", `function f(n) { return f(n + 1) + 1 } return f(0)`, "call depth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newConfig(&fakeRunner{}, &recSink{})
			cfg.Limits = Limits{MaxSteps: 10_000}
			res, s := execute(t, cfg, StartRequest{Program: tc.program})
			wantError(t, res, wire.WorkflowRunUnknownError)
			if !strings.Contains(s.Failure, tc.detail) {
				t.Errorf("failure = %q", s.Failure)
			}
		})
	}
	// Within the budget, the same constructs run and count right.
	cfg := newConfig(&fakeRunner{}, &recSink{})
	cfg.Limits = Limits{MaxSteps: 10_000}
	res, s := execute(t, cfg, StartRequest{Program: `
		let n = 0; for (let i = 0; i < 10; i++) n += i; let j = 0; do j++; while (j < 5)
		for (const v of [1, 2]) n += v; while (n < 100) n++;
		return [n, j, [1, 2].map(x => x * 2), (x => ({x}))(1)]`})
	if res.Type != wire.WorkflowRunCompleted || string(s.Output) != `[100,5,[2,4],{"x":1}]` {
		t.Fatalf("result = %+v, output %s (%s)", res, s.Output, s.Failure)
	}
}

// The call that would go past the run's thread limit ends the run with
// thread_limit_error, also when the program would catch errors.
func TestThreadLimit(t *testing.T) {
	for _, tc := range []struct{ name, program string }{
		{"parallel", `agent("first"); return parallel(["a", "b", "c"])`},
		{"loop", `for (let i = 0; ; i++) { try { agent("n" + i) } catch (e) {} }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runner := &fakeRunner{}
			cfg := newConfig(runner, &recSink{})
			cfg.Limits = Limits{MaxThreads: 3}
			res, _ := execute(t, cfg, StartRequest{Program: tc.program})
			wantError(t, res, wire.WorkflowRunThreadLimitError)
			if n := len(runner.requests()); n > 3 {
				t.Errorf("%d threads ran, limit 3", n)
			}
		})
	}
}

// No more than MaxConcurrentThreads of a run's threads work at once.
func TestConcurrencyBound(t *testing.T) {
	runner := &fakeRunner{}
	cfg := newConfig(runner, &recSink{})
	cfg.Limits = Limits{MaxConcurrentThreads: 2}
	res, s := execute(t, cfg, StartRequest{Program: `return parallel(["a","b","c","d","e","f"]).length`})
	if res.Type != wire.WorkflowRunCompleted || string(s.Output) != "6" {
		t.Fatalf("result = %+v %s", res, s.Output)
	}
	if runner.maxInflight > 2 {
		t.Errorf("%d threads worked at once, bound 2", runner.maxInflight)
	}
}

// Cancelling the run's context stops it: its threads are cancelled, its
// open phase ends before the run does, and the result is stopped.
func TestCancellation(t *testing.T) {
	started := make(chan struct{})
	runner := &fakeRunner{answer: func(ctx context.Context, req ThreadRequest) (string, error) {
		close(started)
		return blockUntilCancelled(ctx, req)
	}}
	sink := &recSink{}
	run, err := NewRun(newConfig(runner, sink), StartRequest{Program: `phase("p", () => agent("forever"))`, Phases: []PhaseDecl{{Name: "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	res, err := run.Execute(ctx)
	if err != nil || res.Type != wire.WorkflowRunStopped {
		t.Fatalf("result = %+v, %v", res, err)
	}
	want := []string{
		wire.EventTypeWorkflowRunCreated, wire.EventTypeWorkflowRunStatusRunning,
		wire.EventTypeWorkflowRunPhaseStarted, wire.EventTypeWorkflowRunPhaseEnded,
		wire.EventTypeWorkflowRunStatusEnded,
	}
	if got := sink.types(); !slices.Equal(got, want) {
		t.Errorf("events = %v", got)
	}
	if s := run.Snapshot(); s.Status != StatusEnded || s.Result.Type != wire.WorkflowRunStopped {
		t.Errorf("state = %s", mustJSON(t, s))
	}
}

// A paused run is idle and starts no thread until it is resumed.
func TestPauseResume(t *testing.T) {
	first, release := make(chan struct{}), make(chan struct{})
	runner := &fakeRunner{answer: func(ctx context.Context, req ThreadRequest) (string, error) {
		if req.Index == 0 {
			close(first)
			<-release
		}
		return "done", nil
	}}
	sink := &recSink{}
	run, err := NewRun(newConfig(runner, sink), StartRequest{Program: `agent("one"); return agent("two")`})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan wire.WorkflowRunResult)
	go func() { res, _ := run.Execute(context.Background()); done <- res }()
	<-first
	run.Pause(context.Background())
	if s := run.Snapshot(); s.Status != StatusIdle {
		t.Errorf("status = %s", s.Status)
	}
	close(release)
	run.Resume(context.Background())
	if res := <-done; res.Type != wire.WorkflowRunCompleted {
		t.Fatalf("result = %+v", res)
	}
	want := []string{
		wire.EventTypeWorkflowRunCreated, wire.EventTypeWorkflowRunStatusRunning,
		wire.EventTypeWorkflowRunStatusIdle, wire.EventTypeWorkflowRunStatusRunning,
		wire.EventTypeWorkflowRunStatusEnded,
	}
	if got := sink.types(); !slices.Equal(got, want) {
		t.Errorf("events = %v", got)
	}
}

// The program has the interpreter's language and the workflow API only:
// nothing reaches the host.
func TestSandbox(t *testing.T) {
	res, s := execute(t, newConfig(&fakeRunner{}, &recSink{}), StartRequest{Program: `
		return [typeof require, typeof process, typeof fetch, typeof console, typeof setTimeout,
			typeof XMLHttpRequest, typeof module, typeof globalThis.os, typeof agent, typeof Date.now()]`})
	if res.Type != wire.WorkflowRunCompleted {
		t.Fatalf("result = %+v (%s)", res, s.Failure)
	}
	want := `["undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined","function","number"]`
	if string(s.Output) != want {
		t.Errorf("output = %s", s.Output)
	}
	// Code compiled from strings would escape the step budget: there is none.
	for _, src := range []string{
		`return eval("1")`,
		`return Function("return 1")()`,
		`return (function () {}).constructor("return 1")()`,
		`return (function* () {}).constructor("yield 1")().next()`,
		`return (async function () {}).constructor("return 1")()`,
	} {
		res, s := execute(t, newConfig(&fakeRunner{}, &recSink{}), StartRequest{Program: src})
		if res.Type != wire.WorkflowRunErrored || !strings.Contains(s.Failure, "not available") {
			t.Errorf("%s: result %+v, output %s, failure %q", src, res, s.Output, s.Failure)
		}
	}
	res, s = execute(t, newConfig(&fakeRunner{}, &recSink{}), StartRequest{Program: `return [(() => 1) instanceof Function, typeof Function]`})
	if string(s.Output) != `[true,"function"]` {
		t.Errorf("instanceof Function: %s (%s)", s.Output, s.Failure)
	}
	// The step counter cannot be replaced by the program.
	cfg := newConfig(&fakeRunner{}, &recSink{})
	cfg.Limits = Limits{MaxSteps: 1000}
	res, _ = execute(t, cfg, StartRequest{Program: `globalThis.` + tickName + ` = () => {}; while (true) {}`})
	wantError(t, res, wire.WorkflowRunUnknownError)
}

// Names and descriptions are cut to the service's lengths; a run without a
// name gets one.
func TestNamesAreCut(t *testing.T) {
	long := strings.Repeat("é", 300)
	run, err := NewRun(newConfig(&fakeRunner{}, &recSink{}), StartRequest{Name: long, Description: &long, Phases: []PhaseDecl{{Name: long, Description: &long}}, Program: "return 1"})
	if err != nil {
		t.Fatal(err)
	}
	s := run.Snapshot()
	if len([]rune(s.Name)) != MaxNameChars || len([]rune(*s.Description)) != MaxDescriptionChars ||
		len([]rune(s.Phases[0].Name)) != MaxNameChars || len([]rune(*s.Phases[0].Description)) != MaxDescriptionChars {
		t.Errorf("not cut: %d %d", len([]rune(s.Name)), len([]rune(*s.Description)))
	}
	run, _ = NewRun(newConfig(&fakeRunner{}, &recSink{}), StartRequest{Program: "return 1"})
	if run.Snapshot().Name == "" {
		t.Error("no name assigned")
	}
}

// A run paused before it started reports idle as its first status.
func TestPausedBeforeStart(t *testing.T) {
	sink := &recSink{}
	run, err := NewRun(newConfig(&fakeRunner{}, sink), StartRequest{Program: `return 1`})
	if err != nil {
		t.Fatal(err)
	}
	run.Pause(context.Background())
	if res, err := run.Execute(context.Background()); err != nil || res.Type != wire.WorkflowRunCompleted {
		t.Fatalf("%+v %v", res, err)
	}
	want := []string{wire.EventTypeWorkflowRunCreated, wire.EventTypeWorkflowRunStatusIdle, wire.EventTypeWorkflowRunStatusEnded}
	if got := sink.types(); !slices.Equal(got, want) {
		t.Errorf("events = %v", got)
	}
	if _, err := run.Execute(context.Background()); err == nil {
		t.Error("a run executed twice")
	}
}

// The example of docs/workflows.md runs as the document says.
func TestDocExample(t *testing.T) {
	runner := &fakeRunner{answer: func(_ context.Context, req ThreadRequest) (string, error) {
		if strings.Contains(req.Prompt, "b.pdf") {
			return "", errString("unreadable")
		}
		return "clauses of " + req.Prompt[5:10], nil
	}}
	cfg := newConfig(runner, &recSink{})
	cfg.Agents.Predefined = []string{"Contract reader"}
	res, s := execute(t, cfg, StartRequest{
		Phases: []PhaseDecl{{Name: "Read the contracts"}, {Name: "Reconcile the findings"}},
		Input:  json.RawMessage(`{"contracts":["a.pdf","b.pdf"]}`),
		Program: "const found = phase(\"Read the contracts\", () =>\n" +
			"  parallelSettled(input.contracts.map(path => ({\n" +
			"    agent: \"Contract reader\",\n" +
			"    prompt: `Read ${path}. List every termination clause as JSON lines.`,\n" +
			"  }))));\n" +
			"const covered = found.filter(r => r.ok).map(r => r.result);\n" +
			"const missed = input.contracts.filter((_, i) => !found[i].ok);\n" +
			"return phase(\"Reconcile the findings\", () => ({\n" +
			"  summary: agent(`Merge these findings into one table:\\n${covered.join(\"\\n\")}`,\n" +
			"                 {name: \"Reconciler\", system: \"You merge contract findings.\"}),\n" +
			"  not_covered: missed,\n" +
			"}));",
	})
	if res.Type != wire.WorkflowRunCompleted || !strings.Contains(string(s.Output), `"not_covered":["b.pdf"]`) {
		t.Fatalf("result = %+v, output %s (%s)", res, s.Output, s.Failure)
	}
}
