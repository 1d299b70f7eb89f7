package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// The two scripted requests of the usage tests, on claude-opus-4-1 (US$
// per million tokens: input 15, 5-minute cache writes 18.75, 1-hour cache
// writes 30, cache hits 1.50, output 75).
//
// The first costs 20000×15 + 4000×75 + 8000×18.75 + 10000×30 + 20000×1.50
// millionths = $0.30 + $0.30 + $0.15 + $0.30 + $0.03 = $1.08 exactly.
// The second costs 2469×15 + 1357×75 + 200×18.75 + 667×30 + 15555×1.50
// millionths = $0.037035 + $0.101775 + $0.00375 + $0.02001 + $0.0233325
// = $0.1859025; the two together $1.2659025, shown as 127 cents.
var (
	usage1 = model.Usage{InputTokens: 20000, OutputTokens: 4000, CacheCreationInputTokens: 18000, CacheCreation1hInputTokens: 10000, CacheReadInputTokens: 20000}
	usage2 = model.Usage{InputTokens: 2469, OutputTokens: 1357, CacheCreationInputTokens: 867, CacheCreation1hInputTokens: 667, CacheReadInputTokens: 15555}
)

const pricedModel = "claude-opus-4-1"

func budgetParam(cents string) anthropic.BetaManagedAgentsBudgetLimitParam {
	return anthropic.BetaManagedAgentsBudgetLimitParam{MaxListCost: anthropic.BetaMonetaryAmountParam{Amount: cents, Currency: anthropic.BetaCurrencyUSD}}
}

func (l *loop) budgetSession(agentID, cents string) string {
	l.t.Helper()
	s, err := l.c.Beta.Sessions.New(context.Background(), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)},
		EnvironmentID: l.envID, Budget: budgetParam(cents),
	})
	if err != nil {
		l.t.Fatal(err)
	}
	if s.Budget.MaxListCost.Amount != cents || s.Budget.Type != "limit" || s.Usage.ListCost.Amount != "0" {
		l.t.Fatalf("new session budget %s, usage %s", s.Budget.RawJSON(), s.Usage.RawJSON())
	}
	return s.ID
}

func (l *loop) updateBudget(sid, body string) (anthropic.BetaManagedAgentsSession, error) {
	s, err := l.c.Beta.Sessions.Update(context.Background(), sid, anthropic.BetaSessionUpdateParams{}, option.WithRequestBody("application/json", []byte(body)))
	if err != nil {
		return anthropic.BetaManagedAgentsSession{}, err
	}
	return *s, nil
}

// errorCode is error.details.error_code of an API error.
func errorCode(t *testing.T, err error) string {
	t.Helper()
	e := apiErr(t, err, 400, "invalid_request_error")
	return fmt.Sprint(raw(e)["error"].(map[string]any)["details"].(map[string]any)["error_code"])
}

// Usage counts every field of every model request, 1-hour cache writes
// apart from 5-minute ones, and list_cost is the exact cost at the list
// prices rounded to the cent; a session.usage snapshot with the running
// totals goes out just before the session reports idle at each turn end.
func TestUsageListCost(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.Turn{Content: []model.Block{model.Text("one")}, Usage: usage1},
		modeltest.Turn{Content: []model.Block{model.Text("two")}, Usage: usage2})
	sid := l.session(l.agent(map[string]any{"model": pricedModel}))
	col := l.stream(sid)
	l.send(sid, userMessage("first"))
	_, at := col.waitType(t, 0, "session.status_idle")
	l.send(sid, userMessage("second"))
	col.waitType(t, at+1, "session.status_idle")

	var snaps []anthropic.BetaManagedAgentsSessionUsageEvent
	evs := col.snapshot()
	for i, e := range evs {
		if e.Type == "session.usage" {
			if i+1 >= len(evs) || evs[i+1].Type != "session.status_idle" {
				t.Fatalf("session.usage not just before session.status_idle: %s", types(evs))
			}
			snaps = append(snaps, e.AsSessionUsage())
		}
	}
	if len(snaps) != 2 {
		t.Fatalf("%d session.usage events, want one per turn", len(snaps))
	}
	if u := snaps[0].Usage; u.ListCost.Amount != "108" || u.ListCost.Currency != "USD" || u.InputTokens != 20000 ||
		u.CacheCreation.Ephemeral5mInputTokens != 8000 || u.CacheCreation.Ephemeral1hInputTokens != 10000 || !hasNull(raw(snaps[0]), "budget") {
		t.Fatalf("first snapshot: %s", snaps[0].RawJSON())
	}
	if u := snaps[1].Usage; u.ListCost.Amount != "127" {
		t.Fatalf("second snapshot: %s", snaps[1].RawJSON())
	}
	// Each request's usage is on its span, as the model reported it.
	var spans int
	for _, e := range evs {
		if e.Type == "span.model_request_end" {
			spans++
			if u := e.ModelUsage; spans == 1 && (u.CacheCreationInputTokens != 18000 || u.CacheReadInputTokens != 20000) {
				t.Fatalf("span usage: %s", e.RawJSON())
			}
		}
	}
	s, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	u := s.Usage
	if u.InputTokens != 22469 || u.OutputTokens != 5357 || u.CacheReadInputTokens != 35555 ||
		u.CacheCreation.Ephemeral5mInputTokens != 8200 || u.CacheCreation.Ephemeral1hInputTokens != 10667 ||
		u.ListCost.Amount != "127" || u.ListCost.Currency != "USD" {
		t.Fatalf("session usage: %s", u.RawJSON())
	}
}

// A request to a model without a list price leaves list_cost null: the
// total would understate the cost.
func TestUsageUnpricedModel(t *testing.T) {
	l := newLoop(t, nil, modeltest.Turn{Content: []model.Block{model.Text("hi")}, Usage: usage1})
	sid := l.session(l.agent(map[string]any{"model": "claude-unpriced-test"}))
	col := l.stream(sid)
	l.send(sid, userMessage("go"))
	col.waitType(t, 0, "session.status_idle")
	s, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Usage.InputTokens != 20000 || s.Usage.JSON.ListCost.Valid() {
		t.Fatalf("usage: %s", s.Usage.RawJSON())
	}
}

// A session at its budget starts no new model request: the turn stops
// with budget_reached after the request that crossed the ceiling (its tool
// call still runs). The ceiling cannot be lowered to what was spent or
// below; raising it resumes the turn by itself. The exact spend survives
// a restart.
func TestBudgetReachedAndRaised(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.Turn{Content: []model.Block{model.ToolUse("", "nope", []byte(`{}`))}, Usage: usage1},
		modeltest.Turn{Content: []model.Block{model.Text("done")}, Usage: usage2})
	sid := l.budgetSession(l.agent(map[string]any{"model": pricedModel}), "100")
	col := l.stream(sid)
	l.send(sid, userMessage("spend"))
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "budget_reached" {
		t.Fatalf("stop_reason: %s", idle.RawJSON())
	}
	if n := len(l.fake.Requests()); n != 1 {
		t.Fatalf("%d model requests, want 1", n)
	}
	evs := col.snapshot()
	if !strings.Contains(types(evs), "span.model_request_end, agent.tool_result, session.status_idle") {
		t.Fatalf("stream: %s", types(evs))
	}
	snap := evs[at-1].AsSessionUsage()
	if evs[at-1].Type != "session.usage" || snap.Usage.ListCost.Amount != "108" || snap.Budget.MaxListCost.Amount != "100" {
		t.Fatalf("usage snapshot: %s", evs[at-1].RawJSON())
	}
	s, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "idle" || s.Usage.ListCost.Amount != "108" {
		t.Fatalf("session: %s", s.RawJSON())
	}

	// The exact total (and not its rounding) is what a new ceiling is
	// checked against, after a restart too.
	l.s.Stop(t)
	l.reopen()
	for _, cents := range []string{"50", "108"} {
		_, err := l.updateBudget(sid, `{"budget":{"type":"limit","max_list_cost":{"amount":"`+cents+`","currency":"USD"}}}`)
		if code := errorCode(t, err); code != "budget_not_raised" {
			t.Fatalf("ceiling %s: error_code %s", cents, code)
		}
	}
	col = l.stream(sid)
	s3, err := l.updateBudget(sid, `{"budget":{"type":"limit","max_list_cost":{"amount":"109","currency":"USD"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if s3.Budget.MaxListCost.Amount != "109" {
		t.Fatalf("updated budget: %s", s3.RawJSON())
	}
	idle, at = col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("stop_reason after the raise: %s", idle.RawJSON())
	}
	got := types(col.snapshot()[:at+1])
	if !strings.HasPrefix(got, "session.updated, session.status_running, span.model_request_start, agent.message, span.model_request_end") {
		t.Fatalf("stream after the raise: %s", got)
	}
	if upd := col.snapshot()[0]; !strings.Contains(upd.RawJSON(), `"max_list_cost":{"amount":"109","currency":"USD"}`) {
		t.Fatalf("session.updated: %s", upd.RawJSON())
	}
	// The second request crossed the new ceiling: the next message stops
	// at once. Removing the budget lets the session run again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err = l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Usage.ListCost.Amount == "127" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.Usage.ListCost.Amount != "127" {
		t.Fatalf("usage after the raise: %s", s.Usage.RawJSON())
	}
	s4, err := l.updateBudget(sid, `{"budget":null}`)
	if err != nil || s4.JSON.Budget.Valid() && s4.Budget.Type != "" {
		t.Fatalf("remove budget: %v %s", err, s4.RawJSON())
	}
	// A removed budget cannot come back.
	_, err = l.updateBudget(sid, `{"budget":{"type":"limit","max_list_cost":{"amount":"5000","currency":"USD"}}}`)
	if code := errorCode(t, err); code != "budget_create_only" {
		t.Fatalf("re-adding a budget: error_code %s", code)
	}
}

// The 400s of budgets: a model without a list price (the agent's or a
// roster agent's) cannot run under a budget, and a session created
// without one cannot gain one.
func TestBudgetErrors(t *testing.T) {
	l := newLoop(t, nil)
	unpriced := l.agent(map[string]any{"model": "claude-unpriced-test", "name": "unpriced"})
	_, err := l.c.Beta.Sessions.New(context.Background(), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(unpriced)},
		EnvironmentID: l.envID, Budget: budgetParam("100"),
	})
	if code := errorCode(t, err); code != "model_not_budgetable" || !strings.Contains(err.Error(), "claude-unpriced-test") {
		t.Fatalf("unpriced model: %s (%v)", code, err)
	}
	sid := l.session(l.agent(map[string]any{"model": pricedModel}))
	_, err = l.updateBudget(sid, `{"budget":{"type":"limit","max_list_cost":{"amount":"100","currency":"USD"}}}`)
	if code := errorCode(t, err); code != "budget_create_only" {
		t.Fatalf("budget added on update: %s", code)
	}
	// Removing the budget of a session without one changes nothing.
	if s, err := l.updateBudget(sid, `{"budget":null}`); err != nil || s.JSON.Budget.Valid() && s.Budget.Type != "" {
		t.Fatalf("null budget: %v", err)
	}
}

// hasNull reports whether m has key k, set to null.
func hasNull(m map[string]any, k string) bool {
	v, ok := m[k]
	return ok && v == nil
}

// The budget holds every thread: a subagent spawned by the request that
// crossed it makes no request either, and the session idles with
// budget_reached once both are stopped. Raising it resumes both, and each
// thread reports its own usage and list cost.
func TestBudgetStopsThreads(t *testing.T) {
	rule := multiagentRule(func(in modeltest.Input) modeltest.Turn {
		return modeltest.Turn{Content: []model.Block{model.Text("researched 1")}, Usage: usage2}
	})
	var researcherCalls atomic.Int64
	l := newLoop(t, func(in modeltest.Input) modeltest.Turn {
		turn := rule(in)
		if strings.Contains(in.System, researcherSystem) {
			researcherCalls.Add(1)
			return turn
		}
		turn.Usage = model.Usage{InputTokens: 10, OutputTokens: 2}
		for _, b := range turn.Content {
			if b.Type == model.BlockToolUse && b.Name == "spawn_agent" {
				turn.Usage = usage1
			}
		}
		return turn
	})
	rid := l.agent(map[string]any{"name": "researcher", "system": researcherSystem, "model": pricedModel})
	coord := l.agent(map[string]any{"name": "coordinator", "system": coordinatorSystem, "model": pricedModel,
		"multiagent": map[string]any{"type": "coordinator", "agents": []any{map[string]any{"type": "agent", "id": rid}}}})
	sid := l.budgetSession(coord, "100")
	col := l.stream(sid)
	l.send(sid, userMessage("the answer"))
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "budget_reached" {
		t.Fatalf("stop_reason: %s", idle.RawJSON())
	}
	if n := researcherCalls.Load(); n != 0 {
		t.Fatalf("the subagent made %d model requests past the budget", n)
	}
	var stoppedThread bool
	for _, e := range col.snapshot() {
		if e.Type == "session.thread_status_idle" && e.StopReason.Type == "budget_reached" && e.SessionThreadID != "" {
			stoppedThread = true
		}
	}
	if !stoppedThread {
		t.Fatalf("no thread stopped at the budget: %s", types(col.snapshot()))
	}

	col = l.stream(sid)
	if _, err := l.updateBudget(sid, `{"budget":{"type":"limit","max_list_cost":{"amount":"1000","currency":"USD"}}}`); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, 0, "the coordinator's final message", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	idle, _ = col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("stop_reason after the raise: %s", idle.RawJSON())
	}
	var sub *anthropic.BetaManagedAgentsSessionThread
	ths := l.threads(sid)
	for i := range ths {
		if ths[i].ParentThreadID != "" {
			sub = &ths[i]
		}
	}
	// $0.1859025 for the researcher's one request.
	if sub == nil || sub.Usage.ListCost.Amount != "19" || sub.Usage.CacheCreation.Ephemeral1hInputTokens != 667 {
		t.Fatalf("threads: %v", ths)
	}
}

// The outcome grader's requests wait for the budget too, and count toward
// it: the work that reached the budget is graded once it is raised.
func TestBudgetHoldsTheGrader(t *testing.T) {
	var graded atomic.Int64
	l := newLoop(t, outcomeRule(
		func(n int, in modeltest.Input) modeltest.Turn {
			return modeltest.Turn{Content: []model.Block{model.Text("work done")}, Usage: usage1}
		},
		func(n int, in modeltest.Input) modeltest.Turn {
			graded.Add(1)
			turn := verdictTurn("satisfied", "ok")
			turn.Usage = usage2
			return turn
		}))
	sid := l.budgetSession(l.agent(map[string]any{"model": pricedModel}), "100")
	col := l.stream(sid)
	l.send(sid, defineOutcome("Do it.", "It is done.", 0))
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "budget_reached" || graded.Load() != 0 {
		t.Fatalf("stop_reason %s after %d grader requests", idle.RawJSON(), graded.Load())
	}
	if _, err := l.updateBudget(sid, `{"budget":{"type":"limit","max_list_cost":{"amount":"1000","currency":"USD"}}}`); err != nil {
		t.Fatal(err)
	}
	idle, _ = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "end_turn" || graded.Load() != 1 {
		t.Fatalf("stop_reason %s after %d grader requests", idle.RawJSON(), graded.Load())
	}
	s := l.sessionObj(sid)
	if len(s.OutcomeEvaluations) != 1 || s.OutcomeEvaluations[0].Result != "satisfied" || s.Usage.ListCost.Amount != "127" {
		t.Fatalf("session: outcomes %v, usage %s", s.OutcomeEvaluations, s.Usage.RawJSON())
	}
}

// The auto permission classifier's model must be priced too for an agent
// whose tools it judges.
func TestBudgetNeedsAPricedClassifier(t *testing.T) {
	fake := modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"})
	l := startLoop(t, fake, nil, "--sandbox", "local", "--permission-model", "claude-unpriced-judge")
	env, err := l.c.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{Name: "budget"})
	if err != nil {
		t.Fatal(err)
	}
	l.envID = env.ID
	judged := l.agent(map[string]any{"model": pricedModel, "tools": []any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "auto"}},
	}}})
	_, err = l.c.Beta.Sessions.New(context.Background(), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(judged)},
		EnvironmentID: l.envID, Budget: budgetParam("100"),
	})
	if code := errorCode(t, err); code != "model_not_budgetable" || !strings.Contains(err.Error(), "claude-unpriced-judge") {
		t.Fatalf("classifier without a price: %s (%v)", code, err)
	}
	// An agent none of whose tools the classifier judges can have a budget.
	l.budgetSession(l.agent(map[string]any{"model": pricedModel}), "100")
}

// A workflow run at the budget: its agents make no request, the run goes
// idle and so does the session (budget_reached); raising the budget runs
// it to its end.
func TestBudgetPausesWorkflows(t *testing.T) {
	rule := workflowRule(nil)
	l := newLoop(t, func(in modeltest.Input) modeltest.Turn {
		turn := rule(in)
		for _, b := range turn.Content {
			if b.Type == model.BlockToolUse && b.Name == "ant__start_workflow_run" {
				turn.Usage = usage1
			}
		}
		return turn
	})
	agentID := l.agent(map[string]any{"name": "runner", "system": workflowSystem, "model": pricedModel,
		"multiagent": map[string]any{"type": "multiagent_20261001", "workflows": map[string]any{"type": "enabled"}}})
	sid := l.budgetSession(agentID, "100")
	col := l.stream(sid)
	l.send(sid, userMessage("combine"))
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "budget_reached" {
		t.Fatalf("stop_reason: %s", idle.RawJSON())
	}
	if n := len(l.fake.Requests()); n != 1 {
		t.Fatalf("%d model requests past the budget", n)
	}
	// The run goes idle too (it is paused apart from the session's lock,
	// so its event may follow the session's).
	col.waitType(t, 0, "workflow_run.status_idle")
	if _, err := l.updateBudget(sid, `{"budget":null}`); err != nil {
		t.Fatal(err)
	}
	final, _ := col.waitFor(t, at+1, "the agent's result", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Result:")
	})
	if !strings.Contains(final.RawJSON(), `reconciled(got alpha + got beta)`) {
		t.Fatalf("final message = %s", final.RawJSON())
	}
	idle, _ = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("stop_reason after the budget was removed: %s", idle.RawJSON())
	}
}
