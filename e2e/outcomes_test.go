package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// graderPrompt is how the fake model tells the grader's request from the
// agent's: Hangar's grader system prompt starts so.
const graderPrompt = "You are the grader of an AI agent's work."

func isGrader(in modeltest.Input) bool { return strings.HasPrefix(in.System, graderPrompt) }

// verdictTurn is a grader answer.
func verdictTurn(result, explanation string) modeltest.Turn {
	b, _ := json.Marshal(map[string]string{"result": result, "explanation": explanation})
	return modeltest.Turn{Content: []model.Block{model.Text(string(b))}, Usage: model.Usage{InputTokens: 100, OutputTokens: 20}}
}

// outcomeRule answers the agent with agent(n) for its n-th request (from
// 0) and the grader with grader(n) for its n-th.
func outcomeRule(agent, grader func(n int, in modeltest.Input) modeltest.Turn) modeltest.Rule {
	var na, ng atomic.Int32
	return func(in modeltest.Input) modeltest.Turn {
		if isGrader(in) {
			return grader(int(ng.Add(1))-1, in)
		}
		return agent(int(na.Add(1))-1, in)
	}
}

func defineOutcome(description, rubric string, maxIter int64) anthropic.BetaManagedAgentsEventParamsUnion {
	p := &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
		Description: description,
		Rubric:      anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfText: &anthropic.BetaManagedAgentsTextRubricParams{Content: rubric}},
	}
	if maxIter > 0 {
		p.MaxIterations = anthropic.Int(maxIter)
	}
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserDefineOutcome: p}
}

func (l *loop) sessionObj(sid string) *anthropic.BetaManagedAgentsSession {
	l.t.Helper()
	s, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

// An outcome the grader first sends back for a revision and then accepts:
// the agent starts at once, the grader's feedback reaches the agent as its
// next input with no idle in between, the spans pair up, the session's
// outcome_evaluations ends satisfied, and the grader's usage counts toward
// the session's.
func TestOutcomeRevisionThenSatisfied(t *testing.T) {
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn {
			if n == 0 {
				return modeltest.Turn{Content: []model.Block{model.Text("Draft one: a haiku about rain.")}, Usage: model.Usage{InputTokens: 10, OutputTokens: 5}}
			}
			return modeltest.Turn{Content: []model.Block{model.Text("Draft two: a haiku about rain, signed DONE.")}, Usage: model.Usage{InputTokens: 10, OutputTokens: 5}}
		},
		func(n int, in modeltest.Input) modeltest.Turn {
			if n == 0 {
				return verdictTurn("needs_revision", "Criterion 2 unmet: the poem is not signed DONE.")
			}
			return verdictTurn("satisfied", "Both criteria are met.")
		}))
	sid := l.session(l.agent(map[string]any{"system": "You write poems."}))
	col := l.stream(sid)
	echo := l.send(sid, defineOutcome("Write a haiku about rain.", "1. It is a haiku about rain.\n2. It is signed DONE.", 0))
	if len(echo) != 1 || echo[0].Type != "user.define_outcome" {
		t.Fatalf("echo = %v", echo)
	}
	d := echo[0].AsUserDefineOutcome()
	if !strings.HasPrefix(d.OutcomeID, "outc_") || d.MaxIterations != 3 || d.Rubric.Type != "text" || d.Description != "Write a haiku about rain." {
		t.Fatalf("define_outcome echo = %s", echo[0].RawJSON())
	}
	_, at := col.waitType(t, 0, "session.status_idle")
	got := types(col.snapshot()[:at+1])
	want := "user.define_outcome, session.status_running, user.define_outcome, " +
		"span.model_request_start, agent.message, span.model_request_end, " +
		"span.outcome_evaluation_start, span.outcome_evaluation_ongoing, span.outcome_evaluation_end, " +
		"span.model_request_start, agent.message, span.model_request_end, " +
		"span.outcome_evaluation_start, span.outcome_evaluation_ongoing, span.outcome_evaluation_end, " +
		"session.status_idle"
	if got != want {
		t.Fatalf("stream:\n got %s\nwant %s", got, want)
	}
	evs := col.snapshot()
	starts := []anthropic.BetaManagedAgentsStreamSessionEventsUnion{evs[6], evs[12]}
	ends := []anthropic.BetaManagedAgentsStreamSessionEventsUnion{evs[8], evs[14]}
	for i, wantResult := range []string{"needs_revision", "satisfied"} {
		st, en := raw(starts[i]), raw(ends[i])
		if st["outcome_id"] != d.OutcomeID || st["iteration"] != float64(i) {
			t.Fatalf("start %d = %s", i, starts[i].RawJSON())
		}
		if en["outcome_evaluation_start_id"] != starts[i].ID || en["outcome_id"] != d.OutcomeID || en["iteration"] != float64(i) || en["result"] != wantResult {
			t.Fatalf("end %d = %s", i, ends[i].RawJSON())
		}
		if u := en["usage"].(map[string]any); u["input_tokens"] != float64(100) || u["output_tokens"] != float64(20) {
			t.Fatalf("end %d usage = %v", i, u)
		}
		if on := raw(evs[7+6*i]); on["outcome_id"] != d.OutcomeID || on["iteration"] != float64(i) {
			t.Fatalf("ongoing %d = %s", i, evs[7+6*i].RawJSON())
		}
	}
	if e := raw(ends[0]); e["explanation"] != "Criterion 2 unmet: the poem is not signed DONE." {
		t.Fatalf("explanation = %v", e["explanation"])
	}

	// The agent got the task at once, and the grader's feedback as its next
	// input; the grader got its own context: its prompt, the rubric, the
	// task and the agent's final message, nothing of the agent's
	// conversation.
	reqs := l.fake.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d upstream requests, want 4", len(reqs))
	}
	if a := reqs[0].Input; isGrader(a) || !strings.Contains(a.LastUserText(), "Write a haiku about rain.") || a.System != "You write poems." {
		t.Fatalf("agent's first request = %v", reqs[0].JSON())
	}
	g := reqs[1].Input
	if !isGrader(g) || len(g.Messages) != 1 {
		t.Fatalf("grader request = %v", reqs[1].JSON())
	}
	gt := g.LastUserText()
	for _, s := range []string{"It is signed DONE.", "Write a haiku about rain.", "Draft one: a haiku about rain."} {
		if !strings.Contains(gt, s) {
			t.Fatalf("grader input lacks %q:\n%s", s, gt)
		}
	}
	if strings.Contains(gt, "You write poems.") {
		t.Fatalf("grader input carries the agent's system prompt:\n%s", gt)
	}
	if a := reqs[2].Input; isGrader(a) || !strings.Contains(a.LastUserText(), "Criterion 2 unmet: the poem is not signed DONE.") || len(a.Messages) != 3 {
		t.Fatalf("agent's revision request = %v", reqs[2].JSON())
	}
	if g := reqs[3].Input.LastUserText(); !strings.Contains(g, "signed DONE.") || strings.Contains(g, "Draft one") {
		t.Fatalf("second grader input:\n%s", g)
	}

	s := l.sessionObj(sid)
	if len(s.OutcomeEvaluations) != 1 {
		t.Fatalf("outcome_evaluations = %s", s.RawJSON())
	}
	oe := s.OutcomeEvaluations[0]
	if oe.OutcomeID != d.OutcomeID || oe.Result != "satisfied" || oe.Iteration != 1 || oe.Explanation != "Both criteria are met." || oe.CompletedAt.IsZero() || oe.Description != "Write a haiku about rain." || string(oe.Type) != "outcome_evaluation" {
		t.Fatalf("outcome_evaluations[0] = %s", oe.RawJSON())
	}
	if s.Usage.InputTokens != 220 || s.Usage.OutputTokens != 50 {
		t.Fatalf("usage = %s (want the agent's 20/10 plus the grader's 200/40)", s.Usage.RawJSON())
	}

	// The session is reusable: a plain message continues the same
	// conversation, and a new outcome may be defined.
	l.send(sid, userMessage("thanks"))
	_, at = col.waitType(t, at+1, "session.status_idle")
	if last, _ := l.fake.LastRequest(); last.Input.LastUserText() != "thanks" || len(last.Input.Messages) != 5 {
		t.Fatalf("follow-up request = %v", last.JSON())
	}
	echo = l.send(sid, defineOutcome("Another one.", "Anything.", 1))
	if o := echo[0].AsUserDefineOutcome(); o.OutcomeID == d.OutcomeID || o.MaxIterations != 1 {
		t.Fatalf("second outcome echo = %s", echo[0].RawJSON())
	}
	col.waitType(t, at+1, "session.status_idle")
	if s := l.sessionObj(sid); len(s.OutcomeEvaluations) != 2 || s.OutcomeEvaluations[0].OutcomeID != d.OutcomeID {
		t.Fatalf("outcome_evaluations after a second outcome = %s", s.RawJSON())
	}
}

// The last allowed evaluation that is not satisfied ends the outcome as
// max_iterations_reached; its feedback still reaches the agent, which makes
// one last revision that is graded no more, and the session goes idle.
func TestOutcomeMaxIterationsReached(t *testing.T) {
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn {
			return modeltest.Text("attempt " + string(rune('A'+n)))
		},
		func(n int, in modeltest.Input) modeltest.Turn {
			return verdictTurn("needs_revision", "Still wrong after attempt "+string(rune('A'+n))+".")
		}))
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, defineOutcome("Do it.", "It is right.", 2))
	col.waitType(t, 0, "session.status_idle")
	hist := l.history(sid)
	got := types(hist)
	want := "user.define_outcome, session.status_running, " +
		"span.model_request_start, agent.message, span.model_request_end, " +
		"span.outcome_evaluation_start, span.outcome_evaluation_ongoing, span.outcome_evaluation_end, " +
		"span.model_request_start, agent.message, span.model_request_end, " +
		"span.outcome_evaluation_start, span.outcome_evaluation_ongoing, span.outcome_evaluation_end, " +
		"span.model_request_start, agent.message, span.model_request_end, " +
		"session.status_idle"
	if got != want {
		t.Fatalf("history:\n got %s\nwant %s", got, want)
	}
	if r := raw(hist[7])["result"]; r != "needs_revision" {
		t.Fatalf("first verdict = %v", r)
	}
	if r := raw(hist[13]); r["result"] != "max_iterations_reached" || r["iteration"] != float64(1) {
		t.Fatalf("last verdict = %s", hist[13].RawJSON())
	}
	last, _ := l.fake.LastRequest()
	if isGrader(last.Input) || !strings.Contains(last.Input.LastUserText(), "Still wrong after attempt B.") {
		t.Fatalf("final revision request = %v", last.JSON())
	}
	oe := l.sessionObj(sid).OutcomeEvaluations
	if len(oe) != 1 || oe[0].Result != "max_iterations_reached" || oe[0].Iteration != 1 || oe[0].CompletedAt.IsZero() {
		t.Fatalf("outcome_evaluations = %v", oe)
	}
}

// A grader that finds the rubric does not fit the task fails the outcome;
// a grader whose answer never parses fails it too (after one more try),
// and the session is not wedged; a grader request that fails once is made
// again.
func TestOutcomeFailed(t *testing.T) {
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn { return modeltest.Text("done") },
		func(n int, in modeltest.Input) modeltest.Turn {
			switch n {
			case 0:
				return verdictTurn("failed", "The rubric grades a spreadsheet; the task asks for a poem.")
			case 1, 2:
				return modeltest.Text("I think it is fine.")
			case 3:
				return modeltest.Fail(400, "invalid_request_error", "grader request refused")
			}
			return verdictTurn("satisfied", "It rhymes now.")
		}))
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, defineOutcome("Write a poem.", "The spreadsheet has a price column.", 0))
	_, at := col.waitType(t, 0, "session.status_idle")
	end, _ := col.waitType(t, 0, "span.outcome_evaluation_end")
	if r := raw(end); r["result"] != "failed" || r["explanation"] != "The rubric grades a spreadsheet; the task asks for a poem." {
		t.Fatalf("end = %s", end.RawJSON())
	}
	if oe := l.sessionObj(sid).OutcomeEvaluations; len(oe) != 1 || oe[0].Result != "failed" {
		t.Fatalf("outcome_evaluations = %v", oe)
	}

	l.send(sid, defineOutcome("Write another poem.", "It rhymes.", 0))
	_, at2 := col.waitType(t, at+1, "session.status_idle")
	end, _ = col.waitType(t, at+1, "span.outcome_evaluation_end")
	if r := raw(end); r["result"] != "failed" || !strings.Contains(r["explanation"].(string), "grader could not produce a verdict") {
		t.Fatalf("end after unparseable verdicts = %s", end.RawJSON())
	}
	graders := 0
	for _, r := range l.fake.Requests() {
		if isGrader(r.Input) {
			graders++
		}
	}
	if graders != 3 {
		t.Fatalf("%d grader requests, want 3 (one, then two for the unparseable answer)", graders)
	}

	l.send(sid, defineOutcome("Write a third poem.", "It rhymes.", 0))
	col.waitType(t, at2+1, "session.status_idle")
	end, _ = col.waitType(t, at2+1, "span.outcome_evaluation_end")
	if r := raw(end); r["result"] != "satisfied" {
		t.Fatalf("end after a failed grader request = %s", end.RawJSON())
	}
}

// An interrupt while the grader works ends the outcome as interrupted
// (with the evaluation's end span), the session idles and takes a new
// outcome; an interrupt while the agent works, before any evaluation,
// ends the outcome with no evaluation span.
func TestOutcomeInterrupted(t *testing.T) {
	// The turns are picked by content, not by count: an interrupt may
	// cancel the first grader's request before it reaches the upstream.
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn {
			// (An interrupted turn leaves its input in the user message
			// the next outcome's joins.)
			if last := in.LastUserText(); strings.Contains(last, "Do more.") && !strings.Contains(last, "Again.") {
				return modeltest.Turn{Content: []model.Block{model.Text("slow")}, Stall: true}
			}
			return modeltest.Text("work done")
		},
		func(n int, in modeltest.Input) modeltest.Turn {
			if strings.Contains(in.LastUserText(), "Do it.") {
				return modeltest.Turn{Content: []model.Block{model.Text("{")}, Stall: true}
			}
			return verdictTurn("satisfied", "ok")
		}))
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	d := l.send(sid, defineOutcome("Do it.", "It is done.", 0))[0].AsUserDefineOutcome()
	start, _ := col.waitType(t, 0, "span.outcome_evaluation_ongoing")
	_ = start
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	_, at := col.waitType(t, 0, "session.status_idle")
	end, _ := col.waitType(t, 0, "span.outcome_evaluation_end")
	st, _ := col.waitType(t, 0, "span.outcome_evaluation_start")
	if r := raw(end); r["result"] != "interrupted" || r["outcome_evaluation_start_id"] != st.ID || r["outcome_id"] != d.OutcomeID {
		t.Fatalf("end = %s", end.RawJSON())
	}
	oe := l.sessionObj(sid).OutcomeEvaluations
	if len(oe) != 1 || oe[0].Result != "interrupted" || oe[0].CompletedAt.IsZero() {
		t.Fatalf("outcome_evaluations = %v", oe)
	}

	// Interrupted while the agent works: no evaluation ran, so no span.
	d2 := l.send(sid, defineOutcome("Do more.", "It is done.", 0))[0].AsUserDefineOutcome()
	col.waitFor(t, at+1, "the agent's request", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "span.model_request_start"
	})
	waitRequest(t, l.fake, "the agent's request for the second outcome", func(in modeltest.Input) bool {
		return !isGrader(in) && strings.Contains(in.LastUserText(), "Do more.")
	})
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	_, at2 := col.waitType(t, at+1, "session.status_idle")
	for _, e := range col.snapshot()[at+1 : at2+1] {
		if strings.HasPrefix(e.Type, "span.outcome_evaluation") {
			t.Fatalf("evaluation span after an interrupt before any evaluation: %s", types(col.snapshot()[at+1:at2+1]))
		}
	}
	oe = l.sessionObj(sid).OutcomeEvaluations
	if len(oe) != 2 || oe[1].OutcomeID != d2.OutcomeID || oe[1].Result != "interrupted" || oe[1].CompletedAt.IsZero() {
		t.Fatalf("outcome_evaluations = %v", oe)
	}
	// And the session takes a new outcome.
	l.send(sid, defineOutcome("Again.", "It is done.", 0))
	col.waitType(t, at2+1, "session.status_idle")
	if oe := l.sessionObj(sid).OutcomeEvaluations; len(oe) != 3 || oe[2].Result != "satisfied" {
		t.Fatalf("outcome_evaluations = %v", oe)
	}
}

// waitRequest waits until the fake upstream received a request that
// matches.
func waitRequest(t *testing.T, fake *modeltest.Server, what string, match func(modeltest.Input) bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, r := range fake.Requests() {
			if match(r.Input) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upstream did not get %s", what)
		}
	}
}

// Bad outcomes are refused with 400s naming the field: no rubric,
// max_iterations over 20, an unknown rubric file, a second outcome while
// one is active (in the same request or a later one). A file rubric is
// read from the Files API and echoed as its text.
func TestOutcomeBadInput(t *testing.T) {
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn {
			return modeltest.Turn{Content: []model.Block{model.Text("slow")}, Stall: true}
		},
		func(n int, in modeltest.Input) modeltest.Turn { return verdictTurn("satisfied", "ok") }))
	sid := l.session(l.agent(map[string]any{}))
	ctx := context.Background()
	post := func(body string) *anthropic.Error {
		t.Helper()
		resp := l.s.Do(t, "POST", "/v1/sessions/"+sid+"/events", strings.NewReader(body), nil)
		defer resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%s: status %d, want 400", body, resp.StatusCode)
		}
		var env struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		if env.Error.Type != "invalid_request_error" {
			t.Fatalf("%s: error %+v", body, env.Error)
		}
		return &anthropic.Error{Message: env.Error.Message}
	}
	for body, field := range map[string]string{
		`{"events":[{"type":"user.define_outcome","description":"x"}]}`:                                                                                                                                "rubric",
		`{"events":[{"type":"user.define_outcome","description":"x","rubric":{"type":"text","content":"r"},"max_iterations":21}]}`:                                                                     "max_iterations",
		`{"events":[{"type":"user.define_outcome","description":"x","rubric":{"type":"text","content":"r"},"max_iterations":0}]}`:                                                                      "max_iterations",
		`{"events":[{"type":"user.define_outcome","description":"x","rubric":{"type":"file","file_id":"file_nope"}}]}`:                                                                                 "rubric.file_id",
		`{"events":[{"type":"user.define_outcome","description":"x","rubric":{"type":"text","content":""}}]}`:                                                                                          "rubric.content",
		`{"events":[{"type":"user.define_outcome","description":"x","rubric":{"type":"text","content":"r"}},{"type":"user.define_outcome","description":"y","rubric":{"type":"text","content":"r"}}]}`: "events[1].type",
	} {
		if e := post(body); !strings.Contains(e.Message, field) {
			t.Fatalf("%s: message %q does not name %s", body, e.Message, field)
		}
	}
	if hist := l.history(sid); len(hist) != 0 {
		t.Fatalf("refused outcomes left events: %s", types(hist))
	}

	f := uploadFile(t, l.c, "rubric.md", "text/markdown", "# Rubric\n- The answer is 42.\n")
	echo := l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserDefineOutcome: &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
		Description: "Answer.",
		Rubric:      anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfFile: &anthropic.BetaManagedAgentsFileRubricParams{FileID: f.ID}},
	}})
	d := echo[0].AsUserDefineOutcome()
	if d.Rubric.Type != "text" || d.Rubric.Content != "# Rubric\n- The answer is 42.\n" {
		t.Fatalf("file rubric echo = %s", echo[0].RawJSON())
	}
	_, err := l.c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{defineOutcome("Other.", "r", 0)}})
	e := apiErr(t, err, 400, "invalid_request_error")
	if !strings.Contains(e.Error(), d.OutcomeID) || !strings.Contains(e.Error(), "one outcome") {
		t.Fatalf("second outcome error = %v", e)
	}
}

// An outcome survives a server restart: killed while the grader works, the
// restarted server resumes the same evaluation (no second start), and the
// loop goes on from the log: the feedback reaches the agent, the next
// iteration is graded, and the outcome ends satisfied.
func TestOutcomeSurvivesRestart(t *testing.T) {
	var stalled atomic.Bool
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn {
			return modeltest.Text("version " + string(rune('1'+n)))
		},
		func(n int, in modeltest.Input) modeltest.Turn {
			switch n {
			case 0:
				stalled.Store(true)
				return modeltest.Turn{Content: []model.Block{model.Text("{")}, Stall: true}
			case 1:
				return verdictTurn("needs_revision", "Make it version 2.")
			}
			return verdictTurn("satisfied", "It is version 2.")
		}))
	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	d := l.send(sid, defineOutcome("Make version 2.", "It is version 2.", 0))[0].AsUserDefineOutcome()
	col.waitType(t, 0, "span.outcome_evaluation_ongoing")
	deadline := time.Now().Add(20 * time.Second)
	for !stalled.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the grader's request never reached the upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.s.Kill()
	l.reopen(testserver.WithArgs("--sandbox", "local"))
	hist := waitIdleHistory(t, l, sid)
	if n := countType(hist, "span.outcome_evaluation_start"); n != 2 {
		t.Fatalf("%d evaluation starts, want 2: %s", n, types(hist))
	}
	var results []string
	for _, e := range hist {
		if e.Type == "span.outcome_evaluation_end" {
			r := raw(e)
			results = append(results, r["result"].(string))
			if r["iteration"] != float64(len(results)-1) {
				t.Fatalf("end = %s", e.RawJSON())
			}
		}
	}
	if strings.Join(results, ",") != "needs_revision,satisfied" {
		t.Fatalf("verdicts = %v: %s", results, types(hist))
	}
	last := ""
	for _, r := range l.fake.Requests() {
		if !isGrader(r.Input) {
			last = r.Input.LastUserText()
		}
	}
	if !strings.Contains(last, "Make it version 2.") {
		t.Fatalf("the agent's revision after restart did not get the feedback: %q", last)
	}
	oe := l.sessionObj(sid).OutcomeEvaluations
	if len(oe) != 1 || oe[0].OutcomeID != d.OutcomeID || oe[0].Result != "satisfied" || oe[0].Iteration != 1 {
		t.Fatalf("outcome_evaluations = %v", oe)
	}

	// Rebuilt once more from the log, the conversation holds the task, both
	// versions and the feedback, and the outcome is over: a message is
	// answered, not graded.
	l.s.Stop(t)
	l.reopen(testserver.WithArgs("--sandbox", "local"))
	before := len(l.fake.Requests())
	col = l.stream(sid)
	l.send(sid, userMessage("thanks"))
	col.waitFor(t, 0, "idle after the message", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle"
	})
	reqs := l.fake.Requests()[before:]
	if len(reqs) != 1 || isGrader(reqs[0].Input) {
		t.Fatalf("%d requests after the message, want the agent's only", len(reqs))
	}
	msgs := reqs[0].Input.Messages
	if len(msgs) != 5 || !strings.Contains(msgs[0].Content[0].Text, "Make version 2.") || !strings.Contains(msgs[2].Content[0].Text, "Make it version 2.") || msgs[4].Content[0].Text != "thanks" {
		t.Fatalf("rebuilt conversation = %v", reqs[0].JSON())
	}
}

// The grader sees what the agent left under /mnt/session/outputs (names and
// the content of small text files), read from the session's sandbox.
func TestOutcomeGraderSeesOutputs(t *testing.T) {
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn {
			if n == 0 {
				return modeltest.ToolCall("", "bash", map[string]any{"command": "mkdir -p /mnt/session/outputs && printf 'artifact-bytes-42' > /mnt/session/outputs/report.txt"})
			}
			return modeltest.Text("The report is in outputs.")
		},
		func(n int, in modeltest.Input) modeltest.Turn {
			g := in.LastUserText()
			if strings.Contains(g, "=== report.txt (17 bytes)\nartifact-bytes-42") && strings.Contains(g, "The report is in outputs.") {
				return verdictTurn("satisfied", "The report exists.")
			}
			return verdictTurn("failed", "grader input lacked the artifact: "+g)
		}))
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}))
	col := l.stream(sid)
	l.send(sid, defineOutcome("Write a report file.", "outputs/report.txt exists.", 0))
	col.waitType(t, 0, "session.status_idle")
	end, _ := col.waitType(t, 0, "span.outcome_evaluation_end")
	if r := raw(end); r["result"] != "satisfied" {
		t.Fatalf("end = %s", end.RawJSON())
	}
}

// An outcome may start a session: user.define_outcome among the create's
// initial_events starts the agent at once; two of them are refused.
func TestOutcomeInitialEvents(t *testing.T) {
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn { return modeltest.Text("done") },
		func(n int, in modeltest.Input) modeltest.Turn { return verdictTurn("satisfied", "ok") }))
	agentID := l.agent(map[string]any{})
	ctx := context.Background()
	ev := func() anthropic.BetaSessionNewParamsInitialEventUnion {
		return anthropic.BetaSessionNewParamsInitialEventUnion{OfUserDefineOutcome: defineOutcome("Start.", "It started.", 0).OfUserDefineOutcome}
	}
	_, err := l.c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)}, EnvironmentID: l.envID,
		InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{ev(), ev()},
	})
	if e := apiErr(t, err, 400, "invalid_request_error"); !strings.Contains(e.Error(), "initial_events[1].type") {
		t.Fatalf("two outcomes: %v", e)
	}
	s, err := l.c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)}, EnvironmentID: l.envID,
		InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{ev()},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		oe := l.sessionObj(s.ID).OutcomeEvaluations
		if len(oe) == 1 && oe[0].Result == "satisfied" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outcome_evaluations = %v", oe)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
