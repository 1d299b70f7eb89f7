package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/testserver"
)

// The scripted workflow model: the session's agent (system "You run
// workflows") starts the program the user's message names with
// ant__start_workflow_run, says it waits, and when told a run ended
// answers "Result: " with the notice. The program's inline agents are the
// gatherers (system "You gather"), which answer "got X" for "answer X",
// and the reconciler (system "You reconcile"), which wraps what it is given.

const (
	workflowSystem   = "You run workflows."
	gathererSystem   = "You gather."
	reconcilerSystem = "You reconcile."
)

// twoPhaseProgram asks two gatherers in parallel, then one reconciler.
const twoPhaseProgram = `
const parts = phase("Gather", () => parallel(input.items.map(x => ({prompt: "answer " + x, name: "Gatherer", system: "You gather."}))));
log("gathered", parts.length);
return phase("Reconcile", () => agent("reconcile: " + parts.join(" + "), {name: "Reconciler", system: "You reconcile."}));
`

// failingProgram fails in its one phase, after one agent answered.
const failingProgram = `
phase("Gather", () => agent("answer gamma", {name: "Gatherer", system: "You gather."}));
return undefinedThing.field;
`

var runIDPattern = regexp.MustCompile(`wrun_[0-9A-Za-z]+`)

var workflowPrograms = map[string]map[string]any{
	"combine": {
		"name": "Combine", "program": twoPhaseProgram,
		"phases": []any{map[string]any{"name": "Gather"}, map[string]any{"name": "Reconcile"}},
		"input":  map[string]any{"items": []string{"alpha", "beta"}},
	},
	"predefined": {
		"program": `return agent({prompt: "answer delta", agent: "Gatherer"});`,
	},
	"ask": {
		"program": `return agent("clean up", {name: "Cleaner", system: "You clean."});`,
	},
	"stall": {
		"program": `return agent("answer slow", {name: "Gatherer", system: "You gather."});`,
	},
	"fail": {
		"name": "Fails", "program": failingProgram,
		"phases": []any{map[string]any{"name": "Gather"}},
	},
}

func workflowRule(gatherer func(in modeltest.Input, what string) modeltest.Turn) modeltest.Rule {
	return func(in modeltest.Input) modeltest.Turn {
		last, _ := in.Last()
		lastText := blocksText(last.Content)
		switch {
		case strings.Contains(in.System, gathererSystem):
			// The prompt is the thread's first message (later ones may be
			// tool results).
			prompt := blocksText(in.Messages[0].Content)
			what := strings.TrimPrefix(prompt[strings.LastIndex(prompt, "answer "):], "answer ")
			if gatherer != nil {
				return gatherer(in, what)
			}
			return modeltest.Text("got " + what)
		case strings.Contains(in.System, "You clean."):
			if rs := in.ToolResults(); len(rs) > 0 {
				return modeltest.Text("tool said: " + blocksText(rs))
			}
			return modeltest.ToolCall("", "bash", map[string]any{"command": "rm -rf /data"})
		case strings.Contains(in.System, reconcilerSystem):
			return modeltest.Text("reconciled(" + strings.TrimSpace(lastText[strings.Index(lastText, "reconcile: ")+len("reconcile: "):]) + ")")
		case strings.Contains(in.System, workflowSystem):
			if strings.Contains(lastText, "Workflow run wrun_") {
				return modeltest.Text("Result: " + lastText)
			}
			if len(in.ToolResults()) > 0 {
				return modeltest.Text("Started; waiting for the run.")
			}
			if strings.TrimSpace(lastText) == "stop it" {
				var id string
				for _, m := range in.Messages {
					if found := runIDPattern.FindString(blocksText(m.Content)); found != "" {
						id = found
					}
				}
				return modeltest.ToolCall("", "ant__stop_workflow_run", map[string]any{"workflow_run_id": id})
			}
			if p, ok := workflowPrograms[strings.TrimSpace(lastText)]; ok {
				return modeltest.ToolCall("", "ant__start_workflow_run", p)
			}
		}
		return modeltest.Text("?")
	}
}

func (l *loop) workflowAgent() string {
	l.t.Helper()
	return l.agent(map[string]any{"name": "runner", "system": workflowSystem,
		"multiagent": map[string]any{"type": "multiagent_20261001", "workflows": map[string]any{"type": "enabled"}}})
}

// workflowEvents are the workflow_run.* events of a list, in order.
func workflowEvents[E interface{ RawJSON() string }](evs []E) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		m := raw(e)
		if t, _ := m["type"].(string); strings.HasPrefix(t, "workflow_run.") {
			out = append(out, m)
		}
	}
	return out
}

// A two-phase workflow: two agents in parallel, then one reconciling what
// they said. The primary stream shows the run's events in order, each
// agent works in a server-created thread carrying the run's id (archived
// once it answered), the session stays running until the agent had its
// turn on the run's end, and the agent is told the result.
func TestWorkflowTwoPhases(t *testing.T) {
	l := newLoop(t, workflowRule(nil))
	sid := l.session(l.workflowAgent())
	col := l.stream(sid)
	l.send(sid, userMessage("combine"))
	final, _ := col.waitFor(t, 0, "the agent's result", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Result:")
	})
	if !strings.Contains(final.RawJSON(), "completed") || !strings.Contains(final.RawJSON(), `reconciled(got alpha + got beta)`) {
		t.Fatalf("final message = %s", final.RawJSON())
	}
	hist := waitIdleHistory(t, l, sid)
	got := types(hist)
	if n := countType(hist, "session.status_idle"); n != 1 {
		t.Fatalf("%d session.status_idle events (the session must run until the agent's turn on the run's end): %s", n, got)
	}
	var seq []string
	for _, m := range workflowEvents(hist) {
		seq = append(seq, m["type"].(string))
	}
	want := "workflow_run.created workflow_run.status_running workflow_run.phase_started workflow_run.phase_ended workflow_run.phase_started workflow_run.phase_ended workflow_run.status_ended"
	if strings.Join(seq, " ") != want {
		t.Fatalf("workflow events: %v\nall: %s", seq, got)
	}
	wf := workflowEvents(hist)
	runID := wf[0]["workflow_run_id"].(string)
	phases := wf[0]["phases"].([]any)
	if len(phases) != 2 || wf[2]["workflow_run_phase_id"] != phases[0].(map[string]any)["id"] || wf[4]["workflow_run_phase_id"] != phases[1].(map[string]any)["id"] {
		t.Fatalf("phases: %v, events %v", phases, wf)
	}
	if res := wf[6]["result"].(map[string]any); res["type"] != "completed" {
		t.Fatalf("status_ended = %v", wf[6])
	}
	// Every event decodes with the SDK's workflow types.
	for _, e := range hist {
		if e.Type == "workflow_run.status_ended" {
			if e.AsWorkflowRunStatusEnded().WorkflowRunID != runID {
				t.Fatalf("SDK decode: %s", e.RawJSON())
			}
		}
	}
	// The threads were created inside the phases: two in Gather, one in
	// Reconcile, each with the run's id.
	var created []map[string]any
	phase := 0
	for _, e := range hist {
		m := raw(e)
		switch m["type"] {
		case "workflow_run.phase_started":
			phase++
		case "session.thread_created":
			if m["workflow_run_id"] != runID {
				t.Fatalf("thread_created without the run's id: %s", e.RawJSON())
			}
			m["phase"] = phase
			created = append(created, m)
		}
	}
	if len(created) != 3 || created[0]["phase"] != 1 || created[1]["phase"] != 1 || created[2]["phase"] != 2 || created[2]["agent_name"] != "Reconciler" {
		t.Fatalf("threads created: %v", created)
	}
	ths := l.threads(sid)
	if len(ths) != 4 {
		t.Fatalf("%d threads, want the primary and 3 of the run", len(ths))
	}
	for _, th := range ths[1:] {
		if th.WorkflowRunID != runID || th.Status != "terminated" || th.ArchivedAt.IsZero() {
			t.Fatalf("run thread: %s", th.RawJSON())
		}
		tevs := l.threadEvents(sid, th.ID)
		if countType(tevs, "agent.thread_message_received") != 1 || countType(tevs, "agent.message") != 1 {
			t.Fatalf("thread %s events: %s", th.ID, types(tevs))
		}
	}
	// The answers went to the program, not to the agent as messages.
	if n := countType(hist, "agent.thread_message_received"); n != 0 {
		t.Fatalf("%d thread messages reached the primary thread: %s", n, got)
	}
}

// A program that throws ends its run with program_error: workflow_run.error
// then workflow_run.status_ended with the error; the agent is told.
func TestWorkflowProgramError(t *testing.T) {
	l := newLoop(t, workflowRule(nil))
	sid := l.session(l.workflowAgent())
	l.send(sid, userMessage("fail"))
	hist := waitIdleHistory(t, l, sid)
	if n := countType(hist, "session.status_idle"); n != 1 {
		t.Fatalf("%d session.status_idle events: %s", n, types(hist))
	}
	wf := workflowEvents(hist)
	var seq []string
	for _, m := range wf {
		seq = append(seq, m["type"].(string))
	}
	want := "workflow_run.created workflow_run.status_running workflow_run.phase_started workflow_run.phase_ended workflow_run.error workflow_run.status_ended"
	if strings.Join(seq, " ") != want {
		t.Fatalf("workflow events: %v", seq)
	}
	errEv := wf[4]["error"].(map[string]any)
	res := wf[5]["result"].(map[string]any)
	if errEv["type"] != "program_error" || res["type"] != "error" || res["error"].(map[string]any)["type"] != "program_error" {
		t.Fatalf("error = %v, result = %v", wf[4], wf[5])
	}
	if strings.Contains(errEv["message"].(string), "undefinedThing") {
		t.Fatalf("the event carries the program's detail: %v", errEv)
	}
	last := ""
	for _, e := range hist {
		if e.Type == "agent.message" {
			last = e.RawJSON()
		}
	}
	if !strings.Contains(last, "Result:") || !strings.Contains(last, "program_error") || !strings.Contains(last, "undefinedThing") {
		t.Fatalf("the agent was not told the failure: %s", last)
	}
}

// A server killed mid-run resumes the run after the restart: the agent
// call that had answered is not made again, the one that was working goes
// on in its thread, and the run completes once, with nothing logged twice.
func TestWorkflowRestartMidRun(t *testing.T) {
	testWorkflowRestart(t, func(l *loop) { l.s.Kill() })
}

// The same across a graceful shutdown: the runs are suspended (nothing
// more is logged for them) and resume after the restart.
func TestWorkflowShutdownMidRun(t *testing.T) {
	testWorkflowRestart(t, func(l *loop) { l.s.Stop(t) })
}

func testWorkflowRestart(t *testing.T, stop func(l *loop)) {
	var alpha, beta atomic.Int32
	l := newLoop(t, workflowRule(func(in modeltest.Input, what string) modeltest.Turn {
		switch what {
		case "alpha":
			alpha.Add(1)
		case "beta":
			if beta.Add(1) == 1 {
				return modeltest.Turn{Content: []model.Block{model.Text("lost")}, Stall: true}
			}
		}
		return modeltest.Text("got " + what)
	}))
	sid := l.session(l.workflowAgent())
	col := l.stream(sid)
	l.send(sid, userMessage("combine"))
	// alpha's thread answered and was archived; beta's works.
	col.waitFor(t, 0, "a gatherer's thread archived", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_status_terminated"
	})
	deadline := time.Now().Add(20 * time.Second)
	for beta.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("beta's model request never reached the upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The agent cannot be changed under an open run (the session runs
	// while the run does, and a running session's agent is refused).
	_, err := l.c.Beta.Sessions.Update(context.Background(), sid, anthropic.BetaSessionUpdateParams{},
		option.WithRequestBody("application/json", []byte(`{"agent":{"tools":[{"type":"agent_toolset_20260401"}]}}`)))
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 409 {
		t.Fatalf("agent update under an open run: %v", err)
	}
	stop(l)
	l.reopen(testserver.WithArgs("--sandbox", "local"))
	hist := waitIdleHistory(t, l, sid)
	got := types(hist)
	for typ, n := range map[string]int{
		"session.thread_created": 3, "workflow_run.created": 1, "workflow_run.status_running": 1,
		"workflow_run.phase_started": 2, "workflow_run.phase_ended": 2, "workflow_run.status_ended": 1, "session.status_idle": 1,
	} {
		if c := countType(hist, typ); c != n {
			t.Fatalf("%d %s, want %d: %s", c, typ, n, got)
		}
	}
	if n := alpha.Load(); n != 1 {
		t.Fatalf("alpha's agent was asked %d times", n)
	}
	if n := beta.Load(); n != 2 {
		t.Fatalf("beta's agent was asked %d times, want the stalled request and one after the restart", n)
	}
	ths := l.threads(sid)
	if len(ths) != 4 {
		t.Fatalf("%d threads after the restart", len(ths))
	}
	rescheduled := 0
	for _, th := range ths[1:] {
		if th.Status != "terminated" {
			t.Fatalf("run thread after the restart: %s", th.RawJSON())
		}
		rescheduled += countType(l.threadEvents(sid, th.ID), "session.thread_status_rescheduled")
	}
	if rescheduled != 1 {
		t.Fatalf("%d threads rescheduled, want beta's", rescheduled)
	}
	last := ""
	for _, e := range hist {
		if e.Type == "agent.message" {
			last = e.RawJSON()
		}
	}
	if !strings.Contains(last, "reconciled(got alpha + got beta)") {
		t.Fatalf("final message = %s", last)
	}
	seen := map[string]bool{}
	for _, e := range hist {
		if seen[e.ID] {
			t.Fatalf("event %s logged twice", e.ID)
		}
		seen[e.ID] = true
	}
}

// A predefined agent runs with its own pinned configuration (its model
// here), in a thread of the run.
func TestWorkflowPredefinedAgent(t *testing.T) {
	l := newLoop(t, workflowRule(nil))
	gid := l.agent(map[string]any{"name": "Gatherer", "system": gathererSystem, "model": "claude-test-2"})
	aid := l.agent(map[string]any{"name": "runner", "system": workflowSystem,
		"multiagent": map[string]any{"type": "multiagent_20261001", "workflows": map[string]any{"type": "enabled",
			"inline_agents": map[string]any{"type": "disabled"}, "predefined_agents": []any{map[string]any{"type": "agent", "id": gid}}}}})
	sid := l.session(aid)
	l.send(sid, userMessage("predefined"))
	hist := waitIdleHistory(t, l, sid)
	last := ""
	for _, e := range hist {
		if e.Type == "agent.message" {
			last = e.RawJSON()
		}
	}
	if !strings.Contains(last, "Result:") || !strings.Contains(last, "got delta") {
		t.Fatalf("final message = %s\n%s", last, types(hist))
	}
	ths := l.threads(sid)
	if len(ths) != 2 || ths[1].Agent.Name != "Gatherer" || ths[1].Agent.Model.ID != "claude-test-2" {
		t.Fatalf("threads: %v", ths)
	}
	for _, r := range l.fake.Requests() {
		if strings.Contains(r.Input.System, workflowSystem) && !r.Input.HasTool("ant__start_workflow_run") {
			t.Fatal("the session's agent was not offered the workflow tools")
		}
		if strings.Contains(r.Input.System, gathererSystem) && (r.Input.Model != "claude-test-2" || r.Input.HasTool("ant__start_workflow_run")) {
			t.Fatalf("the predefined agent ran on %s with tools %v", r.Input.Model, r.Input.Tools)
		}
	}
}

// A run's agent whose call needs the client's confirmation (an inline
// agent has the session agent's tools, always_ask here): the call is
// copied onto the primary thread, the session goes idle with
// requires_action although the run is open, and the client's answer
// reaches the run's thread, which answers the program.
func TestWorkflowAgentAsksTheClient(t *testing.T) {
	l := newLoop(t, workflowRule(nil))
	aid := l.agent(map[string]any{"name": "runner", "system": workflowSystem,
		"tools":      []any{map[string]any{"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}}}},
		"multiagent": map[string]any{"type": "multiagent_20261001", "workflows": map[string]any{"type": "enabled"}}})
	sid := l.session(aid)
	col := l.stream(sid)
	l.send(sid, userMessage("ask"))
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	ths := l.threads(sid)
	if len(ths) != 2 || ths[1].WorkflowRunID == "" {
		t.Fatalf("threads: %v", ths)
	}
	l.send(sid, confirm(idle.StopReason.EventIDs[0], false, "not that"))
	final, _ := col.waitFor(t, at, "the agent's result", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Result:")
	})
	if !strings.Contains(final.RawJSON(), "completed") || !strings.Contains(final.RawJSON(), "not that") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	idle, _ = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
}

// The agent stops a run whose agent is working: the agent's thread is
// stopped and archived, the run ends with stopped, and the agent is told.
func TestWorkflowStop(t *testing.T) {
	l := newLoop(t, workflowRule(func(in modeltest.Input, what string) modeltest.Turn {
		if what == "slow" {
			return modeltest.Turn{Content: []model.Block{model.Text("never")}, Stall: true}
		}
		return modeltest.Text("got " + what)
	}))
	sid := l.session(l.workflowAgent())
	col := l.stream(sid)
	l.send(sid, userMessage("stall"))
	_, at := col.waitFor(t, 0, "the agent's thread working", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_status_running" && raw(e)["agent_name"] == "Gatherer"
	})
	if _, i := col.waitFor(t, 0, "the agent waiting", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Started; waiting")
	}); i > at {
		at = i
	}
	if s, _ := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{}); s.Status != "running" {
		t.Fatalf("session %s while its run works", s.Status)
	}
	// No client event ends a run: a session-wide interrupt leaves the
	// run's agent working and the session running.
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	for deadline := time.Now().Add(20 * time.Second); ; {
		h := l.history(sid, "user.interrupt")
		if len(h) == 1 && raw(h[0])["processed_at"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the interrupt was never processed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ths := l.threads(sid); len(ths) != 2 || ths[1].Status != "running" {
		t.Fatalf("threads after an interrupt: %v", ths)
	}
	if s, _ := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{}); s.Status != "running" {
		t.Fatalf("session %s after an interrupt, while its run works", s.Status)
	}
	l.send(sid, userMessage("stop it"))
	final, _ := col.waitFor(t, at, "the agent's result", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Result:")
	})
	if !strings.Contains(final.RawJSON(), "stopped") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	hist := waitIdleHistory(t, l, sid)
	wf := workflowEvents(hist)
	if last := wf[len(wf)-1]; last["type"] != "workflow_run.status_ended" || last["result"].(map[string]any)["type"] != "stopped" {
		t.Fatalf("workflow events: %v", wf)
	}
	ths := l.threads(sid)
	if len(ths) != 2 || ths[1].Status != "terminated" || ths[1].ArchivedAt.IsZero() {
		t.Fatalf("threads: %v", ths)
	}
}

// A run whose end was logged but whose last state was not saved (the
// server stopped in between) is not run again after the restart: no
// second end, no agent called again, no second notice.
func TestWorkflowEndLoggedNotSaved(t *testing.T) {
	l := newLoop(t, workflowRule(nil))
	sid := l.session(l.workflowAgent())
	l.send(sid, userMessage("combine"))
	waitIdleHistory(t, l, sid)
	l.s.Stop(t)

	// Put the run's saved state back to open, as if its end had not been
	// saved.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(l.s.DataDir, "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := st.List(ctx, store.ListOptions{AllWorkspaces: true, Kind: store.KindWorkflowRun})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("saved runs: %v %v", err, page.Records)
	}
	rec := page.Records[0]
	var snap map[string]any
	if err := json.Unmarshal(rec.Data, &snap); err != nil {
		t.Fatal(err)
	}
	if snap["status"] != "ended" {
		t.Fatalf("saved run: %s", rec.Data)
	}
	snap["status"] = "running"
	delete(snap, "result")
	delete(snap, "output")
	delete(snap, "ended_at")
	rec.Data, _ = json.Marshal(snap)
	if err := st.Update(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	st.Close()

	asked := len(l.fake.Requests())
	l.reopen(testserver.WithArgs("--sandbox", "local"))
	l.send(sid, userMessage("hello"))
	var hist []anthropic.BetaManagedAgentsSessionEventUnion
	for deadline := time.Now().Add(30 * time.Second); ; {
		hist = l.history(sid)
		if countType(hist, "session.status_idle") == 2 && hist[len(hist)-1].Type == "session.status_idle" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session did not answer after the restart: %s", types(hist))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for typ, n := range map[string]int{"workflow_run.created": 1, "workflow_run.status_running": 1, "workflow_run.status_ended": 1, "session.thread_created": 3} {
		if c := countType(hist, typ); c != n {
			t.Fatalf("%d %s, want %d: %s", c, typ, n, types(hist))
		}
	}
	if n := len(l.fake.Requests()) - asked; n != 1 {
		t.Fatalf("%d model requests after the restart, want the one answering hello", n)
	}
}

// A run's threads do not count toward the session's limit of open threads:
// with 25 of them working, the coordinator can still delegate.
func TestWorkflowThreadsOutsideTheThreadLimit(t *testing.T) {
	const coordRuns = "You coordinate and run workflows."
	l := newLoop(t, func(in modeltest.Input) modeltest.Turn {
		last, _ := in.Last()
		lastText := blocksText(last.Content)
		switch {
		case strings.Contains(in.System, "You stall."):
			return modeltest.Turn{Content: []model.Block{model.Text("never")}, Stall: true}
		case strings.Contains(in.System, researcherSystem):
			return modeltest.Text("researched")
		case strings.Contains(in.System, coordRuns):
			switch {
			case strings.Contains(lastText, "[Message from session thread"):
				return modeltest.Text("Final: " + lastText)
			case len(in.ToolResults()) > 0:
				return modeltest.Text("Done: " + lastText)
			case strings.TrimSpace(lastText) == "many":
				return modeltest.ToolCall("", "ant__start_workflow_run", map[string]any{
					"program": `return parallel(Array.from({length: 25}, (_, i) => ({prompt: "wait " + i, name: "Waiter", system: "You stall."})));`,
				})
			case strings.TrimSpace(lastText) == "delegate":
				return modeltest.ToolCall("", "spawn_agent", map[string]any{"agent": "researcher", "message": "go"})
			}
		}
		return modeltest.Text("?")
	})
	rid := l.agent(map[string]any{"name": "researcher", "system": researcherSystem})
	cid := l.agent(map[string]any{"name": "coordinator", "system": coordRuns,
		"multiagent": map[string]any{"type": "multiagent_20261001",
			"subagents": map[string]any{"type": "enabled", "predefined_agents": []any{map[string]any{"type": "agent", "id": rid}}},
			"workflows": map[string]any{"type": "enabled"}}})
	sid := l.session(cid)
	col := l.stream(sid)
	l.send(sid, userMessage("many"))
	_, at := col.waitFor(t, 0, "25 threads of the run", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_created" && countType(col.snapshot(), "session.thread_created") == 25
	})
	l.send(sid, userMessage("delegate"))
	res, _ := col.waitFor(t, at, "spawn_agent's result", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_result" && strings.Contains(e.RawJSON(), "Started session thread")
	})
	if raw(res)["is_error"] == true {
		t.Fatalf("spawn_agent refused: %s", res.RawJSON())
	}
	col.waitFor(t, at, "the researcher's answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:") && strings.Contains(e.RawJSON(), "researched")
	})
}

// In a self_hosted session a run's agents work through the customer's
// worker like any thread: each gatherer's bash call runs at the official
// worker (in its directory), its result reaches the agent's thread, and the
// run completes with what the tools printed.
func TestWorkflowSelfHosted(t *testing.T) {
	gatherer := func(in modeltest.Input, what string) modeltest.Turn {
		if rs := in.ToolResults(); len(rs) > 0 {
			return modeltest.Text(strings.TrimSpace(blocksText(rs)))
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": fmt.Sprintf("printf 'got %[1]s' | tee ran-%[1]s", what)})
	}
	l := newLoop(t, workflowRule(gatherer))
	dir := l.selfHostedWorker(context.Background())
	sid := l.session(l.agent(map[string]any{"name": "runner", "system": workflowSystem,
		"tools":      []any{map[string]any{"type": "agent_toolset_20260401"}},
		"multiagent": map[string]any{"type": "multiagent_20261001", "workflows": map[string]any{"type": "enabled"}}}))
	col := l.stream(sid)
	l.send(sid, userMessage("combine"))
	final, _ := col.waitFor(t, 0, "the agent's result", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Result:")
	})
	if !strings.Contains(final.RawJSON(), "completed") || !strings.Contains(final.RawJSON(), `reconciled(got alpha + got beta)`) {
		t.Fatalf("final message = %s", final.RawJSON())
	}
	for _, what := range []string{"alpha", "beta"} {
		if data, err := os.ReadFile(filepath.Join(dir, "ran-"+what)); err != nil || string(data) != "got "+what {
			t.Fatalf("the gatherer's call did not run at the worker: %q, %v", data, err)
		}
	}
	if hist := waitIdleHistory(t, l, sid); countType(hist, "session.status_idle") != 1 {
		t.Fatalf("idle events: %s", types(hist))
	}
}
