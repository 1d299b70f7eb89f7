package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/pricing"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Usage, list cost and budgets.
//
// Every model request the engine makes for a session is counted once, by
// chargeModelRequest: its tokens go into the session's usage (and its
// subagent thread's), and its list cost, priced with the model id of the
// agent configuration, into the session's exact total. The exact total is
// kept in picodollars in a KindSessionSpend record written in the same
// transaction as the session row, so a restart neither loses nor rounds
// it; usage shows it rounded to the cent (list_cost).
//
// A session with a budget starts no model request once its total reached
// the budget, or once a request had no price (its cost cannot be
// measured): the conversation that wanted the request stops with
// budget_reached instead, and the session idles once nothing else runs.
// Changing or removing the budget resumes what the budget stopped.

// spend is a session's list cost so far. Guarded by the session's mu.
type spend struct {
	total pricing.Amount
	// unpriced names the models of requests that had no price.
	unpriced []string
	// threads is each subagent thread's exact list cost.
	threads map[string]pricing.Amount
	// paused is set while the budget keeps a conversation from its next
	// model request; runsPaused is whether the workflow runs should be.
	paused     bool
	runsPaused bool
	// rev is the Rev of the stored record (0: not stored yet); dirty is
	// set when the record must be written with the next commit.
	rev   int64
	dirty bool
}

// spendDoc is the stored form of spend.
type spendDoc struct {
	Picodollars string                    `json:"picodollars"`
	Unpriced    []string                  `json:"unpriced,omitempty"`
	Threads     map[string]threadSpendDoc `json:"threads,omitempty"`
}

// threadSpendDoc is a subagent thread's stored list cost and usage (its
// usage is also rebuilt from its events, but those do not split cache
// writes by lifetime).
type threadSpendDoc struct {
	Picodollars string            `json:"picodollars"`
	Usage       wire.SessionUsage `json:"usage"`
}

// spendRecordID is the id of a session's KindSessionSpend record.
func spendRecordID(sessionID string) string { return sessionID + ":spend" }

// chargeModelRequest counts one model request's usage toward the
// session's usage and list cost and, when thread names a subagent thread,
// toward that thread's: every model request made for a session goes
// through it (the agent's turns, subagent threads', compaction and the
// advisor's through conversation.stream; the auto permission
// classifier's and the outcome grader's directly). modelID is the model
// id of the configuration that made the request, which is what is priced,
// whatever provider it was routed to. thread is a subagent thread's id,
// or "" for the primary thread and requests of the session as a whole. It
// returns the request's exact list cost, and false when the request had
// no price.
//
// s.mu must be held. The counts are saved by the session's next commit, so
// call it just before committing the request's end (its
// span.model_request_end).
func (s *session) chargeModelRequest(thread, modelID string, u model.Usage) (pricing.Amount, bool) {
	sp := &s.spend
	cost, priced := s.e.prices.Cost(modelID, pricingUsage(u))
	if priced {
		sp.total = sp.total.Add(cost)
	} else if !slices.Contains(sp.unpriced, modelID) {
		sp.unpriced = append(sp.unpriced, modelID)
	}
	sp.dirty = true
	addUsage(&s.doc.Usage, u)
	s.doc.Usage.ListCost = s.listCost(sp.total)
	if t := s.findThread(thread); t != nil {
		if sp.threads == nil {
			sp.threads = map[string]pricing.Amount{}
		}
		tc := sp.threads[thread].Add(cost)
		sp.threads[thread] = tc
		addUsage(&t.usage, u)
		t.usage.ListCost = s.listCost(tc)
	}
	return cost, priced
}

// findThread is the subagent thread with id, or nil.
func (s *session) findThread(id string) *thread {
	if id == "" || s.mt == nil {
		return nil
	}
	return s.mt.byID[id]
}

// listCost is list_cost for an exact amount: null once any request of the
// session had no price, since the total would then understate the cost.
func (s *session) listCost(a pricing.Amount) *wire.MonetaryAmount {
	if len(s.spend.unpriced) > 0 {
		return nil
	}
	w := a.Wire()
	return &w
}

// pricingUsage is a model request's usage as the price table reads it.
func pricingUsage(u model.Usage) pricing.Usage {
	h1 := min(max(u.CacheCreation1hInputTokens, 0), u.CacheCreationInputTokens)
	return pricing.Usage{
		InputTokens:        u.InputTokens,
		OutputTokens:       u.OutputTokens,
		CacheWrite5mTokens: u.CacheCreationInputTokens - h1,
		CacheWrite1hTokens: h1,
		CacheReadTokens:    u.CacheReadInputTokens,
		Fast:               u.Fast,
	}
}

// addUsage adds one request's tokens to a cumulative usage.
func addUsage(dst *wire.SessionUsage, u model.Usage) {
	h1 := min(max(u.CacheCreation1hInputTokens, 0), u.CacheCreationInputTokens)
	dst.InputTokens += u.InputTokens
	dst.OutputTokens += u.OutputTokens
	dst.CacheReadInputTokens += u.CacheReadInputTokens
	dst.CacheCreation.Ephemeral5mInputTokens += u.CacheCreationInputTokens - h1
	dst.CacheCreation.Ephemeral1hInputTokens += h1
}

// spendRecord is the record to write with the commit under way, or nil
// when nothing changed. s.mu is held.
func (s *session) spendRecord() (*store.Record, error) {
	sp := &s.spend
	if !sp.dirty {
		return nil, nil
	}
	doc := spendDoc{Picodollars: sp.total.Picodollars().String(), Unpriced: sp.unpriced}
	if s.mt != nil && len(sp.threads) > 0 {
		doc.Threads = map[string]threadSpendDoc{}
		for id, a := range sp.threads {
			if t := s.mt.byID[id]; t != nil {
				doc.Threads[id] = threadSpendDoc{Picodollars: a.Picodollars().String(), Usage: t.usage}
			}
		}
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, errdefs.Internal(err, "encode session spend")
	}
	return &store.Record{Kind: store.KindSessionSpend, ID: spendRecordID(s.id), Workspace: s.ws, Parent: s.id, Data: data, Rev: sp.rev}, nil
}

// saveSpend writes rec (from spendRecord) in tx.
func saveSpend(ctx context.Context, tx store.Tx, rec *store.Record) error {
	if rec.Rev == 0 {
		return tx.Insert(ctx, rec)
	}
	return tx.Update(ctx, rec)
}

// loadSpend restores the session's exact list cost from its record (a
// session that never made a priced request has none). It runs after the
// event log was replayed, so the threads exist.
func (s *session) loadSpend(ctx context.Context) error {
	rec, err := s.e.st.Get(ctx, s.ws, store.KindSessionSpend, spendRecordID(s.id))
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var doc spendDoc
	if err := json.Unmarshal(rec.Data, &doc); err != nil {
		return errdefs.Internal(err, "decode spend of session %s", s.id)
	}
	total, err := pricing.ParsePicodollars(doc.Picodollars)
	if err != nil {
		return errdefs.Internal(err, "decode spend of session %s", s.id)
	}
	s.spend = spend{total: total, unpriced: doc.Unpriced, rev: rec.Rev}
	for id, ts := range doc.Threads {
		a, err := pricing.ParsePicodollars(ts.Picodollars)
		if err != nil {
			return errdefs.Internal(err, "decode spend of session %s", s.id)
		}
		if s.spend.threads == nil {
			s.spend.threads = map[string]pricing.Amount{}
		}
		s.spend.threads[id] = a
		if t := s.findThread(id); t != nil {
			t.usage = ts.Usage
			t.usage.ListCost = s.listCost(a)
		}
	}
	return nil
}

// budget is the session's limit; ok is false when it has none.
func (s *session) budget() (pricing.Amount, bool) {
	if s.doc.Budget == nil {
		return pricing.Amount{}, false
	}
	limit, err := pricing.FromWire(s.doc.Budget.MaxListCost)
	if err != nil {
		// Checked when the budget was set; a bad stored value stops
		// spending rather than lifting the cap.
		return pricing.Amount{}, true
	}
	return limit, true
}

// overBudget reports whether the budget forbids a new model request: the
// list cost reached it, or a request had no price. s.mu is held.
func (s *session) overBudget() bool {
	limit, ok := s.budget()
	if !ok {
		return false
	}
	return len(s.spend.unpriced) > 0 || s.spend.total.Reached(limit)
}

// pauseAtBudget notes that the budget stopped a conversation, and pauses
// the workflow runs the first time. s.mu is held.
func (s *session) pauseAtBudget() {
	if !s.spend.paused {
		s.pauseWorkflows(true)
	}
	s.spend.paused = true
}

// heldByBudget reports whether the budget keeps thread t from its next
// model request. s.mu is held.
func (s *session) heldByBudget(t *thread) bool {
	return !t.driving && t.status == wire.ThreadIdle && t.conv.awaitsModel() && s.overBudget()
}

// pauseWorkflows idles the session's workflow runs at the budget (no run
// starts a new agent call), or makes them running again. The registry
// logs through the session, so it runs apart from s.mu, which is held.
func (s *session) pauseWorkflows(pause bool) {
	if s.wf == nil || (len(s.wf.open) == 0 && pause == s.spend.runsPaused) {
		return
	}
	s.spend.runsPaused = pause
	reg := s.wf.reg
	s.e.life.Go(func() {
		// Each change applies the latest wish, so that a resume that
		// overtakes its pause still leaves the runs running.
		s.wfPauseMu.Lock()
		defer s.wfPauseMu.Unlock()
		s.mu.Lock()
		want := s.spend.runsPaused
		s.mu.Unlock()
		if want {
			reg.Pause(s.e.ctx)
		} else {
			reg.Resume(s.e.ctx)
		}
	})
}

// checkBudgetChange refuses a budget that the session has already spent
// (it would stop the session at once): a raise must go above the exact
// list cost so far. s.mu is held.
func (s *session) checkBudgetChange(before, after *wire.BudgetLimit) error {
	if after == nil || (before != nil && *before == *after) {
		return nil
	}
	limit, err := pricing.FromWire(after.MaxListCost)
	if err != nil {
		return errdefs.Invalid("budget.max_list_cost: %v", err)
	}
	if s.spend.total.Reached(limit) {
		return errdefs.Invalid("budget.max_list_cost: %s is not above the session's list cost so far (%s); a budget can only be changed to more than what was spent, or removed with null",
			limit, s.spend.total).WithCode("budget_not_raised")
	}
	if len(s.spend.unpriced) > 0 {
		return errdefs.Invalid("budget: the session made requests to models without a list price (%s), so its cost cannot be held to a budget; remove the budget with null",
			joinQuoted(s.spend.unpriced)).WithCode("model_not_budgetable")
	}
	return nil
}

// budgetChanged resumes what the budget stopped, once the change allows
// it (a conversation left waiting for the model is one the budget
// stopped, also before a restart). s.mu is held.
func (s *session) budgetChanged() {
	if s.overBudget() {
		return
	}
	s.spend.paused = false
	s.pauseWorkflows(false)
	if s.oc != nil && s.doc.StopReason != nil && s.doc.StopReason.Type == wire.StopBudgetReached {
		// An outcome's grading the budget held back runs now: the
		// session takes it up as it would have before going idle.
		s.ensureRunning(s.e.ctx)
	}
	if s.mt != nil {
		for _, t := range s.mt.threads {
			if t.conv.awaitsModel() {
				s.kickThread(t)
			}
		}
	}
	s.kick()
}

// usageEvent is the session.usage snapshot sent as a turn ends.
func (s *session) usageEvent(u wire.SessionUsage) pending {
	return ev(&wire.SessionUsageEvent{Usage: u, Budget: s.doc.Budget})
}

func joinQuoted(xs []string) string {
	var b bytes.Buffer
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + x + `"`)
	}
	return b.String()
}

// RecordGetter reads stored records: a store.Store, or a store.Tx while a
// session is being created.
type RecordGetter interface {
	Get(ctx context.Context, workspace, kind, id string) (store.Record, error)
}

// CheckBudgetable is the check a budget needs at session creation: every
// model the session may send requests to (the agent's, its roster
// agents', its advisor's, and the auto permission classifier's when a
// tool is judged by it) must have a list price, and a fast-mode price for
// an agent that runs in fast mode, or the budget could not be measured.
// It returns a 400 model_not_budgetable naming the models otherwise.
func (e *Engine) CheckBudgetable(ctx context.Context, get RecordGetter, ws string, agent wire.SessionAgent) error {
	prices := e.prices
	models := []wire.ModelConfig{agent.Model}
	auto := usesAuto(agent.Tools)
	m, err := multiagentOf(agent)
	if err != nil {
		return errdefs.Internal(err, "decode multiagent")
	}
	for _, ref := range rosterRefs(m) {
		if ref.ID == agent.ID {
			continue // the coordinator itself, with the session's model
		}
		rec, err := get.Get(ctx, ws, store.KindAgentVersion, store.AgentVersionID(ref.ID, ref.Version))
		if err != nil {
			return fmt.Errorf("roster agent %s version %d: %w", ref.ID, ref.Version, err)
		}
		var a wire.Agent
		if err := json.Unmarshal(rec.Data, &a); err != nil {
			return errdefs.Internal(err, "decode agent %s", ref.ID)
		}
		models = append(models, a.Model)
		auto = auto || usesAuto(a.Tools)
	}
	if id := advisorModelOf(agent); id != "" {
		models = append(models, wire.ModelConfig{ID: id})
	}
	if auto && e.opt.AutoModel != "" {
		models = append(models, wire.ModelConfig{ID: e.opt.AutoModel})
	}
	var bad []string
	for _, mc := range models {
		fast := mc.Speed == "fast"
		if !prices.PricedAtSpeed(mc.ID, fast) && !slices.Contains(bad, mc.ID) {
			bad = append(bad, mc.ID)
			if fast && prices.AllPriced(mc.ID) {
				bad[len(bad)-1] += " (speed fast)"
			}
		}
	}
	if len(bad) > 0 {
		return errdefs.Invalid("budget: the session's agents run models without a list price (%s), so their cost cannot be held to a budget", joinQuoted(bad)).WithCode("model_not_budgetable")
	}
	return nil
}

// usesAuto reports whether tools give any tool the auto permission policy
// (judged by the classifier's model).
func usesAuto(tools []wire.AgentTool) bool {
	b, err := json.Marshal(tools)
	return err == nil && bytes.Contains(b, []byte(`"type":"auto"`))
}

func sameBudget(a, b *wire.BudgetLimit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
